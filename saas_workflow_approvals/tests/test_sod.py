from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import ApprovalCase


@tagged("post_install", "-at_install")
class TestSegregationOfDuties(ApprovalCase):
    def test_requester_cannot_approve_own_request(self):
        # the requester is one of the named approvers: removed at planning
        self.make_policy([self.users_step(self.requester | self.approver_a)])
        partner = self.make_company()
        self.archive_as(self.requester, partner)
        request = self.request_for(partner)
        self.assertEqual(request.step_ids.approver_ids, self.approver_a)
        self.assertFalse(request.with_user(self.requester).can_decide)
        with self.assertRaises(AccessError):
            request.with_user(self.requester).action_approve()
        with self.assertRaises(AccessError):
            request.step_ids.with_user(self.requester).action_approve()
        self.assertEqual(request.state, "pending")
        self.assertFalse(request.decision_ids)

    def test_requester_cannot_approve_as_delegate(self):
        self.make_policy([self.users_step(self.approver_a)])
        partner = self.make_company()
        self.archive_as(self.requester, partner)
        request = self.request_for(partner)
        # the approver delegates to the requester: still refused
        self.env["saas.approval.delegation"].create({
            "user_id": self.approver_a.id,
            "delegate_id": self.requester.id,
            "date_to": "2999-12-31",
        })
        with self.assertRaisesRegex(UserError, "your own request"):
            request.step_ids.with_user(self.requester)._decide("approve")
        self.assertEqual(request.state, "pending")

    def test_one_person_cannot_fill_two_steps(self):
        self.make_policy([
            self.users_step(self.approver_a, name="Manager", sequence=1),
            self.users_step(self.approver_a | self.approver_b, name="Finance", sequence=2),
        ])
        partner = self.make_company()
        self.archive_as(self.requester, partner)
        request = self.request_for(partner)
        request.with_user(self.approver_a).action_approve()
        finance = request.step_ids.filtered(lambda s: s.name == "Finance")
        self.assertEqual(finance.state, "pending")
        self.assertFalse(finance.with_user(self.approver_a).can_decide)
        with self.assertRaisesRegex(UserError, "another step"):
            finance.with_user(self.approver_a).action_approve()
        finance.with_user(self.approver_b).action_approve()
        self.assertEqual(request.state, "approved")

    def test_policy_may_allow_same_approver(self):
        self.make_policy([
            self.users_step(self.approver_a, name="Manager", sequence=1),
            self.users_step(self.approver_a, name="Finance", sequence=2),
        ], allow_same_approver=True)
        partner = self.make_company()
        self.archive_as(self.requester, partner)
        request = self.request_for(partner)
        request.with_user(self.approver_a).action_approve()
        request.with_user(self.approver_a).action_approve()
        self.assertEqual(request.state, "approved")

    def test_same_single_approver_without_permission_goes_to_exception(self):
        self.make_policy([
            self.users_step(self.approver_a, name="Manager", sequence=1),
            self.users_step(self.approver_a, name="Finance", sequence=2),
        ])
        partner = self.make_company()
        self.archive_as(self.requester, partner)
        request = self.request_for(partner)
        self.assertEqual(request.state, "exception")
        self.assertIn("Finance", request.exception_reason)

    def test_outsider_and_double_vote_refused(self):
        self.make_policy([self.users_step(self.approver_a | self.approver_b, quorum="all")])
        partner = self.make_company()
        self.archive_as(self.requester, partner)
        request = self.request_for(partner)
        with self.assertRaises(AccessError):
            request.step_ids.with_user(self.outsider).action_approve()
        request.step_ids.with_user(self.approver_a).action_approve()
        with self.assertRaisesRegex(UserError, "already decided"):
            request.step_ids.with_user(self.approver_a).action_approve()
        self.assertEqual(request.state, "pending")
        request.step_ids.with_user(self.approver_b).action_approve()
        self.assertEqual(request.state, "approved")

    def test_state_and_decisions_cannot_be_written(self):
        self.make_policy([self.users_step(self.approver_a)])
        partner = self.make_company()
        self.archive_as(self.requester, partner)
        request = self.request_for(partner)
        # even a manager with write access cannot force the state
        with self.assertRaises(AccessError):
            request.with_user(self.admin_mgr).write({"state": "approved"})
        # nor can a context flag sent by a client unlock it
        with self.assertRaises(AccessError):
            request.with_user(self.admin_mgr).with_context(
                saas_approval_internal=True).write({"state": "approved"})
        with self.assertRaises(AccessError):
            request.sudo().write({"fingerprint_approved": "x"})
        with self.assertRaises(AccessError):
            request.step_ids.sudo().write({"approver_ids": [(4, self.outsider.id)]})
        with self.assertRaises(AccessError):
            self.env["saas.approval.decision"].sudo().create({
                "request_id": request.id, "user_id": self.approver_a.id,
                "decision": "approve", "channel": "api",
            })
        request.with_user(self.approver_a).action_approve()
        decision = request.decision_ids
        with self.assertRaises(AccessError):
            decision.sudo().write({"comment": "edited"})
        with self.assertRaises(AccessError):
            decision.sudo().unlink()
        with self.assertRaises(AccessError):
            request.with_user(self.admin_mgr).unlink()
        self.assertEqual(request.state, "approved")
