from odoo import fields, models


class MailActivityType(models.Model):
    _inherit = "mail.activity.type"

    category = fields.Selection(
        selection_add=[("saas_approval", "Approve or reject")],
        ondelete={"saas_approval": "set default"},
    )
