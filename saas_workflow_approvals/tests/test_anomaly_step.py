from odoo.tests import tagged

from .common import ApprovalCase


@tagged("post_install", "-at_install")
class TestAnomalyStep(ApprovalCase):
    """A step gated on an anomaly flag of the AI addon applies only to flagged records."""

    def setUp(self):
        super().setUp()
        if "saas.ai.anomaly" not in self.env:
            self.skipTest("saas_workflow_ai is not installed")
        self.policy = self.make_policy(
            [
                self.users_step(self.approver_a, name="Manager"),
                self.users_step(self.approver_b, name="Fraud review", only_if_anomaly=True),
            ]
        )

    def flag(self, record):
        return self.env["saas.ai.anomaly"].create(
            {
                "res_model": record._name,
                "res_id": record.id,
                "record_name": record.display_name,
                "score": 4.2,
                "explanation": "4.2x the median of comparable records",
            }
        )

    def test_unflagged_record_skips_the_anomaly_step(self):
        partner = self.make_company("Regular Co")
        self.archive_as(self.requester, partner)
        request = self.request_for(partner)
        self.assertEqual(self.approval_activities(partner).user_id, self.approver_a)
        request.with_user(self.approver_a).action_approve()
        self.assertEqual(request.state, "approved")

    def test_flagged_record_needs_the_extra_step(self):
        partner = self.make_company("Odd Co")
        self.flag(partner)
        self.archive_as(self.requester, partner)
        request = self.request_for(partner)
        request.with_user(self.approver_a).action_approve()
        # the first step is done, the fraud review is now pending
        self.assertEqual(request.state, "pending")
        self.assertEqual(self.approval_activities(partner).user_id, self.approver_b)
        request.with_user(self.approver_b).action_approve()
        self.assertEqual(request.state, "approved")

    def test_dismissed_flag_no_longer_requires_the_step(self):
        partner = self.make_company("Cleared Co")
        self.flag(partner).action_dismiss()
        self.archive_as(self.requester, partner)
        request = self.request_for(partner)
        request.with_user(self.approver_a).action_approve()
        self.assertEqual(request.state, "approved")
