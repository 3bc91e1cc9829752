from odoo import fields, models


class SaasWebhookSecretWizard(models.TransientModel):
    """Shows a freshly generated secret once.

    The secret only travels in the dialog's default values: the dialog is closed
    without saving, so no copy is kept in this transient table.
    """

    _name = "saas.webhook.secret.wizard"
    _description = "Show Webhook Secret Once"

    secret = fields.Char(readonly=True)
    owner_ref = fields.Char(readonly=True)
