from odoo.addons.saas_workflow_core.tests.kpi_common import OperationsKpiCase
from odoo.tests import new_test_user, tagged

CODES = ("sla_adherence", "sla_breaches", "support_escalations", "ai_accuracy")


@tagged("post_install", "-at_install")
class TestSlaKpis(OperationsKpiCase):
    """SLA and support indicators over known SLA statuses."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.policy = cls.env["saas.sla.policy"].create({
            "name": "KPI policy", "model_id": cls.env["ir.model"]._get_id("res.partner"),
            "domain": "[('id', '=', 0)]", "resolution_hours": 8,
        })
        cls.res_id = 10**6

    def status(self, company, days_ago, state, breached=False, escalated=False):
        type(self).res_id += 1
        start = self.ago(days_ago)
        status = self.env["saas.sla.status"].create({
            "policy_id": self.policy.id, "company_id": company.id, "res_model": "res.partner",
            "res_id": self.res_id, "start_at": start, "resolution_deadline": self.ago(days_ago - 1),
        })
        self.set_columns(status, state=state, resolution_breached=breached, escalated=escalated,
                         adherence=0.0 if breached or state in ("breached", "missed") else 100.0)
        return status

    def test_sla_aggregates_and_drilldown(self):
        a = self.company_a
        self.status(a, 2, "met")
        self.status(a, 3, "missed", breached=True)
        escalated = self.status(a, 4, "breached", breached=True, escalated=True)
        self.status(a, 1, "running")
        self.status(a, 40, "met")
        self.status(self.company_b, 2, "breached", breached=True, escalated=True)
        self.refresh(*CODES)
        adherence = self.kpi("sla_adherence")
        self.assertAlmostEqual(adherence.value, 100 / 3, places=2)
        self.assertEqual(adherence.previous_value, 100.0)
        self.assertEqual(adherence.status, "bad")
        self.assertEqual(self.drilldown_count(adherence), 3)
        breaches = self.kpi("sla_breaches")
        self.assertEqual((breaches.value, breaches.previous_value), (2.0, 0.0))
        self.assertEqual(self.drilldown_count(breaches), 2)
        escalations = self.kpi("support_escalations")
        self.assertEqual(escalations.value, 1.0)
        action = escalations.action_open_records()
        self.assertEqual(self.env["saas.sla.status"].search(action["domain"]), escalated)
        accuracy = self.kpi("ai_accuracy")
        self.assertTrue(accuracy.available)
        self.assertFalse(accuracy.has_value, "no reviewed classification in company A")
        self.refresh("support_escalations", company=self.company_b)
        self.assertEqual(self.kpi("support_escalations", self.company_b).value, 1.0)

    def test_tiles_need_the_ai_user_group(self):
        tiles = self.Kpi.with_user(self.kpi_user_a).search([("area", "=", "sla")])
        self.assertFalse(tiles, "SLA tiles are shown to AI users only")
        ai_user = new_test_user(
            self.env, login="kpi_ai_user", groups="base.group_user,saas_workflow_ai.group_ai_user",
            company_id=self.company_a.id, company_ids=[(6, 0, self.company_a.ids)],
        )
        tiles = self.Kpi.with_user(ai_user).search([("area", "=", "sla")])
        self.assertEqual(set(tiles.mapped("code")), set(CODES))
        self.assertEqual(tiles.company_id, self.company_a)

    def test_escalation_report_views(self):
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "saas_workflow_ai.action_support_escalation_report")
        Status = self.env["saas.sla.status"]
        views = Status.get_views([(False, "graph"), (False, "pivot"), (False, "list"), (False, "search")])
        self.assertEqual(set(views["views"]), {"graph", "pivot", "list", "search"})
        self.assertEqual(action["domain"], "[('escalated', '=', True)]")
        Status._read_group([("escalated", "=", True)], ["start_at:week", "team"], ["__count"])
