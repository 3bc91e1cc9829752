from odoo import models, tools
from odoo.tools import SQL


class SaasOperationsKpi(models.Model):
    """Indicators of approvals and of the business flows the templates orchestrate.

    Business indicators read sale, invoicing and contract data only when those
    models are installed; otherwise they are reported as not available.
    """

    _inherit = "saas.operations.kpi"

    def init(self):
        res = super().init()
        # The approval models are defined before this extension in the module: their tables
        # exist when it is initialised.
        cr = self.env.cr
        tools.create_index(cr, "saas_approval_request_company_decided_idx", "saas_approval_request",
                           ["company_id", "decided_at"], where="decided_at IS NOT NULL")
        tools.create_index(cr, "saas_approval_request_company_created_idx", "saas_approval_request",
                           ["company_id", "create_date"])
        tools.create_index(cr, "saas_approval_decision_company_decided_idx", "saas_approval_decision",
                           ["company_id", "decided_at"])
        tools.create_index(cr, "saas_approval_request_step_overdue_idx", "saas_approval_request_step",
                           ["company_id", "activated_at"], where="was_overdue")
        return res

    # ------------------------------------------------------------------ approvals
    def _kpi_compute_approval_turnaround(self, date_from, date_to):
        return self._kpi_read(date_from, date_to, "turnaround_hours:avg")

    def _kpi_compute_approval_exceptions(self, date_from, date_to):
        return self._kpi_read(date_from, date_to)

    def _kpi_compute_approval_escalations(self, date_from, date_to):
        return self._kpi_read(date_from, date_to)

    def _kpi_compute_approval_overdue(self, date_from, date_to):
        return self._kpi_read(date_from, date_to)

    # ------------------------------------------------------------------ business
    def _kpi_has_contract_fields(self, *names):
        Contract = self.env.get("saas.contract")
        return Contract is not None and all(name in Contract._fields for name in names)

    def _kpi_compute_onboarding_days(self, date_from, date_to):
        if not self._kpi_has_contract_fields("onboarding_start", "onboarding_done"):
            return NotImplemented
        return self._kpi_avg_duration(date_from, date_to, "onboarding_start", "onboarding_done")

    def _kpi_compute_renewal_readiness(self, date_from, date_to):
        if not self._kpi_has_contract_fields("end_date", "state", "renewal_ready"):
            return NotImplemented
        return self._kpi_ratio(
            date_from, date_to, ["|", ("renewal_ready", "=", True), ("state", "=", "renewed")])

    def _kpi_paid_invoices_sql(self):
        """Customer invoices of this company fully paid, with the day of their last payment
        (the latest reconciliation of their receivable lines)."""
        return SQL(
            """
            SELECT am.id AS move_id, am.invoice_date, max(apr.max_date) AS paid_date
              FROM account_move am
              JOIN account_move_line aml ON aml.move_id = am.id AND aml.display_type = 'payment_term'
              JOIN account_partial_reconcile apr ON apr.debit_move_id = aml.id
             WHERE am.move_type = 'out_invoice' AND am.state = 'posted'
               AND am.payment_state IN ('paid', 'in_payment') AND am.company_id = %s
             GROUP BY am.id, am.invoice_date
            """,
            self.company_id.id,
        )

    def _kpi_compute_invoice_cycle_days(self, date_from, date_to):
        """Invoice date to payment, in days, over the invoices whose last payment falls in
        the period (``(day_from, day_to]``)."""
        if "account.move" not in self.env:
            return NotImplemented
        self.env.flush_all()
        self.env.cr.execute(SQL(
            """
            WITH paid AS (%s)
            SELECT array_agg(move_id ORDER BY move_id), avg(paid_date - invoice_date)
              FROM paid
             WHERE paid_date > %s AND paid_date <= %s AND invoice_date IS NOT NULL
            """,
            self._kpi_paid_invoices_sql(), date_from.date(), date_to.date(),
        ))
        ids, value = self.env.cr.fetchone()
        return (None if value is None else float(value)), [("id", "in", ids or [])]

    def _kpi_compute_quote_to_cash_days(self, date_from, date_to):
        """Order confirmation to the last payment of its invoices, in days, over the orders
        whose last invoice payment falls in the period."""
        if "sale.order" not in self.env or "account.move" not in self.env:
            return NotImplemented
        self.env.flush_all()
        self.env.cr.execute(SQL(
            """
            WITH paid AS (%s),
            orders AS (
                SELECT so.id, so.date_order, max(p.paid_date) AS paid_date
                  FROM sale_order so
                  JOIN sale_order_line sol ON sol.order_id = so.id
                  JOIN sale_order_line_invoice_rel rel ON rel.order_line_id = sol.id
                  JOIN account_move_line iml ON iml.id = rel.invoice_line_id
                  JOIN paid p ON p.move_id = iml.move_id
                 WHERE so.state = 'sale' AND so.company_id = %s
                 GROUP BY so.id, so.date_order
            )
            SELECT array_agg(id ORDER BY id),
                   avg(GREATEST(EXTRACT(EPOCH FROM (paid_date::timestamp - date_order)), 0) / 86400.0)
              FROM orders
             WHERE paid_date > %s AND paid_date <= %s
            """,
            self._kpi_paid_invoices_sql(), self.company_id.id, date_from.date(), date_to.date(),
        ))
        ids, value = self.env.cr.fetchone()
        return (None if value is None else float(value)), [("id", "in", ids or [])]

