from unittest.mock import patch

from odoo.exceptions import UserError
from odoo.tests import Form, tagged

from .common import WorkflowCase


@tagged("post_install", "-at_install")
class TestTemplateFramework(WorkflowCase):
    """The catalog, its configuration wizard and the helpers templates build on."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Template = cls.env["saas.workflow.template"]
        cls.template = cls.Template.create(
            {
                "code": "core_partner_watch",
                "name": "Partner watch",
                "required_modules": "base, mail",
                "param_ids": [
                    (0, 0, {"key": "days", "name": "Days", "value_type": "integer",
                            "value_integer": 7}),
                    (0, 0, {"key": "reviewer", "name": "Reviewer", "value_type": "user",
                            "value_user_id": cls.exception_user.id}),
                ],
            }
        )

    def test_missing_modules_block_activation(self):
        template = self.Template.create(
            {"code": "needs_missing", "name": "Needs a module",
             "required_modules": "base,module_that_is_not_installed"}
        )
        self.assertFalse(template.available)
        self.assertEqual(template.missing_modules, "module_that_is_not_installed")
        with self.assertRaisesRegex(UserError, "module_that_is_not_installed"):
            template._activate()
        self.assertEqual(template.state, "draft")
        self.assertFalse(template.workflow_id)

    def assertNoQuery(self, func, *args):
        self.env.flush_all()
        before = self.env.cr.sql_log_count
        result = func(*args)
        self.assertEqual(self.env.cr.sql_log_count - before, 0, "answered from the cache")
        return result

    def test_active_lookup_follows_switching_and_is_cached(self):
        def activate(template, workflow, params):
            template._template_subscription(
                "ack", workflow, "Acknowledge", ["test.core.ping"], "noop"
            )

        code = "core_partner_watch"
        active_by_code = self.Template.with_user(self.exception_user)._active_by_code
        self.assertFalse(active_by_code(code), "never activated")
        self.assertFalse(self.assertNoQuery(active_by_code, code))
        with patch.object(
            type(self.Template), f"_template_activate_{code}", activate, create=True
        ):
            self.template._activate()
        found = active_by_code(code)
        self.assertEqual(found, self.template)
        self.assertTrue(found.env.su, "usable by guards running as any user")
        self.assertEqual(self.assertNoQuery(active_by_code, code), self.template)
        self.template.action_deactivate()
        self.assertEqual(self.template.state, "inactive")
        self.assertFalse(active_by_code(code), "switched off")
        self.assertFalse(self.assertNoQuery(active_by_code, code))
        # Every change of code, state or the catalog itself is seen at once.
        self.template.write({"state": "active"})
        self.assertEqual(active_by_code(code), self.template)
        self.template.write({"code": "core_partner_watch_2"})
        self.assertFalse(active_by_code(code))
        self.assertEqual(active_by_code("core_partner_watch_2"), self.template)
        self.template.unlink()
        self.assertFalse(active_by_code("core_partner_watch_2"))
        created = self.Template.create({"code": code, "name": "Again", "state": "active"})
        self.assertEqual(active_by_code(code), created)

    def test_template_without_implementation_is_refused(self):
        self.assertTrue(self.template.available)
        with self.assertRaisesRegex(UserError, "No installed addon implements"):
            self.template._activate()
        self.assertFalse(self.env["saas.workflow"].search([("code", "=", "core_partner_watch")]))

    def test_params_are_typed(self):
        params = self.template._template_params()
        self.assertEqual(params["days"], 7)
        self.assertEqual(params["reviewer"], self.exception_user)

    def test_helpers_create_once_and_switch_off_archives_only_what_they_made(self):
        source = self.template._template_event_source(
            "partner_created", self.workflow, "res.partner", "test.core.ping", "on_create",
            payload_fields=("name",),
        )
        sub = self.template._template_subscription(
            "ack", self.workflow, "Acknowledge", ["test.core.ping"], "noop"
        )
        cron = self.template._template_cron(
            "sweep", self.workflow, "Partner sweep", "res.partner", "exists", interval_number=2
        )
        # A second activation updates the same records instead of duplicating them.
        again = self.template._template_event_source(
            "partner_created", self.workflow, "res.partner", "test.core.ping", "on_create",
            name="Partner created",
        )
        self.assertEqual(again, source)
        self.assertEqual(source.name, "Partner created")
        self.assertEqual(len(source.action_server_ids), 1)
        self.assertEqual(
            self.template._template_subscription(
                "ack", self.workflow, "Acknowledge", ["test.core.ping"], "noop"
            ),
            sub,
        )
        self.assertEqual(len(self.template.record_ids), 3)
        self.assertEqual(cron.code, "model.exists()")
        self.assertEqual(source.saas_workflow_id, self.workflow)

        # The source really emits: a new partner writes an event in this transaction.
        partner = self.env["res.partner"].create({"name": "Watched partner"})
        event = self.Event.search([("event_type_id", "=", self.ping.id), ("res_id", "=", partner.id)])
        self.assertEqual(len(event), 1)

        self.template.sudo().state = "active"
        self.template.workflow_id = self.workflow
        self.template.action_deactivate()
        self.assertEqual(self.template.state, "inactive")
        self.assertFalse(source.active or sub.active or cron.active)
        self.assertFalse(self.workflow.active)
        # History stays.
        self.assertTrue(event.exists())
        self.assertTrue(self.noop.exists())
        self.env["res.partner"].create({"name": "Not watched any more"})
        self.assertEqual(self.Event.search_count([("event_type_id", "=", self.ping.id)]), 1)

    def test_unknown_event_type_or_field_is_refused(self):
        with self.assertRaisesRegex(UserError, "Unknown event type"):
            self.template._template_event_source(
                "x", self.workflow, "res.partner", "no.such.event", "on_create"
            )
        with self.assertRaisesRegex(UserError, "Unknown fields"):
            self.template._template_event_source(
                "x", self.workflow, "res.partner", "test.core.ping", "on_write",
                trigger_field_names=("no_such_field",),
            )
        self.assertFalse(self.template.record_ids)

    def test_failed_activation_from_the_wizard_changes_nothing(self):
        wizard_form = Form(
            self.env["saas.workflow.template.wizard"].with_context(
                default_template_id=self.template.id
            )
        )
        with wizard_form.line_ids.edit(0) as line:
            line.value_integer = 30
        wizard = wizard_form.save()
        self.assertEqual(wizard.owner_id, self.env.user)
        with self.assertRaisesRegex(UserError, "No installed addon implements"):
            wizard.action_apply()
        self.assertEqual(self.template._template_params()["days"], 7)
        self.assertEqual(self.template.state, "draft")

    def test_views_load(self):
        for view in ("kanban", "list", "form", "search"):
            self.env["saas.workflow.template"].get_view(view_type=view)
        self.env["saas.workflow.template.wizard"].get_view(view_type="form")
