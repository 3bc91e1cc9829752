from odoo.exceptions import UserError
from odoo.tests import TransactionCase, freeze_time, new_test_user, tagged

from .common import loopback_provider
from .fake_openai_server import FakeOpenAIServer

ESCALATION = "saas_workflow_ai.mail_activity_sla_escalation"

LABELED = {
    "Billing": [
        "I was charged twice for my invoice",
        "refund the extra payment on my bill",
        "my invoice amount is wrong",
        "payment failed but money was taken",
        "double charge on my credit card statement",
        "please send a corrected invoice",
    ],
    "Technical": [
        "the app crashes when I open it",
        "error 500 when I save the form",
        "the page does not load in my browser",
        "the export button throws an error",
        "upload fails with a timeout error",
        "the screen stays blank after the update",
    ],
    "Account": [
        "I cannot log in to my account",
        "reset my password please",
        "change the email address of my account",
        "my account is locked after too many attempts",
        "two factor login code never arrives",
        "I forgot my username",
    ],
}


@tagged("post_install", "-at_install")
class TestTemplateSupport(TransactionCase):
    """The Support template end to end: ticket created -> AI classification -> SLA routing
    -> breach escalation, on project.task with a real loopback OpenAI-compatible server."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = FakeOpenAIServer().start()
        cls.addClassCleanup(cls.server.stop)
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        project_user = "base.group_user,project.group_project_user"
        cls.lead = new_test_user(cls.env, "sup_lead", name="Lena Lead",
                                 groups=project_user + ",saas_workflow_ai.group_ai_user")
        cls.billing_agent = new_test_user(cls.env, "sup_billing", name="Bill Agent",
                                          groups=project_user)
        cls.tech_agent = new_test_user(cls.env, "sup_tech", name="Tess Tech",
                                       groups=project_user)
        cls.customer = cls.env["res.partner"].create(
            {"name": "Carla Customer", "email": "carla@example.com"})
        cls.calendar = cls.env["resource.calendar"].create({
            "name": "Support desk 9-17 UTC",
            "tz": "UTC",
            "attendance_ids": [(5, 0, 0)] + [
                (0, 0, {"name": f"Day {day}", "dayofweek": str(day), "hour_from": 9,
                        "hour_to": 17, "day_period": "morning"})
                for day in range(5)
            ],
        })
        cls.env.company.resource_calendar_id = cls.calendar
        cls.env.company.saas_ai_allow_external = True
        cls.provider = loopback_provider(cls.env, cls.server, "Support loopback LLM")
        cls.template = cls.env["saas.workflow.template"]._by_code("support")
        cls.set_params(
            project_name="Customer Support (test)",
            provider_name=cls.provider.name,
            allow_external=True,
            auto_apply=True,
            category_threshold=0.8,
            priority_threshold=0.8,
            team_lead=cls.lead,
            billing_user=cls.billing_agent,
            technical_user=cls.tech_agent,
            account_user=cls.env["res.users"],
            urgent_response_hours=1.0,
            urgent_resolution_hours=8.0,
            normal_response_hours=4.0,
            normal_resolution_hours=24.0,
            check_minutes=5,
        )

    @classmethod
    def set_params(cls, **values):
        fields_by_type = {"user": "value_user_id", "float": "value_float",
                          "integer": "value_integer", "char": "value_char",
                          "boolean": "value_boolean"}
        for param in cls.template.param_ids:
            if param.key in values:
                param[fields_by_type[param.value_type]] = values[param.key]

    def setUp(self):
        super().setUp()
        self.server.reset()
        self.server.logprobs = "on"
        self.server.add_rule(
            "charged twice",
            labels={"category": "billing", "priority": "urgent"},
            probs={"category": {"billing": 0.96, "technical": 0.03, "account": 0.01},
                   "priority": {"urgent": 0.93, "normal": 0.07}},
        )
        self.server.add_rule(
            "printer",
            labels={"category": "technical", "priority": "normal"},
            probs={"category": {"technical": 0.5, "billing": 0.3, "account": 0.2},
                   "priority": {"normal": 0.95, "urgent": 0.05}},
        )

    # ------------------------------------------------------------------ helpers
    def activate(self):
        workflow = self.template._activate(owner=self.env.ref("base.user_admin"))
        project = self.env["project.project"].search(
            [("name", "=", "Customer Support (test)")])
        self.assertEqual(len(project), 1)
        return workflow, project

    def rec(self, key):
        return self.template._template_record(key)

    def ticket(self, project, name, description="", **vals):
        return self.env["project.task"].create(dict({
            "name": name, "description": description, "project_id": project.id,
            "partner_id": self.customer.id, "user_ids": [(5, 0, 0)],
        }, **vals))

    def events(self, code, task):
        return self.env["saas.workflow.event"].search(
            [("code", "=", code), ("res_model", "=", "project.task"), ("res_id", "=", task.id)])

    def status(self, task):
        return self.env["saas.sla.status"].search(
            [("res_model", "=", "project.task"), ("res_id", "=", task.id)])

    def decision(self, task):
        return self.env["saas.ai.decision"].search(
            [("res_model", "=", "project.task"), ("res_id", "=", task.id)],
            order="id desc", limit=1)

    def dispatch(self):
        self.env["saas.workflow.delivery"]._dispatch()

    def escalations(self, task):
        return task.activity_ids.filtered(
            lambda a: a.activity_type_id == self.env.ref(ESCALATION))

    # -------------------------------------------------------------------- tests
    def test_activation_registers_the_pieces(self):
        workflow, project = self.activate()
        self.assertEqual(self.template.state, "active")
        self.assertEqual(workflow.code, "support")
        self.assertIn("Exception path", self.template.description)
        self.assertIn("SLA adherence", self.template.kpi_description)
        profile = self.rec("profile")
        self.assertEqual(profile.model_name, "project.task")
        self.assertEqual(profile.provider_id, self.provider)
        self.assertEqual(profile.mode, "auto")
        self.assertIn(str(project.id), profile.filter_domain)
        self.assertEqual(profile.input_field_ids.mapped("name"), ["name", "description"])
        self.assertEqual(set(profile.allowed_field_ids.mapped("name")),
                         {"name", "description", "partner_id"})
        self.assertEqual(sorted(profile.output_ids.mapped("name")), ["category", "priority"])
        category = profile.output_ids.filtered(lambda o: o.name == "category")
        self.assertEqual(sorted(category.label_ids.mapped("name")),
                         ["account", "billing", "technical"])
        self.assertEqual(category.threshold, 0.8)
        self.assertEqual(profile.review_user_ids, self.lead)
        urgent, normal = self.rec("sla_urgent"), self.rec("sla_normal")
        self.assertLess(urgent.sequence, normal.sequence)
        self.assertEqual(urgent.calendar_id, self.calendar)
        self.assertEqual(urgent.team_lead_id, self.lead)
        self.assertEqual((urgent.resolution_hours, normal.resolution_hours), (8.0, 24.0))
        self.assertTrue(self.rec("route_billing").active)
        self.assertIsNone(self.rec("route_account"))  # no agent for account tickets
        source = self.rec("source_ticket_created")
        self.assertEqual(source.saas_workflow_id, workflow)
        self.assertEqual(source.saas_event_type_ids.code, "ticket.created")
        cron = self.rec("cron_escalation")
        self.assertEqual((cron.interval_number, cron.interval_type), (5, "minutes"))
        self.assertTrue(cron.active)
        # everything is linked to the registered workflow
        self.assertIn(profile.automation_id, workflow.source_ids)
        self.assertIn(urgent.automation_id, workflow.source_ids)
        self.assertIn("ticket.sla_breached", workflow.emitted_type_ids.mapped("code"))
        self.assertEqual(workflow.consumed_type_ids.mapped("code"), ["ticket.created"])

    def test_activation_twice_does_not_duplicate(self):
        workflow, project = self.activate()
        links = self.template.record_ids.mapped(lambda r: (r.key, r.res_model, r.res_id))
        profile = self.rec("profile")
        outputs = profile.output_ids
        labels = outputs.label_ids
        sources = workflow.source_ids
        self.set_params(category_threshold=0.7, account_user=self.tech_agent)
        workflow2, project2 = self.activate()
        self.assertEqual(workflow2, workflow)
        self.assertEqual(project2, project)
        self.assertEqual(self.rec("profile"), profile)
        self.assertEqual(profile.output_ids, outputs)
        self.assertEqual(profile.output_ids.label_ids, labels)
        self.assertEqual(profile.output_ids.filtered(lambda o: o.name == "category").threshold, 0.7)
        new_links = self.template.record_ids.mapped(lambda r: (r.key, r.res_model, r.res_id))
        # the only new record is the routing rule of the account agent
        self.assertEqual(set(new_links) - set(links),
                         {("route_account", "saas.routing.rule", self.rec("route_account").id)})
        self.assertEqual(workflow.source_ids, sources)
        self.assertEqual(self.env["saas.ai.profile"].search_count(
            [("filter_domain", "=", profile.filter_domain)]), 1)
        self.assertEqual(self.env["saas.sla.policy"].search_count(
            [("domain", "like", f"('project_id', '=', {project.id})")]), 2)
        # removing the agent of a category switches its routing off
        self.set_params(account_user=self.env["res.users"])
        self.activate()
        self.assertFalse(self.rec("route_account").active)

    def test_ticket_classified_routed_sla_and_breach_escalation(self):
        workflow, project = self.activate()
        with freeze_time("2026-12-04 10:00:00"):  # a Friday
            task = self.ticket(project, "I was charged twice this month",
                               "<p>Please refund, carla@example.com</p>")
            # creation only writes outbox events: nothing sent to the model yet
            self.assertFalse(self.server.bodies())
            created = self.events("ticket.created", task)
            self.assertEqual(len(created), 1)
            self.assertEqual(created.payload["name"], "I was charged twice this month")
            self.assertEqual(created.payload["project_id"], project.id)
            self.assertEqual(len(self.events("ai.classification.requested", task)), 1)
            status = self.status(task)
            self.assertEqual(status.policy_id, self.rec("sla_normal"))
            self.assertEqual(str(status.resolution_deadline), "2026-12-09 10:00:00")
            self.dispatch()
        # classified: category tag and urgent priority applied above the thresholds
        decision = self.decision(task)
        self.assertEqual(decision.profile_id, self.rec("profile"))
        self.assertEqual(decision.state, "applied")
        self.assertEqual(task.tag_ids.name, "Billing")
        self.assertEqual(task.priority, "1")
        # the customer's e-mail never left the database
        sent = " ".join(m["content"] for b in self.server.bodies() for m in b["messages"])
        self.assertNotIn("carla@example.com", sent)
        self.assertEqual(len(self.events("ai.classification.applied", task)), 1)
        # SLA routing: the urgent policy applies from the creation time, on working hours
        status = self.status(task)
        self.assertEqual(status.policy_id, self.rec("sla_urgent"))
        self.assertEqual(str(status.start_at), "2026-12-04 10:00:00")
        self.assertEqual(str(status.response_deadline), "2026-12-04 11:00:00")
        # 7 working hours on Friday, 1 on Monday: the weekend does not count
        self.assertEqual(str(status.resolution_deadline), "2026-12-07 10:00:00")
        self.assertEqual(task.user_ids, self.billing_agent)
        self.assertFalse(self.escalations(task))

        with freeze_time("2026-12-04 10:05:00"):
            self.env["saas.workflow.template"]._cron_support_escalation()
        # assigned by the routing: responded in time
        self.assertEqual(str(status.responded_at), "2026-12-04 10:05:00")
        self.assertFalse(status.response_breached)
        self.assertEqual(status.state, "running")
        with freeze_time("2026-12-04 16:30:00"):  # past 80 % of the resolution time
            self.env["saas.workflow.template"]._cron_support_escalation()
        self.assertEqual(status.state, "warning")
        self.assertEqual(len(self.events("ticket.sla_warning", task)), 1)
        self.assertFalse(self.events("ticket.sla_breached", task))

        with freeze_time("2026-12-07 10:30:00"):
            self.env["saas.workflow.template"]._cron_support_escalation()
            self.env["saas.workflow.template"]._cron_support_escalation()  # idempotent
        self.assertEqual(status.state, "breached")
        self.assertTrue(status.resolution_breached)
        breached = self.events("ticket.sla_breached", task)
        self.assertEqual(len(breached), 1)
        self.assertEqual(breached.payload["kind"], "resolution")
        self.assertEqual(breached.payload["deadline"], "2026-12-07 10:00:00")
        self.assertEqual(breached.payload["priority"], "High")
        activity = self.escalations(task)
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, self.lead)
        self.assertIn("SLA breached", activity.summary)

    def test_unsure_classification_goes_to_the_team_lead(self):
        _workflow, project = self.activate()
        task = self.ticket(project, "The printer driver shows a warning")
        self.dispatch()
        decision = self.decision(task)
        self.assertEqual(decision.state, "review")
        self.assertFalse(task.tag_ids)
        self.assertEqual(task.priority, "0")  # the confident field is applied
        self.assertFalse(task.user_ids)  # not routed without a category
        review = decision.activity_ids.filtered(
            lambda a: a.activity_type_id == self.env.ref("saas_workflow_ai.mail_activity_ai_review"))
        self.assertEqual(review.user_id, self.lead)
        self.assertEqual(self.status(task).policy_id, self.rec("sla_normal"))

    def test_local_provider_trained_on_labeled_tickets(self):
        self.set_params(provider_name="", allow_external=False, category_threshold=0.3,
                        priority_threshold=0.3)
        history = self.env["project.project"].create({"name": "Closed tickets"})
        Tag = self.env["project.tags"]
        for index, (tag_name, texts) in enumerate(LABELED.items()):
            tag = Tag.search([("name", "=", tag_name)], limit=1) or Tag.create({"name": tag_name})
            for number, text in enumerate(texts):
                self.env["project.task"].create({
                    "name": text, "project_id": history.id, "tag_ids": [(6, 0, tag.ids)],
                    "priority": "1" if (index + number) % 3 == 0 else "0",
                })
        workflow, project = self.activate()
        provider = self.rec("provider_local")
        self.assertEqual(provider.provider_type, "local")
        profile = self.rec("profile")
        self.assertEqual(profile.provider_id, provider)
        self.assertTrue(profile.local_trained_at)
        category = profile.output_ids.filtered(lambda o: o.name == "category")
        self.assertGreaterEqual(category.local_sample_count, 18)
        task = self.ticket(project, "I was charged twice, please refund the payment")
        self.dispatch()
        self.assertFalse(self.server.requests)  # nothing left the database
        decision = self.decision(task)
        self.assertEqual(decision.status, "ok")
        line = decision.line_ids.filtered(lambda x: x.output_id == category)
        self.assertEqual(line.label, "billing")
        self.assertEqual(line.method, "local")
        self.assertTrue(workflow.active)

    def test_untrained_local_provider_is_reported(self):
        self.set_params(provider_name="", allow_external=False)
        self.env["project.task"].search([("tag_ids.name", "in", list(LABELED))]).tag_ids = False
        before = self.rec("profile").local_trained_at if self.rec("profile") else False
        workflow, _project = self.activate()
        # not (re)trained: the workflow says why and what to do
        self.assertEqual(self.rec("profile").local_trained_at, before)
        self.assertTrue(any("not trained yet" in (m.body or "") for m in workflow.message_ids))

    def test_switch_off_keeps_history(self):
        workflow, project = self.activate()
        task = self.ticket(project, "I was charged twice in March")
        self.dispatch()
        decision = self.decision(task)
        status = self.status(task)
        self.assertEqual(decision.state, "applied")
        self.template.action_deactivate()
        self.assertEqual(self.template.state, "inactive")
        self.assertFalse(workflow.active)
        profile = self.rec("profile")
        self.assertFalse(profile.active)
        self.assertFalse(profile.automation_id.active)
        for key in ("sla_urgent", "sla_normal"):
            self.assertFalse(self.rec(key).active)
            self.assertFalse(self.rec(key).automation_id.active)
        self.assertFalse(self.rec("route_billing").active)
        self.assertFalse(self.rec("source_ticket_created").active)
        self.assertFalse(self.rec("cron_escalation").active)
        # history stays: decisions, SLA statuses, events, the tickets and the project
        self.assertTrue(decision.exists())
        self.assertTrue(status.exists())
        self.assertTrue(self.events("ai.classification.applied", task))
        self.assertTrue(project.active)
        # new tickets are left alone
        later = self.ticket(project, "I was charged twice again")
        self.assertFalse(self.events("ticket.created", later))
        self.assertFalse(self.events("ai.classification.requested", later))
        self.assertFalse(self.status(later))
        self.assertEqual(self.env["saas.workflow.template"]._cron_support_escalation(), 0)
        # switching on again reuses the same records
        links = len(self.template.record_ids)
        self.activate()
        self.assertEqual(len(self.template.record_ids), links)
        self.assertEqual(self.rec("profile"), profile)
        self.assertTrue(profile.active and profile.automation_id.active)
        again = self.ticket(project, "Charged twice, third time")
        self.assertEqual(len(self.events("ticket.created", again)), 1)
        self.assertTrue(self.status(again))

    def test_bad_parameters_are_refused(self):
        self.set_params(category_threshold=1.5)
        with self.assertRaisesRegex(UserError, "category_threshold"):
            self.template._activate()
        self.set_params(category_threshold=0.8, provider_name="No such provider")
        with self.assertRaisesRegex(UserError, "No such provider"):
            self.template._activate()
