"""Approval benchmark: guarded actions and the escalation sweep, against real Odoo.

Measured in one run:

1. reference: ``purchase.order.button_confirm`` on N orders that no policy
   guards (the cost of the action itself), one call per order;
2. guarded ``button_confirm`` on N orders a policy matches: each order gets an
   approval request, its step, the approvers' mail activities (3 per order),
   a chatter note and an ``approval.requested`` event, and is stopped (target:
   1,000 in < 10 s). Measured on separate sets of N orders: one call over the N
   orders (``orders.button_confirm()``, as a list view action or an RPC on
   several ids does) and one call per order in one transaction (``for order in
   orders: order.button_confirm()``: the engine's cost per call, every record
   already in the ORM cache);
3. clicks: one call per order, each in its own transaction on a fresh cursor
   and cache as every web request is, from W worker processes at once (the
   HTTP workers of a server with W cores), guarded and unguarded (reference)
   side by side;
4. the escalation sweep: the escalation cron job run through the cron
   worker's own ``ir.cron._run_job`` (``_cron_escalate``, batches of 500, one
   commit per batch after each ``_notify_progress``) over M overdue pending
   steps whose policy reassigns
   them to an escalation approver (target: 10,000 in < 30 s). The M pending
   requests are built beforehand through the same guard on company contacts
   (``res.partner.action_archive`` called on batches of 500 contacts), which
   is cheaper to set up than M purchase orders; that set-up is timed but is
   not part of the target.

Usage::

    /opt/odoo18-venv/bin/python tests/bench/bench_approvals.py [--db NAME] [--orders 1000]
        [--steps 10000] [--workers 2] [--keep]

Without ``--db`` a database is created from scratch (``purchase`` and
``saas_workflow_approvals`` installed without demo data) and dropped at the end
unless ``--keep``. With ``--db`` an existing database that has ``purchase`` is
used (``saas_workflow_approvals`` is installed when missing); the benchmark
archives the policies it finds for the guarded actions it measures, creates its
own users, policies and records, and archives its policies at the end.
"""

import argparse
import multiprocessing
import os
import time

from benchlib import drop_db, load_registry, prepare_db

MODULE = "saas_workflow_approvals"
BATCH = 500


def _user(env, login, groups):
    user = env["res.users"].with_context(active_test=False).search([("login", "=", login)])
    if user:
        user.active = True
        return user
    return env["res.users"].with_context(no_reset_password=True).create({
        "name": login.replace("_", " ").title(),
        "login": login,
        "email": f"{login}@example.com",
        "groups_id": [(6, 0, [env.ref(g).id for g in groups])],
    })


def _setup(odoo, registry, orders):
    """Users, the two policies and 5 x ``orders`` draft purchase orders."""
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {"tracking_disable": True})
        Policy = env["saas.approval.policy"].with_context(active_test=False)
        Policy.search([("model_name", "in", ("purchase.order", "res.partner"))]).write(
            {"active": False})
        tag = time.strftime("%H%M%S")
        buyer = _user(env, "bench_buyer", ["base.group_user", "purchase.group_purchase_user",
                                           "base.group_partner_manager"])
        approvers = [_user(env, f"bench_approver_{i}", ["base.group_user"]) for i in range(3)]
        boss = _user(env, "bench_escalation", ["base.group_user"])
        Policy.create({
            "name": f"bench purchase {tag}",
            "model_id": env["ir.model"]._get_id("purchase.order"),
            "method_name": "button_confirm",
            "filter_domain": "[('state', 'in', ('draft', 'sent'))]",
            "amount_field_id": env["ir.model.fields"]._get("purchase.order", "amount_total").id,
            "amount_threshold": 1000.0,
            "company_id": False,
            "email_approvers": False,
            "step_ids": [(0, 0, {"name": "Managers", "approver_type": "users", "quorum": "any",
                                 "user_ids": [(6, 0, [a.id for a in approvers])],
                                 "timeout_hours": 48})],
        })
        Policy.create({
            "name": f"bench partners {tag}",
            "model_id": env["ir.model"]._get_id("res.partner"),
            "method_name": "action_archive",
            "filter_domain": "[('is_company', '=', True), ('ref', '=like', 'BENCH%')]",
            "company_id": False,
            "email_approvers": False,
            "step_ids": [(0, 0, {"name": "Controller", "approver_type": "users",
                                 "user_ids": [(6, 0, [approvers[0].id])],
                                 "timeout_hours": 4, "escalation_action": "reassign",
                                 "escalation_user_id": boss.id})],
        })
        vendor = env["res.partner"].create({"name": f"Bench vendor {tag}", "is_company": True})
        product = env["product.product"].create({
            "name": f"Bench item {tag}", "type": "consu", "supplier_taxes_id": [(6, 0, [])]})

        def make(price):
            return env["purchase.order"].with_user(buyer).create([
                {"partner_id": vendor.id,
                 "order_line": [(0, 0, {"product_id": product.id, "product_qty": 1,
                                        "price_unit": price})]}
                for _i in range(orders)
            ]).ids

        sets = {"small": make(500.0), "large": make(5000.0), "batch": make(5000.0),
                "clicks_small": make(500.0), "clicks_large": make(5000.0)}
        return buyer.id, sets


def _timed_confirm(odoo, registry, uid, ids, batched=False):
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, uid, {})
        orders = env["purchase.order"].browse(ids)
        orders.fetch(["state"])
        queries = cr.sql_log_count
        start = time.perf_counter()
        if batched:
            orders.button_confirm()
        else:
            for order in orders:
                order.button_confirm()
        env.flush_all()
        queries = cr.sql_log_count - queries
        elapsed = time.perf_counter() - start
        states, requests = _outcome(env, ids)
        activities = env["mail.activity"].sudo().search_count(
            [("res_model", "=", "purchase.order"), ("res_id", "in", ids),
             ("saas_approval_step_id", "!=", False)])
        return elapsed, states, requests, activities, queries


def _click_worker(db, uid, ids, barrier, results):
    """One worker process: ``button_confirm`` on each order in its own transaction."""
    odoo, registry = load_registry(db)
    with registry.cursor() as cr:
        # warm the registry's caches (access rules, views of the guard) as a server does
        odoo.api.Environment(cr, uid, {})["purchase.order"].browse(ids[:1]).fetch(["state"])
    barrier.wait()
    start = time.time()
    for order_id in ids:
        with registry.cursor() as cr:
            odoo.api.Environment(cr, uid, {})["purchase.order"].browse(order_id).button_confirm()
    results.put((start, time.time()))


def _clicks(db, uid, ids, workers):
    """Wall time of one transaction per order, ``ids`` shared out over ``workers``
    processes started together."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    processes = [ctx.Process(target=_click_worker, args=(db, uid, ids[i::workers], barrier,
                                                           results))
                 for i in range(workers)]
    for process in processes:
        process.start()
    spans = [results.get() for _process in processes]
    for process in processes:
        process.join()
        if process.exitcode:
            raise SystemExit(f"a click worker failed (exit code {process.exitcode})")
    return max(end for _start, end in spans) - min(start for start, _end in spans)


def _outcome(env, ids):
    """``({state: number of orders}, number of approval requests)`` of the orders ``ids``."""
    states = {}
    for order in env["purchase.order"].browse(ids):
        states[order.state] = states.get(order.state, 0) + 1
    requests = env["saas.approval.request"].sudo().search_count(
        [("res_model", "=", "purchase.order"), ("res_id", "in", ids)])
    return states, requests


def _states(odoo, registry, ids):
    with registry.cursor() as cr:
        return _outcome(odoo.api.Environment(cr, odoo.SUPERUSER_ID, {}), ids)


def _make_pending_steps(odoo, registry, uid, count):
    """``count`` pending steps, created through the guard in committed batches."""
    start = time.perf_counter()
    done = 0
    tag = time.strftime("%H%M%S")
    while done < count:
        size = min(BATCH, count - done)
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, uid, {"tracking_disable": True})
            partners = env["res.partner"].create([
                {"name": f"Bench company {tag}-{done + i}", "is_company": True,
                 "ref": f"BENCH{tag}{done + i}"}
                for i in range(size)
            ])
            partners.action_archive()
        done += size
    return time.perf_counter() - start


def _age_steps(registry, minutes):
    """Move every pending step's clock ``minutes`` back, so that it is overdue now."""
    with registry.cursor() as cr:
        cr.execute(
            """UPDATE saas_approval_request_step
                  SET activated_at = activated_at - interval '1 minute' * %s,
                      deadline = deadline - interval '1 minute' * %s,
                      next_check_at = next_check_at - interval '1 minute' * %s
                WHERE state = 'pending'""",
            (minutes, minutes, minutes),
        )


def _sweep(odoo, registry):
    """Run the escalation cron job as the cron worker does.

    ``ir.cron._run_job`` calls the job's server action (``_cron_escalate``,
    batches of 500) up to 10 times per claim and commits after each call that
    reports progress with ``_notify_progress``; claims are repeated until the
    job reports nothing left.
    """
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        cron = env.ref(f"{MODULE}.ir_cron_escalate")
        job = {"id": cron.id, "cron_name": cron.cron_name,
               "ir_actions_server_id": cron.ir_actions_server_id.id,
               "user_id": cron.user_id.id, "lastcall": cron.lastcall,
               "timed_out_counter": 0, "active": True}
        start_id = env["ir.cron.progress"].search([], order="id desc", limit=1).id or 0
    Cron = registry["ir.cron"]
    claims = 0
    start = time.perf_counter()
    while True:
        claims += 1
        status = Cron._run_job(dict(job))
        with registry.cursor() as cr:
            cr.execute("SELECT count(*) FROM saas_approval_request_step WHERE state = 'pending' "
                       "AND next_check_at <= now() AT TIME ZONE 'UTC'")
            left = cr.fetchone()[0]
        if not left or claims > 100 or status is None:
            break
    elapsed = time.perf_counter() - start
    with registry.cursor() as cr:
        cr.execute("SELECT count(*), coalesce(sum(done), 0) FROM ir_cron_progress "
                   "WHERE id > %s AND cron_id = %s AND done > 0", (start_id, job["id"]))
        batches, total = cr.fetchone()
    return elapsed, total, batches


def _teardown(odoo, registry):
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        env["saas.approval.policy"].search([("name", "=like", "bench %")]).write(
            {"active": False})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", help="existing database with purchase installed")
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2,
                        help="worker processes of the clicks measurement")
    parser.add_argument("--keep", action="store_true", help="keep the database it creates")
    args = parser.parse_args()
    db = args.db or f"bench_approvals_{os.getpid()}"
    prepare_db(db, create=not args.db, modules=["purchase", MODULE], required=["purchase"])
    try:
        odoo, registry = load_registry(db)
        t0 = time.perf_counter()
        uid, sets = _setup(odoo, registry, args.orders)
        print(f"set-up: {5 * args.orders} purchase orders in {time.perf_counter() - t0:.1f} s")
        target = 10.0 * args.orders / 1000

        small = sets["small"]
        elapsed, states, _req, _act, queries = _timed_confirm(odoo, registry, uid, small)
        reference = elapsed
        print(f"[reference] {len(small)} x button_confirm on one order, no policy matches: "
              f"{elapsed:.2f} s ({len(small) / elapsed:.0f}/s, {queries / len(small):.1f} "
              f"queries/order), states {states}")
        for label, ids, batched in (
            (f"1 x button_confirm on {len(sets['batch'])} orders", sets["batch"], True),
            (f"{len(sets['large'])} x button_confirm on one order, one transaction",
             sets["large"], False),
        ):
            elapsed, states, requests, activities, queries = _timed_confirm(
                odoo, registry, uid, ids, batched=batched)
            line = (f"[guarded]   {label}, stopped for approval: {elapsed:.2f} s "
                    f"({len(ids) / elapsed:.0f}/s, {queries / len(ids):.1f} queries/order), "
                    f"states {states}, {requests} requests, {activities} activities, "
                    f"{elapsed / reference:.1f} x the reference")
            if batched:
                verdict = "OK" if elapsed < target else "over target"
                line += f"  [target < {target:g} s for {len(ids)}: {verdict}]"
            else:
                line += f"  [{1000 * elapsed / len(ids):.1f} ms per call; under 10 ms: " \
                        f"{'yes' if elapsed < target else 'no'}]"
            print(line)

        workers = args.workers
        plain = _clicks(db, uid, sets["clicks_small"], workers)
        guarded = _clicks(db, uid, sets["clicks_large"], workers)
        states, requests = _states(odoo, registry, sets["clicks_small"])
        print(f"[clicks]    {len(sets['clicks_small'])} x button_confirm, one transaction each, "
              f"{workers} worker processes, no policy matches (reference): {plain:.2f} s "
              f"({len(sets['clicks_small']) / plain:.0f}/s), states {states}")
        states, requests = _states(odoo, registry, sets["clicks_large"])
        print(f"[clicks]    {len(sets['clicks_large'])} x button_confirm, one transaction each, "
              f"{workers} worker processes, stopped for approval: {guarded:.2f} s "
              f"({len(sets['clicks_large']) / guarded:.0f}/s), states {states}, "
              f"{requests} requests, {guarded / plain:.2f} x the reference clicks")

        setup = _make_pending_steps(odoo, registry, uid, args.steps)
        print(f"set-up: {args.steps} pending requests through the guard in {setup:.1f} s "
              f"({args.steps / setup:.0f}/s)")
        # the policy's timeout is 4 h: 4 h 1 min later every step is overdue
        _age_steps(registry, 4 * 60 + 1)
        elapsed, total, batches = _sweep(odoo, registry)
        target = 30.0 * total / 10000
        verdict = "OK" if elapsed < target else "over target"
        print(f"[sweep]     {total} overdue steps escalated (reassign) in {batches} batches: "
              f"{elapsed:.2f} s ({total / elapsed:.0f}/s)  "
              f"[target < {target:g} s for {total}: {verdict}]")
        _teardown(odoo, registry)
    finally:
        if not args.db and not args.keep:
            drop_db(db)


if __name__ == "__main__":
    main()
