"""Outbound HTTP and SSRF guard against real servers on 127.0.0.1."""

import email.utils
import socket
import struct
import threading
import time
from http.server import ThreadingHTTPServer

import pytest
from loopback import LoopbackHandler

from saas_workflow_integrations.lib import http as whttp
from saas_workflow_integrations.lib import ssrf


class _Handler(LoopbackHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.server.hits.append((self.path, dict(self.headers), body))
        path = self.path
        if path == "/reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if path == "/slow":
            time.sleep(1.5)
        status, headers, payload = 200, {}, b"ok"
        if path == "/500":
            status = 500
        elif path == "/429":
            status, headers = 429, {"Retry-After": "7"}
        elif path == "/410":
            status = 410
        elif path == "/redirect":
            status, headers = 302, {"Location": "http://127.0.0.1:1/elsewhere"}
        elif path == "/huge":
            payload = b"x" * (5 * 1024 * 1024)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        try:
            self.wfile.write(payload)
        except OSError:
            pass


@pytest.fixture(scope="module")
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.hits = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


LOOPBACK = "127.0.0.0/8"


def _post(server, path, **kw):
    session = whttp.get_session(LOOPBACK)
    url = f"http://127.0.0.1:{server.server_port}{path}"
    return whttp.post(session, url, b'{"a":1}', {"Content-Type": "application/json"}, **kw)


def test_success_keeps_connection_alive(server):
    first = _post(server, "/ok")
    second = _post(server, "/ok")
    assert (first.status, whttp.classify(first)) == (200, whttp.SUCCESS)
    assert second.status == 200 and second.excerpt == "ok"


@pytest.mark.parametrize(
    ("path", "status", "outcome"),
    [("/500", 500, whttp.RETRY), ("/429", 429, whttp.RETRY), ("/410", 410, whttp.DISABLE), ("/redirect", 302, whttp.RETRY)],
)
def test_status_outcomes(server, path, status, outcome):
    before = len(server.hits)
    result = _post(server, path)
    assert result.status == status
    assert whttp.classify(result) == outcome
    # Redirects are never followed: exactly one request reached the server.
    assert len(server.hits) == before + 1


def test_retry_after_of_429_is_read(server):
    result = _post(server, "/429")
    assert whttp.retry_after_for(result) == 7


def test_huge_response_is_capped(server):
    start = time.monotonic()
    result = _post(server, "/huge", max_response_bytes=1024)
    assert result.status == 200
    assert len(result.body) == 1024
    assert time.monotonic() - start < 2


def test_read_timeout_is_retryable(server):
    result = _post(server, "/slow", read_timeout=0.3)
    assert result.error_kind == "timeout"
    assert whttp.classify(result) == whttp.RETRY


def test_connection_reset_is_retryable(server):
    result = _post(server, "/reset")
    assert result.error_kind == "connection", result
    assert whttp.classify(result) == whttp.RETRY


def test_connection_refused_is_retryable():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    result = whttp.post(whttp.get_session(LOOPBACK), f"http://127.0.0.1:{port}/", b"{}", {})
    assert result.error_kind == "connection"
    assert whttp.classify(result) == whttp.RETRY


@pytest.mark.parametrize(
    ("value", "expected"),
    [("120", 120), ("0", 1), ("999999", 86400), ("soon", None), ("", None), (None, None)],
)
def test_parse_retry_after_bounds(value, expected):
    assert whttp.parse_retry_after(value) == expected


def test_parse_retry_after_http_date():
    now = 1_700_000_000
    value = email.utils.formatdate(now + 90, usegmt=True)
    assert whttp.parse_retry_after(value, now=now) == 90


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link_local"),
        ("fe80::1", "link_local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("fd00::1", "ula"),
        ("64:ff9b::a00:1", "nat64"),
        ("100.64.0.1", "shared"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("::ffff:10.0.0.1", "ipv4_mapped_private"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_classify(address, reason):
    assert ssrf.classify(address) == reason


def test_allowlist_parse():
    allow = ssrf.Allowlist.parse("n8n.lan, 10.0.0.0/8\n*.corp.example 192.168.5.7")
    assert allow.allows_host("N8N.lan") and allow.allows_host("a.corp.example")
    assert not allow.allows_host("corp.example.evil")
    assert allow.allows_address("10.9.9.9") and allow.allows_address("192.168.5.7")
    assert not allow.allows_address("192.168.5.8")
    with pytest.raises(ValueError):
        ssrf.Allowlist.parse("http://x/")


def _resolver(mapping):
    def resolve(host, port, family=0, type_=0, *args):
        addr = mapping[host]
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        sockaddr = (addr, port, 0, 0) if fam == socket.AF_INET6 else (addr, port)
        return [(fam, socket.SOCK_STREAM, 6, "", sockaddr)]

    return resolve


@pytest.mark.parametrize("url", ["http://10.0.0.5/x", "http://169.254.169.254/latest/meta-data", "http://[::1]/", "http://[fd12::1]/", "ftp://8.8.8.8/"])
def test_check_url_refuses_literal_targets(url):
    with pytest.raises(ssrf.BlockedAddressError):
        ssrf.AddressGuard().check_url(url)


def test_guard_refuses_name_resolving_to_loopback_before_connecting(server):
    """The name resolves to the running server, but loopback is not allowlisted: no connection."""
    guard = ssrf.AddressGuard(ssrf.Allowlist(), resolver=_resolver({"hook.test": "127.0.0.1"}))
    session = whttp.requests.Session()
    session.trust_env = False
    session.mount("http://", ssrf.GuardedHTTPAdapter(guard))
    before = len(server.hits)
    result = whttp.post(session, f"http://hook.test:{server.server_port}/ok", b"{}", {})
    assert result.error_kind == "blocked" and "loopback" in result.error
    assert whttp.classify(result) == whttp.PERMANENT
    assert len(server.hits) == before


def test_guard_connects_to_vetted_address_keeping_host_header(server):
    guard = ssrf.AddressGuard(ssrf.Allowlist.parse(LOOPBACK), resolver=_resolver({"hook.test": "127.0.0.1"}))
    session = whttp.requests.Session()
    session.trust_env = False
    session.mount("http://", ssrf.GuardedHTTPAdapter(guard))
    result = whttp.post(session, f"http://hook.test:{server.server_port}/ok", b"{}", {})
    assert result.status == 200
    assert server.hits[-1][1]["Host"] == f"hook.test:{server.server_port}"


def test_allowlisted_host_name_passes():
    guard = ssrf.AddressGuard(ssrf.Allowlist.parse("n8n.lan"), resolver=_resolver({"n8n.lan": "10.1.1.1"}))
    assert guard.resolve("n8n.lan", 5678) == [(socket.AF_INET, ("10.1.1.1", 5678))]
    blocked = ssrf.AddressGuard(ssrf.Allowlist(), resolver=_resolver({"n8n.lan": "10.1.1.1"}))
    with pytest.raises(ssrf.BlockedAddressError):
        blocked.resolve("n8n.lan", 5678)
