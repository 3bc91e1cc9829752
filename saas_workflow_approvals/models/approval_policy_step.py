from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..lib import escalation, planning
from ..lib import quorum as q

APPROVER_TYPES = [
    ("users", "Named users"),
    ("group", "Members of a group"),
    ("record_field", "User field on the record"),
    ("requester_field", "User field on the requester"),
    ("requester_manager", "Requester's manager"),
    ("department_manager", "Requester's department manager"),
]

# Field paths, evaluated on the requester (res.users), used by the presets.
# They need the hr module; without it the step resolves to nobody and the
# request goes to the exception queue.
PRESET_PATHS = {
    "requester_manager": "employee_id.parent_id.user_id",
    "department_manager": "employee_id.department_id.manager_id.user_id",
}


class SaasApprovalPolicyStep(models.Model):
    _name = "saas.approval.policy.step"
    _description = "Approval policy step"
    _order = "sequence, id"

    policy_id = fields.Many2one("saas.approval.policy", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="policy_id.company_id", store=True)
    model_name = fields.Char(related="policy_id.model_name")
    currency_id = fields.Many2one(related="policy_id.currency_id")
    sequence = fields.Integer(default=10)
    name = fields.Char(required=True, translate=True)
    kind = fields.Selection(
        [(planning.MANDATORY, "Mandatory (blocks)"), (planning.OVERSIGHT, "Oversight (informs)")],
        default=planning.MANDATORY,
        required=True,
        help="Oversight steps are informed and collect a review after the fact; "
        "they never block the action.",
    )
    approver_type = fields.Selection(APPROVER_TYPES, default="users", required=True)
    user_ids = fields.Many2many("res.users", string="Users", domain=[("share", "=", False)])
    group_id = fields.Many2one("res.groups")
    field_path = fields.Char(
        help="Dotted path to a user, e.g. user_id or user_id.employee_id.parent_id.user_id. "
        "Paths ending on employees or partners use their linked users.",
    )
    quorum = fields.Selection(
        [(q.ANY, "Any one"), (q.ALL, "All"), (q.N_OF_M, "N of M")],
        default=q.ANY,
        required=True,
    )
    min_approvals = fields.Integer(string="N", default=1)
    rejection_rule = fields.Selection(
        [
            (q.VETO, "One rejection rejects"),
            (q.UNREACHABLE, "Reject when the quorum becomes unreachable"),
        ],
        default=q.VETO,
        required=True,
    )
    min_amount = fields.Monetary(
        string="Only above amount",
        currency_field="currency_id",
        help="The step only applies when the record amount (in the policy currency) is "
        "above this value. 0 = always.",
    )
    only_if_anomaly = fields.Boolean(
        string="Only when an anomaly is flagged",
        help="The step only applies when the record has an open anomaly flag "
        "(raised by the SaaS Workflow AI anomaly rules; without that addon the step never applies).",
    )
    timeout_hours = fields.Float(string="Timeout (hours)")
    escalation_action = fields.Selection(
        [
            (escalation.NONE, "None"),
            (escalation.REASSIGN, "Reassign to escalation approver"),
            (escalation.NOTIFY, "Notify a manager"),
            (escalation.AUTO_REJECT, "Reject automatically"),
        ],
        default=escalation.NONE,
        required=True,
    )
    escalation_user_id = fields.Many2one(
        "res.users",
        string="Escalation approver",
        domain=[("share", "=", False)],
        help="Receives the step on reassignment, or the notification. For notifications "
        "without an escalation approver the pending approvers' managers are notified.",
    )
    reminder_hours = fields.Float(
        string="Remind every (hours)", help="Reminder interval while the step is pending."
    )

    _sql_constraints = [
        ("timeout_positive", "CHECK(timeout_hours >= 0)", "The timeout cannot be negative."),
        ("reminder_positive", "CHECK(reminder_hours >= 0)", "The reminder interval cannot be negative."),
        ("min_approvals_positive", "CHECK(min_approvals >= 1)", "N must be at least 1."),
    ]

    @api.constrains("approver_type", "user_ids", "group_id", "field_path")
    def _check_approver_source(self):
        for step in self:
            if step.approver_type == "users" and not step.user_ids:
                raise ValidationError(self.env._("Step %s: choose at least one user.", step.name))
            if step.approver_type == "group" and not step.group_id:
                raise ValidationError(self.env._("Step %s: choose a group.", step.name))
            if step.approver_type in ("record_field", "requester_field"):
                if not step.field_path:
                    raise ValidationError(self.env._("Step %s: enter a field path.", step.name))
                base = step.policy_id.model_name if step.approver_type == "record_field" else "res.users"
                error = step._check_path(base, step.field_path)
                if error:
                    raise ValidationError(error)

    @api.constrains("escalation_action", "escalation_user_id", "timeout_hours")
    def _check_escalation(self):
        for step in self:
            if step.escalation_action != escalation.NONE and not step.timeout_hours:
                raise ValidationError(
                    self.env._("Step %s: escalation needs a timeout.", step.name)
                )
            if step.escalation_action == escalation.REASSIGN and not step.escalation_user_id:
                raise ValidationError(
                    self.env._("Step %s: reassignment needs an escalation approver.", step.name)
                )

    def _check_path(self, model_name, path):
        if model_name not in self.env:
            return False
        model = self.env[model_name]
        for part in path.split("."):
            fld = model._fields.get(part)
            if fld is None or not fld.relational:
                return self.env._(
                    "Invalid field path %(path)s: %(part)s is not a relational field of %(model)s.",
                    path=path,
                    part=part,
                    model=model._name,
                )
            model = self.env[fld.comodel_name]
        if model._name not in ("res.users", "res.partner") and "user_id" not in model._fields:
            return self.env._("The path %s does not lead to users.", path)
        return False

    # ---------------------------------------------------------------- resolution
    @api.model
    def _users_from(self, value):
        """Map the end of a field path (users, partners, employees...) to users."""
        Users = self.env["res.users"].sudo()
        if not value:
            return Users
        if value._name == "res.users":
            users = value
        elif value._name == "res.partner":
            users = value.with_context(active_test=False).user_ids
        elif "user_id" in value._fields and value._fields["user_id"].comodel_name == "res.users":
            users = value.user_id
        else:
            return Users
        return users.sudo().filtered(lambda u: u.active and not u.share)

    def _follow_path(self, start, path):
        value = start.sudo()
        for part in path.split("."):
            if part not in value._fields:
                return None
            value = value.mapped(part)
        return value

    def _resolve_approvers(self, record, requester):
        """Return ``(users, error)`` for this step on ``record``.

        ``error`` is a human-readable reason when the configuration itself is
        broken (unknown path); an empty result without error means the source
        currently yields nobody (empty group, missing manager).
        """
        self.ensure_one()
        Users = self.env["res.users"].sudo()
        kind = self.approver_type
        if kind == "users":
            return self.user_ids.sudo().filtered(lambda u: u.active and not u.share), None
        if kind == "group":
            return self.group_id.sudo().users.filtered(lambda u: u.active and not u.share), None
        if kind == "record_field":
            start, path = record, self.field_path or ""
        else:
            start = requester
            path = PRESET_PATHS.get(kind) or self.field_path or ""
        value = self._follow_path(start, path) if path else None
        if value is None:
            return Users, self.env._(
                "The field path %(path)s cannot be followed on %(model)s.",
                path=path,
                model=start._name,
            )
        return self._users_from(value), None

    def _snapshot(self):
        self.ensure_one()
        return {
            "id": self.id,
            "sequence": self.sequence,
            "name": self.name,
            "kind": self.kind,
            "approver_type": self.approver_type,
            "user_ids": self.user_ids.ids,
            "group": self.group_id.get_external_id().get(self.group_id.id) if self.group_id else None,
            "field_path": self.field_path or None,
            "quorum": self.quorum,
            "min_approvals": self.min_approvals,
            "rejection_rule": self.rejection_rule,
            "min_amount": self.min_amount,
            "only_if_anomaly": self.only_if_anomaly,
            "timeout_hours": self.timeout_hours,
            "escalation_action": self.escalation_action,
            "escalation_user_id": self.escalation_user_id.id or None,
            "reminder_hours": self.reminder_hours,
        }
