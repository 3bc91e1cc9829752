from datetime import timedelta

from odoo import api, fields, models
from odoo.addons.saas_workflow_core.lib.actions import record_form
from odoo.exceptions import ValidationError
from odoo.tools.safe_eval import safe_eval

from .ai_profile import _field_text

USER_TYPES = ("many2one", "many2many")


def _domain(text):
    return safe_eval(text) if text else []


class SaasSlaPolicy(models.Model):
    _name = "saas.sla.policy"
    _description = "SLA Policy"
    _order = "sequence, id"
    _check_company_auto = True

    name = fields.Char(required=True)
    sequence = fields.Integer(default=10, help="The first matching policy applies.")
    active = fields.Boolean(default=True)
    company_id = fields.Many2one("res.company", required=True, default=lambda s: s.env.company)
    model_id = fields.Many2one(
        "ir.model", required=True, ondelete="cascade", domain="[('transient', '=', False)]"
    )
    model_name = fields.Char(
        related="model_id.model", string="Model Name", store=True, index=True
    )
    domain = fields.Char(default="[]", help="Tickets covered: priority, customer tier, category...")
    calendar_id = fields.Many2one(
        "resource.calendar",
        string="Working Hours",
        required=True,
        default=lambda s: s.env.company.resource_calendar_id,
        check_company=True,
    )
    response_hours = fields.Float(help="Working hours to the first response. 0: no target.")
    resolution_hours = fields.Float(required=True, help="Working hours to the resolution.")
    warning_ratio = fields.Float(
        default=0.8, help="Share of the resolution time after which a warning is emitted."
    )
    responded_domain = fields.Char(
        string="Responded When", help="The first response is done when the record matches."
    )
    resolved_domain = fields.Char(
        string="Resolved When",
        required=True,
        default="[]",
        help="The ticket is resolved when the record matches, e.g. a folded stage.",
    )
    user_field_id = fields.Many2one(
        "ir.model.fields",
        string="Assignee Field",
        ondelete="set null",
        domain="[('model_id', '=', model_id), ('relation', '=', 'res.users'), "
        "('ttype', 'in', ['many2one', 'many2many'])]",
    )
    team_field_id = fields.Many2one(
        "ir.model.fields",
        ondelete="set null",
        domain="[('model_id', '=', model_id)]",
    )
    priority_field_id = fields.Many2one(
        "ir.model.fields",
        ondelete="set null",
        domain="[('model_id', '=', model_id)]",
    )
    tier_field_id = fields.Many2one(
        "ir.model.fields",
        string="Customer Tier Field",
        ondelete="set null",
        domain="[('model_id', '=', model_id)]",
        help="e.g. partner_id.category_id is not possible: pick a field of the ticket.",
    )
    escalate_user_id = fields.Many2one(
        "res.users", string="Reassign To on Breach", domain="[('share', '=', False)]"
    )
    team_lead_id = fields.Many2one(
        "res.users",
        domain="[('share', '=', False)]",
        help="Gets an activity when a ticket breaches its SLA.",
    )
    automation_id = fields.Many2one("base.automation", readonly=True, copy=False)

    @api.constrains("domain", "responded_domain", "resolved_domain", "model_id")
    def _check_domains(self):
        for policy in self:
            for text in (policy.domain, policy.responded_domain, policy.resolved_domain):
                try:
                    self.env[policy.model_name].search_count(_domain(text), limit=1)
                except Exception as exc:
                    raise ValidationError(
                        self.env._(
                            "Invalid domain on SLA policy %(name)s: %(error)s",
                            name=policy.name,
                            error=exc,
                        )
                    ) from exc

    @api.constrains("response_hours", "resolution_hours", "warning_ratio")
    def _check_hours(self):
        for policy in self:
            if policy.resolution_hours <= 0 or policy.response_hours < 0:
                raise ValidationError(self.env._("SLA times must be positive."))
            if not 0 < policy.warning_ratio < 1:
                raise ValidationError(self.env._("The warning ratio is between 0 and 1."))

    @api.model_create_multi
    def create(self, vals_list):
        policies = super().create(vals_list)
        policies._sync_automation()
        return policies

    def write(self, vals):
        res = super().write(vals)
        if {"model_id", "active"} & set(vals):
            self._sync_automation()
        return res

    def unlink(self):
        automations = self.mapped("automation_id")
        res = super().unlink()
        automations.sudo().unlink()
        return res

    def _sync_automation(self):
        """One creation trigger per policy: deadlines are set when a ticket is created."""
        Automation = self.env["base.automation"].sudo().with_context(active_test=False)
        for policy in self:
            vals = {
                "name": self.env._("SLA: %(name)s", name=policy.name),
                "model_id": policy.model_id.id,
                "trigger": "on_create",
                "active": policy.active,
            }
            if policy.automation_id:
                policy.automation_id.sudo().write(vals)
                policy.automation_id.action_server_ids.sudo().write(
                    {"model_id": policy.model_id.id}
                )
            else:
                vals["action_server_ids"] = [
                    (
                        0,
                        0,
                        {
                            "name": self.env._("Start SLA"),
                            "model_id": policy.model_id.id,
                            "state": "code",
                            "code": "env['saas.sla.status']._sync_records(records)",
                        },
                    )
                ]
                policy.automation_id = Automation.create(vals)

    def _deadline(self, start, hours):
        self.ensure_one()
        if not hours:
            return False
        deadline = self.calendar_id.plan_hours(hours, start, compute_leaves=True)
        return deadline.replace(tzinfo=None) if deadline else start + timedelta(hours=hours)


class SaasRoutingRule(models.Model):
    _name = "saas.routing.rule"
    _description = "Ticket Routing Rule"
    _order = "sequence, id"
    _check_company_auto = True

    name = fields.Char(required=True)
    sequence = fields.Integer(default=10, help="The first matching rule applies.")
    active = fields.Boolean(default=True)
    company_id = fields.Many2one("res.company", required=True, default=lambda s: s.env.company)
    model_id = fields.Many2one(
        "ir.model", required=True, ondelete="cascade", domain="[('transient', '=', False)]"
    )
    model_name = fields.Char(
        related="model_id.model", string="Model Name", store=True, index=True
    )
    domain = fields.Char(
        default="[]", help="Condition on the classified ticket, e.g. its category tag."
    )
    user_field_id = fields.Many2one(
        "ir.model.fields",
        string="Assignee Field",
        ondelete="cascade",
        domain="[('model_id', '=', model_id), ('relation', '=', 'res.users'), "
        "('ttype', 'in', ['many2one', 'many2many'])]",
    )
    user_id = fields.Many2one("res.users", string="Assign To", domain="[('share', '=', False)]")
    team_field_id = fields.Many2one(
        "ir.model.fields",
        ondelete="cascade",
        domain="[('model_id', '=', model_id), ('ttype', '=', 'many2one')]",
    )
    team_ref = fields.Reference(selection="_selection_models", string="Team")
    only_unassigned = fields.Boolean(default=True, help="Keep an existing assignee.")

    @api.model
    def _selection_models(self):
        return [
            (m.model, m.name)
            for m in self.env["ir.model"].sudo().search([("transient", "=", False)])
        ]

    @api.constrains("domain", "model_id")
    def _check_domain(self):
        for rule in self:
            try:
                self.env[rule.model_name].search_count(_domain(rule.domain), limit=1)
            except Exception as exc:
                raise ValidationError(
                    self.env._("Invalid domain on %(name)s: %(error)s", name=rule.name, error=exc)
                ) from exc

    def _values_for(self, record):
        self.ensure_one()
        vals = {}
        if self.user_field_id and self.user_id:
            fname = self.user_field_id.name
            if not (self.only_unassigned and record[fname]):
                vals[fname] = (
                    self.user_id.id
                    if self.user_field_id.ttype == "many2one"
                    else [(6, 0, self.user_id.ids)]
                )
        if self.team_field_id and self.team_ref:
            fname = self.team_field_id.name
            if not (self.only_unassigned and record[fname]):
                vals[fname] = self.team_ref.id
        return vals

    @api.model
    def _route(self, records):
        if not records:
            return
        rules = self.sudo().search([("model_name", "=", records._name)])
        for record in records:
            for rule in rules.filtered(
                lambda r, rec=record: (
                    not r.company_id
                    or "company_id" not in rec._fields
                    or not rec.company_id
                    or r.company_id == rec.company_id
                )
            ):
                if record.filtered_domain(_domain(rule.domain)):
                    vals = rule._values_for(record)
                    if vals:
                        record.with_context(saas_ai_applying=True).write(vals)
                    break


class SaasSlaStatus(models.Model):
    _name = "saas.sla.status"
    _description = "SLA Status"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "resolution_deadline, id"
    _check_company_auto = True

    name = fields.Char(compute="_compute_name")
    policy_id = fields.Many2one("saas.sla.policy", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one("res.company", index=True)
    res_model = fields.Char(required=True, index=True)
    res_id = fields.Many2oneReference(model_field="res_model", required=True, index=True)
    record_name = fields.Char()
    start_at = fields.Datetime(required=True)
    response_deadline = fields.Datetime()
    resolution_deadline = fields.Datetime(required=True)
    warning_at = fields.Datetime()
    responded_at = fields.Datetime()
    resolved_at = fields.Datetime()
    state = fields.Selection(
        [
            ("running", "Running"),
            ("warning", "At risk"),
            ("breached", "Breached"),
            ("met", "Met"),
            ("missed", "Resolved late"),
        ],
        default="running",
        required=True,
        index=True,
        tracking=True,
    )
    response_breached = fields.Boolean()
    resolution_breached = fields.Boolean()
    escalated = fields.Boolean()
    adherence = fields.Float(
        compute="_compute_adherence", store=True, aggregator="avg", string="Adherence (%)"
    )
    team = fields.Char(index=True)
    priority = fields.Char(index=True)
    customer_tier = fields.Char(index=True)
    user_id = fields.Many2one("res.users", string="Assignee")

    _sql_constraints = [
        ("record_uniq", "unique(res_model, res_id)", "A record has one SLA status."),
    ]

    @api.depends("record_name", "policy_id")
    def _compute_name(self):
        for status in self:
            status.name = "%s / %s" % (status.policy_id.name, status.record_name or status.res_id)

    @api.depends("state", "response_breached", "resolution_breached")
    def _compute_adherence(self):
        for status in self:
            status.adherence = (
                0.0
                if (
                    status.response_breached
                    or status.resolution_breached
                    or status.state in ("breached", "missed")
                )
                else 100.0
            )

    # ------------------------------------------------------------------ start
    @api.model
    def _sync_records(self, records):
        """Route ``records`` and (re)start their SLA with the first matching policy."""
        if (
            not records
            or not self.env["saas.sla.policy"]
            .sudo()
            .search_count([("model_name", "=", records._name)], limit=1)
            and not self.env["saas.routing.rule"]
            .sudo()
            .search_count([("model_name", "=", records._name)], limit=1)
        ):
            return self.browse()
        records = records.sudo()
        self.env["saas.routing.rule"]._route(records)
        policies = self.env["saas.sla.policy"].sudo().search([("model_name", "=", records._name)])
        existing = {
            s.res_id: s
            for s in self.sudo().search(
                [("res_model", "=", records._name), ("res_id", "in", records.ids)]
            )
        }
        result = self.browse()
        for record in records:
            company = record.company_id if "company_id" in record._fields else False
            policy = next(
                (
                    p
                    for p in policies
                    if (not company or p.company_id == company)
                    and record.filtered_domain(_domain(p.domain))
                ),
                None,
            )
            status = existing.get(record.id)
            if policy is None:
                continue
            vals = self._snapshot(policy, record)
            if status and status.state in ("met", "missed"):
                continue
            if status and status.policy_id == policy:
                status.write(vals)
            else:
                start = status.start_at if status else fields.Datetime.now()
                vals.update(
                    policy_id=policy.id,
                    start_at=start,
                    response_deadline=policy._deadline(start, policy.response_hours),
                    resolution_deadline=policy._deadline(start, policy.resolution_hours),
                    warning_at=policy._deadline(
                        start, policy.resolution_hours * policy.warning_ratio
                    ),
                    company_id=(company or policy.company_id).id,
                )
                if status:
                    status.write(vals)
                else:
                    vals.update(res_model=record._name, res_id=record.id)
                    status = self.sudo().create(vals)
            result |= status
        return result

    @api.model
    def _snapshot(self, policy, record):
        def text(field):
            return _field_text(record, field.name) or False if field else False

        user = False
        if policy.user_field_id:
            user = record[policy.user_field_id.name][:1].id or False
        return {
            "record_name": record.display_name,
            "team": text(policy.team_field_id),
            "priority": text(policy.priority_field_id),
            "customer_tier": text(policy.tier_field_id),
            "user_id": user,
        }

    # ------------------------------------------------------------------ cron
    @api.model
    def _cron_check(self, limit=1000):
        now = fields.Datetime.now()
        statuses = self.sudo().search(
            [("state", "in", ("running", "warning", "breached"))],
            limit=limit,
            order="resolution_deadline, id",
        )
        Event = self.env["saas.workflow.event"].sudo()
        for policy, group in statuses.grouped("policy_id").items():
            if policy.model_name not in self.env:
                continue
            Model = self.env[policy.model_name].sudo().with_context(active_test=False)
            alive = set(Model.browse(group.mapped("res_id")).exists().ids)
            resolved = set(
                Model.search([("id", "in", list(alive)), *_domain(policy.resolved_domain)]).ids
            )
            responded = (
                set(
                    Model.search([("id", "in", list(alive)), *_domain(policy.responded_domain)]).ids
                )
                if policy.responded_domain
                else set()
            )
            for status in group:
                if status.res_id not in alive:
                    status.state = "missed" if status.resolution_breached else "met"
                    continue
                if status.res_id in responded and not status.responded_at:
                    status.write(
                        {
                            "responded_at": now,
                            "response_breached": bool(status.response_deadline)
                            and now > status.response_deadline,
                        }
                    )
                if status.res_id in resolved:
                    if not status.responded_at:
                        status.responded_at = now
                    late = now > status.resolution_deadline
                    status.write(
                        {
                            "resolved_at": now,
                            "resolution_breached": status.resolution_breached or late,
                            "state": "missed" if (late or status.resolution_breached) else "met",
                        }
                    )
                    continue
                kinds = []
                if (
                    status.response_deadline
                    and not status.responded_at
                    and now > status.response_deadline
                    and not status.response_breached
                ):
                    status.response_breached = True
                    kinds.append("response")
                if now > status.resolution_deadline and not status.resolution_breached:
                    status.resolution_breached = True
                    kinds.append("resolution")
                if kinds:
                    status.state = "breached"
                    record = Model.browse(status.res_id)
                    for kind in kinds:
                        Event.emit(
                            "ticket.sla_breached",
                            record=record,
                            payload=status._event_payload(kind),
                            idempotency_key="sla:%s:breached:%s" % (status.id, kind),
                        )
                    status._escalate(record)
                elif status.state == "running" and status.warning_at and now >= status.warning_at:
                    status.state = "warning"
                    Event.emit(
                        "ticket.sla_warning",
                        record=Model.browse(status.res_id),
                        payload=status._event_payload("resolution"),
                        idempotency_key="sla:%s:warning" % status.id,
                    )
        return len(statuses)

    def _event_payload(self, kind):
        self.ensure_one()
        return {
            "sla_status_id": self.id,
            "policy_id": self.policy_id.id,
            "policy": self.policy_id.name,
            "kind": kind,
            "deadline": fields.Datetime.to_string(
                self.response_deadline if kind == "response" else self.resolution_deadline
            ),
            "team": self.team or None,
            "priority": self.priority or None,
            "customer_tier": self.customer_tier or None,
        }

    def _escalate(self, record):
        """Reassign the ticket and give its team lead an activity."""
        self.ensure_one()
        policy = self.policy_id
        if self.escalated:
            return
        if policy.escalate_user_id and policy.user_field_id:
            fname = policy.user_field_id.name
            value = (
                policy.escalate_user_id.id
                if policy.user_field_id.ttype == "many2one"
                else [(6, 0, policy.escalate_user_id.ids)]
            )
            record.with_context(saas_ai_applying=True).write({fname: value})
            self.user_id = policy.escalate_user_id
        lead = policy.team_lead_id
        if lead:
            target = record if hasattr(record, "activity_schedule") else self
            target.activity_schedule(
                "saas_workflow_ai.mail_activity_sla_escalation",
                summary=self.env._("SLA breached: %(name)s", name=self.record_name),
                note=self.env._(
                    "Policy %(policy)s, resolution deadline %(deadline)s.",
                    policy=policy.name,
                    deadline=self.resolution_deadline,
                ),
                user_id=lead.id,
            )
        self.escalated = True

    def action_open_record(self):
        self.ensure_one()
        return record_form(self.res_model, self.res_id)
