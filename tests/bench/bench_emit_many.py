"""Batch emission benchmark: ``emit()`` in a loop against one ``emit_many()`` call.

Measured side by side in one run, for N events of one type in one transaction (rolled
back, so every round starts from the same table), on a database with saas_workflow_core:

1. plain events (payload only): N ``emit()`` calls, then one ``emit_many()`` of N items;
2. events with a source record (``res.partner``, company read from the record);
3. keyed events (idempotency key), half of the keys existing already (committed before
   the rounds): existing keys give the existing events back.

For each: wall time (median of ``--repeat`` rounds), events per second, SQL statements.

Usage::

    /opt/odoo18-venv/bin/python tests/bench/bench_emit_many.py [--db NAME] [--events 10000]
        [--repeat 3] [--keep]

Without ``--db`` a database is created from scratch (saas_workflow_core, no demo data),
measured and dropped unless ``--keep``. With ``--db`` an existing database is used (the
core addon is installed when missing) and the benchmark's own records are removed at the end.
"""

import argparse
import os
import statistics
import time

from benchlib import drop_db, load_registry, prepare_db

CODE = "bench.emit_many"
KEY_PREFIX = "bench-emit-many-"


def _setup(odoo, registry, count):
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {"tracking_disable": True})
        Type = env["saas.workflow.event.type"]
        if not Type.search([("code", "=", CODE)]):
            Type.create({"code": CODE, "name": "Batch emission benchmark"})
        partners = env["res.partner"].search([("name", "=like", "Bench emit %")], limit=count)
        missing = count - len(partners)
        if missing > 0:
            partners |= env["res.partner"].create(
                [{"name": f"Bench emit {i}"} for i in range(missing)]
            )
        # Half of the keys exist before the keyed rounds.
        env["saas.workflow.event"].emit_many(
            CODE, [{"payload": {"n": i}, "idempotency_key": f"{KEY_PREFIX}{i}"}
                   for i in range(0, count, 2)]
        )
        cr.commit()
        return partners.ids


def _cleanup(registry):
    with registry.cursor() as cr:
        cr.execute(
            "DELETE FROM saas_workflow_delivery WHERE event_id IN "
            "(SELECT id FROM saas_workflow_event WHERE code = %s)", (CODE,)
        )
        cr.execute("DELETE FROM saas_workflow_event WHERE code = %s", (CODE,))
        cr.execute("DELETE FROM saas_workflow_event_type WHERE code = %s", (CODE,))
        cr.execute("DELETE FROM res_partner WHERE name LIKE 'Bench emit %%'")


def _round(odoo, registry, items_of, batch):
    """One transaction emitting the items; returns (seconds, statements, events)."""
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        Event = env["saas.workflow.event"]
        Event.emit(CODE, payload={})  # warm the catalog cache outside the measure
        items = items_of(env)
        env.flush_all()
        statements = cr.sql_log_count
        started = time.perf_counter()
        if batch:
            events = Event.emit_many(CODE, items).ids
        else:
            events = [Event.emit(CODE, **item).id for item in items]
        env.flush_all()
        elapsed = time.perf_counter() - started
        statements = cr.sql_log_count - statements
        cr.rollback()
    return elapsed, statements, len(events)


def _measure(odoo, registry, label, items_of, repeat):
    results = {}
    for batch in (False, True):
        rounds = [_round(odoo, registry, items_of, batch) for _i in range(repeat)]
        seconds = statistics.median(r[0] for r in rounds)
        results[batch] = (seconds, rounds[0][1], rounds[0][2])
    loop, many = results[False], results[True]
    for name, (seconds, statements, events) in (("emit() loop", loop), ("emit_many()", many)):
        print(f"[{label}] {name:12} {events:>7,} events: {seconds * 1000:9.1f} ms  "
              f"{events / seconds:>10,.0f} events/s  {statements:>7,} SQL statements")
    print(f"[{label}] speed-up: x{loop[0] / many[0]:.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", help="existing database")
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the database it creates")
    args = parser.parse_args()
    db = args.db or f"bench_emit_many_{os.getpid()}"
    prepare_db(db, create=not args.db, modules=["saas_workflow_core"])
    count = args.events
    try:
        odoo, registry = load_registry(db)
        partner_ids = _setup(odoo, registry, count)
        _measure(odoo, registry, "plain", lambda env: [{"payload": {"n": i, "amount": "12.50"}}
                                                       for i in range(count)], args.repeat)

        def sourced(env):
            partners = env["res.partner"].browse(partner_ids)
            return [{"record": partner, "payload": {"n": i}} for i, partner in enumerate(partners)]

        _measure(odoo, registry, "sourced", sourced, args.repeat)
        _measure(odoo, registry, "keyed", lambda env: [
            {"payload": {"n": i}, "idempotency_key": f"{KEY_PREFIX}{i}"} for i in range(count)
        ], args.repeat)
    finally:
        if args.db:
            _cleanup(load_registry(db)[1])
        elif not args.keep:
            drop_db(db)


if __name__ == "__main__":
    main()
