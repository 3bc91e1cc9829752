"""Concurrent webhook posts: the post threads and the breaker's view of calls in flight."""

import itertools
import threading
import time
from http.server import ThreadingHTTPServer

import pytest
from loopback import LoopbackHandler

from saas_workflow_integrations.lib import breaker
from saas_workflow_integrations.lib import http as whttp

CONFIG = breaker.BreakerConfig(window=300, min_requests=4, failure_ratio=0.7, cooldown=60)


def _windows():
    for total, failures in itertools.product(range(7), range(7)):
        if failures > total:
            continue
        for last_ok, age in itertools.product((True, False), (0, 30, 90)):
            yield breaker.WindowStats(
                total=total, failures=failures, last_at=1000 - age if total else None, last_ok=last_ok
            )


def _answered(stats, answers, now):
    """``stats`` once the calls in flight answered with ``answers`` (True: success), in that order."""
    for ok in answers:
        stats = breaker.WindowStats(
            total=stats.total + 1, failures=stats.failures + (0 if ok else 1), last_at=now, last_ok=ok
        )
    return stats


def test_allowed_assuming_failures_is_allowed_whatever_the_answers():
    now = 1000
    checked = 0
    for stats in _windows():
        for in_flight in range(4):
            if not breaker.evaluate(breaker.assume_failed(stats, in_flight, now), now, CONFIG).allowed:
                continue
            for answers in itertools.product((True, False), repeat=in_flight):
                decision = breaker.evaluate(_answered(stats, answers, now), now, CONFIG)
                assert decision.allowed, (stats, in_flight, answers)
                checked += 1
    assert checked > 1000


def test_assume_failed_opens_when_the_answers_could_open():
    stats = breaker.WindowStats(total=3, failures=3, last_at=990, last_ok=False)
    assert breaker.evaluate(stats, 1000, CONFIG).allowed, "three calls: not enough to open"
    assert not breaker.evaluate(breaker.assume_failed(stats, 1, 1000), 1000, CONFIG).allowed
    assert breaker.assume_failed(stats, 0, 1000) is stats


class _Slow(LoopbackHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        server = self.server
        with server.lock:
            server.active += 1
            server.max_active = max(server.max_active, server.active)
            server.peers.add(self.client_address)
        time.sleep(0.3)
        with server.lock:
            server.active -= 1
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def slow_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    srv.daemon_threads = True
    srv.lock = threading.Lock()
    srv.active = srv.max_active = 0
    srv.peers = set()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_pool_posts_at_once_each_thread_with_its_own_session(slow_server):
    pool = whttp.get_pool(3)
    assert whttp.get_pool(3) is pool, "one pool per process and size"
    url = f"http://127.0.0.1:{slow_server.server_port}/hook"
    futures = [
        pool.submit(whttp.post_in_thread, "127.0.0.0/8", url, b"{}", {"Content-Type": "application/json"})
        for _i in range(9)
    ]
    results = [future.result(timeout=30) for future in futures]
    assert [result.status for result in results] == [204] * 9
    assert all(result.latency_ms >= 300 and result.sent_at for result in results)
    assert slow_server.max_active == 3
    # Keep-alive per thread: three threads, three connections for nine posts.
    assert len(slow_server.peers) == 3
    sessions = {pool.submit(whttp.get_session, "127.0.0.0/8").result() for _i in range(30)}
    assert 1 <= len(sessions) <= 3
    assert whttp.get_session("127.0.0.0/8") not in sessions, "the caller's thread has its own session"


def test_pool_refuses_private_targets_like_post(slow_server):
    pool = whttp.get_pool(3)
    url = f"http://127.0.0.1:{slow_server.server_port}/hook"
    result = pool.submit(whttp.post_in_thread, "", url, b"{}", {}).result(timeout=30)
    assert result.error_kind == "blocked"
    assert whttp.classify(result) == whttp.PERMANENT
