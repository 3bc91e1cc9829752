from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    saas_ai_allow_external = fields.Boolean(
        related="company_id.saas_ai_allow_external", readonly=False
    )
