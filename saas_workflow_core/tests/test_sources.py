from odoo.tests import tagged

from .common import WorkflowCase


@tagged("post_install", "-at_install")
class TestEventSources(WorkflowCase):
    """Event sources built without code: an automation rule with "Emit Business Event"."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_type = cls.EventType.create(
            {
                "code": "test.core.partner_company",
                "name": "Partner became a company",
                "source_model": "res.partner",
            }
        )
        cls.partner_model = cls.env["ir.model"]._get("res.partner")

    def make_rule(self, event_type, model, **values):
        fields_ = values.pop("payload_fields", [])
        idempotent = values.pop("idempotent", False)
        payload_fields = self.env["ir.model.fields"].search(
            [("model", "=", model.model), ("name", "in", fields_)]
        )
        return self.env["base.automation"].create(
            {
                "name": f"Emit {event_type.code}",
                "model_id": model.id,
                "saas_workflow_id": self.workflow.id,
                **values,
                "action_server_ids": [
                    (
                        0,
                        0,
                        {
                            "name": f"Emit {event_type.code}",
                            "model_id": model.id,
                            "state": "saas_emit_event",
                            "saas_event_type_id": event_type.id,
                            "saas_payload_field_ids": [(6, 0, payload_fields.ids)],
                            "saas_idempotent": idempotent,
                        },
                    )
                ],
            }
        )

    def events_of(self, code, record):
        return self.Event.search(
            [("code", "=", code), ("res_model", "=", record._name), ("res_id", "=", record.id)]
        )

    def test_update_with_before_and_after_domain(self):
        rule = self.make_rule(
            self.company_type,
            self.partner_model,
            trigger="on_create_or_write",
            filter_pre_domain="[('is_company', '=', False)]",
            filter_domain="[('is_company', '=', True)]",
            payload_fields=["name", "email", "is_company"],
        )
        self.assertTrue(rule.saas_is_event_source)
        self.assertEqual(rule.saas_event_type_ids, self.company_type)
        code = "test.core.partner_company"
        Partner = self.env["res.partner"]
        person = Partner.create({"name": "Grace"})
        self.assertFalse(self.events_of(code, person), "created, but not a company")
        person.write({"name": "Grace H."})
        self.assertFalse(self.events_of(code, person), "an update outside the transition")
        person.write({"is_company": True})
        events = self.events_of(code, person)
        self.assertEqual(len(events), 1, "the transition emits")
        self.assertEqual(
            events.payload,
            {"id": person.id, "display_name": "Grace H.", "name": "Grace H.", "email": None,
             "is_company": True},
        )
        person.write({"name": "Grace Hopper Inc."})
        self.assertEqual(len(self.events_of(code, person)), 1, "already a company: no new event")
        company = Partner.create({"name": "Acme", "is_company": True})
        self.assertEqual(len(self.events_of(code, company)), 1, "created in the target state")
        # An archived source emits nothing.
        rule.active = False
        other = Partner.create({"name": "Initech", "is_company": True})
        self.assertFalse(self.events_of(code, other))

    def test_rollback_of_the_business_change_drops_the_event(self):
        self.make_rule(
            self.company_type,
            self.partner_model,
            trigger="on_create_or_write",
            filter_domain="[('is_company', '=', True)]",
        )
        partner = self.env["res.partner"].create({"name": "Person"})
        with self.assertRaises(ValueError), self.env.cr.savepoint():
            partner.write({"is_company": True})
            self.assertTrue(self.events_of("test.core.partner_company", partner))
            raise ValueError("the business operation fails")
        self.env.invalidate_all()
        self.assertFalse(self.events_of("test.core.partner_company", partner))

    def test_one_event_per_record(self):
        self.make_rule(
            self.company_type,
            self.partner_model,
            trigger="on_create_or_write",
            filter_domain="[('is_company', '=', True)]",
            idempotent=True,
        )
        partner = self.env["res.partner"].create({"name": "Once", "is_company": True})
        partner.write({"name": "Once again"})
        partner.write({"name": "And again"})
        self.assertEqual(len(self.events_of("test.core.partner_company", partner)), 1)

    def test_stage_reached_on_tasks(self):
        if "project.task" not in self.env:
            self.skipTest("project is not installed")
        etype = self.EventType.create(
            {"code": "test.core.task_done", "name": "Task done", "source_model": "project.task"}
        )
        project = self.env["project.project"].create({"name": "Support"})
        new, done = self.env["project.task.type"].create(
            [
                {"name": "New", "project_ids": [(4, project.id)], "sequence": 1},
                {"name": "Solved", "project_ids": [(4, project.id)], "sequence": 2},
            ]
        )
        self.make_rule(
            etype,
            self.env["ir.model"]._get("project.task"),
            trigger="on_stage_set",
            trg_field_ref=done.id,
            payload_fields=["name", "stage_id"],
        )
        task = self.env["project.task"].create(
            {"name": "Printer on fire", "project_id": project.id, "stage_id": new.id}
        )
        self.assertFalse(self.events_of("test.core.task_done", task))
        task.write({"name": "Printer still on fire"})
        self.assertFalse(self.events_of("test.core.task_done", task))
        task.write({"stage_id": done.id})
        events = self.events_of("test.core.task_done", task)
        self.assertEqual(len(events), 1)
        self.assertEqual(events.payload["stage_id"], done.id)
        task.write({"name": "Printer fixed"})
        self.assertEqual(len(self.events_of("test.core.task_done", task)), 1)
        task.write({"stage_id": new.id})
        self.assertEqual(len(self.events_of("test.core.task_done", task)), 1)

    def test_standard_catalog_follows_installed_models(self):
        standard = self.EventType.search([("is_standard", "=", True)])
        self.assertIn("account.move.posted", standard.mapped("code"))
        Automation = self.env["base.automation"].with_context(active_test=False)
        for etype in standard:
            sources = Automation.search([("saas_standard_type_id", "=", etype.id)])
            installed = etype.source_model in self.env
            self.assertEqual(bool(sources), installed, etype.code)
            self.assertEqual(etype.available, installed, etype.code)
            if not installed:
                with self.assertRaisesRegex(Exception, "not installed"):
                    self.Event.emit(etype.code, payload={})
        # Syncing again creates nothing new.
        self.assertFalse(self.EventType._sync_standard_sources())

    def test_standard_task_created_source(self):
        if "project.task" not in self.env:
            self.skipTest("project is not installed")
        project = self.env["project.project"].create({"name": "Tickets"})
        task = self.env["project.task"].create({"name": "Cannot log in", "project_id": project.id})
        events = self.events_of("project.task.created", task)
        self.assertEqual(len(events), 1)
        self.assertEqual(events.payload["name"], "Cannot log in")
        self.assertEqual(events.payload["project_id"], project.id)

    def test_source_changes_are_tracked(self):
        rule = self.make_rule(
            self.company_type, self.partner_model, trigger="on_create_or_write"
        )
        rule.write({"filter_domain": "[('is_company', '=', True)]"})
        self.env.flush_all()
        self.env.cr.precommit.run()
        tracked = rule.message_ids.tracking_value_ids.filtered(
            lambda t: t.field_id.name == "filter_domain"
        )
        self.assertTrue(tracked)
        self.assertEqual(tracked[:1].new_value_char, "[('is_company', '=', True)]")
