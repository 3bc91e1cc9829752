import re

from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import WorkflowCase


@tagged("post_install", "-at_install")
class TestOutbox(WorkflowCase):
    def test_emit_records_a_pending_event(self):
        partner = self.env["res.partner"].create({"name": "Ada"})
        event = self.Event.emit(
            "test.core.ping",
            record=partner,
            payload={"amount": 12.5, "count": 3, "when": None},
            correlation_id="corr-1",
        )
        self.assertRegex(event.public_id, r"^evt_[0-9a-f]{32}$")
        self.assertEqual(event.state, "pending")
        self.assertEqual(event.event_type_id, self.ping)
        self.assertEqual(event.version, 1)
        self.assertEqual((event.res_model, event.res_id), ("res.partner", partner.id))
        self.assertEqual(event.company_id, self.env.company)
        self.assertEqual(event.correlation_id, "corr-1")
        # Amounts travel as strings: no float is ever stored.
        self.assertEqual(event.payload, {"amount": "12.5", "count": 3, "when": None})
        self.assertFalse(event.routed)

    def test_event_ids_are_never_reused(self):
        events = self.Event.browse()
        for _i in range(20):
            events |= self.Event.emit("test.core.ping", payload={})
        self.assertEqual(len(set(events.mapped("public_id"))), 20)
        self.assertTrue(all(re.fullmatch(r"evt_[0-9a-f]{32}", pid) for pid in events.mapped("public_id")))

    def test_emit_costs_one_insert(self):
        self.Event.emit("test.core.ping", payload={"n": 0})  # warms the catalog cache
        self.env.flush_all()
        before = self.env.cr.sql_log_count
        for i in range(10):
            self.Event.emit("test.core.ping", payload={"n": i})
        self.assertEqual(self.env.cr.sql_log_count - before, 10, "one query (the INSERT) per event")

    def test_unknown_event_type_is_refused(self):
        before = self.Event.search_count([])
        with self.assertRaisesRegex(UserError, "Unknown business event type test.core.nope"):
            self.Event.emit("test.core.nope", payload={})
        self.assertEqual(self.Event.search_count([]), before)

    def test_archived_event_type_is_refused(self):
        self.other_type.active = False
        with self.assertRaisesRegex(UserError, "archived"):
            self.Event.emit("test.core.other", payload={})

    def test_event_type_of_missing_model_is_refused(self):
        self.EventType.create(
            {"code": "test.core.missing", "name": "Missing", "source_model": "no.such.model"}
        )
        with self.assertRaisesRegex(UserError, "not installed"):
            self.Event.emit("test.core.missing", payload={})

    def test_bad_payload_is_refused(self):
        with self.assertRaisesRegex(UserError, "dictionary"):
            self.Event.emit("test.core.ping", payload=["not", "a", "dict"])
        with self.assertRaisesRegex(UserError, "Invalid payload"):
            self.Event.emit("test.core.ping", payload={"x": object()})
        with self.assertRaisesRegex(UserError, "Invalid payload"):
            self.Event.emit("test.core.ping", payload={"x": float("nan")})

    def test_invalid_event_type_code_is_refused(self):
        with self.assertRaisesRegex(Exception, "dotted lower-case"):
            self.EventType.create({"code": "Not A Code", "name": "Bad"})

    def test_idempotent_emit_sequential(self):
        first = self.Event.emit("test.core.ping", payload={"n": 1}, idempotency_key="order-42")
        second = self.Event.emit("test.core.ping", payload={"n": 2}, idempotency_key="order-42")
        self.assertEqual(first, second)
        self.assertEqual(first.payload, {"n": 1})
        self.assertEqual(
            self.Event.search_count([("code", "=", "test.core.ping"), ("idempotency_key", "=", "order-42")]), 1
        )
        # The key is scoped by event type.
        other = self.Event.emit("test.core.other", payload={}, idempotency_key="order-42")
        self.assertNotEqual(other, first)

    def test_causation_and_correlation_follow_the_handled_event(self):
        parent = self.Event.emit("test.core.ping", payload={}, correlation_id="flow-7")
        child = self.Event.with_context(saas_workflow_event=parent._as_context()).emit(
            "test.core.other", payload={}
        )
        self.assertEqual(child.causation_id, parent.public_id)
        self.assertEqual(child.correlation_id, "flow-7")

    def test_retention_deletes_only_old_done_events(self):
        old_done = self.Event.emit("test.core.other", payload={})
        old_dead = self.Event.emit("test.core.other", payload={})
        old_failed = self.Event.emit("test.core.other", payload={})
        recent_done = self.Event.emit("test.core.other", payload={})
        self.env.cr.execute(
            """
            UPDATE saas_workflow_event SET state = v.state,
                   occurred_at = now() AT TIME ZONE 'UTC' - v.age * interval '1 day'
              FROM unnest(%s::int[], %s::varchar[], %s::int[]) AS v(id, state, age)
             WHERE saas_workflow_event.id = v.id
            """,
            (
                [old_done.id, old_dead.id, old_failed.id, recent_done.id],
                ["done", "dead", "failed", "done"],
                [40, 40, 40, 5],
            ),
        )
        self.env["ir.config_parameter"].sudo().set_param("saas_workflow_core.retention_days", "30")
        self.Event.invalidate_model()
        self.Event._cron_retention()
        self.assertFalse(old_done.exists())
        self.assertEqual(
            (old_dead | old_failed | recent_done).exists(), old_dead | old_failed | recent_done
        )
