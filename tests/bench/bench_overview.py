"""Operations overview benchmark: the screen a COO opens first, over 100,000 events.

Measured side by side in one run, on a database holding N business events spread over
90 days (busier on weekdays and office hours) with their deliveries (a few failed or
dead), webhook attempts, approval requests with steps and decisions, and SLA statuses:

1. floor: the raw ``SELECT count(*)`` over the events, and the same count over the last
   30 days of one company (what the throughput tile summarizes);
2. opening the overview as a workflow user, as the web client does: ``web_read_group`` of
   the kanban grouped by area, then one ``web_search_read`` per area with the tile fields
   (target: < 2 s);
3. opening each tile's drill-down report: the ``read_group`` (graph, pivot) or
   ``web_search_read`` + ``search_count`` (list) that its first view runs over the
   records behind the figure;
4. the refresh job that computes every indicator (current and previous period) with
   set-based queries and writes the day's snapshot.

Each figure is the median of ``--repeat`` runs, each in a new transaction with empty caches.

Usage::

    /opt/odoo18-venv/bin/python tests/bench/bench_overview.py [--db NAME] [--events 100000]
        [--repeat 5] [--keep]

Without ``--db`` a database is created from scratch (the four suite addons, no demo
data), filled, measured and dropped unless ``--keep``. With ``--db`` an existing database
is used as is: the suite addons are installed when missing and no data is added unless
``--fill`` is given.
"""

import argparse
import os
import statistics
import time

from benchlib import drop_db, load_registry, prepare_db

MODULES = ["saas_workflow_core", "saas_workflow_approvals", "saas_workflow_integrations",
           "saas_workflow_ai"]
EVENT_TYPES = ["invoice.posted", "invoice.paid", "order.confirmed", "lead.won", "ticket.created",
               "ticket.classified", "approval.requested", "contract.renewed"]
KANBAN_SPEC = {
    "name": {}, "value_display": {}, "previous_display": {}, "trend_display": {}, "status": {},
    "trend_good": {}, "has_trend": {}, "has_target": {}, "higher_is_better": {},
    "period_days": {}, "target": {}, "last_refresh": {}, "company_id": {"fields": {"display_name": {}}},
}


def _setup(odoo, registry):
    """Users, event types, subscriptions, an endpoint, an approval and an SLA policy."""
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {"tracking_disable": True})
        company = env.ref("base.main_company")
        other = env["res.company"].search([("name", "=", "Bench Subsidiary")]) or \
            env["res.company"].create({"name": "Bench Subsidiary"})
        user = env["res.users"].search([("login", "=", "bench_coo")])
        if not user:
            user = env["res.users"].with_context(no_reset_password=True).create({
                "name": "Bench COO", "login": "bench_coo",
                "company_id": company.id, "company_ids": [(6, 0, company.ids)],
                "groups_id": [(6, 0, [env.ref("base.group_user").id,
                                      env.ref("saas_workflow_core.group_workflow_user").id,
                                      env.ref("saas_workflow_ai.group_ai_user").id])],
            })
        Type = env["saas.workflow.event.type"]
        types = Type.browse()
        for code in EVENT_TYPES:
            types |= Type.search([("code", "=", "bench." + code)]) or Type.create(
                {"code": "bench." + code, "name": code})
        sub = env["saas.workflow.subscription"].search([("name", "=", "bench receiver")]) or \
            env["saas.workflow.subscription"].create({
                "name": "bench receiver", "event_type_ids": [(6, 0, types.ids)], "handler_type": "noop"})
        endpoint = env["saas.webhook.endpoint"].search([("name", "=", "bench endpoint")]) or \
            env["saas.webhook.endpoint"].create({
                "name": "bench endpoint", "url": "https://receiver.example.com/hook",
                "event_type_ids": [(6, 0, types.ids)]})
        partner_model = env["ir.model"]._get("res.partner")
        policy = env["saas.approval.policy"].search([("name", "=", "bench policy")]) or \
            env["saas.approval.policy"].create({
                "name": "bench policy", "model_id": partner_model.id, "method_name": "action_archive",
                "filter_domain": "[('id', '=', 0)]", "company_id": False,
                "step_ids": [(0, 0, {"name": "Review", "approver_type": "users",
                                     "user_ids": [(6, 0, env.ref("base.user_admin").ids)]})]})
        sla = env["saas.sla.policy"].search([("name", "=", "bench sla")]) or env["saas.sla.policy"].create({
            "name": "bench sla", "model_id": partner_model.id, "domain": "[('id', '=', 0)]",
            "resolution_hours": 8})
        return {
            "company": company.id, "other": other.id, "user": user.id, "types": types.ids,
            "sub": sub.id, "endpoint": endpoint.id, "endpoint_sub": endpoint.subscription_id.id,
            "policy": policy.id, "sla": sla.id,
        }


def _fill(odoo, registry, ids, n):
    """Set-based inserts of ``n`` events and their related rows, spread over 90 days."""
    with registry.cursor() as cr:
        cr.execute("SELECT setseed(0.42)")
        # 90 % of the events in the main company; weekdays and office hours get more traffic.
        cr.execute(
            """
            CREATE TEMP TABLE bench_ev AS
            SELECT g AS n,
                   (%(types)s::int[])[1 + (g %% array_length(%(types)s::int[], 1))] AS type_id,
                   CASE WHEN random() < 0.9 THEN %(company)s ELSE %(other)s END AS company_id,
                   date_trunc('day', now() AT TIME ZONE 'UTC') - (floor(random() * 90) || ' days')::interval
                     + ((8 + floor(random() * 10)) || ' hours')::interval
                     + (floor(random() * 3600) || ' seconds')::interval AS occurred_at,
                   random() AS r
              FROM generate_series(1, %(n)s) g
            """,
            {"types": ids["types"], "company": ids["company"], "other": ids["other"], "n": n},
        )
        # weekend events are thinned out by moving most of them to the Friday before
        cr.execute("""
            UPDATE bench_ev SET occurred_at = occurred_at - ((extract(isodow FROM occurred_at) - 5)
                   || ' days')::interval
             WHERE extract(isodow FROM occurred_at) > 5 AND r < 0.7
        """)
        cr.execute(
            """
            INSERT INTO saas_workflow_event
                (public_id, event_type_id, code, version, occurred_at, company_id, payload, state,
                 routed, done_at, latency_ms, retry_count, create_uid, write_uid, create_date,
                 write_date)
            SELECT 'evt_bench_' || e.n, e.type_id, t.code, 1, e.occurred_at, e.company_id, '{}'::jsonb,
                   CASE WHEN e.r < 0.004 THEN 'dead' WHEN e.r < 0.01 THEN 'failed'
                        WHEN e.r < 0.015 THEN 'pending' ELSE 'done' END,
                   true,
                   CASE WHEN e.r >= 0.015 THEN e.occurred_at + ((50 + floor(e.r * 4000)) || ' milliseconds')::interval END,
                   CASE WHEN e.r >= 0.015 THEN 50 + floor(e.r * 4000)::int END,
                   CASE WHEN e.r < 0.01 THEN 5 WHEN e.r < 0.06 THEN 1 ELSE 0 END,
                   1, 1, e.occurred_at, e.occurred_at
              FROM bench_ev e JOIN saas_workflow_event_type t ON t.id = e.type_id
            """
        )
        cr.execute(
            """
            INSERT INTO saas_workflow_delivery
                (event_id, subscription_id, event_type_id, company_id, state, attempt_count,
                 requeue_count, done_at, create_uid, write_uid, create_date, write_date)
            SELECT ev.id, %s, ev.event_type_id, ev.company_id, ev.state, 1 + ev.retry_count, 0,
                   ev.done_at, 1, 1, ev.occurred_at, ev.occurred_at
              FROM saas_workflow_event ev WHERE ev.public_id LIKE 'evt_bench_%%'
            """,
            (ids["sub"],),
        )
        # one in five events also goes to the webhook endpoint; one in ten of those is retried
        cr.execute(
            """
            INSERT INTO saas_webhook_attempt
                (endpoint_id, event_id, webhook_id, attempt_no, attempted_at, status_code, latency_ms,
                 outcome, called, is_failure, company_id, attempt_count, failure_count)
            SELECT %s, ev.id, ev.public_id, a.no, ev.occurred_at + (a.no * 30 || ' seconds')::interval,
                   CASE WHEN a.no < a.total THEN 503 ELSE 200 END,
                   40 + (ev.id * 7919 %% 900),
                   CASE WHEN a.no < a.total THEN 'retry' ELSE 'success' END,
                   true, a.no < a.total, ev.company_id, 1,
                   CASE WHEN a.no < a.total THEN 1 ELSE 0 END
              FROM saas_workflow_event ev
              JOIN LATERAL (
                SELECT g AS no, n.total FROM (
                    SELECT CASE (ev.id / 5) %% 20 WHEN 0 THEN 3 WHEN 1 THEN 2 ELSE 1 END AS total) n,
                    generate_series(1, n.total) g) a ON true
             WHERE ev.public_id LIKE 'evt_bench_%%' AND ev.id %% 5 = 0
            """,
            (ids["endpoint"],),
        )
        # approvals: one request per 20 events, decided after 1 to 72 h, 2 % in the exception queue
        cr.execute(
            """
            INSERT INTO saas_approval_request
                (name, res_model, res_id, res_name, policy_id, method_name, company_id, state,
                 requester_id, submitted_at, decided_at, turnaround_hours, escalation_count,
                 create_uid, write_uid, create_date, write_date)
            SELECT 'BENCH/' || ev.id, 'res.partner', 1, 'Bench', %s, 'action_archive', ev.company_id,
                   CASE WHEN ev.id %% 50 = 0 THEN 'exception' WHEN ev.id %% 7 = 0 THEN 'rejected'
                        ELSE 'approved' END,
                   1, ev.occurred_at,
                   CASE WHEN ev.id %% 50 <> 0 THEN ev.occurred_at + ((1 + ev.id %% 72) || ' hours')::interval END,
                   CASE WHEN ev.id %% 50 <> 0 THEN 1 + ev.id %% 72 END, 0,
                   1, 1, ev.occurred_at, ev.occurred_at
              FROM saas_workflow_event ev WHERE ev.public_id LIKE 'evt_bench_%%' AND ev.id %% 20 = 0
            """,
            (ids["policy"],),
        )
        cr.execute(
            """
            INSERT INTO saas_approval_request_step
                (request_id, policy_id, company_id, requester_id, sequence, name, kind, quorum,
                 rejection_rule, escalation_action, state, required_count, min_approvals, activated_at, deadline, decided_at, turnaround_hours, was_overdue,
                 create_uid, write_uid, create_date, write_date)
            SELECT r.id, r.policy_id, r.company_id, 1, 1, 'Review', 'mandatory', 'any', 'veto', 'none',
                   CASE WHEN r.state = 'exception' THEN 'pending' ELSE r.state END, 1, 1,
                   r.submitted_at, r.submitted_at + interval '24 hours', r.decided_at, r.turnaround_hours,
                   coalesce(r.turnaround_hours > 24, false), 1, 1, r.create_date, r.create_date
              FROM saas_approval_request r WHERE r.name LIKE 'BENCH/%%'
            """
        )
        cr.execute(
            """
            INSERT INTO saas_approval_decision
                (request_id, step_id, step_name, policy_id, company_id, res_model, res_id, user_id,
                 decision, decided_at, response_hours, channel, create_uid, write_uid, create_date,
                 write_date)
            SELECT r.id, s.id, 'Review', r.policy_id, r.company_id, 'res.partner', 1, 1,
                   CASE WHEN s.was_overdue THEN 'escalate' WHEN r.state = 'rejected' THEN 'reject'
                        ELSE 'approve' END,
                   r.decided_at, r.turnaround_hours, 'button', 1, 1, r.decided_at, r.decided_at
              FROM saas_approval_request r JOIN saas_approval_request_step s ON s.request_id = r.id
             WHERE r.name LIKE 'BENCH/%%' AND r.decided_at IS NOT NULL
            """
        )
        # support: one SLA status per 10 events
        cr.execute(
            """
            INSERT INTO saas_sla_status
                (policy_id, company_id, res_model, res_id, record_name, start_at, resolution_deadline,
                 resolved_at, state, response_breached, resolution_breached, escalated, adherence,
                 team, priority, create_uid, write_uid, create_date, write_date)
            SELECT %s, ev.company_id, 'res.partner', ev.id, 'Ticket ' || ev.id, ev.occurred_at,
                   ev.occurred_at + interval '8 hours',
                   ev.occurred_at + ((1 + ev.id %% 11) || ' hours')::interval,
                   CASE WHEN ev.id %% 11 < 8 THEN 'met' WHEN ev.id %% 13 = 0 THEN 'breached' ELSE 'missed' END,
                   false, ev.id %% 11 >= 8, ev.id %% 11 >= 8 AND ev.id %% 3 = 0,
                   CASE WHEN ev.id %% 11 < 8 THEN 100 ELSE 0 END,
                   CASE WHEN ev.id %% 2 = 0 THEN 'Tier 1' ELSE 'Tier 2' END, '1', 1, 1,
                   ev.occurred_at, ev.occurred_at
              FROM saas_workflow_event ev WHERE ev.public_id LIKE 'evt_bench_%%' AND ev.id %% 10 = 0
            """,
            (ids["sla"],),
        )
        counts = {}
        for table in ("saas_workflow_event", "saas_workflow_delivery", "saas_webhook_attempt",
                      "saas_approval_request", "saas_approval_request_step", "saas_approval_decision",
                      "saas_sla_status"):
            cr.execute(f"SELECT count(*) FROM {table}")
            counts[table] = cr.fetchone()[0]
        cr.commit()
        cr.execute("ANALYZE")
        return counts


def _timed(registry, func, repeat):
    """Median wall time in ms of ``func(cr)``, each run in a new transaction with empty caches."""
    times = []
    result = None
    for _ in range(repeat):
        with registry.cursor() as cr:
            registry.clear_cache()
            started = time.perf_counter()
            result = func(cr)
            times.append((time.perf_counter() - started) * 1000)
            cr.rollback()
    return statistics.median(times), result


def _open_overview(odoo, uid):
    def run(cr):
        env = odoo.api.Environment(cr, uid, {})
        Kpi = env["saas.operations.kpi"]
        action = env["ir.actions.act_window"]._for_xml_id("saas_workflow_core.action_operations_overview")
        domain = odoo.tools.safe_eval.safe_eval(action["domain"])
        groups = Kpi.web_read_group(domain, ["area"], ["area"], lazy=True)["groups"]
        tiles = 0
        for group in groups:
            tiles += len(Kpi.web_search_read(group["__domain"], KANBAN_SPEC, limit=40)["records"])
        return tiles
    return run


def _view_query(odoo, uid, kpi_id):
    """What the first view of a tile's drill-down runs over its records."""
    def run(cr):
        env = odoo.api.Environment(cr, uid, {})
        kpi = env["saas.operations.kpi"].browse(kpi_id)
        action = kpi.action_open_records()
        Model = env[action["res_model"]]
        views = action.get("views") or [(False, mode) for mode in action["view_mode"].split(",")]
        view_id, mode = views[0]
        if mode in ("graph", "pivot"):
            arch = Model.get_views([(view_id, mode)])["views"][mode]["arch"]
            from lxml import etree  # noqa: PLC0415
            node = etree.fromstring(arch)
            groupby, measures = [], ["__count"]
            for field in node.iter("field"):
                if field.get("type") == "measure":
                    measures.append(field.get("name") + ":" + (Model._fields[field.get("name")].aggregator or "sum"))
                elif field.get("type") != "col" or mode == "pivot":
                    interval = field.get("interval")
                    groupby.append(field.get("name") + (":" + interval if interval else ""))
            Model._read_group(action["domain"], groupby[:2], measures)
            return f"{mode} by {', '.join(groupby[:2])}"
        Model.web_search_read(action["domain"], {"display_name": {}}, limit=80)
        Model.search_count(action["domain"])
        return mode
    return run


def _refresh(odoo, company_id):
    def run(cr):
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        kpis = env["saas.operations.kpi"].search([("company_id", "=", company_id)])
        kpis._refresh()
        return len(kpis)
    return run


def _raw_count(cr):
    cr.execute("SELECT count(*) FROM saas_workflow_event")
    return cr.fetchone()[0]


def _window_count(company_id):
    def run(cr):
        cr.execute(
            "SELECT count(*) FROM saas_workflow_event WHERE company_id = %s "
            "AND occurred_at >= (now() AT TIME ZONE 'UTC') - interval '30 days'", (company_id,))
        return cr.fetchone()[0]
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", help="existing database (no data added unless --fill)")
    parser.add_argument("--events", type=int, default=100000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--fill", action="store_true", help="add the generated data to --db")
    parser.add_argument("--keep", action="store_true", help="keep the database it creates")
    args = parser.parse_args()
    db = args.db or f"bench_overview_{os.getpid()}"
    prepare_db(db, create=not args.db, modules=MODULES)
    try:
        odoo, registry = load_registry(db)
        ids = _setup(odoo, registry)
        if not args.db or args.fill:
            started = time.perf_counter()
            counts = _fill(odoo, registry, ids, args.events)
            print(f"set-up: {', '.join(f'{n:,} {t}' for t, n in counts.items())} "
                  f"in {time.perf_counter() - started:.1f} s")
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            env["saas.operations.kpi"]._ensure_companies()
            env["saas.operations.kpi"].search([])._refresh()
            kpi_ids = env["saas.operations.kpi"].search(
                [("company_id", "=", ids["company"]), ("available", "=", True), ("res_model", "!=", False)]).ids
            cr.commit()
        floor, total = _timed(registry, _raw_count, args.repeat)
        window, in_window = _timed(registry, _window_count(ids["company"]), args.repeat)
        print(f"[floor]     SELECT count(*) over {total:,} events: {floor:.1f} ms; "
              f"count over the company's last 30 days ({in_window:,} events): {window:.1f} ms")
        elapsed, tiles = _timed(registry, _open_overview(odoo, ids["user"]), args.repeat)
        verdict = "OK" if elapsed < 2000 else "over target"
        print(f"[overview]  open as a workflow user (web_read_group + web_search_read, {tiles} tiles): "
              f"{elapsed:.1f} ms  [target < 2000 ms: {verdict}]")
        worst = 0.0
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            names = {kpi.id: (kpi.code, kpi.value_display) for kpi in env["saas.operations.kpi"].browse(kpi_ids)}
        for kpi_id in kpi_ids:
            ms, what = _timed(registry, _view_query(odoo, ids["user"], kpi_id), args.repeat)
            worst = max(worst, ms)
            code, shown = names[kpi_id]
            print(f"[drill]     {code:<22} ({shown:>12}): {what:<45} {ms:7.1f} ms")
        print(f"[drill]     slowest drill-down: {worst:.1f} ms  "
              f"[overview + slowest drill-down < 2000 ms: {'OK' if elapsed + worst < 2000 else 'over target'}]")
        ms, count = _timed(registry, _refresh(odoo, ids["company"]), args.repeat)
        print(f"[refresh]   recompute {count} indicators of one company (current and previous period) "
              f"and write the snapshot: {ms:.0f} ms ({ms / floor:.0f}x the raw count)")
    finally:
        if not args.db and not args.keep:
            drop_db(db)


if __name__ == "__main__":
    main()
