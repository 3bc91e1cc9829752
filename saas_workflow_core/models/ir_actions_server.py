from odoo import api, fields, models
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

    def _saas_event_payload(self, record):
        fields_ = self.saas_payload_field_ids.filtered(lambda f: f.name in record._fields)
        payload = {"id": record.id, "display_name": record.display_name}
        if fields_:
            values = record.read([f.name for f in fields_], load=None)[0]
            for field in fields_:
                value = values.get(field.name)
                if field.ttype == "monetary" and value is not False:
                    currency_field = record._fields[field.name].get_currency_field(record)
                    currency = record[currency_field] if currency_field else None
                    if currency:
                        value = f"{currency.round(value):.{currency.decimal_places}f}"
                payload[field.name] = value if value is not False or field.ttype == "boolean" else None
        return payload

    def _run_action_saas_emit_event(self, eval_context=None):
        records = self.env[self.model_id.model].browse(
            self.env.context.get("active_ids") or [self.env.context.get("active_id")]
        ).exists()
        Event = self.env["saas.workflow.event"]
        for record in records:
            Event.emit(
                self.saas_event_type_id.code,
                record=record,
                payload=self._saas_event_payload(record),
                idempotency_key=f"act{self.id}:{record._name}:{record.id}"
                if self.saas_idempotent
                else None,
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
        return actions

    def write(self, vals):
        self._check_saas_manager_scope()
        res = super().write(vals)
        self._check_saas_manager_scope()
        return res

    def unlink(self):
        self._check_saas_manager_scope()
        return super().unlink()
