from freezegun import freeze_time

from odoo.exceptions import AccessError
from odoo.tests import tagged

from .common import ApprovalCase


@tagged("post_install", "-at_install")
@freeze_time("2026-03-02 09:00:00")
class TestDelegation(ApprovalCase):
    def _delegate(self, date_from, date_to, **vals):
        return self.env["saas.approval.delegation"].with_user(self.approver_a).create({
            "user_id": self.approver_a.id,
            "delegate_id": self.delegate.id,
            "date_from": date_from,
            "date_to": date_to,
            **vals,
        })

    def test_delegate_decides_only_during_range(self):
        self.make_policy([self.users_step(self.approver_a)])
        self._delegate("2026-03-05", "2026-03-10")
        partner = self.make_company()
        self.archive_as(self.requester, partner)
        request = self.request_for(partner)
        # before the range: the activity is Alice's and Dan cannot decide
        self.assertEqual(self.approval_activities(partner).user_id, self.approver_a)
        with self.assertRaises(AccessError):
            request.step_ids.with_user(self.delegate).action_approve()
        with freeze_time("2026-03-06 10:00:00"):
            # the hourly routing moves pending activities to the delegate
            self.env["saas.approval.delegation"]._cron_sync_activities()
            activity = self.approval_activities(partner)
            self.assertEqual(activity.user_id, self.delegate)
            self.assertEqual(activity.saas_approval_approver_id, self.approver_a)
            self.assertTrue(request.with_user(self.delegate).can_decide)
            my = self.env["saas.approval.request.step"].with_user(self.delegate).search(
                [("can_decide", "=", True)])
            self.assertEqual(my, request.step_ids)
            activity.with_user(self.delegate).action_saas_approve()
        self.assertEqual(request.state, "approved")
        decision = request.decision_ids
        self.assertEqual(decision.user_id, self.delegate)
        self.assertEqual(decision.on_behalf_of_id, self.approver_a)
        self.assertIn("on behalf of", decision.summary)
        self.assertIn("Dan Delegate on behalf of Alice Approver", partner.message_ids[1].body)

    def test_delegate_after_range_refused(self):
        self.make_policy([self.users_step(self.approver_a)])
        self._delegate("2026-02-01", "2026-03-01")
        partner = self.make_company()
        self.archive_as(self.requester, partner)
        request = self.request_for(partner)
        with self.assertRaises(AccessError):
            request.step_ids.with_user(self.delegate).action_approve()
        request.step_ids.with_user(self.approver_a).action_approve()
        self.assertEqual(request.state, "approved")

    def test_new_activities_go_to_active_delegate(self):
        self.make_policy([self.users_step(self.approver_a)])
        self._delegate("2026-03-01", "2026-03-31")
        partner = self.make_company()
        self.archive_as(self.requester, partner)
        activity = self.approval_activities(partner)
        self.assertEqual(activity.user_id, self.delegate)
        self.assertIn("On behalf of Alice Approver", activity.note)

    def test_delegation_creation_moves_pending_and_end_moves_back(self):
        self.make_policy([self.users_step(self.approver_a)])
        partner = self.make_company()
        self.archive_as(self.requester, partner)
        delegation = self._delegate("2026-03-01", "2026-03-03")
        self.assertEqual(self.approval_activities(partner).user_id, self.delegate)
        with freeze_time("2026-03-04 08:00:00"):
            self.env["saas.approval.delegation"]._cron_sync_activities()
            self.assertEqual(self.approval_activities(partner).user_id, self.approver_a)
        delegation.unlink()

    def test_delegation_limited_to_policies(self):
        policy = self.make_policy([self.users_step(self.approver_a)])
        other = self.make_policy([self.users_step(self.approver_a)], name="Other",
                                 filter_domain="[('is_company', '=', False)]")
        self._delegate("2026-03-01", "2026-03-31", policy_ids=[(6, 0, other.ids)])
        partner = self.make_company()
        self.archive_as(self.requester, partner)
        request = self.request_for(partner)
        self.assertEqual(request.policy_id, policy)
        self.assertEqual(self.approval_activities(partner).user_id, self.approver_a)
        with self.assertRaises(AccessError):
            request.step_ids.with_user(self.delegate).action_approve()

    def test_users_manage_only_their_delegations(self):
        delegation = self._delegate("2026-03-01", "2026-03-31")
        with self.assertRaises(AccessError):
            delegation.with_user(self.outsider).write({"date_to": "2026-04-30"})
        with self.assertRaises(AccessError):
            self.env["saas.approval.delegation"].with_user(self.outsider).create({
                "user_id": self.approver_a.id, "delegate_id": self.outsider.id,
                "date_from": "2026-03-01", "date_to": "2026-03-31",
            })
        # the delegate sees it, but cannot change it
        self.assertEqual(delegation.with_user(self.delegate).read(["user_id"])[0]["user_id"][0],
                         self.approver_a.id)
        with self.assertRaises(AccessError):
            delegation.with_user(self.delegate).write({"date_to": "2026-04-30"})
