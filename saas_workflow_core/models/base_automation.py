from collections import namedtuple

from odoo import api, fields, models, tools
from odoo.exceptions import AccessError
from odoo.tools import safe_eval

# What an automation rule whose actions all emit business events needs at run time,
# cached per rule so that a write on a watched model does not read the rule again.
_EmitRule = namedtuple(
    "_EmitRule", "model_name filter_pre_domain filter_domain trigger_fields action_ids"
)


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
        self._saas_invalidate_rules()
        rules._check_saas_manager_scope()
        return rules

    def write(self, vals):
        self._check_saas_manager_scope()
        res = super().write(vals)
        self._saas_invalidate_rules()
        self._check_saas_manager_scope()
        return res

    def unlink(self):
        self._check_saas_manager_scope()
        res = super().unlink()
        self._saas_invalidate_rules()
        return res

    # ------------------------------------------------------------------
    # Cheaper rules. base.automation searches the rules of a model on every
    # create/write of that model and reads the rule and its actions each time it
    # runs. The rule ids per (model, triggers) are cached for every rule; rules
    # whose actions all emit business events also run from a cached description
    # of themselves. Any change to a rule or to a rule's server action clears the
    # cache, in the transaction that makes it and again after its commit.
    # ------------------------------------------------------------------
    @api.model
    @tools.ormcache("model_name", "triggers")
    def _saas_rule_ids(self, model_name, triggers):
        domain = [("model_name", "=", model_name), ("trigger", "in", list(triggers))]
        return tuple(self.with_context(active_test=True).sudo().search(domain).ids)

    @api.model
    @tools.ormcache("rule_id")
    def _saas_emit_rule(self, rule_id):
        """The cached description of rule ``rule_id``, or None unless all its actions
        emit business events."""
        rule = self.sudo().browse(rule_id)
        actions = rule.action_server_ids
        if not actions or any(action.state != "saas_emit_event" for action in actions):
            return None
        return _EmitRule(
            rule.model_name,
            rule.filter_pre_domain or False,
            rule.filter_domain or False,
            tuple(rule.trigger_field_ids.mapped("name")),
            tuple(actions.ids),
        )

    def _saas_fast_rule(self):
        if len(self) != 1 or not isinstance(self.id, int):
            return None
        return self._saas_emit_rule(self.id)

    @api.model
    def _saas_invalidate_rules(self):
        registry = self.env.registry
        registry.clear_cache()
        cr = self.env.cr
        if not cr.precommit.data.get("saas_workflow_core.rules_cleared"):
            # Another transaction may fill the cache before this one ends.
            cr.precommit.data["saas_workflow_core.rules_cleared"] = True
            cr.postcommit.add(registry.clear_cache)
            cr.postrollback.add(registry.clear_cache)

    def _get_actions(self, records, triggers):
        if "__action_done" not in self._context:
            self = self.with_context(__action_done={})
        return self.browse(self._saas_rule_ids(records._name, tuple(triggers)))

    def _get_eval_context(self, payload=None):
        rule = self._saas_fast_rule()
        if rule is None:
            return super()._get_eval_context(payload=payload)
        eval_context = {
            "datetime": safe_eval.datetime,
            "dateutil": safe_eval.dateutil,
            "time": safe_eval.time,
            "uid": self.env.uid,
            "user": self.env.user,
            "model": self.env[rule.model_name],
        }
        if payload is not None:
            eval_context["payload"] = payload
        return eval_context

    def _saas_filter(self, domain_text, records, feedback):
        if feedback:
            records = records.with_context(__action_feedback=True)
        domain = safe_eval.safe_eval(domain_text, self._get_eval_context())
        return records.sudo().filtered_domain(domain).with_env(records.env), domain

    def _filter_pre(self, records, feedback=False):
        rule = self._saas_fast_rule()
        if rule is None:
            return super()._filter_pre(records, feedback=feedback)
        if not (rule.filter_pre_domain and records):
            return records
        return self._saas_filter(rule.filter_pre_domain, records, feedback)[0]

    def _filter_post_export_domain(self, records, feedback=False):
        rule = self._saas_fast_rule()
        if rule is None:
            return super()._filter_post_export_domain(records, feedback=feedback)
        if not (rule.filter_domain and records):
            return records, None
        return self._saas_filter(rule.filter_domain, records, feedback)

    def _check_trigger_fields(self, record):
        rule = self._saas_fast_rule()
        if rule is None:
            return super()._check_trigger_fields(record)
        if not rule.trigger_fields or self._context.get("old_values") is None:
            return True
        old_vals = self._context["old_values"].get(record.id, {})
        return any(
            name in old_vals and record[name] != old_vals[name] for name in rule.trigger_fields
        )

    def _process(self, records, domain_post=None):
        rule = self._saas_fast_rule()
        if rule is None:
            return super()._process(records, domain_post=domain_post)
        # The steps of base.automation's _process, with the actions taken from the cache.
        automation_done = self._context.get("__action_done", {})
        records_done = automation_done.get(self, records.browse())
        records -= records_done
        if not records:
            return None
        if self.env.context.get("__action_feedback"):
            automation_done[self] = records_done + records
        else:
            automation_done = dict(automation_done)
            automation_done[self] = records_done + records
            self = self.with_context(__action_done=automation_done)
            records = records.with_context(__action_done=automation_done)
        records = records.filtered(self._check_trigger_fields)
        automation_done[self] = records_done + records
        if records and "date_automation_last" in records._fields:
            records.date_automation_last = fields.Datetime.now()
        actions = self.env["ir.actions.server"].sudo().browse(rule.action_ids)
        for action in actions:
            for record in records:
                try:
                    action.with_context(
                        active_model=record._name,
                        active_ids=record.ids,
                        active_id=record.id,
                        domain_post=domain_post,
                    )._saas_run_emit()
                except Exception as e:
                    self._add_postmortem(e)
                    raise
        return None

    def _update_cron(self):
        # Workflow managers configure event sources; the scheduler of time-based
        # rules that follows is maintained on their behalf.
        return super(BaseAutomation, self.sudo())._update_cron()
