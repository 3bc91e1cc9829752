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
