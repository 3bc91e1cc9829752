from collections import defaultdict

from odoo import fields, models


class SaasWorkflowSubscription(models.Model):
    _inherit = "saas.workflow.subscription"

    handler_type = fields.Selection(
        selection_add=[("ai_classify", "AI classification")],
        ondelete={"ai_classify": "cascade"},
    )

    def _handle_ai_classify(self, event, delivery):
        """Classify the event's record with the profile named in the payload.

        The record already exists (it was committed with the event), so a slow or
        unavailable provider never delays its creation. Every outcome, including
        provider failures, ends in an audited decision; nothing is retried blindly.
        """
        payload = event.payload or {}
        profile = self.env["saas.ai.profile"].sudo().browse(payload.get("profile_id")).exists()
        if not profile or not profile.active:
            return "profile inactive or deleted"
        record = event._get_record()
        if not record:
            return "record deleted"
        existing = (
            self.env["saas.ai.decision"]
            .sudo()
            .search([("event_id", "=", event.id), ("profile_id", "=", profile.id)], limit=1)
        )
        if existing:
            return "already classified: decision %s" % existing.id
        decision = profile._classify_record(record, event=event)
        return "decision %s: %s (%s)" % (decision.id, decision.state, decision.status)


class SaasWorkflowDelivery(models.Model):
    _inherit = "saas.workflow.delivery"

    def _run_claimed(self):
        """Classify the claimed AI deliveries of each local profile in one batch first.

        The handlers then run one by one as usual (each decision audited in its own
        savepoint) and find their text already classified: the e5 step of the batch
        can then be shared by several processes (``saas_ai_e5_workers``).
        """
        by_profile = defaultdict(list)
        for delivery in self:
            if delivery.subscription_id.handler_type != "ai_classify":
                continue
            event = delivery.event_id
            profile_id = (event.payload or {}).get("profile_id")
            if profile_id and event.res_model and event.res_id:
                by_profile[profile_id].append((event.res_model, event.res_id))
        for profile_id, targets in by_profile.items():
            profile = self.env["saas.ai.profile"].sudo().browse(profile_id).exists()
            if (
                not profile
                or not profile.active
                or profile.provider_id.provider_type != "local"
                or profile.model_name not in self.env
            ):
                continue
            ids = [res_id for model, res_id in targets if model == profile.model_name]
            profile._prefetch_local(self.env[profile.model_name].browse(ids))
        return super()._run_claimed()
