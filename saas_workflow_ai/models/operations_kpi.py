from odoo import models, tools


class SaasOperationsKpi(models.Model):
    """Indicators of SLA adherence, support escalations and classification accuracy."""

    _inherit = "saas.operations.kpi"

    def _kpi_compute_sla_adherence(self, date_from, date_to):
        return self._kpi_read(date_from, date_to, "adherence:avg")

    def _kpi_compute_sla_breaches(self, date_from, date_to):
        return self._kpi_read(date_from, date_to)

    def _kpi_compute_support_escalations(self, date_from, date_to):
        return self._kpi_read(date_from, date_to)

    def _kpi_compute_ai_accuracy(self, date_from, date_to):
        return self._kpi_ratio(date_from, date_to, [("correct", "=", True)])


class SaasSlaStatus(models.Model):
    _inherit = "saas.sla.status"

    def init(self):
        res = super().init()
        tools.create_index(self.env.cr, "saas_sla_status_company_start_idx", self._table,
                           ["company_id", "start_at"])
        return res


class SaasAiDecisionLine(models.Model):
    _inherit = "saas.ai.decision.line"

    def init(self):
        res = super().init()
        tools.create_index(self.env.cr, "saas_ai_decision_line_company_created_idx", self._table,
                           ["company_id", "create_date"])
        return res
