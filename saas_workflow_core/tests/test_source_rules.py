import threading

from freezegun import freeze_time

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common import WorkflowCase


@tagged("post_install", "-at_install")
class TestSourceRuleCache(WorkflowCase):
    """The rules of a model and the event sources are cached: every change to a rule
    or to its actions takes effect at once, in the transaction that makes it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.etype = cls.EventType.create(
            {"code": "test.core.partner_changed", "name": "Partner changed",
             "source_model": "res.partner"}
        )
        cls.other_etype = cls.EventType.create(
            {"code": "test.core.partner_touched", "name": "Partner touched",
             "source_model": "res.partner"}
        )
        cls.partner_model = cls.env["ir.model"]._get("res.partner")
        cls.partner = cls.env["res.partner"].create({"name": "Ada", "email": "ada@example.com"})

    def field_ids(self, *names):
        return self.env["ir.model.fields"].search(
            [("model", "=", "res.partner"), ("name", "in", list(names))]
        ).ids

    def make_rule(self, **values):
        action = {
            "name": "Emit",
            "model_id": self.partner_model.id,
            "state": "saas_emit_event",
            "saas_event_type_id": self.etype.id,
            "saas_payload_field_ids": [(6, 0, self.field_ids("name"))],
        }
        action.update(values.pop("action", {}))
        return self.env["base.automation"].create(
            {
                "name": "Partner source",
                "model_id": self.partner_model.id,
                "trigger": "on_create_or_write",
                "trigger_field_ids": [(6, 0, self.field_ids("name"))],
                **values,
                "action_server_ids": [(0, 0, action)],
            }
        )

    def events(self, code="test.core.partner_changed", record=None):
        record = record or self.partner
        return self.Event.search(
            [("code", "=", code), ("res_model", "=", record._name), ("res_id", "=", record.id)],
            order="id",
        )

    def rename(self, name, record=None):
        (record or self.partner).write({"name": name})

    def test_rule_changes_take_effect_in_the_same_transaction(self):
        self.rename("Ada 1")  # the rules of res.partner are now cached: none
        rule = self.make_rule()
        self.rename("Ada 2")
        self.assertEqual(len(self.events()), 1, "a rule created in the transaction runs")
        self.assertEqual(self.events().payload, {"id": self.partner.id,
                                                 "display_name": "Ada 2", "name": "Ada 2"})
        rule.action_server_ids.saas_payload_field_ids = [(6, 0, self.field_ids("name", "email"))]
        self.rename("Ada 3")
        self.assertEqual(self.events()[-1].payload["email"], "ada@example.com",
                         "an edited action emits its new payload")
        rule.action_server_ids.saas_event_type_id = self.other_etype
        self.rename("Ada 4")
        self.assertEqual(len(self.events()), 2)
        self.assertEqual(len(self.events("test.core.partner_touched")), 1,
                         "an action switched to another event emits that event")
        rule.filter_domain = "[('is_company', '=', True)]"
        self.rename("Ada 5")
        self.assertEqual(len(self.events("test.core.partner_touched")), 1,
                         "an edited filter applies at once")
        rule.filter_domain = False
        rule.trigger_field_ids = [(6, 0, self.field_ids("email"))]
        self.rename("Ada 6")
        self.assertEqual(len(self.events("test.core.partner_touched")), 1,
                         "edited trigger fields apply at once")
        self.partner.email = "ada@lovelace.example"
        self.assertEqual(len(self.events("test.core.partner_touched")), 2)
        rule.action_archive()
        self.partner.email = "ada@babbage.example"
        self.assertEqual(len(self.events("test.core.partner_touched")), 2,
                         "an archived rule no longer runs")
        rule.action_unarchive()
        self.partner.email = "ada@analytical.example"
        self.assertEqual(len(self.events("test.core.partner_touched")), 3,
                         "an unarchived rule runs again")
        rule.unlink()
        self.partner.email = "ada@engine.example"
        self.assertEqual(len(self.events("test.core.partner_touched")), 3,
                         "a deleted rule no longer runs")

    def test_rule_with_other_actions_keeps_running_them(self):
        rule = self.make_rule()
        self.env["ir.actions.server"].create(
            {
                "name": "Remember the name",
                "model_id": self.partner_model.id,
                "base_automation_id": rule.id,
                "state": "code",
                "code": "env['ir.config_parameter'].sudo().set_param("
                        "'test.core.last_name', record.name)",
            }
        )
        self.rename("Ada Mixed")
        self.assertEqual(len(self.events()), 1)
        self.assertEqual(
            self.env["ir.config_parameter"].sudo().get_param("test.core.last_name"), "Ada Mixed"
        )

    def test_emit_only_source_costs_one_insert_per_write(self):
        rule = self.make_rule(active=False)
        self.rename("warm 1")
        before = self.env.cr.sql_log_count
        self.rename("plain")
        self.env.flush_all()
        plain = self.env.cr.sql_log_count - before
        rule.active = True
        self.rename("warm 2")
        inserts = []

        def hook(cr, query, params, start, delay):
            text = query.decode() if isinstance(query, bytes) else str(query)
            if text.split(None, 1)[0].upper() == "INSERT":
                inserts.append(text.split(None, 3)[2])

        thread = threading.current_thread()
        hooks = getattr(thread, "query_hooks", [])
        before = self.env.cr.sql_log_count
        thread.query_hooks = [*hooks, hook]
        try:
            self.rename("with source")
            self.env.flush_all()
        finally:
            thread.query_hooks = hooks
        with_source = self.env.cr.sql_log_count - before
        self.assertEqual(len(self.events()), 2)
        self.assertEqual(inserts, ["saas_workflow_event"])
        self.assertLessEqual(with_source, plain + 1,
                             "the rule costs its event's INSERT, nothing more")

    def test_action_groups_are_checked(self):
        user = new_test_user(self.env, login="wf_partner_editor",
                             groups="base.group_user,base.group_partner_manager")
        rule = self.make_rule()
        group = self.env["res.groups"].create({"name": "Event senders"})
        rule.action_server_ids.groups_id = [(6, 0, group.ids)]
        with self.assertRaises(AccessError):
            self.partner.with_user(user).write({"name": "Not allowed"})
        user.groups_id = [(4, group.id)]
        self.partner.with_user(user).write({"name": "Allowed"})
        self.assertEqual(len(self.events()), 1)


@tagged("post_install", "-at_install")
class TestDateBasedSource(WorkflowCase):
    """A source with a date-based trigger emits when base.automation's scheduler runs."""

    def test_emits_for_records_whose_date_has_passed(self):
        if "project.task" not in self.env:
            self.skipTest("project is not installed")
        etype = self.EventType.create(
            {"code": "test.core.task_due", "name": "Task overdue", "source_model": "project.task"}
        )
        model = self.env["ir.model"]._get("project.task")
        date_field = self.env["ir.model.fields"]._get("project.task", "date_deadline")
        with freeze_time("2026-01-05 08:00:00"):
            rule = self.env["base.automation"].create(
                {
                    "name": "Task overdue",
                    "model_id": model.id,
                    "trigger": "on_time",
                    "trg_date_id": date_field.id,
                    "trg_date_range": 1,
                    "trg_date_range_type": "day",
                    "action_server_ids": [(0, 0, {
                        "name": "Emit", "model_id": model.id, "state": "saas_emit_event",
                        "saas_event_type_id": etype.id,
                        "saas_payload_field_ids": [(6, 0, [date_field.id])],
                    })],
                }
            )
        project = self.env["project.project"].create({"name": "Deadlines"})
        Task = self.env["project.task"].with_context(tracking_disable=True)
        past, future, undated = Task.create([
            {"name": "Past", "project_id": project.id, "date_deadline": "2026-01-10 09:00:00"},
            {"name": "Future", "project_id": project.id, "date_deadline": "2026-01-20 09:00:00"},
            {"name": "Undated", "project_id": project.id},
        ])
        self.assertFalse(self.Event.search([("code", "=", etype.code)]), "creation emits nothing")

        def emitted():
            return self.Event.search([("code", "=", etype.code)]).mapped("res_id")

        with freeze_time("2026-01-12 10:00:00"):
            self.env["base.automation"]._check()
        self.assertEqual(emitted(), [past.id], "only the record one day past its date")
        self.assertEqual(rule.last_run.date().isoformat(), "2026-01-12")
        event = self.Event.search([("code", "=", etype.code)])
        self.assertEqual(event.payload["date_deadline"], "2026-01-10T09:00:00Z")
        self.assertEqual(event.res_model, "project.task")
        with freeze_time("2026-01-25 10:00:00"):
            self.env["base.automation"]._check()
        self.assertCountEqual(emitted(), [past.id, future.id],
                              "the next run emits for the newly due record only")
        self.assertNotIn(undated.id, emitted())
