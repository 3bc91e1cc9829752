from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged
from odoo.tests.common import TransactionCase

ONBOARDING = "saas_workflow_approvals.mail_activity_type_vendor_onboarding"


@tagged("post_install", "-at_install")
class TestTemplateProcurement(TransactionCase):
    """Procurement and spend control end to end on real purchase orders (needs ``purchase``;
    the department manager tier needs ``hr``)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.skip_all = "purchase.order" not in cls.env
        if cls.skip_all:
            return
        cls.has_hr = "hr.employee" in cls.env
        purchase_groups = "base.group_user,purchase.group_purchase_user"
        cls.requester = new_test_user(cls.env, "proc_requester", groups=purchase_groups,
                                      name="Rita Requester")
        cls.dept_manager = new_test_user(cls.env, "proc_manager", groups=purchase_groups,
                                         name="Dora Department")
        cls.director = new_test_user(cls.env, "proc_director", groups=purchase_groups,
                                     name="Finn Director")
        cls.procurement = new_test_user(cls.env, "proc_buyer", groups=purchase_groups,
                                        name="Pat Procurement")
        if cls.has_hr:
            Employee = cls.env["hr.employee"]
            boss = Employee.create({"name": "Dora Department", "user_id": cls.dept_manager.id})
            department = cls.env["hr.department"].create(
                {"name": "Operations (test)", "manager_id": boss.id}
            )
            Employee.create({"name": "Rita Requester", "user_id": cls.requester.id,
                             "department_id": department.id})
        # demo policies must not decide for the template's
        cls.env["saas.approval.policy"].search([("model_name", "=", "purchase.order")]).write(
            {"active": False}
        )
        cls.template = cls.env["saas.workflow.template"]._by_code("procurement")
        cls.set_params(finance_director=cls.director, procurement_user=cls.procurement,
                       auto_approve_limit=1000.0, manager_limit=10000.0)
        cls.template._activate()
        belgium = cls.env.ref("base.be")
        cls.vendor_ok = cls.env["res.partner"].create({
            "name": "Compliant Supplies SA", "is_company": True, "vat": "BE0477472701",
            "email": "ap@compliant.example", "country_id": belgium.id,
            "bank_ids": [(0, 0, {"acc_number": "BE71096123456769"})],
        })
        cls.vendor_new = cls.env["res.partner"].create(
            {"name": "Fresh Vendor BV", "is_company": True, "email": "hello@fresh.example"}
        )
        cls.product = cls.env["product.product"].create(
            {"name": "Laptop (test)", "type": "consu", "purchase_ok": True}
        )

    @classmethod
    def set_params(cls, **values):
        for param in cls.template.param_ids:
            if param.key in values:
                value = values[param.key]
                if param.value_type == "user":
                    param.value_user_id = value
                else:
                    param[f"value_{param.value_type}"] = value

    def setUp(self):
        super().setUp()
        if self.skip_all:
            self.skipTest("purchase is not installed")

    # ------------------------------------------------------------------ helpers
    def make_order(self, vendor, amount):
        return self.env["purchase.order"].with_user(self.requester).create({
            "partner_id": vendor.id,
            "order_line": [(0, 0, {
                "product_id": self.product.id, "product_qty": 1, "price_unit": amount,
                "taxes_id": [(6, 0, [])],
            })],
        })

    def request_for(self, order):
        return self.env["saas.approval.request"].search(
            [("res_model", "=", "purchase.order"), ("res_id", "=", order.id)],
            order="id desc", limit=1,
        )

    def onboarding(self, vendor):
        return self.env["mail.activity"].with_context(active_test=False).search([
            ("res_model", "=", "res.partner"), ("res_id", "=", vendor.id),
            ("activity_type_id", "=", self.env.ref(ONBOARDING).id),
        ])

    def complete(self, vendor):
        vendor.write({
            "vat": "NL004495445B01", "country_id": self.env.ref("base.nl").id,
            "bank_ids": [(0, 0, {"acc_number": "NL91ABNA0417164300"})],
        })

    # -------------------------------------------------------------------- tiers
    def test_up_to_auto_limit_confirms_directly(self):
        order = self.make_order(self.vendor_ok, 1000.0)
        order.with_user(self.requester).button_confirm()
        self.assertEqual(order.state, "purchase")
        self.assertFalse(self.request_for(order))

    def test_up_to_manager_limit_needs_the_department_manager(self):
        if not self.has_hr:
            self.skipTest("hr is not installed")
        order = self.make_order(self.vendor_ok, 5000.0)
        result = order.with_user(self.requester).button_confirm()
        self.assertTrue(result["saas_approval"]["blocked"])
        self.assertEqual(order.state, "draft")
        request = self.request_for(order)
        self.assertEqual(request.policy_id, self.template._template_record("purchase_policy"))
        self.assertEqual(request.state, "pending")
        self.assertEqual(request.current_approver_ids, self.dept_manager)
        self.assertEqual(
            request.step_ids.filtered(lambda s: s.state == "skipped").mapped("name"),
            ["Finance director"],
        )
        request.with_user(self.dept_manager).action_approve()
        self.assertEqual(request.state, "approved")
        order.with_user(self.requester).button_confirm()
        self.assertEqual(order.state, "purchase")

    def test_above_manager_limit_also_needs_the_finance_director(self):
        if not self.has_hr:
            self.skipTest("hr is not installed")
        order = self.make_order(self.vendor_ok, 25000.0)
        order.with_user(self.requester).button_confirm()
        request = self.request_for(order)
        self.assertEqual(request.current_approver_ids, self.dept_manager)
        request.with_user(self.dept_manager).action_approve()
        self.assertEqual(request.state, "pending")
        self.assertEqual(request.current_approver_ids, self.director)
        with self.assertRaises(AccessError):
            request.with_user(self.dept_manager).action_approve()
        request.with_user(self.director).action_approve()
        self.assertEqual(request.state, "approved")
        order.with_user(self.requester).button_confirm()
        self.assertEqual(order.state, "purchase")

    def test_limits_come_from_the_parameters(self):
        self.set_params(auto_approve_limit=6000.0, manager_limit=8000.0)
        self.template._activate()
        order = self.make_order(self.vendor_ok, 5000.0)
        order.with_user(self.requester).button_confirm()
        self.assertEqual(order.state, "purchase")
        self.set_params(auto_approve_limit=9000.0, manager_limit=100.0)
        with self.assertRaisesRegex(UserError, "limits"):
            self.template._activate()

    # ------------------------------------------------------------ vendor checks
    def test_vendor_checks_block_with_a_message_and_pass_once_complete(self):
        order = self.make_order(self.vendor_new, 500.0)
        with self.assertRaises(UserError) as caught:
            order.with_user(self.requester).button_confirm()
        message = str(caught.exception)
        self.assertIn("Fresh Vendor BV", message)
        self.assertIn(order.name, message)
        for missing in ("missing a tax ID (VAT)", "missing a country", "missing a bank account"):
            self.assertIn(missing, message)
        self.assertNotIn("email", message)
        self.assertEqual(order.state, "draft")

        self.complete(self.vendor_new)
        order.with_user(self.requester).button_confirm()
        self.assertEqual(order.state, "purchase")

    def test_vendor_checks_run_before_any_approval_request(self):
        order = self.make_order(self.vendor_new, 5000.0)
        with self.assertRaisesRegex(UserError, "missing a bank account"):
            order.with_user(self.requester).button_confirm()
        self.assertFalse(self.request_for(order), "approvers are not asked about it")

    def test_blocked_vendor_is_refused_even_when_complete(self):
        self.vendor_ok.write({"purchase_warn": "block", "purchase_warn_msg": "Quality dispute"})
        order = self.make_order(self.vendor_ok, 200.0)
        with self.assertRaisesRegex(UserError, "blocked for purchases \\(Quality dispute\\)"):
            order.with_user(self.requester).button_confirm()

    def test_checks_also_guard_a_direct_state_change(self):
        order = self.make_order(self.vendor_new, 200.0)
        with self.assertRaisesRegex(UserError, "onboarding checks"):
            order.write({"state": "purchase"})

    def test_new_vendor_gets_an_onboarding_checklist(self):
        order = self.make_order(self.vendor_new, 300.0)
        event = self.env["saas.workflow.event"].search([
            ("code", "=", "procurement.vendor_selected"),
            ("res_model", "=", "purchase.order"), ("res_id", "=", order.id),
        ])
        self.assertEqual(len(event), 1)
        self.env["saas.workflow.delivery"]._dispatch()
        activity = self.onboarding(self.vendor_new)
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, self.procurement)
        self.assertIn("Missing a bank account", str(activity.note))
        self.assertTrue(self.env["saas.workflow.event"].search_count([
            ("code", "=", "procurement.onboarding_requested"),
            ("res_model", "=", "res.partner"), ("res_id", "=", self.vendor_new.id),
        ]))
        # a second request to the same vendor does not pile up checklists
        self.make_order(self.vendor_new, 400.0)
        self.env["saas.workflow.delivery"]._dispatch()
        self.assertEqual(len(self.onboarding(self.vendor_new)), 1)
        # a compliant vendor gets none
        self.make_order(self.vendor_ok, 400.0)
        self.env["saas.workflow.delivery"]._dispatch()
        self.assertFalse(self.onboarding(self.vendor_ok))
        # once complete and confirmed, the checklist is done
        self.complete(self.vendor_new)
        order.with_user(self.requester).button_confirm()
        self.assertFalse(activity.active)
        self.assertTrue(activity.date_done)

    # ----------------------------------------------------------- switch off/on
    def test_switch_off_keeps_history_and_reactivation_does_not_duplicate(self):
        if not self.has_hr:
            self.skipTest("hr is not installed")
        order = self.make_order(self.vendor_ok, 5000.0)
        order.with_user(self.requester).button_confirm()
        request = self.request_for(order)
        self.assertEqual(request.state, "pending")
        links = self.template.record_ids
        created = {link.key: link._record() for link in links}
        self.assertEqual(
            set(created),
            {"purchase_policy", "vendor_gate", "vendor_source", "onboarding_subscription"},
        )

        self.template.action_deactivate()
        for key, record in created.items():
            self.assertFalse(record.active, key)
        self.assertEqual(request.state, "pending", "requests in flight are kept")
        self.assertTrue(request.step_ids)
        other = self.make_order(self.vendor_new, 5000.0)
        other.with_user(self.requester).button_confirm()
        self.assertEqual(other.state, "purchase", "no checks, no approvals while switched off")
        self.env["saas.workflow.delivery"]._dispatch()
        self.assertFalse(self.onboarding(self.vendor_new))

        self.template._activate()
        self.template._activate()
        self.assertEqual(self.template.record_ids, links)
        for key, record in created.items():
            self.assertTrue(record.active, key)
        policy = created["purchase_policy"]
        self.assertEqual(len(policy.step_ids), 2)
        self.assertEqual(self.env["saas.approval.policy"].search_count(
            [("model_name", "=", "purchase.order")]), 1)
        self.assertEqual(len(created["vendor_gate"].action_server_ids), 1)
        self.assertEqual(request.state, "pending")
        request.with_user(self.dept_manager).action_approve()
        order.with_user(self.requester).button_confirm()
        self.assertEqual(order.state, "purchase")
