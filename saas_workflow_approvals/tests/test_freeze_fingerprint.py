from odoo.exceptions import AccessError
from odoo.tests import tagged

from .common import ApprovalCase


@tagged("post_install", "-at_install")
class TestFrozenRequests(ApprovalCase):
    def test_policy_edit_does_not_alter_pending_request(self):
        policy = self.make_policy([
            self.users_step(self.approver_a, name="Manager", timeout_hours=8,
                            escalation_action="auto_reject"),
        ])
        partner = self.make_company()
        self.archive_as(self.requester, partner)
        request = self.request_for(partner)
        snapshot = dict(request.policy_snapshot)
        # the policy owner changes approvers, quorum, timeout and adds a step
        policy.step_ids.write({"user_ids": [(6, 0, self.approver_b.ids)], "timeout_hours": 1,
                               "quorum": "all"})
        policy.write({"step_ids": [(0, 0, self.users_step(self.approver_c, name="Extra"))]})
        request.invalidate_recordset()
        self.assertEqual(request.step_ids.approver_ids, self.approver_a)
        self.assertEqual(request.step_ids.timeout_hours, 8)
        self.assertEqual(len(request.step_ids), 1)
        self.assertEqual(request.policy_snapshot, snapshot)
        self.assertEqual(snapshot["steps"][0]["user_ids"], self.approver_a.ids)
        self.assertEqual(snapshot["resolved"][0]["approver_ids"], self.approver_a.ids)
        with self.assertRaises(AccessError):
            request.with_user(self.approver_b).action_approve()
        request.with_user(self.approver_a).action_approve()
        self.assertEqual(request.state, "approved")
        # new requests use the new policy
        other = self.make_company("Other Corp")
        self.archive_as(self.requester, other)
        self.assertEqual(self.request_for(other).step_ids.mapped("name"), ["Manager", "Extra"])

    def test_change_after_approval_forces_new_approval(self):
        be = self.env.ref("base.be")
        fr = self.env.ref("base.fr")
        self.make_policy([self.users_step(self.approver_a)],
                         filter_domain="[('is_company', '=', True), ('country_id', '!=', False)]")
        partner = self.make_company(country_id=be.id)
        self.archive_as(self.requester, partner)
        request = self.request_for(partner)
        self.assertEqual(request.fingerprint_paths, ["country_id", "is_company"])
        request.with_user(self.approver_a).action_approve()
        # irrelevant change: the approval stands
        partner.write({"phone": "+32 2 555 55 55"})
        # relevant change: the approval is invalidated and a new request is made
        partner.write({"country_id": fr.id})
        self.archive_as(self.requester, partner)
        self.assertTrue(partner.active)
        self.assertEqual(request.state, "cancelled")
        self.assertIn("invalidated", request.cancel_reason)
        new_request = self.request_for(partner)
        self.assertNotEqual(new_request, request)
        self.assertEqual(new_request.state, "pending")
        new_request.with_user(self.approver_a).action_approve()
        partner.write({"phone": "+32 2 555 55 56"})
        self.archive_as(self.requester, partner)
        self.assertFalse(partner.active)

    def test_change_while_pending_replaces_request(self):
        self.make_policy([self.users_step(self.approver_a)],
                         filter_domain="[('is_company', '=', True), ('country_id', '!=', False)]")
        partner = self.make_company(country_id=self.env.ref("base.be").id)
        self.archive_as(self.requester, partner)
        request = self.request_for(partner)
        partner.write({"country_id": self.env.ref("base.fr").id})
        self.archive_as(self.requester, partner)
        self.assertEqual(request.state, "cancelled")
        self.assertFalse(request.step_ids.activity_ids)
        self.assertEqual(self.request_for(partner).state, "pending")
