from odoo.tests import tagged

from .common import ApprovalCase


@tagged("post_install", "-at_install")
class TestQuorum(ApprovalCase):
    def _submit(self, **step_vals):
        approvers = self.approver_a | self.approver_b | self.approver_c
        self.make_policy([self.users_step(approvers, **step_vals)])
        partner = self.make_company()
        self.archive_as(self.requester, partner)
        return partner, self.request_for(partner)

    def test_two_of_three(self):
        partner, request = self._submit(quorum="n_of_m", min_approvals=2)
        self.assertEqual(request.step_ids.required_count, 2)
        request.with_user(self.approver_a).action_approve()
        self.assertEqual(request.state, "pending")
        self.assertEqual(len(self.approval_activities(partner)), 2)
        request.with_user(self.approver_c).action_approve()
        self.assertEqual(request.state, "approved")
        self.assertFalse(self.approval_activities(partner))

    def test_all(self):
        _partner, request = self._submit(quorum="all")
        request.with_user(self.approver_a).action_approve()
        request.with_user(self.approver_b).action_approve()
        self.assertEqual(request.state, "pending")
        request.with_user(self.approver_c).action_approve()
        self.assertEqual(request.state, "approved")

    def test_any_veto(self):
        _partner, request = self._submit(quorum="any")
        request.with_user(self.approver_b).action_reject(reason="No")
        self.assertEqual(request.state, "rejected")

    def test_two_of_three_rejects_when_unreachable(self):
        _partner, request = self._submit(quorum="n_of_m", min_approvals=2,
                                         rejection_rule="unreachable")
        request.with_user(self.approver_a).action_reject(reason="too early")
        self.assertEqual(request.state, "pending")
        request.with_user(self.approver_b).action_reject(reason="agreed")
        self.assertEqual(request.state, "rejected")
        self.assertIn("too early", request.reject_reason)

    def test_n_larger_than_m_is_an_exception(self):
        _partner, request = self._submit(quorum="n_of_m", min_approvals=4)
        self.assertEqual(request.state, "exception")
