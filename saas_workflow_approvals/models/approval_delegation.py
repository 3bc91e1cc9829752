from odoo import api, fields, models, tools
from odoo.exceptions import ValidationError

from ..lib import delegation as dlg
from .common import internal


class SaasApprovalDelegation(models.Model):
    _name = "saas.approval.delegation"
    _description = "Approval delegation"
    _inherit = ["mail.thread"]
    _order = "date_from desc, id desc"

    user_id = fields.Many2one(
        "res.users",
        string="Approver",
        required=True,
        default=lambda self: self.env.user,
        domain=[("share", "=", False)],
        index=True,
        tracking=True,
    )
    delegate_id = fields.Many2one(
        "res.users", required=True, domain=[("share", "=", False)],
        index=True, tracking=True,
    )
    date_from = fields.Date(required=True, default=fields.Date.context_today, tracking=True)
    date_to = fields.Date(required=True, tracking=True)
    policy_ids = fields.Many2many(
        "saas.approval.policy",
        string="Only for policies",
        help="Leave empty to delegate every approval.",
    )
    reason = fields.Char()
    active = fields.Boolean(default=True)
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company)
    is_current = fields.Boolean(compute="_compute_is_current", search="_search_is_current")

    _sql_constraints = [
        ("dates_ordered", "CHECK(date_from <= date_to)", "The delegation must end after it starts."),
        ("not_self", "CHECK(user_id != delegate_id)", "You cannot delegate to yourself."),
    ]

    @api.depends("date_from", "date_to", "active")
    def _compute_is_current(self):
        today = fields.Date.context_today(self)
        for rec in self:
            rec.is_current = rec.active and rec.date_from <= today <= rec.date_to

    def _search_is_current(self, operator, value):
        today = fields.Date.context_today(self)
        domain = [("date_from", "<=", today), ("date_to", ">=", today)]
        if (operator == "=") == bool(value):
            return domain
        return ["|", ("date_from", ">", today), ("date_to", "<", today)]

    @api.constrains("user_id", "delegate_id")
    def _check_delegate_internal(self):
        for rec in self:
            if rec.delegate_id.share:
                raise ValidationError(self.env._("The delegate must be an internal user."))

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        self.env.registry.clear_cache()  # _load
        records._sync_activities()
        return records

    def write(self, vals):
        users = self.mapped("user_id")
        res = super().write(vals)
        self.env.registry.clear_cache()  # _load
        self.with_context(saas_extra_users=users.ids)._sync_activities()
        return res

    def unlink(self):
        users = self.mapped("user_id")
        res = super().unlink()
        self.env.registry.clear_cache()  # _load
        self.env["saas.approval.delegation"].with_context(
            saas_extra_users=users.ids
        )._sync_activities()
        return res

    # ----------------------------------------------------------------- engine
    @api.model
    def _load(self, day=None):
        """Delegations in force on ``day`` as lib objects.

        Read once per day and worker: every guarded action and escalation batch
        asks, delegations change seldom (any change clears the cache).
        """
        return self._load_cached(day or fields.Date.context_today(self))

    @api.model
    @tools.ormcache("day")
    def _load_cached(self, day):
        domain = [("date_from", "<=", day), ("date_to", ">=", day)]
        rows = self.sudo().search_read(
            domain, ["user_id", "delegate_id", "date_from", "date_to", "policy_ids"]
        )
        return tuple(
            dlg.Delegation(
                user_id=r["user_id"][0],
                delegate_id=r["delegate_id"][0],
                date_from=r["date_from"],
                date_to=r["date_to"],
                policy_ids=frozenset(r["policy_ids"]),
            )
            for r in rows
        )

    @api.model
    def _active_map(self, policy_id=None, day=None, delegations=None):
        day = day or fields.Date.context_today(self)
        if delegations is None:
            delegations = self._load(day)
        return dlg.active_map(delegations, day, policy_id)

    @api.model
    def _assignee(self, user_id, policy_id=None, mapping=None):
        if mapping is None:
            mapping = self._active_map(policy_id)
        return dlg.resolve(user_id, mapping)

    @api.model
    def _delegators_of(self, actor_id, policy_id=None):
        return dlg.delegators_of(actor_id, self._active_map(policy_id))

    def _sync_activities(self, all_users=False):
        """Route pending approval activities to the delegate in force today.

        Called when delegations change and by the daily cron (start and end of
        ranges): activities of an approver go to their active delegate, and
        back to the approver once the delegation ends.
        """
        Activity = internal(self.env["mail.activity"])
        domain = [("saas_approval_step_id.state", "=", "pending")]
        if not all_users:
            users = set(self.mapped("user_id").ids) | set(self.env.context.get("saas_extra_users", []))
            if not users:
                return 0
            domain.append(("saas_approval_approver_id", "in", list(users)))
        activities = Activity.search(domain)
        if not activities:
            return 0
        delegations = self._load()
        day = fields.Date.context_today(self)
        moved = 0
        maps = {}
        for activity in activities:
            policy_id = activity.saas_approval_step_id.request_id.policy_id.id
            if policy_id not in maps:
                maps[policy_id] = dlg.active_map(delegations, day, policy_id)
            target = dlg.resolve(activity.saas_approval_approver_id.id, maps[policy_id])
            if activity.user_id.id != target:
                activity.write({"user_id": target})
                moved += 1
        return moved

    @api.model
    def _cron_sync_activities(self):
        return self._sync_activities(all_users=True)
