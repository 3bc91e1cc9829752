from odoo import api, fields, models, tools
from odoo.exceptions import AccessError, ValidationError


class IrActionsServer(models.Model):
    """New server action type "Emit business event", usable in any automation rule."""

    _inherit = "ir.actions.server"

    state = fields.Selection(
        selection_add=[("saas_emit_event", "Emit Business Event")],
        ondelete={"saas_emit_event": "cascade"},
    )
    saas_event_type_id = fields.Many2one(
        "saas.workflow.event.type",
        string="Business Event",
        ondelete="restrict",
        domain="[('available', '=', True)]",
    )
    saas_payload_field_ids = fields.Many2many(
        "ir.model.fields",
        "ir_act_server_saas_payload_field_rel",
        "action_id",
        "field_id",
        string="Payload Fields",
        domain="[('model_id', '=', model_id), ('store', '=', True), "
        "('ttype', 'not in', ['binary', 'one2many', 'many2many', 'html'])]",
        help="Fields of the record put in the event payload (amounts as strings).",
    )
    saas_idempotent = fields.Boolean(
        string="One Event per Record",
        help="Emit this event at most once per record, whatever the number of matching changes.",
    )

    @api.constrains("state", "saas_event_type_id")
    def _check_saas_event_type(self):
        for action in self:
            if action.state == "saas_emit_event" and not action.saas_event_type_id:
                raise ValidationError(
                    self.env._("Choose the business event that action %(name)s emits.",
                               name=action.name)
                )

    @api.depends("saas_event_type_id")
    def _compute_name(self):
        res = super()._compute_name()
        for action in self.filtered(
            lambda a: a.base_automation_id and a.state == "saas_emit_event" and a.saas_event_type_id
        ):
            action.name = self.env._("Emit %(code)s", code=action.saas_event_type_id.code)
        return res

    @api.model
    @tools.ormcache("action_id")
    def _saas_emit_spec(self, action_id):
        """What an "Emit Business Event" action emits, cached: ``(model, code, idempotent,
        ((field, type), ...), group_ids)``. Writing server actions or event types clears
        the cache."""
        action = self.sudo().browse(action_id)
        return (
            action.model_id.model,
            action.saas_event_type_id.code,
            bool(action.saas_idempotent),
            tuple((field.name, field.ttype) for field in action.saas_payload_field_ids),
            frozenset(action.groups_id.ids),
        )

    def _saas_run_emit(self):
        """Run an "Emit Business Event" action from an automation rule, as ``run()`` does,
        without reading the action again: the groups that may run it are checked, and in
        a superuser environment (the one automation rules run their actions in) the
        access checks of ``run()`` always pass. Other environments go through ``run()``."""
        self.ensure_one()
        if not self.env.su:
            return self.run()
        group_ids = self._saas_emit_spec(self.id)[4]
        if group_ids and not group_ids.intersection(self.env.user.groups_id.ids):
            raise AccessError(self.env._("You don't have enough access rights to run this action."))
        return self._run_action_saas_emit_event()

    def _saas_event_payload(self, record, payload_fields=None):
        if payload_fields is None:
            payload_fields = self._saas_emit_spec(self.id)[3]
        payload_fields = [(name, ttype) for name, ttype in payload_fields if name in record._fields]
        payload = {"id": record.id, "display_name": record.display_name}
        if payload_fields:
            values = record.read([name for name, _ttype in payload_fields], load=None)[0]
            for name, ttype in payload_fields:
                value = values.get(name)
                if ttype == "monetary" and value is not False:
                    currency_field = record._fields[name].get_currency_field(record)
                    currency = record[currency_field] if currency_field else None
                    if currency:
                        value = f"{currency.round(value):.{currency.decimal_places}f}"
                payload[name] = value if value is not False or ttype == "boolean" else None
        return payload

    def _run_action_saas_emit_event(self, eval_context=None):
        model, code, idempotent, payload_fields, _groups = self._saas_emit_spec(self.id)
        ids = self.env.context.get("active_ids") or [self.env.context.get("active_id")]
        records = self.env[model].browse([res_id for res_id in ids if res_id])
        Event = self.env["saas.workflow.event"]
        for record in records:
            Event.emit(
                code,
                record=record,
                payload=self._saas_event_payload(record, payload_fields),
                idempotency_key=f"act{self.id}:{record._name}:{record.id}" if idempotent else None,
            )
        return False

    # ------------------------------------------------------------------
    # Workflow managers may configure event sources, nothing more: they get
    # access to server actions only for the "Emit Business Event" type, so the
    # access cannot be turned into running arbitrary code.
    # ------------------------------------------------------------------
    def _check_saas_manager_scope(self):
        if self.env.su or self.env.user.has_group("base.group_system"):
            return
        if any(action.state != "saas_emit_event" for action in self):
            raise AccessError(
                self.env._(
                    "Only administrators may create or change server actions other than "
                    "'Emit Business Event'."
                )
            )

    @api.model_create_multi
    def create(self, vals_list):
        actions = super().create(vals_list)
        actions._check_saas_manager_scope()
        if any(action.base_automation_id for action in actions):
            self.env["base.automation"]._saas_invalidate_rules()
        return actions

    def write(self, vals):
        self._check_saas_manager_scope()
        rule_actions = any(action.base_automation_id for action in self)
        res = super().write(vals)
        self._check_saas_manager_scope()
        if rule_actions or any(action.base_automation_id for action in self):
            # What rules run and what their actions emit is cached (see base.automation).
            self.env["base.automation"]._saas_invalidate_rules()
        return res

    def unlink(self):
        self._check_saas_manager_scope()
        rule_actions = any(action.base_automation_id for action in self)
        res = super().unlink()
        if rule_actions:
            self.env["base.automation"]._saas_invalidate_rules()
        return res
