from odoo import fields, models
from odoo.addons.saas_workflow_core.lib.errors import PermanentError

from .webhook_endpoint import _batch_cache


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

    def _webhook_endpoint(self):
        """The endpoint of this subscription; looked up once per batch of deliveries."""
        self.ensure_one()
        cache = _batch_cache()
        endpoints = cache.setdefault("endpoints", {})
        if self.id not in endpoints:
            sub_ids = {self.id, *cache.get("subscription_ids", ())} - set(endpoints)
            found = (
                self.env["saas.webhook.endpoint"]
                .sudo()
                .with_context(active_test=False)
                .search([("subscription_id", "in", list(sub_ids))])
            )
            for sub_id in sub_ids:
                endpoints[sub_id] = found.filtered(lambda e, s=sub_id: e.subscription_id.id == s)[:1]
            cache["endpoint_ids"] = [*cache.get("endpoint_ids", ()), *found.ids]
        return endpoints[self.id].with_env(self.env(su=True))

    def _handler_needs_savepoint(self, delivery):
        # A webhook answered ahead of the handler loop is only reported: the attempt
        # goes to the batch's in-memory log, written once the loop is over.
        if self.handler_type == "webhook" and delivery.id in _batch_cache().get("sent", {}):
            return False
        return super()._handler_needs_savepoint(delivery)

    def _handle_webhook(self, event, delivery):
        endpoint = self._webhook_endpoint()
        if not endpoint:
            raise PermanentError(f"Subscription {self.name!r} has no webhook endpoint")
        return endpoint._deliver(event, delivery)

    def _handle_inbound_process(self, event, delivery):
        message = event._get_record()
        if not message or message._name != "saas.webhook.inbound.message":
            raise PermanentError("The event does not point to an inbound webhook message")
        return message._process(event)
