"""Webhook delivery benchmark: the suite's dispatcher against a plain ``requests`` loop.

Measured side by side in one run, against the same fast loopback receiver
(``ThreadingHTTPServer`` with ``TCP_NODELAY``, in its own process):

1. the ceiling: a plain ``requests.Session`` loop posting the same kind of
   signed bodies (a Standard Webhooks signature computed per request);
2. deliveries per second of the dispatcher with one and with two worker
   processes, each running ``saas.workflow.delivery._dispatch(commit=True)``
   in a loop as the dispatch cron does, for N events emitted in one
   transaction (per batch: claim and commit; sign each delivery, post them a
   few at a time from the worker's post threads, log the attempts, commit);
3. latency from the commit of the emitting transaction to the receipt at the
   receiver, events emitted one per transaction at a steady rate.

Usage::

    /opt/odoo18-venv/bin/python tests/bench/bench_webhooks.py [--db NAME] [--events 2000]
        [--rate 100] [--seconds 20] [--concurrency N] [--keep]

Without ``--db`` a database is created from scratch (``saas_workflow_integrations``
installed without demo data) and dropped at the end unless ``--keep``. With
``--db`` an existing database is used (the addon is installed when missing); the
benchmark only touches its own event type and endpoint, and archives that
endpoint at the end.
"""

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

from benchlib import drop_db, load_registry, prepare_db

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from loopback import LoopbackHandler  # tests/loopback.py, shared with the pure tests

CODE = "bench.webhook.delivered"
MODULE = "saas_workflow_integrations"
EMITTERS = 4  # threads emitting the latency run's events, one transaction per event


# ----------------------------------------------------------------------
# Receiver (own process, so it does not compete with the sender's GIL)
# ----------------------------------------------------------------------
class _Handler(LoopbackHandler):
    def do_GET(self):
        server = self.server
        with server.lock:
            data = json.dumps({"count": server.count, "receipts": server.receipts}).encode()
            if self.path == "/reset":
                server.count, server.receipts = 0, {}
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        now = time.time()
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        wid = self.headers.get("webhook-id")
        server = self.server
        with server.lock:
            server.count += 1
            if wid and wid not in server.receipts:
                server.receipts[wid] = now
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()


def _serve(port_queue):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.lock = threading.Lock()
    server.count, server.receipts = 0, {}
    port_queue.put(server.server_port)
    server.serve_forever()


def _receiver_stats(port, reset=False):
    import requests  # noqa: PLC0415

    path = "reset" if reset else "stats"
    return requests.get(f"http://127.0.0.1:{port}/{path}", timeout=30).json()


# ----------------------------------------------------------------------
# Odoo as a library
# ----------------------------------------------------------------------
CONCURRENCY_PARAM = "saas_workflow_integrations.delivery_concurrency"


def _setup(db, port, concurrency=None):
    """A fresh endpoint for this run, subscribed to the benchmark's own event type."""
    odoo, registry = load_registry(db)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        icp = env["ir.config_parameter"]
        if concurrency is not None:
            icp.set_param(CONCURRENCY_PARAM, concurrency)
        allowlist = icp.get_param("saas_workflow_integrations.ssrf_allowlist", "") or ""
        if "127.0.0.1" not in allowlist and "127.0.0.0/8" not in allowlist:
            icp.set_param("saas_workflow_integrations.ssrf_allowlist", f"{allowlist} 127.0.0.1".strip())
        etype = env["saas.workflow.event.type"].search([("code", "=", CODE)])
        if not etype:
            etype = env["saas.workflow.event.type"].create({"code": CODE, "name": "Benchmark event"})
        Endpoint = env["saas.webhook.endpoint"].with_context(active_test=False)
        Endpoint.search([("event_type_ids", "in", etype.ids)]).write({"active": False})
        endpoint = Endpoint.create({
            "name": f"benchmark receiver {time.strftime('%H:%M:%S')}",
            "url": f"http://127.0.0.1:{port}/hook",
            "event_type_ids": [(6, 0, etype.ids)],
        })
        # The dispatch cron must not compete with the benchmark's workers.
        env.ref("saas_workflow_core.ir_cron_dispatch").active = False
        return endpoint.subscription_id.id


def _posts_at_once(db):
    """The posts each worker sends at once, as the dispatcher reads it."""
    odoo, registry = load_registry(db)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        from odoo.addons.saas_workflow_integrations.models.delivery import DEFAULT_CONCURRENCY  # noqa: PLC0415

        return int(env["ir.config_parameter"].get_param(CONCURRENCY_PARAM, DEFAULT_CONCURRENCY) or 1)


def _teardown(db, concurrency=None):
    odoo, registry = load_registry(db)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        if concurrency is not None:
            env["ir.config_parameter"].set_param(CONCURRENCY_PARAM, False)
        etype = env["saas.workflow.event.type"].search([("code", "=", CODE)])
        env["saas.webhook.endpoint"].search([("event_type_ids", "in", etype.ids)]).write({"active": False})
        env.ref("saas_workflow_core.ir_cron_dispatch").active = True


def _payload(i):
    """About 1 KB of canonical JSON once signed and enveloped."""
    return {
        "order": f"S{i:06d}",
        "amount_total": "1234.50",
        "currency": "EUR",
        "partner": {"id": 1000 + i, "name": "Zoë Müller GmbH", "country": "DE"},
        "lines": [{"sku": f"P{j:04d}", "qty": j, "price_unit": "9.90"} for j in range(12)],
    }


def _emit_batch(db, n):
    odoo, registry = load_registry(db)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        for i in range(n):
            env["saas.workflow.event"].emit(CODE, payload=_payload(i))


def _remaining(db, sub_id):
    """Events of the benchmark not routed yet, plus its deliveries not finished."""
    odoo, registry = load_registry(db)
    with registry.cursor() as cr:
        cr.execute("SELECT count(*) FROM saas_workflow_event WHERE routed IS NOT TRUE AND code = %s", (CODE,))
        unrouted = cr.fetchone()[0]
        cr.execute(
            "SELECT count(*) FROM saas_workflow_delivery WHERE subscription_id = %s "
            "AND state NOT IN ('done', 'dead')",
            (sub_id,),
        )
        return unrouted + cr.fetchone()[0]


def _worker(db, ready, start, stop, name):
    odoo, registry = load_registry(db)
    ready.release()
    start.wait()
    while not stop.is_set():
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            result = env["saas.workflow.delivery"]._dispatch(commit=True, worker=name)
        if not result["claimed"] and not result["routed"]:
            time.sleep(0.005)


def _start_workers(db, count):
    ctx = mp.get_context("spawn")
    ready, start, stop = ctx.Semaphore(0), ctx.Event(), ctx.Event()
    procs = [ctx.Process(target=_worker, args=(db, ready, start, stop, f"bench-{i}")) for i in range(count)]
    for proc in procs:
        proc.start()
    for _proc in procs:
        ready.acquire(timeout=120)  # registry loaded
    return procs, start, stop


def _stop_workers(procs, stop):
    stop.set()
    for proc in procs:
        proc.join(60)
        if proc.is_alive():
            proc.terminate()


def bench_plain(db, port, n):
    import requests  # noqa: PLC0415

    load_registry(db)
    from odoo.addons.saas_workflow_integrations.lib import body, signing  # noqa: PLC0415

    secret = signing.generate_secret()
    source = {"database": db, "company_id": 1, "base_url": "http://localhost:8069"}
    messages = []
    for i in range(n):
        wid = f"evt_plain{i:027d}"
        data = body.full_data(None, None, source["base_url"], _payload(i))
        raw = body.dumps(body.envelope(wid, CODE, 1, "2025-01-01T00:00:00.000000Z", source, data))
        messages.append((wid, raw))
    _receiver_stats(port, reset=True)
    session = requests.Session()
    url = f"http://127.0.0.1:{port}/hook"
    t0 = time.perf_counter()
    for wid, raw in messages:
        headers = signing.build_headers([secret], wid, raw, user_agent="bench")
        session.post(url, data=raw, headers=headers, timeout=(3, 10), allow_redirects=False).close()
    elapsed = time.perf_counter() - t0
    assert _receiver_stats(port)["count"] == n
    return n / elapsed, len(messages[0][1])


def bench_throughput(db, port, n, workers, concurrency=None):
    sub_id = _setup(db, port, concurrency)
    _emit_batch(db, n)
    procs, start, stop = _start_workers(db, workers)
    _receiver_stats(port, reset=True)
    t0 = time.perf_counter()
    start.set()
    while _remaining(db, sub_id):
        time.sleep(0.02)
    elapsed = time.perf_counter() - t0
    _stop_workers(procs, stop)
    stats = _receiver_stats(port)
    return n / elapsed, stats["count"], len(stats["receipts"])


def bench_latency(db, port, rate, seconds, workers, concurrency=None):
    sub_id = _setup(db, port, concurrency)
    odoo, registry = load_registry(db)
    procs, start, stop = _start_workers(db, workers)
    _receiver_stats(port, reset=True)
    start.set()
    committed = {}
    counter = iter(range(10**9))
    t_start = time.perf_counter()
    end = t_start + seconds

    def emitter(offset):
        # Each emitter owns every EMITTERS-th slot of the global schedule, so the
        # events leave at the requested rate even when one commit is slow.
        slot = offset
        while True:
            due = t_start + slot / rate
            if due >= end:
                return
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            with registry.cursor() as cr:
                env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
                public_id = env["saas.workflow.event"].emit(CODE, payload=_payload(next(counter))).public_id
                cr.commit()
                committed[public_id] = time.time()
            slot += EMITTERS

    threads = [threading.Thread(target=emitter, args=(i,)) for i in range(EMITTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    achieved = len(committed) / (time.perf_counter() - t_start)
    deadline = time.time() + 120
    while _remaining(db, sub_id) and time.time() < deadline:
        time.sleep(0.05)
    _stop_workers(procs, stop)
    receipts = _receiver_stats(port)["receipts"]
    lat = sorted(receipts[k] - v for k, v in committed.items() if k in receipts)
    missing = len(committed) - len(lat)
    if not lat:
        return achieved, float("nan"), float("nan"), float("nan"), missing
    p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
    return achieved, statistics.median(lat), p95, lat[-1], missing


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--db", help="existing database to use (default: create a new one)")
    parser.add_argument("--events", type=int, default=2000, help="events per throughput run")
    parser.add_argument("--rate", type=int, default=100, help="events per second for the latency run")
    parser.add_argument("--seconds", type=int, default=20, help="duration of the latency run")
    parser.add_argument(
        "--concurrency", type=int,
        help="posts each worker sends at once (system parameter %s; default: the database's "
        "setting, 8 when unset; 1: one after the other)" % CONCURRENCY_PARAM,
    )
    parser.add_argument("--keep", action="store_true", help="keep the database created by the run")
    args = parser.parse_args()
    create = not args.db
    db = args.db or f"swi_bench_{os.getpid()}"
    prepare_db(db, create, modules=[MODULE])
    ctx = mp.get_context("spawn")
    port_queue = ctx.Queue()
    receiver = ctx.Process(target=_serve, args=(port_queue,), daemon=True)
    receiver.start()
    port = port_queue.get(timeout=30)
    try:
        # The machine is shared: the plain loop is measured right before and right
        # after each dispatcher run, and the dispatcher compared with their mean.
        plain, size = bench_plain(db, port, args.events)
        print(f"body size: {size} bytes; receiver: ThreadingHTTPServer + TCP_NODELAY on 127.0.0.1:{port}")
        print(f"plain requests loop (keep-alive, signed per request): {plain:8.1f} req/s", flush=True)
        print(f"dispatcher posts sent at once per worker: {args.concurrency or _posts_at_once(db)}", flush=True)
        for workers in (1, 2):
            rate, received, unique = bench_throughput(db, port, args.events, workers, args.concurrency)
            after, _size = bench_plain(db, port, args.events)
            print(f"plain requests loop (keep-alive, signed per request): {after:8.1f} req/s", flush=True)
            reference = (plain + after) / 2
            print(
                f"dispatcher, {workers} worker(s), {args.events} events: {rate:8.1f} deliveries/s "
                f"= {100 * rate / reference:5.1f} % of the plain loop around it (receiver: {received} "
                f"posts, {unique} distinct webhook-ids)",
                flush=True,
            )
            plain = after
        for workers in (1, 2):
            achieved, p50, p95, worst, missing = bench_latency(
                db, port, args.rate, args.seconds, workers, args.concurrency
            )
            print(
                f"commit -> receipt at {achieved:.0f} events/s for {args.seconds} s, {workers} worker(s): "
                f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {worst * 1000:.0f} ms, "
                f"undelivered {missing}",
                flush=True,
            )
        _teardown(db, args.concurrency)
    finally:
        receiver.terminate()
        receiver.join(10)
        if create and not args.keep:
            import odoo  # noqa: PLC0415
            from odoo.modules.registry import Registry  # noqa: PLC0415

            Registry.delete_all()
            odoo.sql_db.close_all()
            drop_db(db)


if __name__ == "__main__":
    main()
