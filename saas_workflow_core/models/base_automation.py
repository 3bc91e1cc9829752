from odoo import api, fields, models
from odoo.exceptions import AccessError


class BaseAutomation(models.Model):
    """Automation rules that emit business events are the suite's event sources."""

    _name = "base.automation"
    _inherit = ["base.automation", "mail.thread"]

    # Changes to event sources are tracked in the chatter (who changed what, when).
    name = fields.Char(tracking=True)
    active = fields.Boolean(tracking=True)
    trigger = fields.Selection(tracking=True)
    filter_pre_domain = fields.Char(tracking=True)
    filter_domain = fields.Char(tracking=True)
    trg_date_id = fields.Many2one(tracking=True)
    saas_workflow_id = fields.Many2one(
        "saas.workflow", string="Workflow", index="btree_not_null", tracking=True,
        help="The registered workflow this event source belongs to.",
    )
    saas_standard_type_id = fields.Many2one(
        "saas.workflow.event.type", readonly=True, index="btree_not_null",
        string="Standard Event",
        help="Set on the sources created from the standard catalog.",
    )
    saas_event_type_ids = fields.Many2many(
        "saas.workflow.event.type",
        compute="_compute_saas_event_type_ids",
        search="_search_saas_event_type_ids",
        string="Emitted Events",
    )
    saas_is_event_source = fields.Boolean(
        compute="_compute_saas_event_type_ids", search="_search_saas_is_event_source"
    )

    @api.depends("action_server_ids.state", "action_server_ids.saas_event_type_id")
    def _compute_saas_event_type_ids(self):
        for rule in self:
            types = rule.action_server_ids.filtered(
                lambda a: a.state == "saas_emit_event"
            ).saas_event_type_id
            rule.saas_event_type_ids = types
            rule.saas_is_event_source = bool(types)

    def _search_saas_event_type_ids(self, operator, value):
        return [("action_server_ids.saas_event_type_id", operator, value)]

    def _search_saas_is_event_source(self, operator, value):
        domain = [("action_server_ids.state", "=", "saas_emit_event")]
        positive = (operator == "=") == bool(value)
        return domain if positive else ["!", *domain]

    def _check_saas_manager_scope(self):
        """Non-administrators may only manage rules whose actions all emit events."""
        if self.env.su or self.env.user.has_group("base.group_system"):
            return
        for rule in self:
            if rule.trigger == "on_webhook" or any(
                action.state != "saas_emit_event" for action in rule.action_server_ids
            ):
                raise AccessError(
                    self.env._(
                        "Only administrators may manage automation rules that do more than "
                        "emit business events."
                    )
                )

    @api.model_create_multi
    def create(self, vals_list):
        rules = super().create(vals_list)
        rules._check_saas_manager_scope()
        return rules

    def write(self, vals):
        self._check_saas_manager_scope()
        res = super().write(vals)
        self._check_saas_manager_scope()
        return res

    def unlink(self):
        self._check_saas_manager_scope()
        return super().unlink()

    def _update_cron(self):
        # Workflow managers configure event sources; the scheduler of time-based
        # rules that follows is maintained on their behalf.
        return super(BaseAutomation, self.sudo())._update_cron()
