"""Orbitly's approvals: purchase requests, discounts and a credit note in every state.

Runs the real guard, routing, decisions and escalation; each part only when
its app (purchase, sale, account) is installed. See saas_workflow_core's
demo_story for the rest of the story.
"""

from odoo import api, fields, models

from .approval_policy import GUARD_MARK

# vendor, description, quantity, unit price, requester, outcome
PURCHASES = [
    ("stratus", "Reserved compute for the EU region, Q3", 1, 6400.0, "olivia", "pending"),
    ("nordvik", "Laptops for the new support hires", 6, 1200.0, "olivia", "approved"),
    ("signalwise", "Uptime monitoring, annual licence", 1, 14200.0, "olivia", "escalated"),
    ("nordvik", "Headsets and webcams for the onboarding team", 8, 290.0, "nina", "exception"),
]

# customer, discount %, months, requester, outcome, reason
DISCOUNTS = [
    ("harbor_pine", 30.0, 12, "rejected",
     "30 % is above what we give on a monthly plan: offer 15 % with annual billing."),
    ("quantix", 25.0, 24, "approved", "Two-year commitment for the Berlin lab."),
    ("meridian", 22.0, 12, "cancelled", "Meridian Legal chose another vendor."),
]


class SaasWorkflowDemo(models.AbstractModel):
    _inherit = "saas.workflow.demo"

    @api.model
    def _demo_user(self, key):
        return self._demo_ref(f"saas_workflow_core.demo_user_{key}")

    @api.model
    def _demo_guarded(self, record, method_name, user):
        """Run ``method_name`` on ``record`` as ``user`` through the approval guard.

        While modules are being installed the guards are not hooked on the model
        classes yet: the guard is then called the way the hooked method calls it.
        """
        record = record.with_user(user)
        current = vars(type(record)).get(method_name)
        if current is not None and getattr(current, GUARD_MARK, False):
            return getattr(record, method_name)()
        origin = getattr(type(record), method_name)
        return self.env["saas.approval.policy"].with_user(user)._guard_call(
            record, method_name, origin, (), {}
        )

    @api.model
    def _demo_request(self, record, method_name):
        return self.env["saas.approval.request"].sudo().search(
            [("res_model", "=", record._name), ("res_id", "=", record.id),
             ("method_name", "=", method_name)], order="id desc", limit=1,
        )

    @api.model
    def _load_approvals_story(self):
        self.env["saas.approval.policy"]._create_demo_policies()
        admin = self.env.ref("base.user_admin")
        finance = self._demo_ref("saas_workflow_approvals.demo_user_finance")
        sam = self._demo_ref("saas_workflow_approvals.demo_user_sales_manager")
        self._demo_group(finance, "account.group_account_manager", "purchase.group_purchase_manager")
        self._demo_group(sam, "sales_team.group_sale_manager")
        self._demo_group(admin, "saas_workflow_approvals.group_approval_manager")
        if "hr.employee" in self.env and not self._demo_done("approvals_hr"):
            self._load_approvals_hr()
            self._demo_mark("approvals_hr")
        for part, model in (("purchase", "purchase.order"), ("sale", "sale.order"),
                            ("account", "account.move")):
            if model in self.env and not self._demo_done(f"approvals_{part}"):
                getattr(self, f"_load_approvals_{part}")()
                self._demo_mark(f"approvals_{part}")
        self._demo_dispatch()
        return True

    @api.model
    def _load_approvals_hr(self):
        """Olivia reports to the COO (Mitchell Admin) in Operations; Nina has no department yet."""
        Employee = self.env["hr.employee"].with_context(mail_create_nolog=True, tracking_disable=True)
        admin = self.env.ref("base.user_admin")

        def employee(user, **vals):
            emp = Employee.search([("user_id", "=", user.id)], limit=1)
            if not emp:
                emp = Employee.create({"name": user.name, "user_id": user.id, **vals})
            elif vals:
                emp.write(vals)
            return emp

        boss = employee(admin, job_title="Chief Operating Officer")
        department = self.env["hr.department"].create(
            {"name": "Operations (Orbitly)", "manager_id": boss.id}
        )
        for key in ("olivia", "leo", "sofia"):
            user = self._demo_user(key)
            if user:
                employee(user, department_id=department.id, parent_id=boss.id,
                         job_title=user.function or False)
        finance = self._demo_ref("saas_workflow_approvals.demo_user_finance")
        if finance:
            employee(finance, job_title="Finance director", parent_id=boss.id)
        nina = self._demo_user("nina")
        if nina:
            employee(nina, job_title=nina.function or False)

    @api.model
    def _load_approvals_purchase(self):
        PO = self.env["purchase.order"].with_context(mail_create_nolog=True, tracking_disable=True)
        finance = self._demo_ref("saas_workflow_approvals.demo_user_finance")
        Product = self.env["product.product"]
        for vendor, description, qty, price, requester_key, outcome in PURCHASES:
            requester = self._demo_user(requester_key)
            self._demo_group(requester, "purchase.group_purchase_user")
            product = Product.search([("name", "=", description)], limit=1) or Product.create(
                {"name": description, "type": "service", "purchase_ok": True,
                 "standard_price": price}
            )
            order = PO.create({
                "partner_id": self._demo_ref(f"saas_workflow_core.demo_vendor_{vendor}").id,
                "user_id": requester.id,
                "order_line": [(0, 0, {
                    "product_id": product.id, "name": description,
                    "product_qty": qty, "price_unit": price,
                })],
            })
            self._demo_guarded(order, "button_confirm", requester)
            request = self._demo_request(order, "button_confirm")
            if not request:
                continue
            if outcome == "approved" and request.state == "pending":
                for _i in range(len(request.step_ids)):
                    if request.state != "pending":
                        break
                    approver = request.current_approver_ids[:1]
                    request.with_user(approver).action_approve(
                        comment="Budgeted in the hiring plan."
                    )
                self._demo_guarded(order, "button_confirm", requester)
            elif outcome == "escalated" and request.state == "pending":
                # the department manager let the deadline pass: reassigned to finance
                steps = request.step_ids.filtered(lambda s: s.state == "pending")
                steps._escalate(fields.Datetime.now())
            if finance and outcome == "pending":
                request.message_subscribe(partner_ids=finance.partner_id.ids)

    @api.model
    def _load_approvals_sale(self):
        SaleOrder = self.env["sale.order"].with_context(mail_create_nolog=True, tracking_disable=True)
        leo = self._demo_user("leo")
        self._demo_group(leo, "sales_team.group_sale_salesman")
        sam = self._demo_ref("saas_workflow_approvals.demo_user_sales_manager")
        product = self._demo_plan_product("business")
        for customer, discount, months, outcome, reason in DISCOUNTS:
            order = SaleOrder.create({
                "partner_id": self._demo_customer(customer).id,
                "user_id": leo.id,
                "origin": f"{months}-month commitment",
                "order_line": [(0, 0, {
                    "product_id": product.id,
                    "name": f"{product.name}, {months} months",
                    "product_uom_qty": months,
                    "price_unit": product.list_price,
                    "discount": discount,
                })],
            })
            self._demo_guarded(order, "action_confirm", leo)
            request = self._demo_request(order, "action_confirm")
            if not request or request.state != "pending":
                continue
            if outcome == "approved":
                request.with_user(sam).action_approve(comment=reason)
                self._demo_guarded(order, "action_confirm", leo)
            elif outcome == "rejected":
                request.with_user(sam).action_reject(reason=reason)
            elif outcome == "cancelled":
                request.with_user(leo).action_cancel()
                order.message_post(body=reason)

    @api.model
    def _load_approvals_account(self):
        """A service credit for Kestrel Health's outage, waiting for finance."""
        Move = self.env["account.move"].with_context(mail_create_nolog=True, tracking_disable=True)
        partner = self._demo_customer("kestrel")
        product = self._demo_plan_product("enterprise")
        refund = Move.create({
            "move_type": "out_refund",
            "partner_id": partner.id,
            "invoice_date": fields.Date.context_today(self),
            "ref": "Service credit: 6-hour outage of the EU region",
            "invoice_line_ids": [(0, 0, {
                "product_id": product.id,
                "name": "Service credit (SLA: 99.9 % monthly uptime missed)",
                "quantity": 1,
                "price_unit": 1900.0,
            })],
        })
        self._demo_guarded(refund, "action_post", self.env.ref("base.user_admin"))
