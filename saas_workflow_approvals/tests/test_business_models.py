from datetime import timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import Form, new_test_user, tagged

from .common import ApprovalCase


class BusinessCase(ApprovalCase):
    """Policies configured on real business documents (no code per model)."""

    required_models = ()

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.missing = [m for m in cls.required_models if m not in cls.env]

    def setUp(self):
        super().setUp()
        if self.missing:
            self.skipTest(f"needs {', '.join(self.missing)}")

    def field(self, model, name):
        return self.env["ir.model.fields"]._get(model, name)

    def policy_on(self, model, method, steps, **vals):
        return self.Policy.create({
            "name": f"{model}.{method}",
            "model_id": self.env["ir.model"]._get_id(model),
            "method_name": method,
            "company_id": False,
            "step_ids": [(0, 0, step) for step in steps],
            **vals,
        })

    @classmethod
    def product(cls, name="Widget"):
        return cls.env["product.product"].create({
            "name": name,
            "type": "consu",
            "list_price": 100.0,
            "standard_price": 100.0,
            "taxes_id": [(6, 0, [])],
            "supplier_taxes_id": [(6, 0, [])],
        })

    def activity_of(self, record, user):
        return self.approval_activities(record).filtered(lambda a: a.user_id == user)


@tagged("post_install", "-at_install")
class TestPurchaseOrder(BusinessCase):
    required_models = ("purchase.order",)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.missing:
            return
        cls.buyer = new_test_user(cls.env, "apr_buyer", name="Bea Buyer",
                                  groups="base.group_user,purchase.group_purchase_user")
        cls.dept_manager = new_test_user(cls.env, "apr_dept_mgr", name="Dora Department",
                                         groups="base.group_user,purchase.group_purchase_user")
        cls.finance = new_test_user(cls.env, "apr_fin_dir", name="Finn Director",
                                    groups="base.group_user,purchase.group_purchase_manager")
        cls.vendor = cls.env["res.partner"].create({"name": "Vendor Ltd", "is_company": True})
        cls.widget = cls.product()
        cls.has_hr = "hr.employee" in cls.env
        if cls.has_hr:
            manager_emp = cls.env["hr.employee"].create({"name": "Dora Department",
                                                         "user_id": cls.dept_manager.id})
            department = cls.env["hr.department"].create({"name": "Operations",
                                                          "manager_id": manager_emp.id})
            cls.env["hr.employee"].create({"name": "Bea Buyer", "user_id": cls.buyer.id,
                                           "department_id": department.id})
        manager_step = (
            {"approver_type": "department_manager"} if cls.has_hr
            else {"approver_type": "users", "user_ids": [(6, 0, cls.dept_manager.ids)]}
        )
        # the demo thresholds: up to 1,000 no approval, up to 10,000 the department manager,
        # above that also the finance director
        cls.policy = cls.env["saas.approval.policy"].create({
            "name": "Purchase orders above 1,000",
            "model_id": cls.env["ir.model"]._get_id("purchase.order"),
            "method_name": "button_confirm",
            "filter_domain": "[('state', 'in', ('draft', 'sent'))]",
            "amount_field_id": cls.env["ir.model.fields"]._get("purchase.order", "amount_total").id,
            "currency_id": cls.env.company.currency_id.id,
            "amount_threshold": 1000.0,
            "company_id": False,
            "step_ids": [
                (0, 0, {"name": "Department manager", "sequence": 10, "timeout_hours": 48,
                        **manager_step}),
                (0, 0, {"name": "Finance director", "sequence": 20, "approver_type": "users",
                        "user_ids": [(6, 0, cls.finance.ids)], "min_amount": 10000.0}),
            ],
        })

    def order(self, price, qty=1, **vals):
        return self.env["purchase.order"].with_user(self.buyer).create({
            "partner_id": self.vendor.id,
            "order_line": [(0, 0, {"product_id": self.widget.id, "product_qty": qty,
                                   "price_unit": price})],
            **vals,
        })

    def test_small_order_needs_no_approval(self):
        po = self.order(800)
        po.button_confirm()
        self.assertEqual(po.state, "purchase")
        self.assertFalse(self.request_for(po, "button_confirm"))

    @freeze_time("2026-05-04 10:00:00")
    def test_medium_order_blocked_then_allowed(self):
        po = self.order(5000)
        result = po.button_confirm()
        self.assertEqual(po.state, "draft")
        self.assertEqual(result["tag"], "display_notification")
        self.assertIn("approval required", result["params"]["message"])
        request = self.request_for(po, "button_confirm")
        self.assertEqual(request.state, "pending")
        self.assertEqual(request.amount, 5000)
        manager_step, finance_step = request.step_ids.sorted("sequence")
        self.assertEqual(finance_step.state, "skipped")
        self.assertEqual(manager_step.approver_ids, self.dept_manager)
        activity = self.approval_activities(po)
        self.assertEqual(activity.user_id, self.dept_manager)
        self.assertEqual(activity.activity_type_id,
                         self.env.ref("saas_workflow_approvals.mail_activity_type_approval"))
        self.assertEqual(activity.date_deadline, fields.Date.to_date("2026-05-06"))
        # the buyer cannot approve their own order, the finance director is not asked
        with self.assertRaises(AccessError):
            manager_step.with_user(self.buyer).action_approve()
        with self.assertRaises(AccessError):
            manager_step.with_user(self.finance).action_approve()
        activity.with_user(self.dept_manager).action_saas_approve()
        self.assertEqual(request.state, "approved")
        self.assertFalse(activity.exists())
        po.button_confirm()
        self.assertEqual(po.state, "purchase")
        self.assertIn(request.name, " ".join(po.message_ids.mapped("body")))

    def test_large_order_needs_both_steps(self):
        po = self.order(6000, qty=2)
        po.button_confirm()
        request = self.request_for(po, "button_confirm")
        self.assertEqual(request.step_ids.mapped("state"), ["pending", "waiting"])
        self.activity_of(po, self.dept_manager).with_user(self.dept_manager).action_saas_approve()
        self.assertEqual(request.state, "pending")
        self.assertEqual(self.approval_activities(po).user_id, self.finance)
        po.button_confirm()
        self.assertEqual(po.state, "draft")
        self.activity_of(po, self.finance).with_user(self.finance).action_saas_approve()
        self.assertEqual(request.state, "approved")
        po.button_confirm()
        self.assertEqual(po.state, "purchase")
        self.assertEqual(request.decision_ids.mapped("channel"), ["activity", "activity"])

    def test_rejection_leaves_order_editable_with_reason(self):
        po = self.order(5000)
        po.button_confirm()
        request = self.request_for(po, "button_confirm")
        activity = self.approval_activities(po)
        wizard_action = activity.with_user(self.dept_manager).action_saas_reject()
        wizard = Form(self.env["saas.approval.reject.wizard"].with_user(self.dept_manager)
                      .with_context(**wizard_action["context"]))
        wizard.reason = "Ask two more quotes"
        wizard.save().action_confirm()
        self.assertEqual(request.state, "rejected")
        self.assertEqual(request.decision_ids.channel, "activity")
        self.assertEqual(po.state, "draft")
        self.assertIn("Ask two more quotes", po.message_ids[0].body)
        # still a draft the buyer can change and submit again
        po.with_user(self.buyer).order_line.write({"price_unit": 900})
        po.button_confirm()
        self.assertEqual(po.state, "purchase")

    def test_amount_raised_after_approval_needs_new_approval(self):
        po = self.order(5000)
        po.button_confirm()
        request = self.request_for(po, "button_confirm")
        request.with_user(self.dept_manager).action_approve()
        po.with_user(self.buyer).order_line.write({"product_qty": 3})
        po.button_confirm()
        self.assertEqual(po.state, "draft")
        self.assertEqual(request.state, "cancelled")
        new_request = self.request_for(po, "button_confirm")
        self.assertNotEqual(new_request, request)
        self.assertEqual(new_request.amount, 15000)
        self.assertEqual(new_request.step_ids.mapped("state"), ["pending", "waiting"])

    def test_amount_converted_to_policy_currency(self):
        company_currency = self.env.company.currency_id
        other = self.env["res.currency"].with_context(active_test=False).search(
            [("id", "!=", company_currency.id), ("name", "in", ("EUR", "USD", "GBP"))], limit=1)
        other.active = True
        self.env["res.currency.rate"].search(
            [("currency_id", "in", (other | company_currency).ids)]).unlink()
        # 1 company unit = 0.5 other unit: 800 in the other currency is 1,600 here
        self.env["res.currency.rate"].create({
            "currency_id": other.id, "rate": 0.5, "name": fields.Date.today() - timedelta(days=1),
            "company_id": self.env.company.id,
        })
        po = self.order(800, currency_id=other.id)
        po.button_confirm()
        request = self.request_for(po, "button_confirm")
        self.assertEqual(po.state, "draft")
        self.assertAlmostEqual(request.amount, 1600.0)
        self.assertEqual(request.currency_id, company_currency)


@tagged("post_install", "-at_install")
class TestCreditNote(BusinessCase):
    required_models = ("account.move",)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.missing:
            return
        cls.accountant = new_test_user(cls.env, "apr_accountant", name="Andy Accountant",
                                       groups="base.group_user,account.group_account_invoice")
        cls.finance = new_test_user(cls.env, "apr_finance", name="Fay Finance",
                                    groups="base.group_user,account.group_account_manager")
        cls.customer = cls.env["res.partner"].create({"name": "Customer Co", "is_company": True})
        cls.policy = cls.env["saas.approval.policy"].create({
            "name": "Credit notes above 500",
            "model_id": cls.env["ir.model"]._get_id("account.move"),
            "method_name": "action_post",
            "filter_domain": "[('move_type', 'in', ('out_refund', 'in_refund'))]",
            "amount_field_id": cls.env["ir.model.fields"]._get("account.move", "amount_total").id,
            "currency_id": cls.env.company.currency_id.id,
            "amount_threshold": 500.0,
            "company_id": False,
            "step_ids": [(0, 0, {"name": "Finance", "approver_type": "users",
                                 "user_ids": [(6, 0, cls.finance.ids)], "timeout_hours": 24})],
        })

    def move(self, move_type, price):
        return self.env["account.move"].with_user(self.accountant).create({
            "move_type": move_type,
            "partner_id": self.customer.id,
            "invoice_line_ids": [(0, 0, {"name": "Service", "quantity": 1, "price_unit": price,
                                         "tax_ids": [(6, 0, [])]})],
        })

    def test_invoices_and_small_credit_notes_post(self):
        invoice = self.move("out_invoice", 800)
        invoice.action_post()
        self.assertEqual(invoice.state, "posted")
        refund = self.move("out_refund", 300)
        refund.action_post()
        self.assertEqual(refund.state, "posted")
        self.assertFalse(self.request_for(refund, "action_post"))

    def test_credit_note_needs_finance(self):
        refund = self.move("out_refund", 800)
        refund.action_post()
        self.assertEqual(refund.state, "draft")
        request = self.request_for(refund, "action_post")
        self.assertEqual(request.state, "pending")
        self.assertEqual(len(self.events("approval.requested", request)), 1)
        activity = self.approval_activities(refund)
        self.assertEqual(activity.user_id, self.finance)
        with self.assertRaises(AccessError):
            request.with_user(self.accountant).action_approve()
        activity.with_user(self.finance).action_saas_approve()
        self.assertEqual(len(self.events("approval.approved", request)), 1)
        refund.action_post()
        self.assertEqual(refund.state, "posted")

    def test_rejected_credit_note_stays_draft(self):
        refund = self.move("in_refund", 1200)
        refund.action_post()
        request = self.request_for(refund, "action_post")
        request.with_user(self.finance).action_reject(reason="No return received")
        self.assertEqual(request.state, "rejected")
        self.assertEqual(refund.state, "draft")
        self.assertIn("No return received", refund.message_ids[0].body)
        self.assertEqual(len(self.events("approval.rejected", request)), 1)
        refund.with_user(self.accountant).write({"ref": "partial return"})
        refund.action_post()
        self.assertEqual(refund.state, "draft")
        self.assertEqual(self.request_for(refund, "action_post").state, "pending")


@tagged("post_install", "-at_install")
class TestSaleDiscount(BusinessCase):
    required_models = ("sale.order",)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.missing:
            return
        cls.salesman = new_test_user(cls.env, "apr_salesman", name="Sid Salesman",
                                     groups="base.group_user,sales_team.group_sale_salesman")
        cls.sales_manager = new_test_user(
            cls.env, "apr_sales_mgr", name="Sue Sales-Manager",
            groups="base.group_user,sales_team.group_sale_manager")
        cls.customer = cls.env["res.partner"].create({"name": "Client SA", "is_company": True})
        cls.widget = cls.product()
        cls.policy = cls.env["saas.approval.policy"].create({
            "name": "Discounts above 20%",
            "model_id": cls.env["ir.model"]._get_id("sale.order"),
            "method_name": "action_confirm",
            "filter_domain": "[('order_line.discount', '>', 20)]",
            "company_id": False,
            "step_ids": [(0, 0, {"name": "Sales manager", "approver_type": "users",
                                 "user_ids": [(6, 0, cls.sales_manager.ids)]})],
        })

    def order(self, discount):
        return self.env["sale.order"].with_user(self.salesman).create({
            "partner_id": self.customer.id,
            "order_line": [(0, 0, {"product_id": self.widget.id, "product_uom_qty": 10,
                                   "price_unit": 100, "discount": discount})],
        })

    def test_normal_discount_confirms(self):
        so = self.order(10)
        so.action_confirm()
        self.assertEqual(so.state, "sale")

    def test_big_discount_needs_sales_manager(self):
        so = self.order(25)
        so.action_confirm()
        self.assertEqual(so.state, "draft")
        request = self.request_for(so, "action_confirm")
        self.assertFalse(request.amount)
        with self.assertRaises(AccessError):
            request.with_user(self.salesman).action_approve()
        self.approval_activities(so).with_user(self.sales_manager).action_saas_approve()
        so.action_confirm()
        self.assertEqual(so.state, "sale")

    def test_discount_raised_after_approval_needs_new_approval(self):
        so = self.order(25)
        so.action_confirm()
        request = self.request_for(so, "action_confirm")
        request.with_user(self.sales_manager).action_approve()
        so.with_user(self.salesman).order_line.write({"discount": 40})
        so.action_confirm()
        self.assertEqual(so.state, "draft")
        self.assertEqual(request.state, "cancelled")
        self.assertEqual(self.request_for(so, "action_confirm").state, "pending")


@tagged("post_install", "-at_install")
class TestDemoData(BusinessCase):
    required_models = ("purchase.order", "account.move", "sale.order")

    def test_demo_policies_for_installed_apps(self):
        if not self.env.ref("saas_workflow_approvals.demo_user_finance", raise_if_not_found=False):
            self.skipTest("installed without demo data")
        policies = self.Policy.with_context(active_test=False).search([
            ("model_name", "in", ("purchase.order", "account.move", "sale.order")),
            ("name", "in", ("Purchase orders above 1,000", "Credit notes above 500",
                            "Discounts above 20%")),
        ])
        by_model = {p.model_name: p for p in policies}
        self.assertEqual(set(by_model), {"purchase.order", "account.move", "sale.order"})
        purchase = by_model["purchase.order"]
        self.assertEqual((purchase.method_name, purchase.amount_threshold), ("button_confirm", 1000))
        manager, director = purchase.step_ids.sorted("sequence")
        self.assertEqual(manager.approver_type, "department_manager")
        self.assertEqual(director.min_amount, 10000)
        self.assertEqual(by_model["account.move"].amount_threshold, 500)
        self.assertEqual(by_model["sale.order"].filter_domain,
                         "[('order_line.discount', '>', 20)]")
        # running the demo loader again creates nothing new
        self.assertFalse(self.Policy._create_demo_policies())
