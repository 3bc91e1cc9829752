from freezegun import freeze_time

from odoo import fields
from odoo.tests import tagged

from .common import ApprovalCase


@tagged("post_install", "-at_install")
class TestEscalation(ApprovalCase):
    def _submit(self, **step_vals):
        self.make_policy([self.users_step(self.approver_a, timeout_hours=4, **step_vals)])
        partner = self.make_company()
        with freeze_time("2026-03-02 08:00:00"):
            self.archive_as(self.requester, partner)
        return partner, self.request_for(partner)

    def _sweep(self, when):
        with freeze_time(when):
            return self.env["saas.approval.request.step"]._escalate_due()

    def test_reassign_after_timeout(self):
        partner, request = self._submit(escalation_action="reassign",
                                        escalation_user_id=self.escalation_user.id)
        step = request.step_ids
        self.assertEqual(step.deadline, fields.Datetime.to_datetime("2026-03-02 12:00:00"))
        self.assertEqual(self._sweep("2026-03-02 11:59:00"), (0, 0))
        self.assertFalse(step.escalated_at)
        processed, _remaining = self._sweep("2026-03-02 12:30:00")
        self.assertEqual(processed, 1)
        self.assertTrue(step.escalated_at)
        self.assertEqual(step.escalation_user_ids, self.escalation_user)
        self.assertEqual(request.escalation_count, 1)
        log = request.decision_ids.filtered(lambda d: d.decision == "escalate")
        self.assertEqual(log.escalation_action, "reassign")
        self.assertEqual(log.channel, "system")
        self.assertEqual(len(self.events("approval.escalated", request)), 1)
        self.assertIn(self.escalation_user, self.approval_activities(partner).user_id)
        # escalation happens once
        self.assertEqual(self._sweep("2026-03-03 12:30:00"), (0, 0))
        # the escalation approver decides the step alone
        with freeze_time("2026-03-02 13:00:00"):
            request.with_user(self.escalation_user).action_approve()
        self.assertEqual(request.state, "approved")
        self.assertTrue(step.was_overdue)
        self.assertAlmostEqual(step.turnaround_hours, 5.0, places=2)

    def test_auto_reject(self):
        partner, request = self._submit(escalation_action="auto_reject")
        self._sweep("2026-03-02 12:00:01")
        self.assertEqual(request.state, "rejected")
        self.assertIn("No decision within 4", request.reject_reason)
        self.assertTrue(partner.active)
        self.assertFalse(self.approval_activities(partner))
        self.assertEqual(len(self.events("approval.rejected", request)), 1)
        self.assertEqual(len(self.events("approval.escalated", request)), 1)

    def test_notify_manager(self):
        _partner, request = self._submit(escalation_action="notify",
                                         escalation_user_id=self.escalation_user.id)
        self._sweep("2026-03-02 13:00:00")
        self.assertEqual(request.state, "pending")
        message = request.message_ids.filtered(
            lambda m: self.escalation_user.partner_id in m.partner_ids)
        self.assertTrue(message)
        self.assertIn("overdue", message[0].body)

    def test_reminders_repeat(self):
        _partner, request = self._submit(escalation_action="none", reminder_hours=1)
        self._sweep("2026-03-02 09:01:00")
        self._sweep("2026-03-02 09:30:00")
        self._sweep("2026-03-02 10:02:00")
        step = request.step_ids
        self.assertEqual(step.reminder_count, 2)
        reminders = request.message_ids.filtered(lambda m: "Reminder" in (m.body or ""))
        self.assertEqual(len(reminders), 2)
        self.assertIn(self.approver_a.partner_id, reminders.partner_ids)
