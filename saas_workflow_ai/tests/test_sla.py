from odoo.tests import TransactionCase, freeze_time, tagged


@tagged("post_install", "-at_install")
class TestSla(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.lead = cls.env["res.users"].create(
            {"name": "Lea Lead", "login": "sla_lead",
             "groups_id": [(6, 0, [cls.env.ref("project.group_project_manager").id])]}
        )
        cls.agent = cls.env["res.users"].create(
            {"name": "Alan Agent", "login": "sla_agent",
             "groups_id": [(6, 0, [cls.env.ref("project.group_project_user").id])]}
        )
        cls.calendar = cls.env["resource.calendar"].create(
            {
                "name": "Support 9-17 UTC",
                "tz": "UTC",
                "attendance_ids": [(5, 0, 0)]
                + [
                    (0, 0, {"name": "Day %s" % day, "dayofweek": str(day), "hour_from": 9,
                            "hour_to": 17, "day_period": "morning"})
                    for day in range(5)
                ],
            }
        )
        cls.project = cls.env["project.project"].create({"name": "Helpdesk"})
        field = cls.env["ir.model.fields"]._get
        cls.policy = cls.env["saas.sla.policy"].create(
            {
                "name": "Standard support",
                "model_id": cls.env["ir.model"]._get_id("project.task"),
                "domain": "[('project_id', '=', %d)]" % cls.project.id,
                "calendar_id": cls.calendar.id,
                "response_hours": 1,
                "resolution_hours": 4,
                "warning_ratio": 0.5,
                "responded_domain": "[('user_ids', '!=', False)]",
                "resolved_domain": "[('state', 'in', ['1_done', '1_canceled'])]",
                "user_field_id": field("project.task", "user_ids").id,
                "priority_field_id": field("project.task", "priority").id,
                "escalate_user_id": cls.lead.id,
                "team_lead_id": cls.lead.id,
            }
        )

    def _status(self, task):
        return self.env["saas.sla.status"].search(
            [("res_model", "=", "project.task"), ("res_id", "=", task.id)]
        )

    def _events(self, code, task):
        return self.env["saas.workflow.event"].search(
            [("code", "=", code), ("res_model", "=", "project.task"), ("res_id", "=", task.id)]
        )

    def _check(self):
        self.env["saas.sla.status"]._cron_check()

    def test_deadlines_on_working_calendar_and_escalation(self):
        Task = self.env["project.task"]
        with freeze_time("2026-12-04 15:00:00"):  # a Friday
            late = Task.create({"name": "Cannot print", "project_id": self.project.id,
                                "user_ids": [(5, 0, 0)]})
            ok = Task.create({"name": "Question", "project_id": self.project.id,
                              "priority": "1", "user_ids": [(5, 0, 0)]})
        status = self._status(late)
        self.assertEqual(str(status.start_at), "2026-12-04 15:00:00")
        self.assertEqual(str(status.response_deadline), "2026-12-04 16:00:00")
        # 2 working hours on Friday, 2 on Monday morning: the weekend does not count
        self.assertEqual(str(status.resolution_deadline), "2026-12-07 11:00:00")
        self.assertEqual(str(status.warning_at), "2026-12-04 17:00:00")

        with freeze_time("2026-12-04 15:30:00"):
            ok.user_ids = self.agent
            self._check()
        self.assertEqual(str(self._status(ok).responded_at), "2026-12-04 15:30:00")
        self.assertFalse(self._status(ok).response_breached)
        self.assertEqual(status.state, "running")

        with freeze_time("2026-12-04 16:30:00"):
            self._check()
        self.assertEqual(status.state, "breached")
        self.assertTrue(status.response_breached)
        breached = self._events("ticket.sla_breached", late)
        self.assertEqual(breached.payload["kind"], "response")
        self.assertEqual(breached.payload["deadline"], "2026-12-04 16:00:00")
        # escalation: reassigned and an activity for the team lead
        self.assertEqual(late.user_ids, self.lead)
        activity = late.activity_ids.filtered(
            lambda a: a.activity_type_id == self.env.ref(
                "saas_workflow_ai.mail_activity_sla_escalation")
        )
        self.assertEqual(activity.user_id, self.lead)
        self.assertFalse(self._events("ticket.sla_warning", ok))

        with freeze_time("2026-12-07 09:30:00"):
            self._check()
        warning = self._events("ticket.sla_warning", ok)
        self.assertEqual(len(warning), 1)
        self.assertEqual(self._status(ok).state, "warning")
        self.assertEqual(len(self._events("ticket.sla_breached", late)), 1)

        with freeze_time("2026-12-07 11:30:00"):
            self._check()
            self._check()  # idempotent: no duplicate events nor activities
        kinds = sorted(self._events("ticket.sla_breached", late).mapped(
            lambda e: e.payload["kind"]))
        self.assertEqual(kinds, ["resolution", "response"])
        self.assertEqual(len(activity.exists()), 1)
        self.assertEqual(len(self._events("ticket.sla_breached", ok)), 1)

        with freeze_time("2026-12-07 12:00:00"):
            ok.state = "1_done"
            self._check()
        self.assertEqual(self._status(ok).state, "missed")

    def test_met_and_adherence_report(self):
        Task = self.env["project.task"]
        with freeze_time("2026-12-07 09:00:00"):
            fast = Task.create({"name": "Quick one", "project_id": self.project.id,
                                "priority": "1", "user_ids": [(6, 0, self.agent.ids)]})
            slow = Task.create({"name": "Slow one", "project_id": self.project.id,
                                "user_ids": [(5, 0, 0)]})
            outside = Task.create({"name": "Not covered"})
        self.assertFalse(self._status(outside))
        with freeze_time("2026-12-07 10:00:00"):
            fast.state = "1_done"
            self._check()
        self.assertEqual(self._status(fast).state, "met")
        with freeze_time("2026-12-07 14:00:00"):
            self._check()
        self.assertEqual(self._status(slow).state, "breached")
        groups = self.env["saas.sla.status"]._read_group(
            [("policy_id", "=", self.policy.id)], ["priority"], ["adherence:avg", "__count"]
        )
        by_priority = {priority: (avg, count) for priority, avg, count in groups}
        self.assertEqual(by_priority["High"], (100.0, 1))
        self.assertEqual(by_priority["Low"], (0.0, 1))
