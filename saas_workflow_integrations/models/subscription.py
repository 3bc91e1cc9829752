from odoo import fields, models
from odoo.addons.saas_workflow_core.lib.errors import PermanentError


class SaasWorkflowSubscription(models.Model):
    _inherit = "saas.workflow.subscription"

    handler_type = fields.Selection(
        selection_add=[
            ("webhook", "Webhook endpoint"),
            ("inbound_process", "Process inbound webhook"),
        ],
        ondelete={"webhook": "cascade", "inbound_process": "cascade"},
    )
    webhook_endpoint_ids = fields.One2many("saas.webhook.endpoint", "subscription_id")

    def _handle_webhook(self, event, delivery):
        endpoint = (
            self.env["saas.webhook.endpoint"]
            .sudo()
            .with_context(active_test=False)
            .search([("subscription_id", "=", self.id)], limit=1)
        )
        if not endpoint:
            raise PermanentError(f"Subscription {self.name!r} has no webhook endpoint")
        return endpoint._deliver(event, delivery)

    def _handle_inbound_process(self, event, delivery):
        message = event._get_record()
        if not message or message._name != "saas.webhook.inbound.message":
            raise PermanentError("The event does not point to an inbound webhook message")
        return message._process(event)
