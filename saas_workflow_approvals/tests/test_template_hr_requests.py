from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged
from odoo.tests.common import TransactionCase

FULFIL = "saas_workflow_approvals.mail_activity_type_internal_request_fulfil"


@tagged("post_install", "-at_install")
class TestTemplateHrRequests(TransactionCase):
    """The HR and internal requests template end to end on real Odoo (with hr)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.has_hr = "hr.employee" in cls.env
        if not cls.has_hr:
            return
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        user = "base.group_user"
        cls.employee = new_test_user(cls.env, "hrq_employee", groups=user, name="Emma Employee")
        cls.manager = new_test_user(cls.env, "hrq_manager", groups=user, name="Mark Manager")
        cls.head = new_test_user(cls.env, "hrq_head", groups=user, name="Hannah Head")
        cls.finance = new_test_user(cls.env, "hrq_finance", groups=user, name="Fred Finance")
        cls.it = new_test_user(cls.env, "hrq_it", groups=user, name="Ian IT")
        cls.outsider = new_test_user(cls.env, "hrq_outsider", groups=user, name="Olga Outsider")
        Employee = cls.env["hr.employee"]
        head_emp = Employee.create({"name": "Hannah Head", "user_id": cls.head.id})
        manager_emp = Employee.create({"name": "Mark Manager", "user_id": cls.manager.id})
        cls.department = cls.env["hr.department"].create(
            {"name": "Support team", "manager_id": head_emp.id})
        cls.employee_emp = Employee.create({
            "name": "Emma Employee", "user_id": cls.employee.id,
            "department_id": cls.department.id, "parent_id": manager_emp.id,
        })
        cls.template = cls.env["saas.workflow.template"]._by_code("hr_requests")
        cls.set_params(finance_approver=cls.finance, fulfiller=cls.it, approval_threshold=1000.0,
                       fulfilment_days=3)
        cls.workflow = cls.template._activate(owner=cls.env.ref("base.user_admin"))
        cls.equipment = cls.template._template_record("category_equipment")
        cls.software = cls.template._template_record("category_software")

    @classmethod
    def set_params(cls, **values):
        for param in cls.template.param_ids:
            if param.key in values:
                value = values[param.key]
                field = {"user": "value_user_id", "float": "value_float",
                         "integer": "value_integer"}[param.value_type]
                param[field] = value

    def setUp(self):
        super().setUp()
        if not self.has_hr:
            self.skipTest("needs hr")

    # ------------------------------------------------------------------ helpers
    def make(self, cost=300.0, category=None, name="Laptop stand"):
        return self.env["saas.internal.request"].with_user(self.employee).create({
            "name": name,
            "category_id": (category or self.equipment).id,
            "estimated_cost": cost,
            "description": "For the new desk.",
        })

    def notified(self, request, text):
        """Messages on ``request`` that notified the requester and contain ``text``."""
        partner = self.employee.partner_id
        return request.message_ids.filtered(
            lambda m: text in (m.body or "") and partner in m.notification_ids.res_partner_id
        )

    def approval_activity(self, request, user):
        return self.env["mail.activity"].search([
            ("res_model", "=", request._name), ("res_id", "=", request.id),
            ("saas_approval_step_id", "!=", False), ("user_id", "=", user.id),
        ])

    def fulfil_activity(self, request):
        return self.env["mail.activity"].search([
            ("res_model", "=", request._name), ("res_id", "=", request.id),
            ("activity_type_id", "=", self.env.ref(FULFIL).id),
        ])

    def events(self, code, request):
        return self.env["saas.workflow.event"].search(
            [("code", "=", code), ("res_model", "=", request._name),
             ("res_id", "=", request.id)])

    # -------------------------------------------------------------------- tests
    def test_catalog_and_activation(self):
        self.assertEqual(self.template.state, "active")
        self.assertEqual(self.workflow.code, "hr_requests")
        self.assertTrue(self.workflow.active)
        self.assertIn("Exception path", self.template.description)
        self.assertIn("Approval time", self.template.kpi_description)
        self.assertEqual(self.equipment.responsible_id, self.it)
        policies = self.env["saas.approval.policy"].search(
            [("model_name", "=", "saas.internal.request")])
        self.assertEqual(len(policies), 2)
        self.assertEqual(set(policies.mapped("method_name")), {"action_approve"})
        emitted = set(self.workflow.emitted_type_ids.mapped("code"))
        self.assertIn("internal.request.approved", emitted)
        # activating again (after changing a parameter) updates, never duplicates
        links = len(self.template.record_ids)
        self.set_params(approval_threshold=2000.0)
        self.template._activate()
        self.assertEqual(len(self.template.record_ids), links)
        self.assertEqual(len(self.env["saas.approval.policy"].search(
            [("model_name", "=", "saas.internal.request")])), 2)
        finance_policy = self.template._template_record("policy_finance")
        self.assertEqual(finance_policy.amount_threshold, 2000.0)
        self.assertEqual(len(finance_policy.step_ids), 2)
        self.assertEqual(self.env["saas.internal.request.category"].search_count(
            [("id", "in", (self.equipment | self.software).ids)]), 2)

    def test_end_to_end_above_threshold(self):
        request = self.make(cost=1500.0)
        self.assertEqual(request.state, "draft")
        self.assertTrue(request.reference.startswith("REQ/"))
        result = request.with_user(self.employee).action_submit()
        # blocked by the policy: the client is told who must approve
        self.assertEqual(result["tag"], "display_notification")
        self.assertEqual(request.state, "submitted")
        self.assertEqual(request.manager_user_id, self.manager)
        self.assertEqual(request.route_source, "manager")
        self.assertEqual(request.employee_name, "Emma Employee")
        self.assertEqual(request.department_name, "Support team")
        self.assertTrue(self.notified(request, "was submitted and sent to Mark Manager"))
        self.assertEqual(len(self.events("internal.request.submitted", request)), 1)
        approval = request.approval_request_id
        self.assertEqual(approval.state, "pending")
        self.assertEqual(approval.policy_id, self.template._template_record("policy_finance"))
        self.assertEqual(approval.amount, 1500.0)
        # the manager has the approval activity; nobody else does yet
        activity = self.approval_activity(request, self.manager)
        self.assertEqual(len(activity), 1)
        self.assertFalse(self.approval_activity(request, self.finance))
        self.assertFalse(self.fulfil_activity(request))
        # the manager approves from the activity: the requester is told
        activity.with_user(self.manager).action_saas_approve()
        self.assertEqual(request.state, "submitted")
        self.assertTrue(self.notified(request, "Mark Manager approved step"))
        finance_activity = self.approval_activity(request, self.finance)
        self.assertEqual(len(finance_activity), 1)
        # the finance approver approves from the form button
        request.with_user(self.finance).action_approve_step()
        self.assertEqual(approval.state, "approved")
        self.assertEqual(request.state, "approved")
        self.assertTrue(self.notified(request, "Fred Finance approved step"))
        self.assertTrue(self.notified(request, "is approved; Ian IT will fulfil it"))
        self.assertEqual(len(self.events("internal.request.approved", request)), 1)
        fulfil = self.fulfil_activity(request)
        self.assertEqual(fulfil.user_id, self.it)
        self.assertEqual(fulfil.date_deadline,
                         fields.Date.add(fields.Date.context_today(request), days=3))
        # only the fulfiller (or an approval manager) marks it done
        with self.assertRaises(AccessError):
            request.with_user(self.employee).action_done()
        request.with_user(self.it).action_done()
        self.assertEqual(request.state, "done")
        self.assertFalse(fulfil.exists())
        self.assertTrue(self.notified(request, "is done (Ian IT)"))
        self.assertEqual(len(self.events("internal.request.done", request)), 1)
        self.assertGreaterEqual(request.approval_hours, 0.0)
        self.assertTrue(request.done_at)

    def test_below_threshold_only_manager(self):
        request = self.make(cost=200.0)
        request.with_user(self.employee).action_submit()
        approval = request.approval_request_id
        self.assertEqual(approval.policy_id, self.template._template_record("policy_manager"))
        self.assertEqual(len(approval.step_ids), 1)
        self.approval_activity(request, self.manager).with_user(self.manager).action_saas_approve()
        self.assertEqual(request.state, "approved")
        self.assertTrue(self.fulfil_activity(request))

    def test_department_manager_when_no_direct_manager(self):
        self.employee_emp.parent_id = False
        request = self.make()
        request.with_user(self.employee).action_submit()
        self.assertEqual(request.manager_user_id, self.head)
        self.assertEqual(request.route_source, "department")
        self.assertTrue(self.approval_activity(request, self.head))

    def test_category_responsible_without_employee(self):
        self.employee_emp.user_id = False
        request = self.make()
        request.with_user(self.employee).action_submit()
        self.assertEqual(request.manager_user_id, self.it)
        self.assertEqual(request.route_source, "category")
        self.assertFalse(request.employee_name)
        self.assertTrue(self.approval_activity(request, self.it))

    def test_rejection_path(self):
        request = self.make(cost=1500.0)
        request.with_user(self.employee).action_submit()
        activity = self.approval_activity(request, self.manager)
        with self.assertRaises(UserError):
            activity.with_user(self.manager).action_saas_reject(reason=" ")
        activity.with_user(self.manager).action_saas_reject(reason="Budget frozen")
        self.assertEqual(request.state, "rejected")
        self.assertEqual(request.reject_reason, "Budget frozen")
        self.assertEqual(request.approval_request_id.state, "rejected")
        self.assertTrue(self.notified(request, "was rejected by Mark Manager: Budget frozen"))
        self.assertEqual(len(self.events("internal.request.rejected", request)), 1)
        self.assertFalse(self.approval_activity(request, self.finance))
        self.assertFalse(self.fulfil_activity(request))
        # the requester can reopen, change and submit again: a new approval request
        request.with_user(self.employee).action_reset_draft()
        request.with_user(self.employee).estimated_cost = 900.0
        request.with_user(self.employee).action_submit()
        self.assertEqual(request.state, "submitted")
        self.assertEqual(request.approval_request_id.state, "pending")
        self.assertEqual(request.approval_request_id.policy_id,
                         self.template._template_record("policy_manager"))

    def test_unauthorized_approver_is_refused_and_nothing_changes(self):
        request = self.make(cost=1500.0)
        request.with_user(self.employee).action_submit()
        approval = request.approval_request_id
        step = approval.step_ids.filtered(lambda s: s.state == "pending")
        messages = len(request.message_ids)
        # somebody who is not an approver of the step
        with self.assertRaisesRegex(AccessError, "not an approver of this step"):
            step.with_user(self.outsider).action_approve()
        # the finance approver, whose step is not open yet
        with self.assertRaisesRegex(AccessError, "not an approver of this step"):
            step.with_user(self.finance).action_approve()
        # the requester on their own request
        with self.assertRaisesRegex(AccessError, "your own request"):
            step.with_user(self.employee).action_approve()
        # running the guarded action again only points at the pending approval
        result = request.with_user(self.manager).action_approve()
        self.assertEqual(result["tag"], "display_notification")
        self.assertEqual(result["saas_approval"]["request_ids"], approval.ids)
        self.assertEqual(request.state, "submitted")
        self.assertEqual(approval.state, "pending")
        self.assertFalse(approval.decision_ids)
        self.assertEqual(step.state, "pending")
        self.assertEqual(len(request.message_ids), messages)
        self.assertTrue(self.approval_activity(request, self.manager))
        # a draft request cannot be edited once submitted
        with self.assertRaises(UserError):
            request.with_user(self.employee).estimated_cost = 10.0
        # the state is driven by the workflow only
        with self.assertRaises(AccessError):
            request.with_user(self.employee).write({"state": "approved"})

    def test_unroutable_step_goes_to_the_exception_queue(self):
        # the finance approver asks for something above the threshold: nobody else can
        # approve the finance step, an administrator must decide
        self.set_params(finance_approver=self.employee)
        self.template._activate()
        request = self.make(cost=5000.0)
        request.with_user(self.employee).action_submit()
        approval = request.approval_request_id
        self.assertEqual(approval.state, "exception")
        self.assertIn("Finance", approval.exception_reason)
        self.assertEqual(request.state, "submitted")
        self.assertTrue(self.notified(request, "waits for an administrator"))
        self.assertFalse(self.fulfil_activity(request))

    def test_category_without_approval(self):
        self.software.approval_rule = "none"
        request = self.make(cost=0.0, category=self.software, name="Wiki access")
        request.with_user(self.employee).action_submit()
        self.assertEqual(request.state, "approved")
        self.assertFalse(request.approval_request_id)
        self.assertEqual(self.fulfil_activity(request).user_id, self.it)

    def test_switch_off_keeps_history(self):
        request = self.make(cost=200.0)
        request.with_user(self.employee).action_submit()
        approval = request.approval_request_id
        self.approval_activity(request, self.manager).with_user(self.manager).action_saas_approve()
        self.assertEqual(request.state, "approved")
        pending = self.make(cost=100.0, name="Keyboard")
        pending.with_user(self.employee).action_submit()
        self.template.action_deactivate()
        self.assertEqual(self.template.state, "inactive")
        self.assertFalse(self.workflow.active)
        policies = self.env["saas.approval.policy"].with_context(active_test=False).search(
            [("model_name", "=", "saas.internal.request")])
        self.assertTrue(policies)
        self.assertFalse(any(policies.mapped("active")))
        self.assertFalse(self.equipment.active)
        # history is kept
        self.assertTrue(request.exists())
        self.assertEqual(request.state, "approved")
        self.assertEqual(approval.state, "approved")
        self.assertTrue(approval.decision_ids)
        self.assertTrue(self.events("internal.request.approved", request))
        # no new submission while switched off
        draft = self.make(cost=50.0, name="Mouse")
        with self.assertRaisesRegex(UserError, "switched off"):
            draft.with_user(self.employee).action_submit()
        # without the guard, only an approval manager may approve a waiting request
        with self.assertRaises(AccessError):
            pending.with_user(self.manager).action_approve()
        # switching on again reuses what exists
        links = len(self.template.record_ids)
        self.template._activate()
        self.assertEqual(len(self.template.record_ids), links)
        self.assertTrue(self.equipment.active)
        self.assertTrue(all(policies.mapped("active")))
        draft.with_user(self.employee).action_submit()
        self.assertEqual(draft.state, "submitted")
