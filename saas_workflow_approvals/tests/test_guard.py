from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from .common import ApprovalCase


@tagged("post_install", "-at_install")
class TestGuard(ApprovalCase):
    def test_blocked_then_allowed(self):
        self.make_policy([self.users_step(self.approver_a)])
        partner = self.make_company()
        result = self.archive_as(self.requester, partner)
        # the action did not run, a request and an activity exist, the caller got a notification
        self.assertTrue(partner.active)
        self.assertEqual(result["type"], "ir.actions.client")
        self.assertEqual(result["tag"], "display_notification")
        self.assertTrue(result["saas_approval"]["blocked"])
        request = self.request_for(partner)
        self.assertEqual(request.state, "pending")
        self.assertEqual(request.requester_id, self.requester)
        self.assertEqual(result["saas_approval"]["request_ids"], request.ids)
        activity = self.approval_activities(partner)
        self.assertEqual(activity.user_id, self.approver_a)
        self.assertEqual(activity.activity_type_id,
                         self.env.ref("saas_workflow_approvals.mail_activity_type_approval"))
        self.assertEqual(activity.summary, f"Approve {request.name} (Review), asked by Rita Requester")
        self.assertFalse(activity.note)
        self.assertEqual(activity.res_name, partner.display_name)
        self.assertIn("Approval requested", partner.message_ids[0].body)
        self.assertEqual(len(self.events("approval.requested", request)), 1)

        # calling again reuses the pending request
        self.archive_as(self.requester, partner)
        self.assertEqual(self.request_for(partner), request)
        self.assertEqual(self.Request.search_count([("res_id", "=", partner.id),
                                                    ("res_model", "=", "res.partner")]), 1)

        request.with_user(self.approver_a).action_approve()
        self.assertEqual(request.state, "approved")
        self.assertFalse(self.approval_activities(partner))
        self.assertEqual(len(self.events("approval.approved", request)), 1)
        self.assertTrue(partner.active)

        self.archive_as(self.requester, partner)
        self.assertFalse(partner.active)

    def test_records_outside_policy_pass(self):
        self.make_policy([self.users_step(self.approver_a)])
        person = self.env["res.partner"].create({"name": "Just a person"})
        self.archive_as(self.requester, person)
        self.assertFalse(person.active)
        self.assertFalse(self.request_for(person))

    def test_multi_record_call_runs_allowed_part(self):
        self.make_policy([self.users_step(self.approver_a)])
        company = self.make_company()
        person = self.env["res.partner"].create({"name": "Person"})
        result = (company | person).with_user(self.requester).action_archive()
        self.assertFalse(person.active)
        self.assertTrue(company.active)
        self.assertEqual(result["saas_approval"]["request_ids"], self.request_for(company).ids)

    def test_batched_call_one_request_per_record(self):
        """One call over many records: each guarded record gets its own request,
        routed by the first matching policy; pending requests are reused; records
        no policy guards run the action."""
        self.make_policy([self.users_step(self.approver_a)], sequence=20)
        self.make_policy(
            [self.users_step(self.approver_b, name="First"),
             self.users_step(self.approver_c, name="Second")],
            name="Archive big companies", sequence=10,
            filter_domain="[('is_company', '=', True), ('name', '=like', 'Big%')]",
        )
        small = self.make_company("Small one") | self.make_company("Small two")
        big = self.make_company("Big one") | self.make_company("Big two")
        already = self.make_company("Small pending")
        self.archive_as(self.requester, already)
        pending = self.request_for(already)
        person = self.env["res.partner"].create({"name": "A person"})
        everything = small | big | already | person
        result = everything.with_user(self.requester).action_archive()
        self.assertFalse(person.active)
        self.assertTrue(all((small | big | already).mapped("active")))
        self.assertEqual(self.request_for(already), pending)
        requests = self.Request.browse(result["saas_approval"]["request_ids"])
        self.assertEqual(set(requests.mapped("res_id")), set((small | big | already).ids))
        self.assertEqual(len(requests), 5)
        for partner in small:
            request = self.request_for(partner)
            self.assertEqual(request.policy_id.name, "Archive companies")
            self.assertEqual(request.state, "pending")
            self.assertEqual(self.approval_activities(partner).user_id, self.approver_a)
            self.assertIn(request.name, partner.message_ids[0].body)
            self.assertEqual(len(self.events("approval.requested", request)), 1)
        for partner in big:
            request = self.request_for(partner)
            self.assertEqual(request.policy_id.name, "Archive big companies")
            self.assertEqual(request.step_ids.sorted("sequence").mapped("state"),
                             ["pending", "waiting"])
            self.assertEqual(self.approval_activities(partner).user_id, self.approver_b)
            self.assertEqual(len(self.events("approval.requested", request)), 1)
        self.assertEqual(len(set(requests.mapped("name"))), 5)
        # each request goes on by itself
        first = self.request_for(big[0])
        first.with_user(self.approver_b).action_approve()
        self.assertEqual(self.approval_activities(big[0]).user_id, self.approver_c)
        self.assertEqual(self.approval_activities(big[1]).user_id, self.approver_b)

    def test_reject_keeps_record_editable_and_resubmits(self):
        self.make_policy([self.users_step(self.approver_a)])
        partner = self.make_company()
        self.archive_as(self.requester, partner)
        request = self.request_for(partner)
        with self.assertRaises(UserError):
            request.with_user(self.approver_a).action_reject(reason="   ")
        wizard_action = request.with_user(self.approver_a).action_reject()
        self.assertEqual(wizard_action["res_model"], "saas.approval.reject.wizard")
        wizard = self.env["saas.approval.reject.wizard"].with_user(self.approver_a).with_context(
            **wizard_action["context"]).create({"reason": "Still has open invoices"})
        wizard.action_confirm()
        self.assertEqual(request.state, "rejected")
        self.assertEqual(request.reject_reason, "Still has open invoices")
        self.assertTrue(partner.active)
        self.assertIn("Still has open invoices", partner.message_ids[0].body)
        self.assertEqual(len(self.events("approval.rejected", request)), 1)
        self.assertFalse(self.approval_activities(partner))
        # the record stays editable and the action can be requested again
        partner.with_user(self.requester).write({"name": "ACME Corp (closing)"})
        self.archive_as(self.requester, partner)
        new_request = self.request_for(partner)
        self.assertNotEqual(new_request, request)
        self.assertEqual(new_request.state, "pending")

    def test_steps_in_order_and_activity_handover(self):
        self.make_policy([
            self.users_step(self.approver_a, name="First", sequence=1),
            self.users_step(self.approver_b, name="Second", sequence=2),
        ])
        partner = self.make_company()
        self.archive_as(self.requester, partner)
        request = self.request_for(partner)
        self.assertEqual(self.approval_activities(partner).user_id, self.approver_a)
        self.assertFalse(request.with_user(self.approver_b).can_decide)
        request.with_user(self.approver_a).action_approve()
        self.assertEqual(request.state, "pending")
        self.assertEqual(self.approval_activities(partner).user_id, self.approver_b)
        request.with_user(self.approver_b).action_approve()
        self.assertEqual(request.state, "approved")

    def test_approvers_follow_document_once(self):
        """Each approver gets the activity and follows the document (once), as Odoo
        does for activity assignees; the request log is on both chatters."""
        self.make_policy([self.users_step(self.approver_a | self.approver_b)])
        one, two = self.make_company("One Corp"), self.make_company("Two Corp")
        one.message_subscribe(partner_ids=self.approver_a.partner_id.ids)
        self.archive_as(self.requester, one)
        (one | two).with_user(self.requester).action_archive()
        approver_partners = (self.approver_a | self.approver_b).partner_id
        for partner in one | two:
            request = self.request_for(partner)
            self.assertEqual(self.approval_activities(partner).user_id,
                             self.approver_a | self.approver_b)
            followers = self.env["mail.followers"].search(
                [("res_model", "=", "res.partner"), ("res_id", "=", partner.id),
                 ("partner_id", "in", approver_partners.ids)])
            self.assertEqual(len(followers), 2)
            self.assertEqual(followers.partner_id, approver_partners)
            # the note is logged where the document is worked on, once; the request
            # form shows the submission in its timeline instead
            note = partner.message_ids.filtered(lambda m: "Approval requested" in (m.body or ""))
            self.assertEqual(len(note), 1)
            self.assertIn(request.name, note.body)
            self.assertEqual(note.subtype_id, self.env.ref("mail.mt_note"))
            self.assertEqual(note.message_type, "notification")
            self.assertFalse(request.message_ids.filtered(
                lambda m: "Approval requested" in (m.body or "")))
            self.assertIn("Submitted", request.timeline_html)
        # the activity shows in the approver's activity menu
        groups = self.approver_b.with_user(self.approver_b)._get_activity_groups()
        partner_group = [g for g in groups if g.get("model") == "res.partner"]
        self.assertTrue(partner_group)
        self.assertEqual(sum(partner_group[0][f"{state}_count"]
                             for state in ("today", "overdue", "planned")), 2)

    def test_timeline_shows_decisions_in_order(self):
        self.make_policy([
            self.users_step(self.approver_a, name="Controller check", sequence=1),
            self.users_step(self.approver_b, name="Director sign-off", sequence=2),
        ])
        partner = self.make_company()
        self.archive_as(self.requester, partner)
        request = self.request_for(partner)
        html = str(request.timeline_html)
        self.assertLess(html.index("Controller check"), html.index("Director sign-off"))
        self.assertIn("o_saas_timeline_step_pending", html)
        self.assertIn("o_saas_timeline_step_waiting", html)
        self.assertNotIn("o_saas_timeline_decision", html)
        request.with_user(self.approver_a).action_approve(comment="Figures <checked>")
        request.with_user(self.approver_b).action_approve(comment="Budget available")
        request.invalidate_recordset(["timeline_html"])
        html = str(request.with_user(self.requester).timeline_html)
        first, second = html.index("Controller check"), html.index("Director sign-off")
        alice, bob = html.index("Alice Approver"), html.index("Bob Approver")
        self.assertLess(first, alice)
        self.assertLess(alice, second)
        self.assertLess(second, bob)
        self.assertLess(html.index("Figures &lt;checked&gt;"), html.index("Budget available"))
        self.assertEqual(html.count("o_saas_timeline_decision\""), 2)
        self.assertNotIn("o_saas_timeline_step_pending", html)
        self.assertEqual(html.count("o_saas_timeline_step_approved"), 2)
        self.assertIn("o_saas_timeline_closed_approved", html)

    def test_approve_from_activity(self):
        self.make_policy([self.users_step(self.approver_a | self.approver_b)])
        partner = self.make_company()
        self.archive_as(self.requester, partner)
        request = self.request_for(partner)
        activities = self.approval_activities(partner)
        self.assertEqual(activities.user_id, self.approver_a | self.approver_b)
        mine = activities.filtered(lambda a: a.user_id == self.approver_b)
        # "Mark as done" is not a decision
        with self.assertRaises(UserError):
            mine.with_user(self.approver_b).action_feedback(feedback="ok")
        mine.with_user(self.approver_b).action_saas_approve()
        self.assertEqual(request.state, "approved")
        decision = request.decision_ids
        self.assertEqual(decision.channel, "activity")
        self.assertEqual(decision.user_id, self.approver_b)
        # the other approver's activity is removed when the step completes
        self.assertFalse(self.approval_activities(partner))

    def test_oversight_step_never_blocks(self):
        self.make_policy([
            self.users_step(self.approver_a, name="Audit", kind="oversight"),
        ])
        partner = self.make_company()
        self.archive_as(self.requester, partner)
        self.assertFalse(partner.active)
        request = self.request_for(partner)
        self.assertEqual(request.state, "approved")
        step = request.step_ids
        self.assertEqual(step.state, "pending")
        # archiving removes the partner's activities; the review stays in "My approvals"
        mine = self.env["saas.approval.request.step"].with_user(self.approver_a).search(
            [("can_decide", "=", True)])
        self.assertEqual(mine, step)
        step.with_user(self.approver_a).action_reject(reason="Should have been discussed first")
        self.assertEqual(step.state, "rejected")
        self.assertEqual(request.state, "approved")

    def test_step_below_min_amount_auto_skips(self):
        # no amount field: min_amount is ignored, the step always applies
        self.make_policy([self.users_step(self.approver_a, min_amount=5000)])
        partner = self.make_company()
        self.archive_as(self.requester, partner)
        self.assertTrue(partner.active)

    def test_policy_priority(self):
        low = self.make_policy([self.users_step(self.approver_a)], sequence=20, name="Low")
        high = self.make_policy([self.users_step(self.approver_b)], sequence=5, name="High")
        partner = self.make_company()
        self.archive_as(self.requester, partner)
        request = self.request_for(partner)
        self.assertEqual(request.policy_id, high)
        high.active = False
        self.archive_as(self.requester, self.make_company("Other Corp"))
        self.assertEqual(self.request_for(self.env["res.partner"].search(
            [("name", "=", "Other Corp")])).policy_id, low)

    def test_unguarded_after_policy_archived(self):
        policy = self.make_policy([self.users_step(self.approver_a)])
        policy.active = False
        partner = self.make_company()
        self.archive_as(self.requester, partner)
        self.assertFalse(partner.active)

    def test_invalid_method_refused(self):
        with self.assertRaises(ValidationError):
            self.make_policy([self.users_step(self.approver_a)], method_name="write")
        with self.assertRaises(ValidationError):
            self.make_policy([self.users_step(self.approver_a)], method_name="_private")
        with self.assertRaises(ValidationError):
            self.make_policy([self.users_step(self.approver_a)], method_name="no_such_method")

    def test_document_without_chatter(self):
        """A guarded model without chatter or activities (contact tags): the
        activities and notes go to the request, which is then the place to work."""
        tag_model = self.env["ir.model"]._get("res.partner.category")
        self.make_policy([self.users_step(self.approver_a | self.approver_b)],
                         model_id=tag_model.id, filter_domain="[]")
        tag = self.env["res.partner.category"].create({"name": "Key account"})
        result = tag.with_user(self.requester).action_archive()
        self.assertTrue(result["saas_approval"]["blocked"])
        self.assertTrue(tag.active)
        request = self.request_for(tag)
        self.assertEqual(request.state, "pending")
        activities = self.env["mail.activity"].sudo().search(
            [("saas_approval_step_id", "in", request.step_ids.ids)])
        self.assertEqual(activities.user_id, self.approver_a | self.approver_b)
        self.assertEqual(set(activities.mapped("res_model")), {"saas.approval.request"})
        self.assertEqual(set(activities.mapped("res_id")), {request.id})
        self.assertEqual(set(activities.mapped("res_name")), {request.display_name})
        note = request.message_ids.filtered(lambda m: "Approval requested" in (m.body or ""))
        self.assertEqual(len(note), 1)
        approver = activities[0].user_id
        activities[0].with_user(approver).action_saas_approve()
        self.assertEqual(request.state, "approved")
        self.assertFalse(activities.exists())
        bodies = " ".join(request.message_ids.mapped("body"))
        self.assertIn(f"{approver.name} approved step", bodies)
        self.assertIn("can now be completed", bodies)
        tag.with_user(self.requester).action_archive()
        self.assertFalse(tag.active)
