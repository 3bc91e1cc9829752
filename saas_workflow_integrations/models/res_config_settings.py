from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..lib import ssrf


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    saas_webhook_allowlist = fields.Char(
        string="Webhook Private Network Allowlist",
        config_parameter="saas_workflow_integrations.ssrf_allowlist",
        help="Host names (n8n.lan, *.corp.example) or networks (10.0.0.0/8, 192.168.1.20) that "
        "webhooks may reach although they are private. Everything else must be a public address.",
    )
    saas_webhook_disable_after_days = fields.Integer(
        string="Disable Endpoints Failing For (days)",
        config_parameter="saas_workflow_integrations.disable_after_days",
        default=5,
        help="An endpoint without a successful delivery for this long is disabled. 0: never.",
    )
    saas_webhook_attempt_retention_days = fields.Integer(
        string="Keep Delivery Attempts (days)",
        config_parameter="saas_workflow_integrations.attempt_retention_days",
        default=90,
    )

    @api.constrains("saas_webhook_allowlist")
    def _check_saas_webhook_allowlist(self):
        for settings in self:
            try:
                ssrf.Allowlist.parse(settings.saas_webhook_allowlist or "")
            except ValueError as exc:
                raise ValidationError(str(exc)) from exc
