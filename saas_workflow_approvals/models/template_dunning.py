"""Collections / dunning template.

Overdue customer invoices are followed by a ``saas.dunning.run`` that moves
through the stages of :mod:`..lib.template_dunning` on a daily schedule:
customer reminder email, finance follow-up activity, escalation to a manager
(activity plus the ``dunning.escalated`` event). A payment closes the run at
once: an event source on the invoice's payment state feeds the
``dunning_settle`` subscription handler, and the scheduler re-reads the
payment state before every action, so a late event never lets a reminder
reach a customer who paid.

``account`` is not a dependency: invoices are addressed by model name and id
and every access goes through ``self.env.get("account.move")``.
"""

import logging
from datetime import timedelta

from markupsafe import Markup

from odoo import api, fields, models
from odoo.addons.saas_workflow_core.lib.actions import record_form
from odoo.exceptions import UserError
from odoo.tools import format_amount

from ..lib import template_dunning as dn

_logger = logging.getLogger(__name__)

CODE = "dunning"
MOVE_MODEL = "account.move"
SETTLED = sorted(dn.SETTLED_PAYMENT_STATES)
STAGE_SELECTION = [(str(stage), label) for stage, label in dn.STAGES]
ACTIVITY_FOLLOWUP = "saas_workflow_approvals.mail_activity_type_dunning_followup"
ACTIVITY_ESCALATION = "saas_workflow_approvals.mail_activity_type_dunning_escalation"

REMINDER_SUBJECT = "{{ object.company_id.name }}: payment reminder for invoice {{ object.name }}"
REMINDER_BODY = """<div style="margin: 0px; padding: 0px;">
<p>Dear <t t-out="object.partner_id.name or ''">customer</t>,</p>
<p>Our records show that invoice <strong t-out="object.name or ''">INV/2026/0001</strong>
of <t t-out="format_amount(object.amount_total, object.currency_id) or ''">$ 100.00</t>,
due on <t t-out="format_date(object.invoice_date_due) or ''">01/01/2026</t>, is still open:
<strong t-out="format_amount(object.amount_residual, object.currency_id) or ''">$ 100.00</strong>
remains to be paid.</p>
<p>If you have already paid, please disregard this message and accept our thanks.
Otherwise, please arrange the payment with the reference
<strong t-out="object.payment_reference or object.name or ''">INV/2026/0001</strong>.</p>
<p>Best regards,<br/><t t-out="object.company_id.name or ''">YourCompany</t></p>
</div>"""


class SaasDunningRun(models.Model):
    _name = "saas.dunning.run"
    _description = "Dunning run"
    _inherit = ["mail.thread"]
    _order = "state, invoice_date_due, id"
    _check_company_auto = True

    name = fields.Char(required=True, readonly=True)
    res_model = fields.Char(default=MOVE_MODEL, required=True, readonly=True)
    res_id = fields.Many2oneReference(
        "Invoice ID", model_field="res_model", required=True, readonly=True, index=True
    )
    invoice_name = fields.Char("Invoice", readonly=True)
    partner_id = fields.Many2one("res.partner", "Customer", readonly=True, index=True)
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    amount_total = fields.Monetary(readonly=True, currency_field="currency_id")
    amount_residual = fields.Monetary("Amount due", readonly=True, currency_field="currency_id")
    invoice_date_due = fields.Date("Due date", readonly=True)
    days_overdue = fields.Integer(readonly=True, aggregator="avg")
    stage = fields.Selection(
        STAGE_SELECTION, default="0", required=True, readonly=True, tracking=True,
        group_expand=True, index=True,
    )
    state = fields.Selection(
        [("running", "Running"), ("stopped", "Stopped"), ("done", "Settled")],
        default="running", required=True, readonly=True, tracking=True, index=True,
        help="Settled: the invoice was paid (or is in payment) or reversed. Stopped: the "
        "invoice was cancelled or reset, or someone stopped the run.",
    )
    start_date = fields.Date("Started on", readonly=True)
    next_action_date = fields.Date(readonly=True, index=True)
    last_action_date = fields.Date(readonly=True)
    reminder_date = fields.Date("Reminder sent on", readonly=True)
    escalation_date = fields.Date("Escalated on", readonly=True)
    closed_date = fields.Date(readonly=True)
    days_to_close = fields.Integer(
        readonly=True, aggregator="avg", help="Days from the start of the run to its close."
    )
    stop_reason = fields.Char(readonly=True, tracking=True)
    activity_record_ids = fields.Many2many(
        "mail.activity", "saas_dunning_run_activity_rel", "run_id", "activity_id",
        string="Activities", readonly=True, context={"active_test": False},
    )
    open_activity_count = fields.Integer(compute="_compute_open_activity_count")
    color = fields.Integer(compute="_compute_color")

    _sql_constraints = [
        ("invoice_uniq", "unique(res_model, res_id)", "An invoice has one dunning run."),
    ]

    @api.depends("activity_record_ids.active")
    def _compute_open_activity_count(self):
        for run in self:
            run.open_activity_count = len(run.activity_record_ids.filtered("active"))

    @api.depends("state", "stage")
    def _compute_color(self):
        for run in self:
            if run.state == "done":
                run.color = 10
            elif run.state == "stopped":
                run.color = 0
            else:
                run.color = {"0": 0, "1": 3, "2": 2, "3": 1}.get(run.stage, 0)

    # ------------------------------------------------------------------ helpers
    def _invoice(self):
        """The invoice (sudo) of this run, or None when gone or account is uninstalled."""
        self.ensure_one()
        Move = self.env.get(self.res_model)
        if Move is None:
            return None
        move = Move.sudo().browse(self.res_id).exists()
        return move or None

    @api.model
    def _template(self):
        return self.env["saas.workflow.template"].sudo()._by_code(CODE)

    @api.model
    def _delays(self, params):
        try:
            return dn.validate_delays(
                (params.get("first_reminder_days"), params.get("finance_days"),
                 params.get("escalation_days"))
            )
        except dn.ScheduleError as exc:
            raise UserError(str(exc)) from exc

    def _log(self, body):
        self.message_post(body=body, message_type="comment", subtype_xmlid="mail.mt_note")

    def _close_activities(self, feedback):
        activities = self.activity_record_ids.filtered("active")
        if activities:
            activities.sudo().action_feedback(feedback=feedback)

    def _close(self, state, reason, today):
        for run in self:
            run._close_activities(reason)
            start = run.start_date or today
            run.write({
                "state": state,
                "stop_reason": reason,
                "closed_date": today,
                "next_action_date": False,
                "days_to_close": max((today - start).days, 0),
            })
            run._log(Markup("<p>%s</p>") % self.env._("Dunning closed: %s.", reason))

    def _settle(self, move, today):
        """Close the run of a settled invoice and tell subscribers."""
        self.ensure_one()
        label = dict(move._fields["payment_state"]._description_selection(self.env)).get(
            move.payment_state, move.payment_state)
        reason = self.env._("invoice %(state)s", state=str(label).lower())
        self.amount_residual = move.amount_residual
        self._close("done", reason, today)
        self.env["saas.workflow.event"].sudo().emit(
            "dunning.closed",
            record=move,
            payload=self._event_payload(move, reason=move.payment_state),
            idempotency_key=f"dunning.closed:{self.id}:{today}",
        )

    def _event_payload(self, move, **extra):
        payload = {
            "run_id": self.id,
            "invoice_id": move.id,
            "invoice": move.name,
            "partner_id": move.partner_id.id,
            "partner": move.partner_id.display_name,
            "stage": int(self.stage),
            "days_overdue": self.days_overdue,
            "amount_residual": f"{move.currency_id.round(move.amount_residual):.{move.currency_id.decimal_places}f}",
            "currency": move.currency_id.name,
        }
        payload.update(extra)
        return payload

    # ---------------------------------------------------------------- scheduler
    @api.model
    def _cron_dunning_advance(self):
        """Daily pass: open runs for newly overdue invoices, then advance or close each run."""
        template = self.env["saas.workflow.template"]._active_by_code(CODE)
        if not template or self.env.get(MOVE_MODEL) is None:
            return False
        return self._dunning_pass(template, fields.Date.context_today(self))

    @api.model
    def _dunning_pass(self, template, today):
        params = template._template_params()
        delays = self._delays(params)
        self.sudo()._open_new_runs(today)
        runs = self.sudo().search([("state", "=", "running")])
        for run in runs:
            try:
                with self.env.cr.savepoint():
                    run._process(today, delays, params)
            except Exception as exc:  # one run's failure must not stop the others
                _logger.warning("Dunning run %s could not advance: %s", run.id, exc)
                run._log(Markup("<p>%s</p>") % self.env._(
                    "The scheduled dunning action failed and will be retried on the next pass: %s",
                    exc))
        return True

    @api.model
    def _open_new_runs(self, today):
        Move = self.env[MOVE_MODEL].sudo()
        moves = Move.search([
            ("move_type", "=", "out_invoice"),
            ("state", "=", "posted"),
            ("payment_state", "in", sorted(dn.OPEN_PAYMENT_STATES)),
            ("invoice_date_due", "<", today),
        ])
        existing = self.sudo().search([("res_model", "=", MOVE_MODEL), ("res_id", "in", moves.ids)])
        known = set(existing.mapped("res_id"))
        # a settled invoice that is open again (payment cancelled or unreconciled) resumes
        for run in existing.filtered(lambda r: r.state == "done"):
            run.write({"state": "running", "stop_reason": False, "closed_date": False,
                       "days_to_close": 0})
            run._log(Markup("<p>%s</p>") % self.env._(
                "The invoice is open again (its payment was cancelled or unreconciled): "
                "dunning resumes at stage %(stage)s.", stage=dn.stage_label(int(run.stage))))
        vals_list = []
        for move in moves:
            if move.id in known:
                continue
            vals_list.append({
                "name": self.env._("Dunning %(invoice)s", invoice=move.name),
                "res_model": MOVE_MODEL,
                "res_id": move.id,
                "invoice_name": move.name,
                "partner_id": move.partner_id.commercial_partner_id.id,
                "company_id": move.company_id.id,
                "currency_id": move.currency_id.id,
                "amount_total": move.amount_total,
                "amount_residual": move.amount_residual,
                "invoice_date_due": move.invoice_date_due,
                "days_overdue": dn.days_overdue(move.invoice_date_due, today),
                "start_date": today,
            })
        return self.sudo().with_context(mail_create_nosubscribe=True).create(vals_list)

    def _process(self, today, delays, params):
        """Check the invoice, then perform at most one due stage. Re-reads the payment
        state first, whatever the events said."""
        self.ensure_one()
        move = self._invoice()
        if move is None:
            self._close("stopped", self.env._("the invoice no longer exists"), today)
            return
        overdue = dn.days_overdue(move.invoice_date_due, today)
        stage = int(self.stage)
        action, detail = dn.decide(stage, move.payment_state, move.state, overdue, delays)
        self.write({"days_overdue": overdue, "amount_residual": move.amount_residual})
        if action == "settle":
            self._settle(move, today)
            return
        if action == "stop":
            self._close("stopped", detail, today)
            return
        if action == "advance":
            getattr(self, f"_stage_{detail}")(move, today, params)
            self.write({"stage": str(detail), "last_action_date": today})
            stage = detail
        self.next_action_date = dn.next_action_date(move.invoice_date_due, stage, delays)

    # ------------------------------------------------------------------- stages
    def _followup_user(self, params):
        template = self._template()
        return params.get("finance_user") or template.workflow_id.owner_id

    def _escalation_user(self, params):
        template = self._template()
        return params.get("escalation_user") or template.workflow_id.owner_id

    def _schedule(self, move, xmlid, user, summary, note, today):
        activity = move.activity_schedule(
            xmlid, date_deadline=today, summary=summary, note=note, user_id=user.id
        )
        self.activity_record_ids = [(4, activity.id)]
        return activity

    def _stage_1(self, move, today, params):
        """Customer reminder, from the template's mail template, to the invoice's partner."""
        template = self._template()
        mail_template = template._template_record("reminder_mail")
        partner = move.partner_id
        if mail_template is None or not mail_template.active:
            raise UserError(self.env._("The dunning reminder email template is missing."))
        if not partner.email:
            user = self._followup_user(params)
            self._schedule(
                move, ACTIVITY_FOLLOWUP, user,
                self.env._("Reminder not sent: %(partner)s has no email", partner=partner.display_name),
                self.env._("Invoice %(invoice)s is overdue and the customer has no email address: "
                           "remind them by phone or post and complete the contact.",
                           invoice=move.name),
                today,
            )
            self._log(Markup("<p>%s</p>") % self.env._(
                "Stage 1: no reminder could be emailed (%(partner)s has no email address); "
                "%(user)s was asked to follow up.", partner=partner.display_name, user=user.name))
            self.reminder_date = today
            return
        move.with_context(mail_notify_force_send=False).message_post_with_source(
            mail_template, message_type="comment", subtype_xmlid="mail.mt_comment",
        )
        self.reminder_date = today
        self._log(Markup("<p>%s</p>") % self.env._(
            "Stage 1: payment reminder emailed to %(partner)s (%(email)s).",
            partner=partner.display_name, email=partner.email))

    def _stage_2(self, move, today, params):
        user = self._followup_user(params)
        self._schedule(
            move, ACTIVITY_FOLLOWUP, user,
            self.env._("Collect overdue invoice %(invoice)s", invoice=move.name),
            self.env._("%(partner)s has not paid %(invoice)s, %(days)s days overdue, after the "
                       "reminder email: call the customer and agree on a payment date.",
                       partner=move.partner_id.display_name, invoice=move.name,
                       days=self.days_overdue),
            today,
        )
        self._log(Markup("<p>%s</p>") % self.env._(
            "Stage 2: follow-up activity assigned to %(user)s.", user=user.name))

    def _stage_3(self, move, today, params):
        user = self._escalation_user(params)
        self._schedule(
            move, ACTIVITY_ESCALATION, user,
            self.env._("Escalation: %(invoice)s unpaid", invoice=move.name),
            self.env._("%(partner)s still owes %(amount)s on %(invoice)s, %(days)s days overdue, "
                       "after a reminder and a finance follow-up. Decide on the next step "
                       "(hold deliveries, payment plan, collection agency).",
                       partner=move.partner_id.display_name, invoice=move.name,
                       amount=move.amount_residual, days=self.days_overdue),
            today,
        )
        self.escalation_date = today
        self.env["saas.workflow.event"].sudo().emit(
            "dunning.escalated",
            record=move,
            payload=self._event_payload(move, stage=dn.STAGE_ESCALATED, escalated_to=user.id),
            idempotency_key=f"dunning.escalated:{self.id}",
        )
        self._log(Markup("<p>%s</p>") % self.env._(
            "Stage 3: escalated to %(user)s.", user=user.name))

    # ------------------------------------------------------------------ events
    @api.model
    def _settle_invoices(self, move_ids):
        """Close the running runs of ``move_ids`` whose invoices are settled now."""
        Move = self.env.get(MOVE_MODEL)
        if Move is None:
            return self.browse()
        runs = self.sudo().search([
            ("res_model", "=", MOVE_MODEL), ("res_id", "in", list(move_ids)),
            ("state", "=", "running"),
        ])
        today = fields.Date.context_today(self)
        closed = self.browse()
        for run in runs:
            move = run._invoice()
            if move is not None and dn.is_settled(move.payment_state):
                run._settle(move, today)
                closed |= run
        return closed

    # ----------------------------------------------------------------- buttons
    def action_open_invoice(self):
        self.ensure_one()
        return record_form(self.res_model, self.res_id)

    def action_stop(self):
        self.check_access("write")
        today = fields.Date.context_today(self)
        self.filtered(lambda r: r.state == "running").sudo()._close(
            "stopped", self.env._("stopped by %(user)s", user=self.env.user.name), today
        )
        return True


class SaasWorkflowSubscriptionDunning(models.Model):
    _inherit = "saas.workflow.subscription"  # pylint: disable=consider-merging-classes-inherited

    handler_type = fields.Selection(
        selection_add=[("dunning_settle", "Close the dunning runs of settled invoices")],
        ondelete={"dunning_settle": "cascade"},
    )

    def _handle_dunning_settle(self, event, delivery):
        if not self.env["saas.workflow.template"]._active_by_code(CODE):
            return None
        if event.res_model != MOVE_MODEL or not event.res_id:
            return None
        self.env["saas.dunning.run"].sudo()._settle_invoices([event.res_id])
        return None


class SaasWorkflowTemplateDunning(models.Model):
    _inherit = "saas.workflow.template"  # pylint: disable=consider-merging-classes-inherited

    def _template_activate_dunning(self, workflow, params):
        Run = self.env["saas.dunning.run"]
        Run._delays(params)
        threshold = params.get("credit_note_threshold") or 0.0
        if threshold < 0:
            raise UserError(self.env._("The credit note threshold cannot be negative."))
        model = self.env["ir.model"]._get(MOVE_MODEL)
        # The email is the company's to adapt: created once, never overwritten on re-activation.
        if self._template_record("reminder_mail") is None:
            self._template_upsert("reminder_mail", "mail.template", {
                "name": self.env._("Dunning: payment reminder"),
                "model_id": model.id,
                "subject": REMINDER_SUBJECT,
                "body_html": REMINDER_BODY,
                "partner_to": "{{ object.partner_id.id }}",
                "email_from": "{{ (object.invoice_user_id.email_formatted "
                              "or object.company_id.email_formatted or user.email_formatted) }}",
                "lang": "{{ object.partner_id.lang }}",
                "auto_delete": False,
                "description": self.env._("Sent by the Collections / dunning template at stage 1."),
            })
        else:
            self._template_upsert("reminder_mail", "mail.template", {})
        self._template_event_source(
            "payment_source", workflow, MOVE_MODEL, "dunning.invoice_settled", "on_create_or_write",
            name=self.env._("Dunning: customer invoice settled"),
            filter_pre_domain=repr([("payment_state", "not in", SETTLED)]),
            filter_domain=repr([("move_type", "=", "out_invoice"), ("payment_state", "in", SETTLED)]),
            trigger_field_names=("payment_state",),
            payload_fields=("name", "partner_id", "payment_state", "amount_residual", "currency_id"),
        )
        self._template_subscription(
            "settle_subscription", workflow, self.env._("Dunning: stop on payment"),
            ["dunning.invoice_settled"], "dunning_settle",
        )
        self._template_cron(
            "advance_cron", workflow, self.env._("Dunning: advance reminder stages"),
            "saas.dunning.run", "_cron_dunning_advance", interval_number=1, interval_type="days",
        )
        self._dunning_credit_note_policy(workflow, params)
        types = self.env["saas.workflow.event.type"].sudo().search(
            [("code", "in", ["dunning.invoice_settled", "dunning.escalated", "dunning.closed"])]
        )
        workflow.write({
            "consumed_type_ids": [(6, 0, types.filtered(
                lambda t: t.code == "dunning.invoice_settled").ids)],
            "emitted_type_ids": [(6, 0, types.filtered(
                lambda t: t.code != "dunning.invoice_settled").ids)],
        })

    def _dunning_credit_note_policy(self, workflow, params):
        approver = params.get("finance_user") or workflow.owner_id
        threshold = params.get("credit_note_threshold") or 0.0
        company = workflow.company_id or self.env.company
        values = {
            "name": self.env._("Dunning: credit notes above %(amount)s",
                               amount=format_amount(self.env, threshold, company.currency_id)),
            "sequence": 5,
            "model_id": self.env["ir.model"]._get_id(MOVE_MODEL),
            "method_name": "action_post",
            "filter_domain": repr([("move_type", "=", "out_refund")]),
            "amount_field_id": self.env["ir.model.fields"]._get(MOVE_MODEL, "amount_total").id,
            "currency_id": company.currency_id.id,
            "amount_threshold": threshold,
            "company_id": False,
            "owner_id": workflow.owner_id.id,
            "description": self.env._(
                "Created by the Collections / dunning template: a customer credit note above "
                "the threshold is posted only once finance approves it."),
        }
        step = {
            "name": self.env._("Finance"),
            "approver_type": "users",
            "user_ids": [(6, 0, approver.ids)],
            "timeout_hours": 48,
            "escalation_action": "notify",
        }
        policy = self._template_record("credit_note_policy")
        if policy is None:
            values["step_ids"] = [(0, 0, step)]
        policy = self._template_upsert("credit_note_policy", "saas.approval.policy", values)
        if policy.step_ids and "step_ids" not in values:
            policy.step_ids.sorted("sequence")[:1].write(step)
        return policy


# customer, days overdue today, amount, paid N days ago (mid-sequence) or None
DEMO_INVOICES = [
    ("quantix", 5, 4000.0, None),
    ("brightline", 14, 4000.0, None),
    ("fjord", 26, 5200.0, None),
    ("harbor_pine", 15, 1450.0, 2),
]


class SaasWorkflowDemoDunning(models.AbstractModel):
    _inherit = "saas.workflow.demo"  # pylint: disable=consider-merging-classes-inherited

    @api.model
    def _load_dunning_story(self):
        """Collections at Orbitly: overdue invoices at every stage, one paid mid-sequence,
        a goodwill credit note waiting for finance."""
        if MOVE_MODEL not in self.env or self._demo_done("dunning"):
            return True
        template = self.env["saas.workflow.template"]._by_code(CODE)
        finance = self._demo_ref("saas_workflow_approvals.demo_user_finance")
        coo = self.env.ref("base.user_admin")
        if not template or not finance:
            return True
        self._demo_group(finance, "account.group_account_manager")
        for param in template.param_ids:
            if param.key == "finance_user":
                param.value_user_id = finance
            elif param.key == "escalation_user":
                param.value_user_id = coo
        template._activate(owner=finance, exception_user=finance)
        Move = self.env[MOVE_MODEL].with_context(mail_create_nolog=True, tracking_disable=True)
        today = fields.Date.context_today(self)
        oldest = today
        to_pay = []
        for key, overdue, amount, paid_ago in DEMO_INVOICES:
            customer = self._demo_customer(key)
            if not customer:
                continue
            due = today - timedelta(days=overdue)
            oldest = min(oldest, due)
            invoice = Move.create({
                "move_type": "out_invoice",
                "partner_id": customer.id,
                "invoice_date": due - timedelta(days=30),
                "invoice_date_due": due,
                "invoice_payment_term_id": False,
                "invoice_line_ids": [(0, 0, {
                    "name": "Orbitly subscription, monthly", "quantity": 1, "price_unit": amount,
                })],
            })
            invoice.action_post()
            if paid_ago is not None:
                to_pay.append((invoice, today - timedelta(days=paid_ago)))
        Run = self.env["saas.dunning.run"].sudo()
        # replay the daily passes of the past weeks, paying on the day the customer paid
        day = oldest
        while day <= today:
            for invoice, paid_on in to_pay:
                if paid_on == day:
                    self._demo_pay(invoice, day)
            Run._dunning_pass(template, day)
            day += timedelta(days=1)
        harbor = self._demo_customer("harbor_pine")
        if harbor:
            refund = Move.create({
                "move_type": "out_refund",
                "partner_id": harbor.id,
                "invoice_date": today,
                "ref": "Goodwill credit: store roll-out delayed by two weeks",
                "invoice_line_ids": [(0, 0, {
                    "name": "Goodwill credit (two weeks of Team plan)", "quantity": 1,
                    "price_unit": 725.0,
                })],
            })
            self._demo_guarded(refund, "action_post", coo)
        self._demo_mark("dunning")
        return True
