import re

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..lib import schemas, signing


def _schema_selection(_self):
    return schemas.choices()


class SaasWebhookInboundSource(models.Model):
    """A system allowed to call ``/saas_workflow/webhook/<code>``."""

    _name = "saas.webhook.inbound.source"
    _description = "Inbound Webhook Source"
    _inherit = ["saas.webhook.secret.mixin", "mail.thread"]
    _order = "name"
    _check_company_auto = True

    name = fields.Char(required=True, tracking=True)
    code = fields.Char(
        required=True,
        tracking=True,
        help="Last part of the URL: /saas_workflow/webhook/<code>. Letters, digits, - and _.",
    )
    active = fields.Boolean(default=True, tracking=True)
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company, tracking=True)
    auth_mode = fields.Selection(
        [
            ("signature", "Standard Webhooks signature"),
            ("api_key", "API key of the technical user (Bearer)"),
        ],
        default="signature",
        required=True,
        tracking=True,
    )
    schema_name = fields.Selection(
        _schema_selection, string="Payload Schema", required=True, default="event", tracking=True
    )
    max_body_bytes = fields.Integer(string="Max Body Size (bytes)", default=256 * 1024)
    tolerance_seconds = fields.Integer(
        string="Timestamp Tolerance (s)", default=300, help="Signed timestamps further off are rejected."
    )
    technical_user_id = fields.Many2one(
        "res.users",
        required=True,
        tracking=True,
        help="Processing runs with this user's access rights (never the superuser). "
        "With API key authentication, the key must belong to this user.",
    )
    process_mode = fields.Selection(
        [("event", "Emit an event"), ("server_action", "Run a server action")],
        default="event",
        required=True,
        tracking=True,
    )
    event_type_id = fields.Many2one(
        "saas.workflow.event.type",
        string="Event to Emit",
        help="Emitted with the received data as payload.",
    )
    action_id = fields.Many2one(
        "ir.actions.server",
        string="Server Action",
        help="Runs on the stored message; the parsed payload is in "
        "env.context['saas_webhook_payload'].",
    )
    inbound_message_count = fields.Integer(compute="_compute_message_count", string="Inbound Messages")
    endpoint_url = fields.Char(compute="_compute_endpoint_url", string="Receiving URL")

    _sql_constraints = [("code_uniq", "unique(code)", "The source code is used in the URL: it must be unique.")]

    @api.constrains("code")
    def _check_code(self):
        for source in self:
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", source.code or ""):
                raise ValidationError(self.env._("The code may only hold letters, digits, - and _."))

    @api.constrains("technical_user_id")
    def _check_user(self):
        for source in self:
            user = source.technical_user_id
            if user._is_superuser() or user._is_system():
                raise ValidationError(
                    self.env._(
                        "Inbound webhooks never run as an administrator: choose a dedicated "
                        "integration user with only the rights it needs."
                    )
                )

    @api.constrains("process_mode", "event_type_id", "action_id")
    def _check_processing(self):
        for source in self:
            if source.process_mode == "event" and not source.event_type_id:
                raise ValidationError(self.env._("Choose the event to emit."))
            if source.process_mode == "server_action" and not source.action_id:
                raise ValidationError(self.env._("Choose the server action to run."))

    @api.constrains("max_body_bytes", "tolerance_seconds")
    def _check_limits(self):
        for source in self:
            if not 0 < source.max_body_bytes <= 16 * 1024 * 1024:
                raise ValidationError(self.env._("The maximum body size must be between 1 byte and 16 MB."))
            if not 0 < source.tolerance_seconds <= 3600:
                raise ValidationError(self.env._("The timestamp tolerance must be 1-3600 seconds."))

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if not vals.get("secret"):
                vals["secret"] = signing.generate_secret()
        return super().create(vals_list)

    def _compute_message_count(self):
        groups = self.env["saas.webhook.inbound.message"]._read_group(
            [("source_id", "in", self.ids)], ["source_id"], ["__count"]
        )
        counts = {source.id: count for source, count in groups}
        for source in self:
            source.inbound_message_count = counts.get(source.id, 0)

    @api.depends("code", "auth_mode")
    def _compute_endpoint_url(self):
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "").rstrip("/")
        for source in self:
            prefix = "/saas_workflow/api/webhook/" if source.auth_mode == "api_key" else "/saas_workflow/webhook/"
            source.endpoint_url = f"{base}{prefix}{source.code or ''}"

    def action_view_messages(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "saas_workflow_integrations.action_inbound_message"
        )
        action["domain"] = [("source_id", "=", self.id)]
        return action

