from datetime import timedelta

from odoo import fields
from odoo.tests import tagged

from .test_template_lead_to_cash import ContractTemplateCase


@tagged("post_install", "-at_install")
class TestTemplateRenewals(ContractTemplateCase):
    required_models = ("sale.order", "project.project", "account.move")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.missing:
            return
        cls.template = cls.Template._by_code("renewals")
        cls.today = fields.Date.context_today(cls.Contract)
        EventType = cls.env["saas.workflow.event.type"].with_context(active_test=False)
        if not EventType.search([("code", "=", "ticket.sla_breached")]):
            # the AI addon defines it; without that addon the test provides it
            EventType.create({"code": "ticket.sla_breached", "name": "SLA breached"})

    def setUp(self):
        super().setUp()
        self.activate("renewals", days_before_end=60, risk_threshold=70.0,
                      executive_user=self.executive, weight_overdue=30.0, weight_sla=20.0,
                      weight_escalation=25.0)

    def contract(self, customer=None, ends_in=30, **vals):
        values = {
            "partner_id": (customer or self.customer).id,
            "user_id": self.salesman.id,
            "amount_recurring": 1000.0,
            "start_date": self.today - timedelta(days=365 - ends_in),
            "end_date": self.today + timedelta(days=ends_in),
            "state": "active",
        }
        values.update(vals)
        return self.Contract.create(values)

    def overdue_invoice(self, customer):
        move = self.env["account.move"].create({
            "move_type": "out_invoice",
            "partner_id": customer.id,
            "invoice_date": self.today - timedelta(days=45),
            "invoice_date_due": self.today - timedelta(days=15),
            "invoice_line_ids": [(0, 0, {"product_id": self.product.id, "quantity": 1,
                                         "price_unit": 500.0, "tax_ids": [(6, 0, [])]})],
        })
        move.action_post()
        return move

    def sla_breach(self, customer):
        task = self.env["project.task"].create({"name": "Login broken", "partner_id": customer.id})
        self.Event.emit("ticket.sla_breached", record=task,
                        payload={"kind": "resolution", "policy": "Gold"})
        return task

    def escalated_request(self, customer):
        """A discount approval of the customer whose step timed out and was escalated."""
        policy = self.env["saas.approval.policy"].create({
            "name": "Escalating discount review",
            "model_id": self.env["ir.model"]._get_id("sale.order"),
            "method_name": "action_confirm",
            "filter_domain": repr([("partner_id", "=", customer.id)]),
            "company_id": False,
            "step_ids": [(0, 0, {"name": "Review", "approver_type": "users",
                                 "user_ids": [(6, 0, self.approver.ids)], "timeout_hours": 1,
                                 "escalation_action": "notify",
                                 "escalation_user_id": self.executive.id})],
        })
        order = self.order(customer)
        order.action_confirm()
        request = self.env["saas.approval.request"].search(
            [("policy_id", "=", policy.id), ("res_id", "=", order.id)])
        self.env["saas.approval.request.step"]._escalate_due(
            now=fields.Datetime.now() + timedelta(hours=3))
        self.assertEqual(request.escalation_count, 1)
        self.assertEqual(request.state, "pending")
        return request

    def renewal_task(self, contract):
        return contract.renewal_task_ref

    # ---------------------------------------------------------------- tests
    def test_catalog_and_workflow(self):
        self.assertEqual(self.template.required_modules, "sale_management,account,project")
        for heading in ("Purpose", "Inputs", "Outputs", "Exception path"):
            self.assertIn(heading, self.template.description)
        self.assertIn("Renewal readiness", self.template.kpi_description)
        workflow = self.template.workflow_id
        self.assertEqual(workflow.code, "renewals")
        self.assertIn("renewal.at_risk", workflow.emitted_type_ids.mapped("code"))
        self.assertEqual(self.template._template_record("renewal_cron").code,
                         "model._cron_renewals()")

    def test_renewal_task_and_reminder_n_days_before_end(self):
        due = self.contract(ends_in=60)
        later = self.contract(ends_in=61)
        self.assertEqual(self.Contract._cron_renewals(), 1)
        self.assertEqual(due.state, "renewal")
        self.assertEqual(later.state, "active")
        task = self.renewal_task(due)
        self.assertEqual(task._name, "project.task")
        self.assertEqual(task.user_ids, self.salesman)
        self.assertEqual(task.partner_id, self.customer)
        self.assertEqual(task.project_id, self.env.ref("saas_workflow_approvals.project_renewals"))
        reminder = due.activity_ids.filtered(lambda a: a.activity_type_id == self.env.ref(
            "saas_workflow_approvals.mail_activity_type_renewal"))
        self.assertEqual(reminder.user_id, self.salesman)
        self.assertEqual(reminder.date_deadline, due.end_date - timedelta(days=14))
        # the next day: nothing twice
        self.assertEqual(self.Contract._cron_renewals(), 0)
        self.assertEqual(self.env["project.task"].search_count(
            [("name", "like", due.name), ("partner_id", "=", self.customer.id)]), 1)
        # readiness: the renewal task done
        self.assertFalse(due.renewal_ready)
        task.state = "1_done"
        self.Contract._cron_renewals()
        self.assertTrue(due.renewal_ready)

    def test_renewal_quotation_sent_is_ready_and_confirmed_is_renewed(self):
        order = self.order()
        contract = self.contract(order_ref=f"sale.order,{order.id}")
        self.Contract._cron_renewals()
        contract.action_create_renewal_quotation()
        renewal = contract.renewal_order_ref
        self.assertEqual(renewal.partner_id, self.customer)
        self.assertNotEqual(renewal, order)
        renewal.action_quotation_sent()
        self.Contract._cron_renewals()
        self.assertTrue(contract.renewal_ready)
        renewal.action_confirm()
        self.Contract._cron_renewals()
        self.assertEqual(contract.state, "renewed")

    def test_renewal_not_closed_by_the_end_date_expires(self):
        contract = self.contract(ends_in=5)
        self.Contract._cron_renewals()
        self.assertEqual(contract.state, "renewal")
        contract.end_date = self.today - timedelta(days=1)
        self.Contract._cron_renewals()
        self.assertEqual(contract.state, "expired")
        churned = self.contract(ends_in=5)
        churned.action_churn()
        self.Contract._cron_renewals()
        self.assertEqual(churned.state, "churned")
        self.assertFalse(churned.renewal_task_ref)

    def test_risk_score_from_signals(self):
        customer = self.make_customer("Red Kite Ltd")
        contract = self.contract(customer, ends_in=200)
        self.Contract._cron_renewals()
        self.assertEqual((contract.risk_score, contract.risk_level), (0.0, "low"))
        self.overdue_invoice(customer)
        contract.action_compute_risk()
        self.assertEqual((contract.risk_score, contract.risk_level), (30.0, "low"))
        self.sla_breach(customer)
        contract.action_compute_risk()
        self.assertEqual((contract.risk_score, contract.risk_level), (50.0, "medium"))
        self.escalated_request(customer)
        contract.action_compute_risk()
        self.assertEqual(contract.risk_score, 75.0)
        self.assertEqual(contract.risk_level, "high")
        self.assertEqual(
            (contract.risk_overdue_count, contract.risk_sla_count, contract.risk_escalation_count),
            (1, 1, 1))
        self.assertIn("Overdue invoices: 1 × 30 = 30", contract.risk_explanation)
        self.assertIn("high risk", contract.risk_explanation)
        # another customer's signals do not count
        self.assertEqual(self.contract(ends_in=200).risk_score, 0.0)
        # not in renewal yet: no escalation
        self.Contract._cron_renewals()
        self.assertFalse(contract.risk_escalated_at)
        self.assertFalse(self.events("renewal.at_risk", contract))

    def test_high_risk_renewal_escalates_to_executive(self):
        customer = self.make_customer("Red Kite Ltd")
        contract = self.contract(customer, ends_in=30)
        calm = self.contract(ends_in=30)
        self.overdue_invoice(customer)
        self.sla_breach(customer)
        self.escalated_request(customer)
        self.Contract._cron_renewals()
        self.assertEqual(contract.state, "renewal")
        self.assertEqual(contract.risk_level, "high")
        risk_type = self.env.ref("saas_workflow_approvals.mail_activity_type_renewal_risk")
        activity = contract.activity_ids.filtered(lambda a: a.activity_type_id == risk_type)
        self.assertEqual(activity.user_id, self.executive)
        self.assertIn("score 75", activity.summary)
        event = self.events("renewal.at_risk", contract)
        self.assertEqual(len(event), 1)
        self.assertEqual(float(event.sudo().payload["risk_score"]), 75.0)
        self.assertEqual(event.sudo().payload["executive_id"], self.executive.id)
        # once per term
        self.Contract._cron_renewals()
        self.assertEqual(len(self.events("renewal.at_risk", contract)), 1)
        self.assertEqual(len(contract.activity_ids.filtered(
            lambda a: a.activity_type_id == risk_type)), 1)
        self.assertFalse(calm.activity_ids.filtered(lambda a: a.activity_type_id == risk_type))
        self.assertFalse(self.events("renewal.at_risk", calm))

    def test_signals_rescore_the_renewal_when_they_happen(self):
        customer = self.make_customer("Red Kite Ltd")
        contract = self.contract(customer, ends_in=30)
        self.Contract._cron_renewals()
        self.assertEqual((contract.state, contract.risk_level), ("renewal", "low"))
        self.overdue_invoice(customer)
        self.sla_breach(customer)
        self.escalated_request(customer)
        # no daily run: the SLA breach and the escalation events re-score the contract
        self.dispatch(self.template)
        self.assertEqual(contract.risk_score, 75.0)
        self.assertTrue(contract.risk_escalated_at)
        self.assertEqual(len(self.events("renewal.at_risk", contract)), 1)

    def test_switch_off_keeps_history_and_stops(self):
        contract = self.contract(ends_in=30)
        self.Contract._cron_renewals()
        task = self.renewal_task(contract)
        cron = self.template._template_record("renewal_cron")
        self.template.action_deactivate()
        self.assertFalse(cron.active)
        self.assertFalse(self.template.workflow_id.active)
        self.assertTrue(task.exists() and task.active)
        self.assertEqual(contract.state, "renewal")
        later = self.contract(ends_in=10)
        self.assertEqual(self.Contract._cron_renewals(), 0)
        self.assertEqual(later.state, "active")
        self.assertFalse(later.renewal_task_ref)
        # on again, nothing duplicated
        links = self.template.record_ids
        self.template._activate()
        self.template._activate()
        self.assertEqual(self.template.record_ids, links)
        self.assertTrue(cron.active)
        self.assertEqual(self.Contract._cron_renewals(), 1)
