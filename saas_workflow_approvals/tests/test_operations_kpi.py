import datetime

from odoo.addons.saas_workflow_core.tests.kpi_common import OperationsKpiCase
from odoo.tests import tagged

from .common import ApprovalCase


@tagged("post_install", "-at_install")
class TestApprovalKpis(ApprovalCase, OperationsKpiCase):
    """Approval indicators on requests made through the guard, dated and placed in company A."""

    def _requests(self):
        policy = self.make_policy([self.users_step(self.approver_a)])
        requests = self.Request.browse()
        for index in range(4):
            partner = self.make_company(f"KPI customer {index}")
            self.archive_as(self.requester, partner)
            requests |= self.request_for(partner)
        self.assertEqual(len(requests), 4)
        self.assertEqual(requests.policy_id, policy)
        r1, r2, r3, r4 = requests.sorted("id")
        r1.with_user(self.approver_a).action_approve()
        r2.with_user(self.approver_a).action_approve()
        a = self.company_a.id
        self.set_columns(r1, company_id=a, state="approved", decided_at=self.ago(2), turnaround_hours=10.0)
        self.set_columns(r2, company_id=a, state="approved", decided_at=self.ago(5), turnaround_hours=30.0)
        self.set_columns(r3, company_id=a, state="exception", create_date=self.ago(1))
        self.set_columns(r4, company_id=a, state="rejected", decided_at=self.ago(40), turnaround_hours=100.0,
                         create_date=self.ago(41))
        self.set_columns(r1.decision_ids, decision="escalate", decided_at=self.ago(3), company_id=a)
        self.set_columns(r2.decision_ids, decided_at=self.ago(5), company_id=a)
        self.set_columns(r1.step_ids, was_overdue=True, activated_at=self.ago(3), company_id=a)
        self.set_columns(r2.step_ids, was_overdue=False, activated_at=self.ago(6), company_id=a)
        return r1, r2, r3, r4

    def test_approval_aggregates_and_drilldown(self):
        r1, r2, r3, _r4 = self._requests()
        self.refresh("approval_turnaround", "approval_exceptions", "approval_escalations",
                     "approval_overdue")
        turnaround = self.kpi("approval_turnaround")
        self.assertEqual((turnaround.value, turnaround.previous_value), (20.0, 100.0))
        self.assertEqual(turnaround.status, "good")  # within 24 h
        self.assertEqual(turnaround.value_display, "20.0 h")
        self.assertEqual(self.env["saas.approval.request"].search(
            turnaround.action_open_records()["domain"]), r1 | r2)

        exceptions = self.kpi("approval_exceptions")
        self.assertEqual(exceptions.value, 1.0)
        self.assertEqual(exceptions.status, "warning")
        action = exceptions.action_open_records()
        self.assertEqual(action["res_model"], "saas.approval.request")
        self.assertEqual(self.env["saas.approval.request"].search(action["domain"]), r3)

        escalations = self.kpi("approval_escalations")
        self.assertEqual(escalations.value, 1.0)
        self.assertEqual(self.env["saas.approval.decision"].search(
            escalations.action_open_records()["domain"]), r1.decision_ids)
        overdue = self.kpi("approval_overdue")
        self.assertEqual(overdue.value, 1.0)
        self.assertEqual(self.drilldown_count(overdue), 1)
        # company B has none of them
        self.Kpi.search([("company_id", "=", self.company_b.id), ("area", "=", "approvals")])._refresh(
            now=self.now)
        self.assertFalse(self.kpi("approval_turnaround", self.company_b).has_value)
        self.assertEqual(self.kpi("approval_exceptions", self.company_b).value, 0.0)
        self.assertEqual(self.kpi("approval_exceptions", self.company_b).value_display, "0")

    def test_business_indicators_without_their_apps(self):
        kpis = self.refresh("quote_to_cash_days", "invoice_cycle_days", "onboarding_days",
                            "renewal_readiness")
        for kpi in kpis:
            with self.subTest(kpi=kpi.code):
                installed = kpi.res_model in self.env and all(
                    model in self.env for model in {
                        "quote_to_cash_days": ("sale.order", "account.move"),
                        "invoice_cycle_days": ("account.move",),
                    }.get(kpi.code, (kpi.res_model,)))
                self.assertEqual(kpi.available, installed)


@tagged("post_install", "-at_install")
class TestBusinessKpis(OperationsKpiCase):
    """Quote-to-cash and invoice cycle time on orders, invoices and payments of a fresh company."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if "sale.order" not in cls.env or "account.move" not in cls.env:
            return
        cls.company_c = cls.env["res.company"].create({"name": "KPI Company C"})
        cls.env["account.chart.template"].try_loading("generic_coa", cls.company_c, install_demo=False)
        cls.Kpi._ensure_companies()
        cls.env = cls.env(context=dict(cls.env.context, allowed_company_ids=cls.company_c.ids,
                                       tracking_disable=True))
        cls.customer = cls.env["res.partner"].create({"name": "KPI customer", "company_id": cls.company_c.id})
        cls.product = cls.env["product.product"].create({
            "name": "KPI subscription", "type": "service", "invoice_policy": "order", "list_price": 100.0,
        })

    def setUp(self):
        super().setUp()
        if "sale.order" not in self.env or "account.move" not in self.env:
            self.skipTest("needs sale_management and account")

    def _order_paid(self, ordered_days_ago, invoiced_days_ago, paid_days_ago):
        order = self.env["sale.order"].with_company(self.company_c).create({
            "partner_id": self.customer.id, "company_id": self.company_c.id,
            "order_line": [(0, 0, {"product_id": self.product.id, "product_uom_qty": 1})],
        })
        order.action_confirm()
        order.date_order = self.ago(ordered_days_ago)
        invoice = order._create_invoices()
        invoice.invoice_date = self.ago(invoiced_days_ago).date()
        invoice.action_post()
        self.env["account.payment.register"].with_company(self.company_c).with_context(
            active_model="account.move", active_ids=invoice.ids,
        ).create({"payment_date": self.ago(paid_days_ago).date()})._create_payments()
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        return order, invoice

    def test_quote_to_cash_and_invoice_cycle(self):
        order1, invoice1 = self._order_paid(20, 15, 5)   # cycle 10 days, quote to cash 15 days
        order2, invoice2 = self._order_paid(12, 10, 6)   # cycle 4 days, quote to cash 6 days
        _order3, _invoice3 = self._order_paid(70, 60, 45)  # previous period: cycle 15, q2c 25
        # posted but unpaid: not counted
        unpaid = self.env["sale.order"].with_company(self.company_c).create({
            "partner_id": self.customer.id, "company_id": self.company_c.id,
            "order_line": [(0, 0, {"product_id": self.product.id, "product_uom_qty": 1})],
        })
        unpaid.action_confirm()
        unpaid._create_invoices().action_post()

        self.refresh("invoice_cycle_days", "quote_to_cash_days", company=self.company_c)
        cycle = self.kpi("invoice_cycle_days", self.company_c)
        self.assertTrue(cycle.available)
        self.assertAlmostEqual(cycle.value, 7.0)
        self.assertAlmostEqual(cycle.previous_value, 15.0)
        self.assertEqual(cycle.status, "good")
        action = cycle.action_open_records()
        self.assertEqual(action["res_model"], "account.move")
        self.assertEqual(self.env["account.move"].search(action["domain"]), invoice1 | invoice2)

        q2c = self.kpi("quote_to_cash_days", self.company_c)
        # the order date keeps its time of day; payments are dated at midnight
        expected = sum(
            (datetime.datetime.combine(self.ago(paid).date(), datetime.time()) - self.ago(ordered))
            .total_seconds() / 86400 for ordered, paid in ((20, 5), (12, 6))) / 2
        self.assertAlmostEqual(q2c.value, expected, places=2)
        self.assertEqual(self.env["sale.order"].search(q2c.action_open_records()["domain"]), order1 | order2)
        # another company sees nothing of it
        self.refresh("invoice_cycle_days", company=self.company_a)
        self.assertFalse(self.kpi("invoice_cycle_days", self.company_a).has_value)


@tagged("post_install", "-at_install")
class TestContractKpis(OperationsKpiCase):
    """Onboarding completion time and renewal readiness, from customer contracts."""

    def setUp(self):
        super().setUp()
        Contract = self.env.get("saas.contract")
        needed = ("partner_id", "company_id", "start_date", "end_date", "state", "renewal_ready",
                  "onboarding_start", "onboarding_done")
        if Contract is None or not all(name in Contract._fields for name in needed):
            self.skipTest("needs the customer contracts of the lead-to-cash and renewals templates")

    def _contract(self, **values):
        partner = self.env["res.partner"].create({"name": "Contract customer"})
        contract = self.env["saas.contract"].create({
            "partner_id": partner.id, "company_id": self.company_a.id,
            "start_date": self.ago(300).date(), "end_date": self.ago(-20).date(),
        })
        self.set_columns(contract, **values)
        return contract

    def test_onboarding_and_renewal_readiness(self):
        today = self.now.date()
        self._contract(onboarding_start=self.ago(12), onboarding_done=self.ago(2), state="active")   # 10 days
        self._contract(onboarding_start=self.ago(9, 12), onboarding_done=self.ago(5), state="active")  # 4.5
        self._contract(onboarding_start=self.ago(50), onboarding_done=self.ago(40), state="active")  # previous
        self._contract(onboarding_start=self.ago(3), state="active")  # not done yet
        # renewals: contracts ending in the next 30 days: 2 ready (one renewed) out of 4
        self._contract(state="active", renewal_ready=True, end_date=today + datetime.timedelta(days=10))
        self._contract(state="renewed", renewal_ready=False, end_date=today + datetime.timedelta(days=20))
        self._contract(state="active", renewal_ready=False, end_date=today + datetime.timedelta(days=25))
        self._contract(state="renewal", renewal_ready=False, end_date=today + datetime.timedelta(days=30))
        self._contract(state="churned", renewal_ready=False, end_date=today + datetime.timedelta(days=5))
        self._contract(state="active", renewal_ready=False, end_date=today + datetime.timedelta(days=45))
        self.refresh("onboarding_days", "renewal_readiness")
        onboarding = self.kpi("onboarding_days")
        self.assertAlmostEqual(onboarding.value, 7.25)
        self.assertAlmostEqual(onboarding.previous_value, 10.0)
        self.assertEqual(self.drilldown_count(onboarding), 2)
        readiness = self.kpi("renewal_readiness")
        # the four contracts above ending within 30 days, plus the one made by _contract's default
        # end date in 20 days for each onboarding contract (4, state active, not ready)
        self.assertAlmostEqual(readiness.value, 100.0 * 2 / 8)
        self.assertEqual(self.drilldown_count(readiness), 8)
        self.assertEqual(readiness.status, "bad")
