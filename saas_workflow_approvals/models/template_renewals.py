import logging
from collections import defaultdict
from datetime import timedelta

from markupsafe import Markup, escape

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..lib import template_renewals as ren
from .template_lead_to_cash import CODE as L2C_CODE

_logger = logging.getLogger(__name__)

CODE = "renewals"
RISK_LEVELS = [(ren.LOW, "Low"), (ren.MEDIUM, "Medium"), (ren.HIGH, "High")]
SLA_BREACH_CODE = "ticket.sla_breached"
OPEN_REQUEST_STATES = ("pending", "exception")


def _ref(record):
    return f"{record._name},{record.id}" if record else False


class SaasContract(models.Model):
    _inherit = "saas.contract"  # pylint: disable=consider-merging-classes-inherited

    risk_score = fields.Float(
        readonly=True, tracking=True, aggregator="avg",
        help="0-100: points per overdue invoice, SLA breach and open escalation of the "
        "customer (weights are parameters of the renewals template).",
    )
    risk_level = fields.Selection(RISK_LEVELS, default=ren.LOW, readonly=True, index=True)
    risk_overdue_count = fields.Integer(string="Overdue Invoices", readonly=True)
    risk_sla_count = fields.Integer(string="SLA Breaches", readonly=True)
    risk_escalation_count = fields.Integer(string="Open Escalations", readonly=True)
    risk_explanation = fields.Text(readonly=True, string="How the Score is Computed")
    risk_checked_at = fields.Datetime(readonly=True)
    risk_escalated_at = fields.Datetime(
        readonly=True, help="When the high-risk renewal was escalated to the executive."
    )
    renewal_start = fields.Datetime(readonly=True, string="Renewal Started")
    renewal_task_ref = fields.Reference(selection="_selection_task_models", string="Renewal Task")
    renewal_order_ref = fields.Reference(
        selection="_selection_order_models", string="Renewal Quotation"
    )
    renewal_ready = fields.Boolean(
        readonly=True, index=True,
        help="The renewal task is done or the renewal quotation was sent.",
    )

    @api.model
    def _selection_task_models(self):
        return self._models_selection("project.task")

    # ------------------------------------------------------------ signals
    @api.model
    def _ren_partner_records(self, res_model, res_ids):
        """``{commercial partner id: count}`` of the records of ``res_model`` (via partner_id)."""
        counts = defaultdict(int)
        if res_model not in self.env or "partner_id" not in self.env[res_model]._fields:
            return counts
        records = self.env[res_model].sudo().with_context(active_test=False).browse(
            list(res_ids)
        ).exists()
        for record in records:
            partner = record.partner_id
            if partner and partner._name == "res.partner":
                counts[partner.commercial_partner_id.id] += 1
        return counts

    def _ren_signals(self, params):
        """``{contract id: RiskSignals}`` from the customers' invoices, tickets and approvals."""
        today = fields.Date.context_today(self)
        partners = self.mapped("partner_id.commercial_partner_id")
        overdue = defaultdict(int)
        if "account.move" in self.env and partners:
            groups = self.env["account.move"].sudo()._read_group(
                [
                    ("move_type", "=", "out_invoice"),
                    ("state", "=", "posted"),
                    ("payment_state", "in", ("not_paid", "partial")),
                    ("invoice_date_due", "<", today),
                    ("commercial_partner_id", "in", partners.ids),
                ],
                ["commercial_partner_id"], ["__count"],
            )
            overdue.update({partner.id: count for partner, count in groups})
        since = fields.Datetime.now() - timedelta(days=params.get("signal_days") or 90)
        sla = defaultdict(int)
        self.env.cr.execute(
            """
            SELECT res_model, array_agg(DISTINCT res_id)
              FROM saas_workflow_event
             WHERE code = %s AND occurred_at >= %s AND res_model IS NOT NULL
             GROUP BY res_model
            """,
            (SLA_BREACH_CODE, since),
        )
        for res_model, res_ids in self.env.cr.fetchall():
            for partner_id, count in self._ren_partner_records(res_model, res_ids).items():
                sla[partner_id] += count
        escalations = defaultdict(int)
        requests = self.env["saas.approval.request"].sudo().search(
            [("state", "in", OPEN_REQUEST_STATES), ("escalation_count", ">", 0)]
        )
        by_model = defaultdict(set)
        for request in requests:
            by_model[request.res_model].add(request.res_id)
        for res_model, res_ids in by_model.items():
            if res_model == self._name:
                for contract in self.browse(list(res_ids)).exists():
                    escalations[contract.partner_id.commercial_partner_id.id] += 1
                continue
            for partner_id, count in self._ren_partner_records(res_model, res_ids).items():
                escalations[partner_id] += count
        result = {}
        for contract in self:
            pid = contract.partner_id.commercial_partner_id.id
            result[contract.id] = ren.RiskSignals(
                overdue_invoices=overdue.get(pid, 0),
                sla_breaches=sla.get(pid, 0),
                escalations=escalations.get(pid, 0),
            )
        return result

    @api.model
    def _ren_weights(self, params):
        return ren.RiskWeights(
            overdue_invoice=params.get("weight_overdue", 30.0),
            sla_breach=params.get("weight_sla", 20.0),
            escalation=params.get("weight_escalation", 25.0),
        )

    def _ren_compute_risk(self, params):
        weights = self._ren_weights(params)
        threshold = params.get("risk_threshold") or 70.0
        now = fields.Datetime.now()
        signals = self._ren_signals(params)
        for contract in self:
            sig = signals[contract.id]
            score = ren.risk_score(sig, weights)
            contract.write({
                "risk_score": score,
                "risk_level": ren.risk_level(score, threshold),
                "risk_overdue_count": sig.overdue_invoices,
                "risk_sla_count": sig.sla_breaches,
                "risk_escalation_count": sig.escalations,
                "risk_explanation": "\n".join(ren.explain(sig, weights, threshold)),
                "risk_checked_at": now,
            })

    # ------------------------------------------------------------ renewal
    @api.model
    def _ren_project(self):
        """The project holding the renewal tasks (created once, kept when switched off)."""
        project = self.env.ref("saas_workflow_approvals.project_renewals", raise_if_not_found=False)
        if project:
            return project.sudo()
        project = self.env["project.project"].sudo().create({"name": self.env._("Renewals")})
        self.env["ir.model.data"].sudo().create({
            "module": "saas_workflow_approvals",
            "name": "project_renewals",
            "model": "project.project",
            "res_id": project.id,
            "noupdate": True,
        })
        return project

    def _ren_start(self, params):
        """Open the renewal: a task and a reminder for the account owner."""
        project = self._ren_project()
        for contract in self:
            owner = contract.user_id or contract._workflow_exception_user(CODE)
            deadline = max(
                contract.end_date - timedelta(days=14), fields.Date.context_today(self)
            )
            task = self.env["project.task"].sudo().create({
                "name": self.env._("Renew %(contract)s (%(customer)s)",
                                   contract=contract.name, customer=contract.partner_id.name),
                "project_id": project.id,
                "partner_id": contract.partner_id.id,
                "user_ids": [(6, 0, owner.ids)],
                "date_deadline": deadline,
                "description": self.env._("The contract ends on %(end)s.", end=contract.end_date),
            })
            contract.write({
                "state": "renewal",
                "renewal_start": fields.Datetime.now(),
                "renewal_task_ref": _ref(task),
                "renewal_ready": False,
                "risk_escalated_at": False,
            })
            contract.activity_schedule(
                "saas_workflow_approvals.mail_activity_type_renewal",
                date_deadline=deadline,
                user_id=owner.id,
                summary=self.env._("Prepare the renewal of %s", contract.name),
                note=self.env._("The contract ends on %(end)s; renewal task: %(task)s.",
                                end=contract.end_date, task=task.display_name),
            )

    def _ren_refresh(self):
        """Readiness, renewed and expired contracts."""
        today = fields.Date.context_today(self)
        for contract in self:
            task = contract.renewal_task_ref.sudo().exists() if contract.renewal_task_ref else None
            order = (
                contract.renewal_order_ref.sudo().exists() if contract.renewal_order_ref else None
            )
            ready = ren.is_ready(
                bool(task) and task.state == "1_done",
                bool(order) and order.state in ("sent", "sale"),
            )
            values = {}
            if ready != contract.renewal_ready:
                values["renewal_ready"] = ready
            if order and order.state == "sale":
                values["state"] = "renewed"
            elif contract.end_date and contract.end_date < today:
                values["state"] = "expired"
            if values:
                contract.write(values)

    def _ren_escalate(self, params):
        """High-risk renewals: an activity for the executive and ``renewal.at_risk``, once per term."""
        executive = params.get("executive_user") or self._template(CODE).workflow_id.owner_id
        Event = self.env["saas.workflow.event"].sudo()
        for contract in self.filtered(
            lambda c: c.state == "renewal" and c.risk_level == ren.HIGH and not c.risk_escalated_at
        ):
            contract.risk_escalated_at = fields.Datetime.now()
            contract.activity_schedule(
                "saas_workflow_approvals.mail_activity_type_renewal_risk",
                user_id=executive.id,
                summary=self.env._("High churn risk: %(contract)s (score %(score)s)",
                                   contract=contract.name, score=f"{contract.risk_score:g}"),
                note=Markup("<br/>").join(
                    escape(line) for line in (contract.risk_explanation or "").splitlines()
                ),
            )
            Event.emit(
                "renewal.at_risk",
                record=contract,
                payload={
                    **contract._event_payload(),
                    "risk_score": contract.risk_score,
                    "risk_level": contract.risk_level,
                    "overdue_invoices": contract.risk_overdue_count,
                    "sla_breaches": contract.risk_sla_count,
                    "escalations": contract.risk_escalation_count,
                    "executive_id": executive.id,
                },
                idempotency_key=f"renewal:{contract.id}:{contract.end_date}:at_risk",
            )

    @api.model
    def _cron_renewals(self):
        """Daily: open the renewals due, score the risk, escalate high-risk renewals."""
        template = self.env["saas.workflow.template"]._active_by_code(CODE)
        if not template:
            return 0
        params = template._template_params()
        today = fields.Date.context_today(self)
        days = params.get("days_before_end") or 60
        Contract = self.sudo()
        due = Contract.search([
            ("state", "=", "active"),
            ("end_date", "!=", False),
            ("end_date", "<=", today + timedelta(days=days)),
        ]).filtered(lambda c: ren.renewal_due(c.end_date, today, days))
        due._ren_start(params)
        renewing = Contract.search([("state", "=", "renewal")])
        renewing._ren_refresh()
        scored = Contract.search([("state", "in", ("active", "renewal"))])
        scored._ren_compute_risk(params)
        scored._ren_escalate(params)
        return len(due)

    # ------------------------------------------------------------ actions
    def action_compute_risk(self):
        params = self._template(CODE)._template_params()
        self._ren_compute_risk(params)
        return True

    def action_create_renewal_quotation(self):
        self.ensure_one()
        order = self._sale_order()
        if order is None:
            raise UserError(self.env._("The contract %s has no sales order to renew.", self.name))
        if self.renewal_order_ref:
            return self._open_reference(self.renewal_order_ref)
        renewal = order.copy({"origin": self.name})
        self.renewal_order_ref = _ref(renewal)
        self.message_post(body=self.env._("Renewal quotation %s created.", renewal.name))
        return self._open_reference(renewal)

    def action_open_renewal_task(self):
        self.ensure_one()
        return self._open_reference(self.renewal_task_ref)

    # ------------------------------------------------------------------ demo
    @api.model
    def _demo_renewals(self):
        """Renewals: Kestrel Health ends in 40 days; Red Kite Media ends in 25 days with three
        unpaid invoices, a high-risk renewal escalated to the executive."""
        if any(name not in self.env for name in ("sale.order", "project.project", "account.move")):
            return False
        ref = self.env.ref
        admin = ref("base.user_admin")
        template = self.env["saas.workflow.template"]._by_code(CODE)
        if template.state == "active":
            return False
        for param in template.param_ids.filtered(lambda p: p.key == "executive_user"):
            param.value_user_id = admin
        template._activate(
            owner=admin, exception_user=ref("saas_workflow_approvals.demo_user_finance")
        )
        customer = ref("saas_workflow_approvals.demo_customer_redkite")
        today = fields.Date.context_today(self)
        kestrel = ref("saas_workflow_core.demo_customer_kestrel", raise_if_not_found=False)
        kestrel_contract = self.search(
            [("partner_id", "=", kestrel.id), ("state", "=", "active")], limit=1
        ) if kestrel else self
        if kestrel_contract:
            kestrel_contract.write({
                "start_date": today - timedelta(days=325),
                "end_date": today + timedelta(days=40),
            })
        order = self._demo_order(customer, 30)
        order.action_confirm()
        l2c_template = self.env["saas.workflow.template"]._active_by_code(L2C_CODE)
        if l2c_template:
            self._demo_emit(order, "sale.order.confirmed")
            self._l2c_contract_for_order(order, l2c_template._template_params())
        contract = self.search([("order_ref", "=", _ref(order))], limit=1) or self.create({
            "name": self.env._("%(order)s contract", order=order.name),
            "order_ref": _ref(order),
            "partner_id": customer.id,
            "amount_recurring": order.amount_untaxed,
            "state": "active",
        })
        start = today - timedelta(days=340)
        contract.write({
            "start_date": start,
            "end_date": today + timedelta(days=25),
            "next_invoice_date": False,
            "state": "active",
            "exception_reason": False,
        })
        for months_ago in (3, 2, 1):
            invoice_day = today - timedelta(days=30 * months_ago + 20)
            move = self.env["account.move"].create({
                "move_type": "out_invoice",
                "partner_id": customer.id,
                "invoice_date": invoice_day,
                "invoice_date_due": invoice_day + timedelta(days=15),
                "invoice_origin": order.name,
                "invoice_line_ids": [(0, 0, {
                    "product_id": self._demo_product().id, "quantity": 30,
                    "price_unit": 45.0, "tax_ids": [(6, 0, [])],
                })],
            })
            move.action_post()
            self._demo_emit(move, "invoice.posted")
        self._cron_renewals()
        return True


class SaasWorkflowSubscription(models.Model):
    _inherit = "saas.workflow.subscription"  # pylint: disable=consider-merging-classes-inherited

    handler_type = fields.Selection(
        selection_add=[("renewals_risk", "Renewals: update the churn risk")],
        ondelete={"renewals_risk": "cascade"},
    )

    def _handle_renewals_risk(self, event, delivery):
        """A churn-risk signal (SLA breach, escalation) re-scores the customer's contracts now."""
        template = self.env["saas.workflow.template"]._active_by_code(CODE)
        if not template:
            return "template switched off"
        record = event._get_record()
        partner = record.partner_id if record and "partner_id" in record._fields else None
        if not partner or partner._name != "res.partner":
            return "no customer"
        contracts = self.env["saas.contract"].sudo().search([
            ("partner_id.commercial_partner_id", "=", partner.commercial_partner_id.id),
            ("state", "in", ("active", "renewal")),
        ])
        params = template._template_params()
        contracts._ren_compute_risk(params)
        contracts._ren_escalate(params)
        return f"{len(contracts)} contract(s) scored"


class SaasWorkflowTemplate(models.Model):
    _inherit = "saas.workflow.template"  # pylint: disable=consider-merging-classes-inherited

    def _template_activate_renewals(self, workflow, params):
        if (params.get("days_before_end") or 0) <= 0:
            raise ValidationError(self.env._("Days before the end must be at least 1."))
        if (params.get("risk_threshold") or 0) <= 0:
            raise ValidationError(self.env._("The high-risk threshold must be positive."))
        try:
            self.env["saas.contract"]._ren_weights(params)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
        self._template_cron(
            "renewal_cron", workflow, self.env._("Renewals: renewal tasks and churn risk"),
            "saas.contract", "_cron_renewals",
        )
        Type = self.env["saas.workflow.event.type"].sudo()
        signals = Type.search([("code", "in", (SLA_BREACH_CODE, "approval.escalated"))])
        self._template_subscription(
            "risk_signals", workflow, self.env._("Renewals: churn-risk signals"),
            signals.mapped("code"), "renewals_risk", retry_schedule="60,300,1800",
        )
        workflow.write({
            "consumed_type_ids": [(6, 0, signals.ids)],
            "emitted_type_ids": [(6, 0, Type.search([("code", "=", "renewal.at_risk")]).ids)],
        })
