import re
from unittest.mock import patch

from odoo.addons.saas_workflow_core.models import event as event_module
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


@tagged("post_install", "-at_install")
class TestEmitMany(WorkflowCase):
    """Batch emission: one validation pass, one INSERT, the guarantees of emit()."""

    def count_events(self, **where):
        domain = [("code", "in", ("test.core.ping", "test.core.other"))]
        domain += [(field, "=", value) for field, value in where.items()]
        return self.Event.search_count(domain)

    def test_batch_records_every_event_in_order(self):
        company_b = self.env["res.company"].create({"name": "Orbit B"})
        partners = self.env["res.partner"].create(
            [{"name": f"Batch {i}", "company_id": company_b.id if i % 2 else False}
             for i in range(6)]
        )
        items = [{"record": partner, "payload": {"n": i}} for i, partner in enumerate(partners)]
        items.append({"payload": {"n": 6}, "correlation_id": "batch-corr"})
        items.append({"record": partners[0]})  # default payload
        events = self.Event.emit_many("test.core.ping", items)
        self.assertEqual(len(events), 8)
        self.assertEqual(events.ids, sorted(events.ids), "rows are written in the order of items")
        self.assertEqual(len(set(events.mapped("public_id"))), 8)
        self.assertEqual([e.payload for e in events[:7]], [{"n": i} for i in range(7)])
        self.assertEqual(
            events[7].payload,
            {"id": partners[0].id, "model": "res.partner", "display_name": "Batch 0"},
        )
        for event, partner in zip(events[:6], partners):
            self.assertEqual((event.res_model, event.res_id), ("res.partner", partner.id))
            self.assertEqual(event.company_id, partner.company_id or self.env.company)
        self.assertEqual(events[1].company_id, company_b)
        self.assertFalse(events[6].res_model)
        self.assertEqual(events[6].company_id, self.env.company)
        self.assertEqual(events[6].correlation_id, "batch-corr")
        self.assertEqual(set(events.mapped("state")), {"pending"})
        self.assertEqual(set(events.mapped("event_type_id")), {self.ping})

    def test_batch_follows_the_handled_event(self):
        parent = self.Event.emit("test.core.ping", payload={}, correlation_id="flow-9")
        children = self.Event.with_context(saas_workflow_event=parent._as_context()).emit_many(
            "test.core.other", [{"payload": {}}, {"payload": {}, "correlation_id": "own"}]
        )
        self.assertEqual(children.mapped("causation_id"), [parent.public_id] * 2)
        self.assertEqual(children.mapped("correlation_id"), ["flow-9", "own"])

    def test_batch_keys_yield_existing_events(self):
        before = self.Event.emit("test.core.ping", payload={"n": "old"}, idempotency_key="k-old")
        total = self.count_events()
        events = self.Event.emit_many("test.core.ping", [
            {"payload": {"n": 1}, "idempotency_key": "k-new"},
            {"payload": {"n": 2}},
            {"payload": {"n": 3}, "idempotency_key": "k-old"},
            {"payload": {"n": 4}, "idempotency_key": "k-new"},
            {"payload": {"n": 5}},
        ])
        self.assertEqual(len(events), 5, "one entry per item")
        self.assertEqual(events[2], before)
        self.assertEqual(events[3], events[0], "a key repeated in the batch is one event")
        self.assertEqual(events[0].payload, {"n": 1})
        self.assertEqual(before.payload, {"n": "old"})
        self.assertEqual(events[1].payload, {"n": 2})
        self.assertEqual(events[4].payload, {"n": 5})
        self.assertEqual(len({events[0], events[1], events[4], before}), 4)
        self.assertEqual(self.count_events(), total + 3)
        self.assertEqual(self.count_events(idempotency_key="k-new"), 1)
        self.assertEqual(self.count_events(idempotency_key="k-old"), 1)
        # The same batch again creates only its unkeyed events.
        again = self.Event.emit_many("test.core.ping", [
            {"payload": {}, "idempotency_key": "k-new"}, {"payload": {}, "idempotency_key": "k-old"},
        ])
        self.assertEqual(again.ids, [events[0].id, before.id])
        self.assertEqual(self.count_events(), total + 3)

    def test_one_invalid_item_records_nothing(self):
        good = [{"payload": {"n": i}, "idempotency_key": f"ok-{i}"} for i in range(3)]
        total = self.count_events()
        with self.assertRaisesRegex(UserError, "Invalid payload for event test.core.ping"):
            self.Event.emit_many("test.core.ping", [*good, {"payload": {"x": float("nan")}}])
        with self.assertRaisesRegex(UserError, "dictionary"):
            self.Event.emit_many("test.core.ping", [*good, {"payload": ["not", "a", "dict"]}])
        with self.assertRaisesRegex(UserError, "Unknown event arguments: colour"):
            self.Event.emit_many("test.core.ping", [*good, {"payload": {}, "colour": "red"}])
        with self.assertRaisesRegex(UserError, "Unknown business event type test.core.nope"):
            self.Event.emit_many("test.core.nope", good)
        self.assertEqual(self.count_events(), total)
        self.assertFalse(self.Event.search([("idempotency_key", "like", "ok-%")]))
        self.assertFalse(self.Event.emit_many("test.core.ping", []))

    def test_batch_costs_a_constant_number_of_queries(self):
        partners = self.env["res.partner"].create([{"name": f"Q {i}"} for i in range(100)])
        self.Event.emit("test.core.ping", payload={"n": 0})  # warms the catalog cache

        def queries(items, invalidate=False):
            if invalidate:
                self.env.invalidate_all()  # the sources' companies are read, once per model
            self.env.flush_all()
            before = self.env.cr.sql_log_count
            self.Event.emit_many("test.core.ping", items)
            return self.env.cr.sql_log_count - before

        plain = [{"payload": {"n": i}} for i in range(100)]
        self.assertEqual(queries(plain[:10]), queries(plain))
        self.assertEqual(queries(plain), 1, "one INSERT for 100 events")
        sourced = [{"record": partner} for partner in partners]
        self.assertEqual(queries(sourced[:10], True), queries(sourced, True))
        keyed = [{"payload": {}, "idempotency_key": f"q-{i}"} for i in range(100)]
        self.Event.emit_many("test.core.ping", keyed[::2])  # half of the keys exist already
        self.assertEqual(queries(keyed[:10]), queries(keyed))

    def test_emit_in_a_loop_reads_the_sources_companies_once(self):
        partners = self.env["res.partner"].create([{"name": f"L {i}"} for i in range(10)])
        self.Event.emit("test.core.ping", payload={})  # warms the catalog cache
        self.env.invalidate_all()
        partners = partners.browse(partners.ids)
        self.assertTrue(self.env.company.id)  # the current company is read outside the measure
        self.env.flush_all()
        before = self.env.cr.sql_log_count
        events = [self.Event.emit("test.core.ping", record=partner) for partner in partners]
        self.assertEqual(self.env.cr.sql_log_count - before, 11, "an INSERT each, one read")
        self.assertEqual([e.res_id for e in events], partners.ids)

    def test_large_batch_is_written_in_chunks(self):
        items = [{"payload": {"n": i}} for i in range(20)]
        self.Event.emit("test.core.ping", payload={})  # warms the catalog cache
        self.env.flush_all()
        before = self.env.cr.sql_log_count
        with patch.object(event_module, "EMIT_CHUNK", 7):
            events = self.Event.emit_many("test.core.ping", items)
        self.assertEqual(self.env.cr.sql_log_count - before, 3, "20 rows in chunks of 7")
        self.assertEqual([e.payload["n"] for e in events], list(range(20)))
