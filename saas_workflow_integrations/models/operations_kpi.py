from odoo import models, tools
from odoo.tools import SQL


class SaasOperationsKpi(models.Model):
    """Indicators of outbound webhooks, from the attempt log."""

    _inherit = "saas.operations.kpi"

    def _kpi_compute_webhook_failures(self, date_from, date_to):
        return self._kpi_read(date_from, date_to)

    def _kpi_compute_webhook_retries(self, date_from, date_to):
        return self._kpi_read(date_from, date_to)

    def _kpi_compute_webhook_success(self, date_from, date_to):
        return self._kpi_ratio(date_from, date_to, [("outcome", "=", "success")])

    def _kpi_compute_webhook_latency(self, date_from, date_to):
        """95th percentile of the response time of the receivers called in the period."""
        Attempt = self.env["saas.webhook.attempt"].sudo()
        query = Attempt._search(self._kpi_domain(date_from, date_to))
        self.env.cr.execute(query.select(SQL(
            "percentile_cont(0.95) WITHIN GROUP (ORDER BY %s)",
            SQL.identifier(Attempt._table, "latency_ms"),
        )))
        value = self.env.cr.fetchone()[0]
        return None if value is None else float(value)


class SaasWebhookAttempt(models.Model):
    _inherit = "saas.webhook.attempt"

    def init(self):
        res = super().init()
        tools.create_index(self.env.cr, "saas_webhook_attempt_company_time_idx", self._table,
                           ["company_id", "attempted_at"])
        return res
