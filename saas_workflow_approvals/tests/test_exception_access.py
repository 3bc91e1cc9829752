from ast import literal_eval

from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from .common import ApprovalCase


@tagged("post_install", "-at_install")
class TestExceptionQueue(ApprovalCase):
    def test_empty_group_goes_to_exception_then_retry(self):
        group = self.env["res.groups"].create({"name": "Empty approvers"})
        self.make_policy([{"name": "Board", "approver_type": "group", "group_id": group.id}])
        partner = self.make_company()
        result = self.archive_as(self.requester, partner)
        self.assertTrue(partner.active)
        request = self.request_for(partner)
        self.assertEqual(request.state, "exception")
        self.assertIn("Board", request.exception_reason)
        self.assertIn("administrator", result["params"]["message"])
        queue = self.env.ref("saas_workflow_approvals.action_approval_exception_queue")
        self.assertIn(request, self.Request.search(literal_eval(queue.domain)))
        # calling again does not create a second request
        self.archive_as(self.requester, partner)
        self.assertEqual(self.request_for(partner), request)
        with self.assertRaises(AccessError):
            request.with_user(self.requester).action_retry()
        group.users = self.approver_b
        request.with_user(self.admin_mgr).action_retry()
        self.assertEqual(request.state, "pending")
        self.assertEqual(request.step_ids.approver_ids, self.approver_b)
        request.with_user(self.approver_b).action_approve()
        self.archive_as(self.requester, partner)
        self.assertFalse(partner.active)

    def test_missing_manager_goes_to_exception(self):
        self.make_policy([{"name": "Requester's manager", "approver_type": "requester_manager"}])
        partner = self.make_company()
        self.archive_as(self.requester, partner)
        self.assertEqual(self.request_for(partner).state, "exception")

    def test_record_field_path(self):
        self.make_policy([{"name": "Salesperson", "approver_type": "record_field",
                           "field_path": "user_id"}])
        partner = self.make_company(user_id=self.approver_c.id)
        self.archive_as(self.requester, partner)
        request = self.request_for(partner)
        self.assertEqual(request.step_ids.approver_ids, self.approver_c)
        nobody = self.make_company("No salesperson")
        self.archive_as(self.requester, nobody)
        self.assertEqual(self.request_for(nobody).state, "exception")


@tagged("post_install", "-at_install")
class TestAccessRights(ApprovalCase):
    def test_users_cannot_configure_policies(self):
        with self.assertRaises(AccessError):
            self.env["saas.approval.policy"].with_user(self.requester).create({
                "name": "Mine", "model_id": self.partner_model.id, "method_name": "action_archive",
            })
        policy = self.make_policy([self.users_step(self.approver_a)])
        with self.assertRaises(AccessError):
            policy.with_user(self.requester).write({"active": False})
        policy.with_user(self.admin_mgr).write({"name": "Renamed"})

    def test_requests_cannot_be_created_directly(self):
        policy = self.make_policy([self.users_step(self.approver_a)])
        with self.assertRaises(AccessError):
            self.Request.with_user(self.admin_mgr).create({
                "res_model": "res.partner", "res_id": 1, "policy_id": policy.id,
                "method_name": "action_archive", "requester_id": self.admin_mgr.id,
            })
        with self.assertRaises(AccessError):
            self.Request.sudo().create({
                "res_model": "res.partner", "res_id": 1, "policy_id": policy.id,
                "method_name": "action_archive", "requester_id": self.admin_mgr.id,
            })

    def test_pending_approval_activity_cannot_be_cancelled(self):
        self.make_policy([self.users_step(self.approver_a)])
        partner = self.make_company()
        self.archive_as(self.requester, partner)
        activity = self.approval_activities(partner)
        with self.assertRaises(UserError):
            activity.with_user(self.approver_a).unlink()
        self.assertTrue(activity.exists())

    def test_multi_company_isolation(self):
        company_b = self.env["res.company"].create({"name": "Company B"})
        user_b = new_test_user(self.env, "apr_user_b", groups="base.group_user",
                               company_id=company_b.id, company_ids=[(6, 0, company_b.ids)])
        self.make_policy([self.users_step(self.approver_a)])
        partner = self.make_company(company_id=self.env.company.id)
        self.archive_as(self.requester, partner)
        request = self.request_for(partner)
        self.assertEqual(request.company_id, self.env.company)
        self.assertFalse(self.Request.with_user(user_b).search([("id", "=", request.id)]))
        self.assertTrue(self.Request.with_user(self.outsider).search([("id", "=", request.id)]))
