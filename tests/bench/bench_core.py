#!/usr/bin/env python3
"""Benchmark of the event layer (saas_workflow_core) against real Odoo and PostgreSQL.

Measures, side by side in one run:

(a) 1,000 ``res.partner`` writes, one transaction each, with no event source, with an
    active event source (automation rule + "Emit Business Event"), and with an
    ``emit()`` call in code; overhead in % and the INSERT statements per write;
(b) dispatcher throughput with a no-op subscription: one worker, then two worker
    processes, each looping ``saas.workflow.delivery._dispatch(commit=True)``;
(c) the same number of trivial jobs (``res.partner.search_count([])``) through OCA
    ``queue_job`` 18.0, run in-process exactly as its HTTP controller does
    (``RunJobController._acquire_job`` then ``_runjob``: one transaction to mark the job
    started, one to perform it and mark it done), after setting each job ``enqueued``
    in its own transaction as the job runner does. The HTTP round trip of the real
    runner is left out, which favours queue_job.

The script creates its databases from scratch (no demo data) and drops them at the end.

    /opt/odoo18-venv/bin/python tests/bench/bench_core.py [--events 5000] [--writes 1000]

Environment: ODOO_HOME (default /opt/odoo18), QUEUE_JOB_ADDONS (folder holding the
``queue_job`` addon, default /opt/queue_job_addons/odoo/addons; part (c) is skipped when
it is missing), PGHOST/PGPORT/PGUSER/PGPASSWORD (default localhost:5432 odoo/odoo).
"""

import argparse
import collections
import importlib
import multiprocessing
import os
import statistics
import sys
import threading
import time

ODOO_HOME = os.environ.get("ODOO_HOME", "/opt/odoo18")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUEUE_JOB_ADDONS = os.environ.get("QUEUE_JOB_ADDONS", "/opt/queue_job_addons/odoo/addons")
sys.path.insert(0, ODOO_HOME)

import odoo  # noqa: E402
from odoo import SUPERUSER_ID, api  # noqa: E402
from odoo.modules.registry import Registry  # noqa: E402


def setup_odoo(args):
    paths = [os.path.join(ODOO_HOME, "odoo", "addons"), os.path.join(ODOO_HOME, "addons"), REPO]
    if os.path.isdir(os.path.join(QUEUE_JOB_ADDONS, "queue_job")):
        paths.append(QUEUE_JOB_ADDONS)
    odoo.tools.config.parse_config(
        [
            "--addons-path=" + ",".join(p for p in paths if os.path.isdir(p)),
            "--db_host=" + args.db_host,
            "--db_port=" + str(args.db_port),
            "--db_user=" + args.db_user,
            "--db_password=" + args.db_password,
            "--without-demo=all",
            "--log-level=warn",
            "--max-cron-threads=0",
        ]
    )


def create_db(name, modules):
    print(f"# creating database {name} with {', '.join(modules)} ...", flush=True)
    started = time.perf_counter()
    odoo.service.db._create_empty_database(name)
    odoo.tools.config["init"] = dict.fromkeys(modules, 1)
    registry = Registry.new(name, update_module=True)
    odoo.tools.config["init"] = {}
    print(f"#   ready in {time.perf_counter() - started:.0f} s", flush=True)
    return registry


def drop_db(name):
    odoo.sql_db.close_db(name)
    odoo.service.db.exp_drop(name)


class Env:
    """Superuser environment on a new cursor, committed at the end of the block."""

    def __init__(self, registry, context=None):
        self.registry = registry
        self.context = context or {}

    def __enter__(self):
        self.cr = self.registry.cursor()
        self.cr.__enter__()
        return api.Environment(self.cr, SUPERUSER_ID, self.context)

    def __exit__(self, *exc):
        return self.cr.__exit__(*exc)


class QueryCounter:
    """Counts the statements of this thread, INSERTs per table."""

    def __init__(self):
        self.total = 0
        self.inserts = collections.Counter()

    def __call__(self, cr, query, params, start, delay):
        self.total += 1
        text = query.decode() if isinstance(query, bytes) else str(query)
        words = text.split(None, 3)
        if len(words) >= 3 and words[0].upper() == "INSERT":
            self.inserts[words[2].strip('"')] += 1

    def __enter__(self):
        threading.current_thread().query_hooks = [self]
        return self

    def __exit__(self, *exc):
        threading.current_thread().query_hooks = []


# ----------------------------------------------------------------------
# (a) partner writes
# ----------------------------------------------------------------------
def bench_writes(registry, count, rounds):
    with Env(registry) as env:
        env["saas.workflow.event.type"].create(
            {"code": "bench.partner.updated", "name": "Partner updated", "source_model": "res.partner"}
        )
        partners = env["res.partner"].create([{"name": f"Partner {i}"} for i in range(count)])
        ids = partners.ids
        model = env["ir.model"]._get("res.partner")
        fields_ = env["ir.model.fields"].search(
            [("model", "=", "res.partner"), ("name", "in", ["name", "email"])]
        )
        etype = env["saas.workflow.event.type"].search([("code", "=", "bench.partner.updated")])
        name_field = fields_.filtered(lambda f: f.name == "name")

        def make_rule(name, action):
            # "When updating: Name": recomputations of other stored fields do not fire it.
            return env["base.automation"].create(
                {"name": name, "model_id": model.id, "trigger": "on_create_or_write",
                 "trigger_field_ids": [(6, 0, name_field.ids)], "active": False,
                 "action_server_ids": [(0, 0, {"model_id": model.id, **action})]}
            ).id

        rule_id = make_rule("Bench source", {
            "name": "Emit", "state": "saas_emit_event", "saas_event_type_id": etype.id,
            "saas_payload_field_ids": [(6, 0, fields_.ids)],
        })
        # The same rule running an empty code action: the cost of base.automation alone.
        empty_rule_id = make_rule("Bench empty rule", {"name": "Nothing", "state": "code", "code": "pass"})

    def set_rule(mode):
        with Env(registry) as env:
            rules = env["base.automation"].with_context(active_test=False)
            rules.browse(rule_id).active = mode == "source"
            rules.browse(empty_rule_id).active = mode == "empty_rule"

    def run(mode, tag):
        set_rule(mode)
        with Env(registry) as env:
            env.cr.execute("SELECT count(*) FROM saas_workflow_event")
            events_before = env.cr.fetchone()[0]
        with QueryCounter() as counter:
            started = time.perf_counter()
            for i, pid in enumerate(ids):
                with Env(registry) as env:
                    partner = env["res.partner"].browse(pid)
                    partner.write({"name": f"Partner {i} {tag}"})
                    if mode == "emit":
                        env["saas.workflow.event"].emit(
                            "bench.partner.updated", record=partner,
                            payload={"id": pid, "name": partner.name, "email": partner.email or None},
                        )
            elapsed = time.perf_counter() - started
        with Env(registry) as env:
            env.cr.execute("SELECT count(*) FROM saas_workflow_event")
            events = env.cr.fetchone()[0] - events_before
        return elapsed, counter, events

    results = collections.defaultdict(list)
    for r in range(rounds):
        for mode in ("plain", "empty_rule", "source", "emit"):
            results[mode].append(run(mode, f"{mode}{r}"))
    set_rule("plain")

    def median_time(mode):
        return statistics.median(t for t, _c, _e in results[mode])

    base = median_time("plain")
    print(f"\n(a) {count} res.partner writes, one transaction each, median of {rounds} rounds")
    for mode, label in (
        ("plain", "no event source"),
        ("empty_rule", "automation rule, empty code action"),
        ("source", "active event source (automation rule)"),
        ("emit", "emit() called in code"),
    ):
        elapsed, counter, events = results[mode][-1]
        t = median_time(mode)
        per_write = {k: round(v / count, 2) for k, v in sorted(counter.inserts.items())}
        print(
            f"    {label:40s} {t:7.2f} s  {count / t:7.0f} writes/s  "
            f"overhead {100 * (t - base) / base:+6.1f} %  events {events}  "
            f"queries/write {counter.total / count:.1f}  INSERTs/write {per_write}"
        )
    return {mode: median_time(mode) for mode in results}


# ----------------------------------------------------------------------
# (b) dispatcher
# ----------------------------------------------------------------------
def emit_events(registry, count, code):
    with Env(registry) as env:
        Event = env["saas.workflow.event"]
        for start in range(0, count, 1000):
            for i in range(start, min(start + 1000, count)):
                Event.emit(code, payload={"n": i})
            env.cr.commit()  # pylint: disable=invalid-commit


def reset_outbox(registry):
    with Env(registry) as env:
        env.cr.execute("TRUNCATE saas_workflow_delivery, saas_workflow_event")
    conn = odoo.sql_db.db_connect(registry.db_name)
    with conn.cursor() as cr:
        cr._cnx.autocommit = True
        cr.execute("VACUUM ANALYZE saas_workflow_event")
        cr.execute("VACUUM ANALYZE saas_workflow_delivery")
        cr._cnx.autocommit = False


def dispatch_loop(registry, sub_ids):
    claimed = 0
    with Env(registry, {"saas_workflow_only_subscription_ids": sub_ids}) as env:
        Delivery = env["saas.workflow.delivery"]
        while True:
            result = Delivery._dispatch(commit=True)
            claimed += result["claimed"]
            if not result["claimed"] and not result["routed"]:
                return claimed


def run_in_processes(workers, target, args_list):
    """Fork ``workers`` processes running ``target(*args)``; time from a common start."""
    odoo.sql_db.close_all()
    ctx = multiprocessing.get_context("fork")
    ready, go, results = ctx.Barrier(workers + 1), ctx.Event(), ctx.Queue()

    def child(args):
        ready.wait()
        go.wait()
        results.put(target(*args))

    procs = [ctx.Process(target=child, args=(args_list[i],)) for i in range(workers)]
    for proc in procs:
        proc.start()
    ready.wait()
    started = time.perf_counter()
    go.set()
    outputs = [results.get() for _proc in procs]
    elapsed = time.perf_counter() - started
    for proc in procs:
        proc.join()
        if proc.exitcode:
            raise RuntimeError(f"worker exited with {proc.exitcode}")
    return elapsed, outputs


def check_exactly_once(registry, count):
    with Env(registry) as env:
        env.cr.execute(
            "SELECT count(*), count(*) FILTER (WHERE state = 'done' AND attempt_count = 1) "
            "FROM saas_workflow_delivery"
        )
        total, once = env.cr.fetchone()
        env.cr.execute("SELECT count(*) FROM saas_workflow_event WHERE state = 'done'")
        done_events = env.cr.fetchone()[0]
    ok = total == once == count == done_events
    return ok, f"deliveries {total}, done once {once}, events done {done_events}"


def bench_dispatcher(registry, count):
    with Env(registry) as env:
        env["saas.workflow.event.type"].create({"code": "bench.ping", "name": "Ping"})
        etype = env["saas.workflow.event.type"].search([("code", "=", "bench.ping")])
        sub_ids = env["saas.workflow.subscription"].create(
            {"name": "No-op", "event_type_ids": [(6, 0, etype.ids)], "handler_type": "noop"}
        ).ids
        batch = env["ir.config_parameter"].get_param("saas_workflow_core.batch_size")
    rates = {}
    print(f"\n(b) dispatcher, no-op subscription, {count} events, batch size {batch}")
    for workers in (1, 2):
        reset_outbox(registry)
        emit_events(registry, count, "bench.ping")
        if workers == 1:
            started = time.perf_counter()
            claimed = [dispatch_loop(registry, sub_ids)]
            elapsed = time.perf_counter() - started
        else:
            elapsed, claimed = run_in_processes(
                workers, dispatch_loop, [(registry, sub_ids)] * workers
            )
        ok, detail = check_exactly_once(registry, count)
        rates[workers] = count / elapsed
        print(
            f"    {workers} worker(s): {elapsed:6.2f} s  {rates[workers]:8.0f} events/s  "
            f"claimed per worker {claimed}  exactly once: {'yes' if ok else 'NO'} ({detail})"
        )
    return rates


# ----------------------------------------------------------------------
# (c) OCA queue_job
# ----------------------------------------------------------------------
def queue_job_loop(registry, uuids):
    # queue_job is optional: imported only when its part runs.
    RunJobController = importlib.import_module(
        "odoo.addons.queue_job.controllers.main"
    ).RunJobController
    done = 0
    for job_uuid in uuids:
        # The job runner marks the job enqueued in its own transaction...
        with Env(registry) as env:
            env.cr.execute(
                "UPDATE queue_job SET state = 'enqueued', date_enqueued = now() AT TIME ZONE 'UTC' "
                "WHERE uuid = %s AND state = 'pending'",
                (job_uuid,),
            )
        # ... then its HTTP controller acquires and runs it.
        with Env(registry) as env:
            job = RunJobController._acquire_job(env, job_uuid)
            if job is not None:
                RunJobController._runjob(env, job)
                done += 1
    return done


def enqueue_jobs(registry, count):
    with Env(registry) as env:
        Partner = env["res.partner"]
        for start in range(0, count, 1000):
            for _i in range(start, min(start + 1000, count)):
                Partner.with_delay().search_count([])
            env.cr.commit()  # pylint: disable=invalid-commit
        env.cr.execute("SELECT uuid FROM queue_job WHERE state = 'pending' ORDER BY id")
        return [row[0] for row in env.cr.fetchall()]


def bench_queue_job(registry, count):
    rates = {}
    print(f"\n(c) OCA queue_job 18.0, {count} trivial jobs (res.partner.search_count), run in-process "
          "as its controller does (no HTTP round trip)")
    for workers in (1, 2):
        uuids = enqueue_jobs(registry, count)
        if workers == 1:
            started = time.perf_counter()
            done = [queue_job_loop(registry, uuids)]
            elapsed = time.perf_counter() - started
        else:
            parts = [uuids[0::2], uuids[1::2]]
            elapsed, done = run_in_processes(workers, queue_job_loop, [(registry, p) for p in parts])
        rates[workers] = len(uuids) / elapsed
        print(f"    {workers} worker(s): {len(uuids)} jobs {elapsed:6.2f} s  "
              f"{rates[workers]:8.0f} jobs/s  done {done}")
    with Env(registry) as env:
        env.cr.execute("SELECT state, count(*) FROM queue_job GROUP BY state")
        print(f"    job states: {dict(env.cr.fetchall())}")
    return rates


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000, help="events and queue_job jobs")
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-queue-job", action="store_true")
    parser.add_argument("--db-host", dest="db_host", default=os.environ.get("PGHOST", "localhost"))
    parser.add_argument("--db-port", dest="db_port", default=os.environ.get("PGPORT", "5432"))
    parser.add_argument("--db-user", dest="db_user", default=os.environ.get("PGUSER", "odoo"))
    parser.add_argument("--db-password", dest="db_password", default=os.environ.get("PGPASSWORD", "odoo"))
    args = parser.parse_args()
    setup_odoo(args)
    has_queue_job = os.path.isdir(os.path.join(QUEUE_JOB_ADDONS, "queue_job")) and not args.skip_queue_job
    suffix = f"{os.getpid()}"
    core_db, qj_db = f"bench_core_{suffix}", f"bench_queue_job_{suffix}"
    created = []
    try:
        registry = create_db(core_db, ["saas_workflow_core"])
        created.append(core_db)
        writes = bench_writes(registry, args.writes, args.rounds)
        rates = bench_dispatcher(registry, args.events)
        qj_rates = None
        if has_queue_job:
            qj_registry = create_db(qj_db, ["queue_job"])
            created.append(qj_db)
            qj_rates = bench_queue_job(qj_registry, args.events)
        else:
            print(f"\n(c) skipped: no queue_job addon in {QUEUE_JOB_ADDONS}")
        print("\nSummary")
        overhead = 100 * (writes["source"] - writes["plain"]) / writes["plain"]
        def pct(mode):
            return 100 * (writes[mode] - writes["plain"]) / writes["plain"]

        print(f"    partner write overhead with an active event source: {overhead:+.1f} % "
              f"(base.automation with an empty action: {pct('empty_rule'):+.1f} %, "
              f"emit() in code: {pct('emit'):+.1f} %)")
        print(f"    dispatcher: {rates[1]:.0f} events/s with 1 worker, {rates[2]:.0f} with 2 "
              f"(x{rates[2] / rates[1]:.2f})")
        if qj_rates:
            print(f"    queue_job:  {qj_rates[1]:.0f} jobs/s with 1 worker, {qj_rates[2]:.0f} with 2")
            print(f"    ratio dispatcher / queue_job: x{rates[1] / qj_rates[1]:.1f} (1 worker), "
                  f"x{rates[2] / qj_rates[2]:.1f} (2 workers)")
    finally:
        for name in created:
            drop_db(name)
            print(f"# dropped {name}")


if __name__ == "__main__":
    main()
