from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common import WorkflowCase


@tagged("post_install", "-at_install")
class TestAccess(WorkflowCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_b = cls.env["res.company"].create({"name": "Company B"})
        cls.main_company = cls.env.company
        cls.reader = new_test_user(
            cls.env,
            login="wf_user",
            groups="base.group_user,saas_workflow_core.group_workflow_user",
            company_id=cls.main_company.id,
            company_ids=[(6, 0, cls.main_company.ids)],
        )
        cls.manager = new_test_user(
            cls.env,
            login="wf_manager",
            groups="base.group_user,saas_workflow_core.group_workflow_manager",
            company_id=cls.main_company.id,
            company_ids=[(6, 0, cls.main_company.ids)],
        )
        cls.outsider = new_test_user(cls.env, login="wf_outsider", groups="base.group_user")

    def test_user_reads_but_cannot_configure(self):
        event = self.Event.emit("test.core.ping", payload={"n": 1})
        self.dispatch()
        Event = self.Event.with_user(self.reader)
        self.assertIn(event, Event.search([]))
        self.assertTrue(self.Delivery.with_user(self.reader).search([("event_id", "=", event.id)]))
        self.assertTrue(self.noop.with_user(self.reader).read(["name"]))
        with self.assertRaises(AccessError):
            self.Subscription.with_user(self.reader).create(
                {"name": "Mine", "event_type_ids": [(6, 0, self.ping.ids)], "handler_type": "noop"}
            )
        with self.assertRaises(AccessError):
            self.noop.with_user(self.reader).write({"active": False})
        with self.assertRaises(AccessError):
            self.EventType.with_user(self.reader).create({"code": "test.core.mine", "name": "Mine"})
        with self.assertRaises(AccessError):
            event.with_user(self.reader).unlink()

    def test_outsider_sees_nothing(self):
        self.Event.emit("test.core.ping", payload={})
        with self.assertRaises(AccessError):
            self.Event.with_user(self.outsider).search([])
        with self.assertRaises(AccessError):
            self.Subscription.with_user(self.outsider).search([])

    def test_manager_configures_subscriptions_and_sources(self):
        sub = self.Subscription.with_user(self.manager).create(
            {"name": "Mine", "event_type_ids": [(6, 0, self.ping.ids)], "handler_type": "noop"}
        )
        sub.write({"retry_schedule": "10,20"})
        # Event sources: automation rules whose actions only emit events.
        model = self.env["ir.model"]._get("res.partner")
        rule = self.env["base.automation"].with_user(self.manager).create(
            {
                "name": "Announce companies",
                "model_id": model.id,
                "trigger": "on_create_or_write",
                "filter_domain": "[('is_company', '=', True)]",
                "action_server_ids": [
                    (0, 0, {"name": "Emit", "model_id": model.id, "state": "saas_emit_event",
                            "saas_event_type_id": self.ping.id})
                ],
            }
        )
        self.assertTrue(rule.saas_is_event_source)
        # ... but never arbitrary code.
        with self.assertRaises(AccessError):
            self.env["ir.actions.server"].with_user(self.manager).create(
                {"name": "Evil", "model_id": model.id, "state": "code", "code": "pass"}
            )
        with self.assertRaises(AccessError):
            self.failing_action.with_user(self.manager).write({"code": "pass"})
        # The catalog belongs to administrators.
        with self.assertRaises(AccessError):
            self.EventType.with_user(self.manager).create({"code": "test.core.mgr", "name": "Mgr"})

    def test_payload_visible_only_to_who_may_read_the_source(self):
        partner = self.env["res.partner"].create({"name": "Visible"})
        param = self.env["ir.config_parameter"].sudo().search([], limit=1)
        readable = self.Event.emit("test.core.ping", record=partner, payload={"secret": "a"})
        hidden = self.Event.emit("test.core.ping", record=param, payload={"secret": "b"})
        as_reader = (readable | hidden).with_user(self.reader)
        self.assertIn('"secret": "a"', as_reader[0].payload_preview)
        self.assertNotIn('"secret"', as_reader[1].payload_preview)
        self.assertIn("hidden", as_reader[1].payload_preview)
        # The raw payload field is reserved to managers.
        with self.assertRaises(AccessError):
            as_reader.read(["payload"])
        self.assertEqual(hidden.with_user(self.manager).read(["payload"])[0]["payload"], {"secret": "b"})

    def test_multi_company_rules(self):
        partner_b = self.env["res.partner"].create({"name": "B customer", "company_id": self.company_b.id})
        event_b = self.Event.emit("test.core.ping", record=partner_b, payload={})
        event_a = self.Event.emit("test.core.ping", payload={})
        self.assertEqual(event_b.company_id, self.company_b)
        every_company = self.Subscription.create(
            {"name": "All companies", "event_type_ids": [(6, 0, self.ping.ids)], "handler_type": "noop"}
        )
        self.Delivery.with_context(saas_workflow_only_subscription_ids=every_company.ids)._dispatch()
        self.assertTrue(self.Delivery.search([("event_id", "=", event_b.id)]))
        Event = self.Event.with_user(self.reader)
        found = Event.search([("id", "in", (event_a | event_b).ids)])
        self.assertEqual(found, event_a)
        self.assertFalse(
            self.Delivery.with_user(self.reader).search([("event_id", "=", event_b.id)])
        )
        self.reader.company_ids = [(4, self.company_b.id)]
        found = Event.with_context(allowed_company_ids=[self.main_company.id, self.company_b.id]).search(
            [("id", "in", (event_a | event_b).ids)]
        )
        self.assertEqual(found, event_a | event_b)

    def test_subscription_of_a_company_gets_only_its_events(self):
        sub_b = self.Subscription.create(
            {
                "name": "Company B only",
                "event_type_ids": [(6, 0, self.ping.ids)],
                "handler_type": "noop",
                "company_id": self.company_b.id,
            }
        )
        partner_b = self.env["res.partner"].create({"name": "B", "company_id": self.company_b.id})
        event_b = self.Event.emit("test.core.ping", record=partner_b, payload={})
        event_a = self.Event.emit("test.core.ping", payload={})
        self.Delivery.with_context(saas_workflow_only_subscription_ids=sub_b.ids)._dispatch()
        self.assertEqual(
            self.Delivery.search([("event_id", "=", event_b.id), ("subscription_id", "=", sub_b.id)]).state,
            "done",
        )
        self.assertFalse(
            self.Delivery.search([("event_id", "=", event_a.id), ("subscription_id", "=", sub_b.id)])
        )

    def test_configuration_changes_are_tracked(self):
        self.noop.with_user(self.manager).write({"retry_schedule": "15"})
        self.workflow.write({"criticality": "compliance"})
        self.env.flush_all()
        self.env.cr.precommit.run()
        sub_tracking = self.noop.message_ids.tracking_value_ids.filtered(
            lambda t: t.field_id.name == "retry_schedule"
        )
        self.assertEqual(sub_tracking[:1].new_value_char, "15")
        self.assertEqual(sub_tracking[:1].mail_message_id.author_id, self.manager.partner_id)
        self.assertTrue(
            self.workflow.message_ids.tracking_value_ids.filtered(
                lambda t: t.field_id.name == "criticality"
            )
        )
