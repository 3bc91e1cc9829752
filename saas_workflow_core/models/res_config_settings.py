from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..lib import backoff


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    saas_workflow_retention_days = fields.Integer(
        string="Keep Done Events (days)",
        config_parameter="saas_workflow_core.retention_days",
        default=30,
        help="Done events older than this are deleted. Failed and dead events are kept. "
        "0 keeps everything.",
    )
    saas_workflow_retry_schedule = fields.Char(
        string="Default Retry Schedule",
        config_parameter="saas_workflow_core.retry_schedule",
        help="Seconds before each retry, comma separated. Empty: 30,120,600,1800,7200,21600.",
    )
    saas_workflow_batch_size = fields.Integer(
        string="Dispatcher Batch Size", config_parameter="saas_workflow_core.batch_size", default=200
    )
    saas_workflow_lease_seconds = fields.Integer(
        string="Claim Lease (seconds)",
        config_parameter="saas_workflow_core.lease_seconds",
        default=600,
        help="A delivery claimed longer than this by a worker that stopped is recovered.",
    )

    @api.constrains("saas_workflow_retry_schedule")
    def _check_saas_workflow_retry_schedule(self):
        for settings in self:
            try:
                backoff.parse_schedule(settings.saas_workflow_retry_schedule)
            except ValueError as exc:
                raise ValidationError(str(exc)) from exc
