import logging
from datetime import timedelta

from markupsafe import Markup

from odoo import api, fields, models
from odoo.addons.saas_workflow_core.lib.errors import PermanentError
from odoo.exceptions import UserError, ValidationError

from ..lib import template_lead_to_cash as l2c

_logger = logging.getLogger(__name__)

CODE = "lead_to_cash"
CONTRACT_STATES = [
    ("draft", "Draft"),
    ("exception", "Exception"),
    ("active", "Active"),
    ("renewal", "In renewal"),
    ("renewed", "Renewed"),
    ("churned", "Churned"),
    ("expired", "Expired"),
]
BILLING_PERIODS = [("monthly", "Monthly"), ("quarterly", "Quarterly"), ("yearly", "Yearly")]
CLOSED_TASK_STATES = ("1_done", "1_canceled")


def _ref(record):
    return f"{record._name},{record.id}" if record else False


class SaasContract(models.Model):
    """A customer's recurring contract: what a confirmed recurring order commits to.

    Created by the lead-to-cash template (a won deal opens it in draft with its
    onboarding project; the confirmed order fills and checks it), invoiced on
    schedule, followed by the renewals template.
    """

    _name = "saas.contract"
    _description = "Customer Contract"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "id desc"
    _check_company_auto = True

    name = fields.Char(required=True, default="/", copy=False, tracking=True)
    partner_id = fields.Many2one(
        "res.partner", string="Customer", required=True, index=True, tracking=True,
        check_company=True,
    )
    user_id = fields.Many2one(
        "res.users", string="Account Owner", tracking=True, default=lambda self: self.env.user,
        domain=[("share", "=", False)],
    )
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    currency_id = fields.Many2one(
        "res.currency", required=True, default=lambda self: self.env.company.currency_id
    )
    order_ref = fields.Reference(
        selection="_selection_order_models", string="Sales Order", index="btree_not_null",
        tracking=True,
    )
    lead_ref = fields.Reference(
        selection="_selection_lead_models", string="Deal", index="btree_not_null"
    )
    amount_recurring = fields.Monetary(
        string="Recurring Amount", currency_field="currency_id", tracking=True,
        help="Untaxed amount invoiced each billing period (the order lines).",
    )
    billing_period = fields.Selection(
        BILLING_PERIODS, default="monthly", required=True, tracking=True
    )
    start_date = fields.Date(tracking=True)
    end_date = fields.Date(tracking=True, index=True)
    next_invoice_date = fields.Date(tracking=True, index=True)
    state = fields.Selection(
        CONTRACT_STATES, default="draft", required=True, tracking=True, index=True,
    )
    exception_reason = fields.Text(readonly=True, tracking=True)
    onboarding_project_ref = fields.Reference(
        selection="_selection_project_models", string="Onboarding Project"
    )
    onboarding_start = fields.Datetime(readonly=True)
    onboarding_done = fields.Datetime(readonly=True)
    onboarding_days = fields.Float(
        compute="_compute_onboarding_days", store=True, aggregator="avg",
        string="Onboarding Time (days)",
    )
    period_ids = fields.One2many("saas.contract.period", "contract_id", string="Invoiced Periods")
    invoice_count = fields.Integer(compute="_compute_invoice_count")

    _sql_constraints = [
        ("dates_order", "CHECK(end_date IS NULL OR start_date IS NULL OR end_date >= start_date)",
         "A contract cannot end before it starts."),
    ]

    # ------------------------------------------------------------------ selections
    @api.model
    def _models_selection(self, *model_names):
        return [
            (name, self.env[name]._description) for name in model_names if name in self.env
        ]

    @api.model
    def _selection_order_models(self):
        return self._models_selection("sale.order")

    @api.model
    def _selection_lead_models(self):
        return self._models_selection("crm.lead")

    @api.model
    def _selection_project_models(self):
        return self._models_selection("project.project")

    # ------------------------------------------------------------------ compute
    @api.depends("onboarding_start", "onboarding_done")
    def _compute_onboarding_days(self):
        for contract in self:
            if contract.onboarding_start and contract.onboarding_done:
                delta = contract.onboarding_done - contract.onboarding_start
                contract.onboarding_days = round(delta.total_seconds() / 86400.0, 2)
            else:
                contract.onboarding_days = 0.0

    def _compute_invoice_count(self):
        for contract in self:
            contract.invoice_count = len(contract.period_ids.filtered("move_ref"))

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("name", "/") == "/":
                vals["name"] = self.env["ir.sequence"].next_by_code("saas.contract") or "/"
        return super().create(vals_list)

    # ------------------------------------------------------------------ helpers
    def _sale_order(self):
        self.ensure_one()
        order = self.order_ref
        return order.sudo().exists() if order else None

    def _template(self, code=CODE):
        return self.env["saas.workflow.template"].sudo()._by_code(code)

    def _workflow_exception_user(self, code=CODE):
        workflow = self._template(code).workflow_id
        return workflow._exception_user() if workflow else self.env.user

    # ----------------------------------------------------- deal won: onboarding
    @api.model
    def _l2c_onboard(self, lead, params):
        """Open (or reuse) the draft contract of a won deal and its onboarding project."""
        lead = lead.sudo()
        if not lead.partner_id:
            raise PermanentError(f"The won deal {lead.display_name} has no customer")
        contract = self.sudo().search([("lead_ref", "=", _ref(lead))], limit=1)
        if not contract:
            company = lead.company_id or self.env.company
            contract = self.sudo().create({
                "name": lead.name,
                "partner_id": lead.partner_id.id,
                "user_id": lead.user_id.id or False,
                "company_id": company.id,
                "currency_id": company.currency_id.id,
                "lead_ref": _ref(lead),
                "billing_period": params.get("billing_period") or "monthly",
            })
        if contract.onboarding_project_ref:
            return contract
        project = contract._l2c_create_onboarding_project(lead, params)
        contract.write({
            "onboarding_project_ref": _ref(project),
            "onboarding_start": fields.Datetime.now(),
        })
        body = Markup("<p>%s</p>") % self.env._(
            "Deal won: onboarding project %(project)s created with %(count)s tasks.",
            project=project.display_name, count=len(project.task_ids),
        )
        contract.message_post(body=body)
        lead.message_post(body=body)
        return contract

    def _l2c_create_onboarding_project(self, lead, params):
        self.ensure_one()
        Project = self.env["project.project"].sudo()
        manager = params.get("onboarding_manager") or lead.user_id or self.env.user
        project = Project.create({
            "name": self.env._("Onboarding: %(customer)s", customer=self.partner_id.display_name),
            "partner_id": self.partner_id.id,
            "user_id": manager.id,
            "company_id": self.company_id.id,
        })
        today = fields.Date.context_today(self)
        source = None
        source_name = (params.get("onboarding_template_project") or "").strip()
        if source_name:
            source = Project.search(
                [("name", "=", source_name), ("id", "!=", project.id)], limit=1
            )
        task_vals = []
        if source and source.task_ids:
            for task in source.task_ids.filtered(lambda t: not t.parent_id).sorted("sequence"):
                owners = task.user_ids or manager
                task_vals.append({
                    "name": task.name,
                    "description": task.description,
                    "sequence": task.sequence,
                    "user_ids": [(6, 0, owners.ids)],
                })
        else:
            try:
                tasks = l2c.parse_task_list(params.get("onboarding_tasks"))
            except ValueError as exc:
                raise PermanentError(str(exc)) from exc
            for sequence, (name, offset) in enumerate(tasks):
                task_vals.append({
                    "name": name,
                    "sequence": sequence,
                    "user_ids": [(6, 0, manager.ids)],
                    "date_deadline": today + timedelta(days=offset),
                })
        for vals in task_vals:
            vals.update(project_id=project.id, partner_id=self.partner_id.id)
        self.env["project.task"].sudo().with_context(mail_create_nolog=True).create(task_vals)
        return project

    def _l2c_refresh_onboarding(self):
        """Mark the onboarding done once every task of its project is closed."""
        for contract in self.filtered(lambda c: c.onboarding_project_ref and not c.onboarding_done):
            project = contract.onboarding_project_ref.sudo().exists()
            tasks = project.with_context(active_test=False).task_ids if project else None
            if not tasks or any(t.state not in CLOSED_TASK_STATES for t in tasks):
                continue
            done = max(t.date_end or t.date_last_stage_update or t.write_date for t in tasks)
            contract.onboarding_done = max(done, contract.onboarding_start or done)
            contract.message_post(body=self.env._("Onboarding completed."))

    # ------------------------------------------------- order confirmed: contract
    @api.model
    def _l2c_is_recurring(self, order, params):
        tag = (params.get("recurring_tag") or "").strip().lower()
        if not tag:
            return True
        return tag in [name.lower() for name in order.tag_ids.mapped("name")]

    @api.model
    def _l2c_contract_for_order(self, order, params):
        """The contract of a confirmed recurring order (created or completed), checked."""
        order = order.sudo()
        contract = self.sudo().search([("order_ref", "=", _ref(order))], limit=1)
        if not contract and "opportunity_id" in order._fields and order.opportunity_id:
            contract = self.sudo().search(
                [("lead_ref", "=", _ref(order.opportunity_id)), ("order_ref", "=", False)], limit=1
            )
        if not contract:
            # the draft contract opened when the customer's deal was won
            contract = self.sudo().search([
                ("partner_id", "=", order.partner_id.commercial_partner_id.id),
                ("state", "=", "draft"), ("order_ref", "=", False), ("lead_ref", "!=", False),
            ], order="id", limit=1)
        start = (order.commitment_date or order.date_order or fields.Datetime.now()).date()
        term = params.get("contract_term_months") or 12
        values = {
            "order_ref": _ref(order),
            "partner_id": order.partner_id.commercial_partner_id.id,
            "user_id": order.user_id.id or False,
            "company_id": order.company_id.id,
            "currency_id": order.currency_id.id,
            "amount_recurring": order.amount_untaxed,
        }
        if not contract or not contract.start_date:
            values.update(start_date=start, end_date=l2c.term_end(start, term))
        if contract:
            contract.write(values)
        else:
            values.update(
                name=self.env._("%(order)s contract", order=order.name),
                billing_period=params.get("billing_period") or "monthly",
            )
            contract = self.sudo().create(values)
        contract._l2c_check(params)
        return contract

    def _l2c_contract_data(self):
        self.ensure_one()
        order = self._sale_order()
        customer = self.partner_id.commercial_partner_id
        invoice_partner = order.partner_invoice_id if order else customer
        return {
            "is_company": customer.is_company,
            "customer_email": (order.partner_id.email if order else False) or customer.email,
            "customer_vat": customer.vat,
            "invoice_address": bool(
                invoice_partner.street and invoice_partner.city and invoice_partner.country_id
            ),
            "payment_terms": bool(order and order.payment_term_id),
            "contract_term": bool(self.start_date and self.end_date),
            "recurring_amount": self.amount_recurring > 0,
        }

    def _l2c_check(self, params=None):
        """Validate the contract data: active when complete, otherwise an exception.

        An exception is visible (state and reason), gives the workflow's exception
        handler an activity and emits ``contract.exception``; the contract does
        not start (no invoice) until a new check passes.
        """
        if params is None:
            params = self._template()._template_params()
        activity_type = self.env.ref(
            "saas_workflow_approvals.mail_activity_type_contract_exception"
        )
        Event = self.env["saas.workflow.event"].sudo()
        for contract in self.filtered(lambda c: c.state in ("draft", "exception")):
            missing = l2c.missing_contract_data(
                contract._l2c_contract_data(), require_vat=bool(params.get("require_vat", True))
            )
            if missing:
                reason = self.env._("Missing contract data: %(fields)s", fields=", ".join(missing))
                if contract.state == "exception" and contract.exception_reason == reason:
                    continue
                contract.write({"state": "exception", "exception_reason": reason})
                user = contract._workflow_exception_user()
                contract.activity_schedule(
                    "saas_workflow_approvals.mail_activity_type_contract_exception",
                    user_id=user.id,
                    summary=self.env._("Complete the contract data"),
                    note=reason,
                )
                Event.emit(
                    "contract.exception",
                    record=contract,
                    payload={**contract._event_payload(), "missing": missing},
                )
                continue
            contract.write({
                "state": "active",
                "exception_reason": False,
                "next_invoice_date": contract.next_invoice_date or contract.start_date,
            })
            contract.activity_ids.filtered(
                lambda a, t=activity_type: a.activity_type_id == t
            ).action_feedback(feedback=self.env._("Contract data complete."))
            contract.message_post(body=self.env._("Contract data complete: the contract is active."))
            Event.emit("contract.activated", record=contract, payload=contract._event_payload())

    def _event_payload(self):
        self.ensure_one()
        order = self._sale_order()
        return {
            "contract_id": self.id,
            "contract": self.name,
            "partner_id": self.partner_id.id,
            "customer": self.partner_id.display_name,
            "order": order.name if order else None,
            "state": self.state,
            "amount_recurring": f"{self.currency_id.round(self.amount_recurring):.{self.currency_id.decimal_places}f}",
            "currency": self.currency_id.name,
            "billing_period": self.billing_period,
            "start_date": fields.Date.to_string(self.start_date) if self.start_date else None,
            "end_date": fields.Date.to_string(self.end_date) if self.end_date else None,
        }

    def action_check_contract_data(self):
        for contract in self:
            if contract.state not in ("draft", "exception"):
                raise UserError(self.env._("Only draft contracts and exceptions are checked."))
        self._l2c_check()
        return True

    def action_churn(self):
        self.filtered(lambda c: c.state not in ("renewed", "churned")).write({"state": "churned"})
        return True

    # ----------------------------------------------------------- invoicing
    @api.model
    def _cron_lead_to_cash(self):
        """Daily: re-check exceptions, follow onboardings, invoice the due periods."""
        template = self.env["saas.workflow.template"]._active_by_code(CODE)
        if not template:
            return 0
        params = template._template_params()
        today = fields.Date.context_today(self)
        self.sudo().search([("state", "=", "exception")])._l2c_check(params)
        self.sudo().search(
            [("onboarding_project_ref", "!=", False), ("onboarding_done", "=", False)]
        )._l2c_refresh_onboarding()
        due = self.sudo().search(
            [("state", "in", ("active", "renewal")), ("next_invoice_date", "<=", today)]
        )
        created = 0
        for contract in due:
            try:
                with self.env.cr.savepoint():
                    created += len(contract._l2c_invoice_due(today, params))
            except Exception as exc:  # one broken contract must not stop the others
                _logger.warning("Invoicing contract %s failed: %s", contract.name, exc)
                contract.message_post(
                    body=self.env._("The scheduled invoice could not be created: %s", exc)
                )
        return created

    def _l2c_invoice_due(self, today, params):
        """Create the customer invoice of each due period, at most one per period."""
        self.ensure_one()
        order = self._sale_order()
        if order is None:
            raise UserError(self.env._("The contract %s has no sales order.", self.name))
        Period = self.env["saas.contract.period"].sudo()
        moves = self.env["account.move"]
        for start in l2c.due_periods(
            self.next_invoice_date, today, self.billing_period, self.end_date
        ):
            end = l2c.period_end(start, self.billing_period, self.end_date)
            if not Period.search_count([("contract_id", "=", self.id), ("period_start", "=", start)]):
                move = self._l2c_create_invoice(order, start, end, params)
                Period.create({
                    "contract_id": self.id,
                    "period_start": start,
                    "period_end": end,
                    "move_ref": _ref(move),
                    "amount": move.amount_untaxed,
                })
                moves |= move
            self.next_invoice_date = l2c.next_after(start, self.billing_period)
        return moves

    def _l2c_create_invoice(self, order, start, end, params):
        self.ensure_one()
        lines = [
            (0, 0, {
                "product_id": line.product_id.id,
                "name": line.name,
                "quantity": line.product_uom_qty,
                "product_uom_id": line.product_uom.id,
                "price_unit": line.price_unit,
                "discount": line.discount,
                "tax_ids": [(6, 0, line.tax_id.ids)],
            })
            for line in order.order_line
            if not line.display_type and line.product_id
        ]
        if not lines:
            raise UserError(self.env._("The order %s has no product line to invoice.", order.name))
        move = self.env["account.move"].sudo().with_company(self.company_id).create({
            "move_type": "out_invoice",
            "partner_id": order.partner_invoice_id.id,
            "invoice_date": start,
            "invoice_origin": order.name,
            "ref": self.env._(
                "%(contract)s: %(start)s – %(end)s", contract=self.name, start=start, end=end
            ),
            "invoice_payment_term_id": order.payment_term_id.id,
            "currency_id": order.currency_id.id,
            "fiscal_position_id": order.fiscal_position_id.id,
            "invoice_user_id": self.user_id.id or False,
            "invoice_line_ids": lines,
        })
        if params.get("post_invoices", True):
            move.action_post()
        self.message_post(body=self.env._(
            "Invoice %(move)s created for %(start)s – %(end)s.",
            move=move.name or move.display_name, start=start, end=end,
        ))
        return move

    # ------------------------------------------------------------- actions
    def _open_reference(self, record):
        if not record:
            return False
        return {
            "type": "ir.actions.act_window",
            "res_model": record._name,
            "res_id": record.id,
            "view_mode": "form",
            "views": [(False, "form")],
        }

    def action_open_order(self):
        self.ensure_one()
        return self._open_reference(self._sale_order())

    def action_open_onboarding(self):
        self.ensure_one()
        return self._open_reference(self.onboarding_project_ref)

    def action_open_invoices(self):
        self.ensure_one()
        move_ids = [p.move_ref.id for p in self.period_ids if p.move_ref]
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Invoices"),
            "res_model": "account.move",
            "domain": [("id", "in", move_ids)],
            "view_mode": "list,form",
        }

    # ------------------------------------------------------------------ demo
    DEMO_MODELS = ("crm.lead", "sale.order", "project.project", "account.move")

    @api.model
    def _demo_product(self):
        product = self.env.ref("saas_workflow_approvals.demo_product_seat", raise_if_not_found=False)
        if product:
            return product
        product = self.env["product.product"].create({
            "name": self.env._("SaaS platform seat (month)"),
            "type": "service",
            "list_price": 45.0,
            "taxes_id": [(6, 0, [])],
            "invoice_policy": "order",
        })
        self.env["ir.model.data"].create({
            "module": "saas_workflow_approvals", "name": "demo_product_seat",
            "model": "product.product", "res_id": product.id, "noupdate": True,
        })
        return product

    @api.model
    def _demo_order(self, customer, seats, discount=0.0, **vals):
        tag = self.env["crm.tag"].search([("name", "=", "Subscription")], limit=1) or \
            self.env["crm.tag"].create({"name": "Subscription"})
        terms = self.env.ref("account.account_payment_term_30days", raise_if_not_found=False)
        values = {
            "partner_id": customer.id,
            "user_id": self.env.ref("base.user_admin").id,
            "payment_term_id": terms.id if terms else False,
            "tag_ids": [(6, 0, tag.ids)],
            "order_line": [(0, 0, {"product_id": self._demo_product().id,
                                   "product_uom_qty": seats, "price_unit": 45.0,
                                   "discount": discount, "tax_id": [(6, 0, [])]})],
        }
        values.update(vals)
        return self.env["sale.order"].create(values)

    @api.model
    def _demo_emit(self, records, code):
        """Run the event sources of ``code`` on ``records`` (as their automation rule would)."""
        rules = self.env["base.automation"].sudo().search(
            [("model_name", "=", records._name), ("saas_event_type_ids.code", "=", code)]
        )
        for rule in rules:
            for record in records:
                rule._process(record)

    @api.model
    def _demo_lead_to_cash(self):
        """Orbitly's lead-to-cash: onboarding of the won deals, a contract per subscription.

        Uses the customers, deals and monthly orders of the core demo story (only with
        crm, sale, project and account installed); running it again creates nothing new.
        """
        if any(name not in self.env for name in self.DEMO_MODELS):
            return False
        ref = self.env.ref
        admin = ref("base.user_admin")
        template = self.env["saas.workflow.template"]._by_code(CODE)
        if template.state == "active":
            return False
        for param in template.param_ids:
            if param.key == "discount_approver":
                param.value_user_id = ref("saas_workflow_approvals.demo_user_sales_manager")
            elif param.key == "onboarding_manager":
                param.value_user_id = admin
        template._activate(
            owner=admin, exception_user=ref("saas_workflow_approvals.demo_user_finance")
        )
        # During the installation the automation rules and approval guards are not
        # hooked yet: run what the subscriptions of the template do.
        params = template._template_params()
        now = fields.Datetime.now()
        customers = self.env["res.partner"]
        for key in ("brightline", "kestrel", "harbor_pine", "quantix", "meridian", "fjord"):
            customers |= ref(f"saas_workflow_core.demo_customer_{key}", raise_if_not_found=False) \
                or customers
        won = self.env["crm.lead"].search(
            [("stage_id.is_won", "=", True), ("partner_id", "in", customers.ids)],
            order="date_closed, id",
        )
        for index, lead in enumerate(won):
            contract = self._l2c_onboard(lead, params)
            closed = lead.date_closed or now
            contract.onboarding_start = closed
            tasks = contract.onboarding_project_ref.task_ids.sorted("sequence")
            age = (now - closed).days
            # onboardings older than a month are done; the newest one is half way
            done = tasks if age > 45 else tasks[: len(tasks) // 2]
            done.write({"state": "1_done"})
            if done == tasks and tasks:
                contract.onboarding_done = closed + timedelta(days=min(age - 5, 9 + 5 * index))
        tag = self.env["crm.tag"].search([("name", "=", "Subscription")], limit=1) or \
            self.env["crm.tag"].create({"name": "Subscription"})
        term = ref("account.account_payment_term_30days", raise_if_not_found=False)
        orders = self.env["sale.order"].search(
            [("client_order_ref", "like", "SUB-"), ("state", "=", "sale"),
             ("partner_id", "in", customers.ids)], order="date_order, id"
        )
        for partner_orders in orders.grouped("partner_id").values():
            first, last = partner_orders[0], partner_orders[-1]
            values = {"tag_ids": [(4, tag.id)]}
            if term and not last.payment_term_id:
                # the story's invoices are due in 30 days
                values["payment_term_id"] = term.id
            last.write(values)
            contract = self._l2c_contract_for_order(last, params)
            start = first.date_order.date()
            contract.write({
                "start_date": start,
                "end_date": l2c.term_end(start, params.get("contract_term_months") or 12),
            })
            if contract.state == "active":
                contract.next_invoice_date = l2c.next_after(
                    last.date_order.date(), contract.billing_period
                )
        self._cron_lead_to_cash()
        moves = self.env["account.move"].browse(
            [period.move_ref.id for period in self.search([]).period_ids if period.move_ref]
        )
        self._demo_emit(moves.filtered(lambda m: m.state == "posted"), "invoice.posted")
        return True

class SaasContractPeriod(models.Model):
    """One invoiced billing period of a contract (the guard against double invoicing)."""

    _name = "saas.contract.period"
    _description = "Contract Invoiced Period"
    _order = "contract_id, period_start"

    contract_id = fields.Many2one("saas.contract", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="contract_id.company_id", store=True)
    currency_id = fields.Many2one(related="contract_id.currency_id")
    period_start = fields.Date(required=True)
    period_end = fields.Date(required=True)
    move_ref = fields.Reference(selection="_selection_move_models", string="Invoice")
    amount = fields.Monetary(currency_field="currency_id")

    _sql_constraints = [
        ("period_uniq", "unique(contract_id, period_start)",
         "A billing period of a contract is invoiced once."),
    ]

    @api.model
    def _selection_move_models(self):
        return self.env["saas.contract"]._models_selection("account.move")


class SaasWorkflowSubscription(models.Model):
    _inherit = "saas.workflow.subscription"  # pylint: disable=consider-merging-classes-inherited

    handler_type = fields.Selection(
        selection_add=[
            ("lead_to_cash_onboarding", "Lead-to-cash: onboarding project"),
            ("lead_to_cash_contract", "Lead-to-cash: contract check"),
        ],
        ondelete={"lead_to_cash_onboarding": "cascade", "lead_to_cash_contract": "cascade"},
    )

    def _l2c_params(self):
        template = self.env["saas.workflow.template"]._active_by_code(CODE)
        if not template:
            return None
        return template._template_params()

    def _handle_lead_to_cash_onboarding(self, event, delivery):
        params = self._l2c_params()
        if params is None:
            return "template switched off"
        lead = event._get_record()
        if not lead:
            return "deal deleted"
        contract = self.env["saas.contract"]._l2c_onboard(lead, params)
        return f"contract {contract.name}: {contract.onboarding_project_ref.display_name}"

    def _handle_lead_to_cash_contract(self, event, delivery):
        params = self._l2c_params()
        if params is None:
            return "template switched off"
        order = event._get_record()
        if not order:
            return "order deleted"
        Contract = self.env["saas.contract"]
        if not Contract._l2c_is_recurring(order, params):
            return "not a recurring order"
        contract = Contract._l2c_contract_for_order(order, params)
        return f"contract {contract.name}: {contract.state}"


class SaasWorkflowTemplate(models.Model):
    _inherit = "saas.workflow.template"  # pylint: disable=consider-merging-classes-inherited

    def _template_activate_lead_to_cash(self, workflow, params):
        period = params.get("billing_period") or "monthly"
        if period not in l2c.BILLING_MONTHS:
            raise ValidationError(self.env._(
                "Billing period must be one of %(periods)s.", periods=", ".join(l2c.BILLING_MONTHS)
            ))
        if (params.get("contract_term_months") or 0) <= 0:
            raise ValidationError(self.env._("The contract term must be at least one month."))
        limit = params.get("discount_limit")
        if limit is None or not 0 <= limit <= 100:
            raise ValidationError(self.env._("The discount limit is a percentage (0 to 100)."))
        try:
            l2c.parse_task_list(params.get("onboarding_tasks"))
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
        self._l2c_standard_source(
            "deal_won", workflow, "crm.lead", "crm.lead.won",
            filter_pre_domain="[('stage_id.is_won', '=', False)]",
            filter_domain="[('stage_id.is_won', '=', True)]",
            payload_fields=("name", "partner_id", "user_id", "expected_revenue"),
        )
        self._l2c_standard_source(
            "order_confirmed", workflow, "sale.order", "sale.order.confirmed",
            filter_pre_domain="[('state', '!=', 'sale')]",
            filter_domain="[('state', '=', 'sale')]",
            payload_fields=("name", "partner_id", "user_id", "amount_untaxed", "currency_id"),
        )
        invoice_fields = ("name", "partner_id", "invoice_origin", "invoice_date",
                          "invoice_date_due", "amount_untaxed", "amount_total",
                          "amount_residual", "currency_id", "payment_state")
        self._template_event_source(
            "invoice_posted", workflow, "account.move", "invoice.posted", "on_create_or_write",
            name=self.env._("Lead-to-cash: invoice posted"),
            filter_pre_domain="[('state', '!=', 'posted')]",
            filter_domain="[('state', '=', 'posted'), ('move_type', '=', 'out_invoice')]",
            trigger_field_names=("state",),
            payload_fields=invoice_fields,
        )
        self._template_event_source(
            "invoice_paid", workflow, "account.move", "invoice.paid", "on_create_or_write",
            name=self.env._("Lead-to-cash: invoice paid"),
            filter_pre_domain="[('payment_state', 'not in', ('paid', 'in_payment'))]",
            filter_domain="[('payment_state', 'in', ('paid', 'in_payment')), "
            "('move_type', '=', 'out_invoice')]",
            trigger_field_names=("payment_state",),
            payload_fields=invoice_fields,
        )
        self._template_subscription(
            "onboarding", workflow, self.env._("Lead-to-cash: onboarding project"),
            ["crm.lead.won"], "lead_to_cash_onboarding", retry_schedule="60,300,1800",
        )
        self._template_subscription(
            "contract", workflow, self.env._("Lead-to-cash: contract check"),
            ["sale.order.confirmed"], "lead_to_cash_contract", retry_schedule="60,300,1800",
        )
        self._template_cron(
            "invoice_cron", workflow, self.env._("Lead-to-cash: scheduled invoices"),
            "saas.contract", "_cron_lead_to_cash",
        )
        self._l2c_discount_policy(workflow, params)
        Type = self.env["saas.workflow.event.type"].sudo()
        workflow.write({
            "consumed_type_ids": [(6, 0, Type.search(
                [("code", "in", ("crm.lead.won", "sale.order.confirmed"))]).ids)],
            "emitted_type_ids": [(6, 0, Type.search([("code", "in", (
                "invoice.posted", "invoice.paid", "contract.exception", "contract.activated",
                "approval.requested", "approval.approved", "approval.rejected"))]).ids)],
        })

    def _l2c_standard_source(self, key, workflow, model_name, code, **kwargs):
        """The standard event source of ``code`` (re-activated when archived); the
        template creates its own only when the standard one was deleted, so that a
        won deal or a confirmed order is emitted once."""
        etype = self.env["saas.workflow.event.type"].sudo().search([("code", "=", code)], limit=1)
        rule = self.env["base.automation"].sudo().with_context(active_test=False).search(
            [("saas_standard_type_id", "=", etype.id)], limit=1
        ) if etype else None
        if rule:
            if not rule.active:
                rule.active = True
            return rule
        return self._template_event_source(
            key, workflow, model_name, code, "on_create_or_write", **kwargs
        )

    def _l2c_discount_policy(self, workflow, params):
        limit = params.get("discount_limit")
        approver = params.get("discount_approver") or workflow.owner_id
        policy = self._template_upsert("discount_policy", "saas.approval.policy", {
            "name": self.env._("Lead-to-cash: discounts above %(limit)s%%", limit=f"{limit:g}"),
            "description": self.env._(
                "Created by the lead-to-cash template: a quotation with a line discount above "
                "the limit is confirmed only once approved."
            ),
            "model_id": self.env["ir.model"]._get_id("sale.order"),
            "method_name": "action_confirm",
            "filter_domain": repr([("order_line.discount", ">", float(limit))]),
            "company_id": False,
            "owner_id": workflow.owner_id.id,
            "sequence": 5,
            "execute_on_approval": bool(params.get("confirm_on_approval", True)),
        })
        self._template_upsert("discount_policy_step", "saas.approval.policy.step", {
            "policy_id": policy.id,
            "name": self.env._("Discount approval"),
            "approver_type": "users",
            "user_ids": [(6, 0, approver.ids)],
        })
        return policy
