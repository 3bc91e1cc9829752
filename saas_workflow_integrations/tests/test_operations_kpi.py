from odoo.addons.saas_workflow_core.tests.kpi_common import OperationsKpiCase
from odoo.tests import tagged

CODES = ("webhook_success", "webhook_failures", "webhook_latency", "webhook_retries")


@tagged("post_install", "-at_install")
class TestWebhookKpis(OperationsKpiCase):
    """Integration indicators over a known attempt log."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.event_type = cls.env["saas.workflow.event.type"].create(
            {"code": "test.kpi.hook", "name": "KPI hook"})
        cls.endpoint = cls.env["saas.webhook.endpoint"].create({
            "name": "KPI receiver", "url": "https://receiver.example.com/hook",
            "event_type_ids": [(6, 0, cls.event_type.ids)],
        })

    def log(self, company, days_ago, outcome, latency_ms, attempt_no=1, called=True):
        self.env["saas.webhook.attempt"]._insert_log([{
            "endpoint_id": self.endpoint.id, "webhook_id": f"msg_{company.id}_{days_ago}_{attempt_no}",
            "attempt_no": attempt_no, "attempted_at": self.ago(days_ago),
            "status_code": 200 if outcome == "success" else 503, "latency_ms": latency_ms,
            "outcome": outcome, "called": called, "company_id": company.id,
        }])

    def test_webhook_aggregates_and_drilldown(self):
        a = self.company_a
        self.log(a, 1, "success", 100)
        self.log(a, 2, "success", 200, attempt_no=2)
        self.log(a, 3, "retry", 500)
        self.log(a, 4, "failed", 1000, attempt_no=3)
        self.log(a, 5, "circuit_open", 0, attempt_no=4, called=False)
        self.log(a, 40, "success", 50)  # previous period
        for days in (1, 2):
            self.log(self.company_b, days, "failed", 9000)
        self.refresh(*CODES)
        success = self.kpi("webhook_success")
        self.assertEqual((success.value, success.previous_value), (50.0, 100.0))
        self.assertEqual(success.status, "bad")
        self.assertEqual(success.trend_display, "▼ 50 %")
        self.assertFalse(success.trend_good)
        failures = self.kpi("webhook_failures")
        self.assertEqual((failures.value, failures.previous_value), (3.0, 0.0))
        self.assertFalse(failures.has_trend, "no relative change from zero")
        action = failures.action_open_records()
        self.assertEqual(action["res_model"], "saas.webhook.attempt")
        found = self.env["saas.webhook.attempt"].search(action["domain"])
        self.assertEqual(sorted(found.mapped("outcome")), ["circuit_open", "failed", "retry"])
        latency = self.kpi("webhook_latency")
        # p95 of 100, 200, 500, 1000 ms (receivers called): 500 + 0.85 * 500
        self.assertAlmostEqual(latency.value, 925.0)
        self.assertEqual(latency.previous_value, 50.0)
        self.assertEqual(latency.status, "good")
        self.assertEqual(self.drilldown_count(latency), 4)
        self.assertEqual(self.kpi("webhook_retries").value, 3.0)
        self.refresh(*CODES, company=self.company_b)
        self.assertEqual(self.kpi("webhook_failures", self.company_b).value, 2.0)
        self.assertEqual(self.kpi("webhook_success", self.company_b).value, 0.0)

    def test_no_traffic_no_value(self):
        self.refresh(*CODES)
        self.assertFalse(self.kpi("webhook_latency").has_value)
        self.assertFalse(self.kpi("webhook_success").has_value)
        self.assertEqual(self.kpi("webhook_success").status, "none")
        self.assertEqual(self.kpi("webhook_failures").value_display, "0")
