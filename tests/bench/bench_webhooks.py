"""Webhook delivery benchmark: the dispatcher against a plain requests loop.

Measures, in one run and against the same fast loopback receiver:

1. a plain ``requests.Session`` loop posting pre-signed bodies (the ceiling);
2. deliveries/s of the suite's dispatcher with one and with two worker
   processes (each runs ``saas.workflow.delivery._dispatch(commit=True)``
   in a loop, like the cron does), for N events emitted in one transaction;
3. p95 latency from the emitting transaction's commit to the receipt at the
   receiver, with events emitted one per transaction at a steady rate.

Usage (see saas_workflow_integrations/readme/USAGE.md)::

    /opt/odoo18-venv/bin/python tests/bench/bench_webhooks.py --events 2000 --rate 100 --seconds 10

The database (``--db``, default ``swi_bench``) is created with the addon
installed when it does not exist.
"""

import argparse
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ODOO_BIN = os.environ.get("ODOO_BIN", "/opt/odoo18/odoo-bin")
ADDONS = os.environ.get("ODOO_ADDONS", "/opt/odoo18/odoo/addons")
DB_ARGS = ["--db_host=127.0.0.1", "--db_user=odoo", "--db_password=odoo"]
CODE = "bench.webhook.thing"


# ----------------------------------------------------------------------
# Receiver (own process, so it does not compete with the sender's GIL)
# ----------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        with server.lock:
            data = json.dumps({"count": server.count, "receipts": server.receipts}).encode()
            if self.path == "/reset":
                server.count, server.receipts = 0, {}
        self.send_response(200)
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


def _stats(port, reset=False):
    import requests  # noqa: PLC0415

    return requests.get(f"http://127.0.0.1:{port}/{'reset' if reset else 'stats'}", timeout=30).json()


# ----------------------------------------------------------------------
# Odoo as a library
# ----------------------------------------------------------------------
_LOADED = {}


def _odoo(db):
    """Load Odoo and the database's registry once per process."""
    if db not in _LOADED:
        import odoo  # noqa: PLC0415

        odoo.tools.config.parse_config([f"--addons-path={ADDONS},{ROOT}", *DB_ARGS, "-d", db, "--log-level=warn"])
        from odoo.modules.registry import Registry  # noqa: PLC0415

        _LOADED[db] = (odoo, Registry(db))
    return _LOADED[db]


def _ensure_db(db):
    env = dict(os.environ, PGPASSWORD="odoo")
    exists = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "odoo", "-d", "postgres", "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{db}'"],
        capture_output=True, text=True, env=env, check=False,
    ).stdout.strip() == "1"
    if not exists:
        print(f"creating database {db} (installing the addon) ...", flush=True)
        subprocess.run(
            [sys.executable, ODOO_BIN, f"--addons-path={ADDONS},{ROOT}", *DB_ARGS, "-d", db,
             "-i", "saas_workflow_integrations", "--stop-after-init", "--without-demo=all", "--log-level=warn"],
            check=True,
        )


def _setup(db, port):
    odoo, registry = _odoo(db)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env["ir.config_parameter"].set_param("saas_workflow_integrations.ssrf_allowlist", "127.0.0.0/8")
        env["ir.config_parameter"].set_param("saas_workflow_core.batch_size", 100)
        # Start from an empty queue: earlier runs leave their events behind.
        cr.execute("DELETE FROM saas_workflow_delivery")
        cr.execute("DELETE FROM saas_workflow_event")
        env["saas.webhook.endpoint"].with_context(active_test=False).search([]).write({"active": False})
        etype = env["saas.workflow.event.type"].search([("code", "=", CODE)])
        if not etype:
            etype = env["saas.workflow.event.type"].create({"code": CODE, "name": "Bench event"})
        env["saas.webhook.endpoint"].create({
            "name": f"bench {time.time()}", "url": f"http://127.0.0.1:{port}/hook",
            "event_type_ids": [(6, 0, etype.ids)],
        })
        # The cron must not compete with the bench workers.
        env.ref("saas_workflow_core.ir_cron_dispatch").active = False


def _payload(i):
    return {"order": f"S{i:06d}", "amount": "1234.50", "lines": [{"sku": f"P{j}", "qty": j, "price": "9.90"} for j in range(12)]}


def _emit_batch(db, n):
    odoo, registry = _odoo(db)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        for i in range(n):
            env["saas.workflow.event"].emit(CODE, payload=_payload(i))


def _pending(db):
    odoo, registry = _odoo(db)
    with registry.cursor() as cr:
        cr.execute(
            "SELECT count(*) FILTER (WHERE NOT routed) FROM saas_workflow_event"
        )
        unrouted = cr.fetchone()[0]
        cr.execute("SELECT count(*) FROM saas_workflow_delivery WHERE state NOT IN ('done', 'dead')")
        return unrouted + cr.fetchone()[0]


def _worker(db, start, stop, name):
    odoo, registry = _odoo(db)
    start.wait()
    while not stop.is_set():
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            result = env["saas.workflow.delivery"]._dispatch(commit=True, worker=name)
        if not result["claimed"] and not result["routed"]:
            time.sleep(0.01)


def _run_workers(db, count):
    ctx = mp.get_context("spawn")
    start, stop = ctx.Event(), ctx.Event()
    procs = [ctx.Process(target=_worker, args=(db, start, stop, f"bench-{i}")) for i in range(count)]
    for proc in procs:
        proc.start()
    time.sleep(6)  # registry loading in the workers
    return procs, start, stop


def _stop(procs, stop):
    stop.set()
    for proc in procs:
        proc.join(30)


def bench_plain(db, port, n):
    import requests  # noqa: PLC0415

    _odoo(db)
    from odoo.addons.saas_workflow_integrations.lib import body, signing  # noqa: PLC0415

    secret = signing.generate_secret()
    bodies = []
    for i in range(n):
        raw = body.dumps(body.envelope(f"evt_plain{i}", CODE, 1, "2025-01-01T00:00:00.000000Z",
                                       {"database": "x", "company_id": 1, "base_url": "http://x"}, _payload(i)))
        bodies.append((f"evt_plain{i}", raw))
    session = requests.Session()
    url = f"http://127.0.0.1:{port}/hook"
    t0 = time.perf_counter()
    for wid, raw in bodies:
        headers = signing.build_headers([secret], wid, raw, user_agent="bench")
        session.post(url, data=raw, headers=headers, timeout=(3, 10), allow_redirects=False).close()
    return n / (time.perf_counter() - t0)


def bench_throughput(db, port, n, workers):
    _setup(db, port)
    _stats(port, reset=True)
    _emit_batch(db, n)
    procs, start, stop = _run_workers(db, workers)
    t0 = time.perf_counter()
    start.set()
    while _pending(db):
        time.sleep(0.05)
    elapsed = time.perf_counter() - t0
    _stop(procs, stop)
    received = _stats(port)["count"]
    return n / elapsed, received


def bench_latency(db, port, rate, seconds, workers):
    _setup(db, port)
    _stats(port, reset=True)
    odoo, registry = _odoo(db)
    procs, start, stop = _run_workers(db, workers)
    start.set()
    committed = {}
    interval = 1.0 / rate
    t_next = time.perf_counter()
    end = t_next + seconds
    i = 0
    while time.perf_counter() < end:
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            event = env["saas.workflow.event"].emit(CODE, payload=_payload(i))
            public_id = event.public_id
            cr.commit()
            committed[public_id] = time.time()
        i += 1
        t_next += interval
        delay = t_next - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    achieved = i / seconds
    deadline = time.time() + 60
    while _pending(db) and time.time() < deadline:
        time.sleep(0.05)
    _stop(procs, stop)
    receipts = _stats(port)["receipts"]
    lat = sorted(receipts[k] - v for k, v in committed.items() if k in receipts)
    missing = len(committed) - len(lat)
    p50 = statistics.median(lat) if lat else float("nan")
    p95 = lat[int(0.95 * (len(lat) - 1))] if lat else float("nan")
    return achieved, p50, p95, missing


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="swi_bench")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    _ensure_db(args.db)
    ctx = mp.get_context("spawn")
    port_queue = ctx.Queue()
    receiver = ctx.Process(target=_serve, args=(port_queue,), daemon=True)
    receiver.start()
    port = port_queue.get(timeout=10)
    try:
        plain = bench_plain(args.db, port, args.events)
        print(f"plain requests loop (signed bodies, keep-alive): {plain:8.1f} req/s", flush=True)
        for workers in (1, 2):
            rate, received = bench_throughput(args.db, port, args.events, workers)
            print(
                f"dispatcher, {workers} worker(s): {rate:8.1f} deliveries/s "
                f"({100 * rate / plain:5.1f} % of plain loop; receiver got {received})",
                flush=True,
            )
        achieved, p50, p95, missing = bench_latency(args.db, port, args.rate, args.seconds, 1)
        print(
            f"latency commit->receipt at {achieved:.0f} events/s, 1 worker: "
            f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, undelivered {missing}",
            flush=True,
        )
    finally:
        receiver.terminate()


if __name__ == "__main__":
    main()
