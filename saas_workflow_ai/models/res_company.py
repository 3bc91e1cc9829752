from odoo import fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    saas_ai_allow_external = fields.Boolean(
        string="Allow External AI Processing",
        help="Allow sending (redacted) record text of this company to external AI providers. "
        "Each classification profile must allow it too.",
    )
