from odoo.addons.saas_workflow_core.tests.common import TourCase
from odoo.tests import new_test_user, tagged


@tagged("post_install", "-at_install")
class TestApprovalTour(TourCase):
    """A finance user approves a purchase order from its approval activity in the browser."""

    def test_finance_user_approves_from_activity(self):
        if "purchase.order" not in self.env:
            self.skipTest("needs purchase")
        env = self.env
        env["saas.approval.policy"].search([]).write({"active": False})
        buyer = new_test_user(env, "tour_buyer", name="Tour Buyer",
                              groups="base.group_user,purchase.group_purchase_user")
        finance = new_test_user(env, "tour_finance", name="Tour Finance",
                                groups="base.group_user,purchase.group_purchase_user,"
                                       "account.group_account_manager")
        env["saas.approval.policy"].create({
            "name": "Tour: purchase orders",
            "model_id": env["ir.model"]._get_id("purchase.order"),
            "method_name": "button_confirm",
            "filter_domain": "[('state', 'in', ('draft', 'sent'))]",
            "company_id": False,
            "step_ids": [(0, 0, {"name": "Finance", "approver_type": "users",
                                 "user_ids": [(6, 0, finance.ids)], "timeout_hours": 24})],
        })
        vendor = env["res.partner"].create({"name": "Tour Vendor", "is_company": True})
        product = env["product.product"].create({"name": "Tour widget", "type": "consu",
                                                 "supplier_taxes_id": [(6, 0, [])]})
        po = env["purchase.order"].with_user(buyer).create({
            "partner_id": vendor.id,
            "order_line": [(0, 0, {"product_id": product.id, "product_qty": 3,
                                   "price_unit": 700})],
        })
        po.button_confirm()
        request = env["saas.approval.request"].search(
            [("res_model", "=", "purchase.order"), ("res_id", "=", po.id)])
        self.assertEqual(request.state, "pending")

        self.start_tour(f"/odoo/purchase.order/{po.id}", "saas_approval_activity_tour",
                        login="tour_finance")

        request.invalidate_recordset()
        self.assertEqual(request.state, "approved")
        decision = request.decision_ids
        self.assertEqual((decision.user_id, decision.channel), (finance, "activity"))
        self.assertFalse(env["mail.activity"].search([("saas_approval_step_id", "in",
                                                       request.step_ids.ids)]))
        po.with_user(buyer).button_confirm()
        self.assertEqual(po.state, "purchase")
