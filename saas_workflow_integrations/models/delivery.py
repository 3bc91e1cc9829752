from odoo import fields, models

from .webhook_endpoint import PENDING, new_pending


class SaasWorkflowDelivery(models.Model):
    _inherit = "saas.workflow.delivery"

    webhook_endpoint_id = fields.Many2one(
        "saas.webhook.endpoint", compute="_compute_webhook_endpoint"
    )
    webhook_attempt_ids = fields.One2many("saas.webhook.attempt", "delivery_id", string="Attempts")

    def _compute_webhook_endpoint(self):
        endpoints = self.env["saas.webhook.endpoint"].sudo().with_context(active_test=False).search(
            [("subscription_id", "in", self.subscription_id.ids)]
        )
        by_sub = {endpoint.subscription_id.id: endpoint for endpoint in endpoints}
        for delivery in self:
            delivery.webhook_endpoint_id = by_sub.get(delivery.subscription_id.id, False)

    def _run_claimed(self):
        """Write the attempt log and endpoint changes once the handlers' savepoints are closed.

        A failed attempt raises out of the handler, which rolls its savepoint
        back; what must survive it (the attempt row, a 410 disabling the
        endpoint) is collected in memory and written here, in the same
        transaction as the new delivery states.
        """
        pending = new_pending()
        pending["cache"]["subscription_ids"] = self.subscription_id.filtered(
            lambda sub: sub.handler_type == "webhook"
        ).ids
        token = PENDING.set(pending)
        try:
            result = super()._run_claimed()
        finally:
            PENDING.reset(token)
        self._flush_webhook_pending(pending)
        return result

    def _flush_webhook_pending(self, pending):
        if pending["attempts"]:
            deliveries = self.browse({vals["delivery_id"] for vals in pending["attempts"]}).sudo()
            deliveries.invalidate_recordset(["state", "next_attempt_at"])
            retry_at = {d.id: d.next_attempt_at for d in deliveries if d.state == "failed"}
            for vals in pending["attempts"]:
                if vals["outcome"] in ("retry", "circuit_open"):
                    vals["next_attempt_at"] = retry_at.get(vals["delivery_id"]) or False
            self.env["saas.webhook.attempt"].sudo()._insert_log(pending["attempts"])
        if pending["disable"]:
            endpoints = self.env["saas.webhook.endpoint"].sudo().browse(list(pending["disable"]))
            for endpoint in endpoints.exists():
                endpoint._disable(pending["disable"][endpoint.id])

    def _notify_dead(self):
        """Webhook deliveries: the endpoint owner gets an activity on the endpoint.

        The core notifies the workflow's exception owner; for endpoints without
        a workflow that would be the same person, so it is left to this one.
        """
        webhook = self.filtered(lambda d: d.subscription_id.handler_type == "webhook")
        core = self - webhook.filtered(lambda d: not d.subscription_id.workflow_id)
        result = super(SaasWorkflowDelivery, core)._notify_dead() if core else None
        for endpoint, deliveries in webhook.grouped("webhook_endpoint_id").items():
            if not endpoint:
                continue
            endpoint._notify_owner(
                self.env._(
                    "%(count)s delivery(ies) to %(name)s are dead", count=len(deliveries), name=endpoint.name
                ),
                self.env._(
                    "Last error: %(error)s. Fix the receiver, then replay them from the dead letter list.",
                    error=(deliveries[:1].last_error or "")[:500],
                ),
            )
        return result
