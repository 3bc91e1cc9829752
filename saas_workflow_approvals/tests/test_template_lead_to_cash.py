from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged
from odoo.tests.common import TransactionCase


class ContractTemplateCase(TransactionCase):
    """Customers, users and helpers shared by the lead-to-cash and renewals tests."""

    required_models = ("crm.lead", "sale.order", "project.project", "account.move")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.missing = [m for m in cls.required_models if m not in cls.env]
        if cls.missing:
            return
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.Template = cls.env["saas.workflow.template"]
        cls.Contract = cls.env["saas.contract"]
        cls.Event = cls.env["saas.workflow.event"]
        cls.Delivery = cls.env["saas.workflow.delivery"]
        sales = "base.group_user,sales_team.group_sale_salesman,project.group_project_user"
        cls.salesman = new_test_user(cls.env, "l2c_salesman", groups=sales, name="Sid Sales",
                                     email="sid@example.com")
        cls.approver = new_test_user(cls.env, "l2c_approver", name="Ada Approver",
                                     groups="base.group_user,sales_team.group_sale_manager")
        cls.onboarder = new_test_user(cls.env, "l2c_onboarder", name="Olga Onboarding",
                                      groups="base.group_user,project.group_project_user")
        cls.handler = new_test_user(cls.env, "l2c_handler", name="Hank Handler",
                                    groups="base.group_user")
        cls.executive = new_test_user(cls.env, "l2c_exec", name="Erin Executive",
                                      groups="base.group_user")
        # policies of the demo data or other templates must not answer for these tests
        cls.env["saas.approval.policy"].search([]).write({"active": False})
        cls.country = cls.env.ref("base.be")
        cls.customer = cls.make_customer("Blue Harbor SaaS")
        cls.tag = cls.env["crm.tag"].search([("name", "=", "Subscription")], limit=1) or \
            cls.env["crm.tag"].create({"name": "Subscription"})
        cls.product = cls.env["product.product"].create({
            "name": "Platform seat (month)",
            "type": "service",
            "list_price": 100.0,
            "taxes_id": [(6, 0, [])],
            "invoice_policy": "order",
        })
        cls.payment_term = cls.env.ref("account.account_payment_term_30days")

    def setUp(self):
        super().setUp()
        if self.missing:
            self.skipTest(f"needs {', '.join(self.missing)}")

    @classmethod
    def make_customer(cls, name, **vals):
        values = {
            "name": name,
            "is_company": True,
            "email": "billing@%s.example.com" % name.split()[0].lower(),
            "vat": "BE0477472701",
            "street": "Rue de la Loi 16",
            "city": "Brussels",
            "zip": "1000",
            "country_id": cls.country.id,
        }
        values.update(vals)
        return cls.env["res.partner"].create(values)

    def activate(self, code, **params):
        template = self.Template._by_code(code)
        for param in template.param_ids:
            if param.key in params:
                value = params[param.key]
                field = "value_user_id" if param.value_type == "user" else f"value_{param.value_type}"
                param.write({field: value.id if param.value_type == "user" else value})
        template._activate(exception_user=self.handler)
        return template

    def subscriptions(self, template):
        return self.env["saas.workflow.subscription"].with_context(active_test=False).browse([
            link.res_id for link in template.record_ids
            if link.res_model == "saas.workflow.subscription"
        ])

    def dispatch(self, template):
        """Run the dispatcher on the template's subscriptions; fail on a failed delivery."""
        subs = self.subscriptions(template)
        self.Delivery.with_context(saas_workflow_only_subscription_ids=subs.ids)._dispatch()
        failed = self.Delivery.search(
            [("subscription_id", "in", subs.ids), ("state", "in", ("failed", "dead"))]
        )
        self.assertFalse(failed, failed.mapped("last_error"))

    def events(self, code, record):
        return self.Event.search(
            [("code", "=", code), ("res_model", "=", record._name), ("res_id", "=", record.id)]
        )

    def order(self, customer=None, discount=0.0, qty=10, tagged_recurring=True, user=None, **vals):
        values = {
            "partner_id": (customer or self.customer).id,
            "payment_term_id": self.payment_term.id,
            "tag_ids": [(6, 0, self.tag.ids if tagged_recurring else [])],
            "order_line": [(0, 0, {"product_id": self.product.id, "product_uom_qty": qty,
                                   "price_unit": 100.0, "discount": discount,
                                   "tax_id": [(6, 0, [])]})],
        }
        values.update(vals)
        return self.env["sale.order"].with_user(user or self.salesman).create(values)

    def contract_of(self, order):
        return self.Contract.search([("order_ref", "=", f"sale.order,{order.id}")])


@tagged("post_install", "-at_install")
class TestTemplateLeadToCash(ContractTemplateCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.missing:
            return
        cls.template = cls.Template._by_code("lead_to_cash")

    def setUp(self):
        super().setUp()
        self.activate(
            "lead_to_cash", discount_approver=self.approver, onboarding_manager=self.onboarder,
            discount_limit=20.0, recurring_tag="Subscription", onboarding_template_project="",
            onboarding_tasks="Kick-off call | 0; Data import | 7; Go-live review | 14",
        )
        self.policy = self.template._template_record("discount_policy")

    # ---------------------------------------------------------------- catalog
    def test_catalog_documents_the_template(self):
        template = self.template
        self.assertEqual(template.required_modules, "crm,sale_management,project,account")
        self.assertTrue(template.available)
        for heading in ("Purpose", "Inputs", "Outputs", "Exception path"):
            self.assertIn(heading, template.description)
        self.assertIn("Onboarding completion time", template.kpi_description)
        workflow = template.workflow_id
        self.assertEqual(workflow.code, "lead_to_cash")
        self.assertEqual(workflow.exception_user_id, self.handler)
        self.assertEqual(
            set(workflow.emitted_type_ids.mapped("code"))
            & {"invoice.posted", "invoice.paid", "contract.exception"},
            {"invoice.posted", "invoice.paid", "contract.exception"},
        )
        self.assertEqual(len(workflow.source_ids), 2)  # invoice.posted, invoice.paid

    # ------------------------------------------------------------ onboarding
    def test_won_deal_opens_onboarding_project(self):
        lead = self.env["crm.lead"].create({
            "name": "Blue Harbor: 40 seats", "type": "opportunity",
            "partner_id": self.customer.id, "user_id": self.salesman.id,
        })
        lead.action_set_won()
        self.assertEqual(len(self.events("crm.lead.won", lead)), 1)
        self.dispatch(self.template)
        contract = self.Contract.search([("lead_ref", "=", f"crm.lead,{lead.id}")])
        self.assertEqual(len(contract), 1)
        self.assertEqual(contract.state, "draft")
        self.assertTrue(contract.onboarding_start)
        project = contract.onboarding_project_ref
        self.assertEqual(project._name, "project.project")
        self.assertEqual(project.partner_id, self.customer)
        self.assertEqual(project.user_id, self.onboarder)
        tasks = project.task_ids.sorted("sequence")
        self.assertEqual(tasks.mapped("name"), ["Kick-off call", "Data import", "Go-live review"])
        self.assertTrue(all(task.user_ids == self.onboarder for task in tasks))
        self.assertEqual(
            (tasks[1].date_deadline.date() - fields.Date.context_today(lead)).days, 7
        )
        # the same deal won again (e.g. a second source) opens nothing new
        self.Contract._l2c_onboard(lead, self.template._template_params())
        self.assertEqual(self.Contract.search_count([("lead_ref", "=", f"crm.lead,{lead.id}")]), 1)
        self.assertEqual(
            self.env["project.project"].search_count([("partner_id", "=", self.customer.id),
                                                      ("name", "like", "Onboarding")]), 1)
        # the quotation of the deal completes the same contract
        order = self.order(opportunity_id=lead.id)
        order.action_confirm()
        self.dispatch(self.template)
        self.assertEqual(self.contract_of(order), contract)
        self.assertEqual(contract.state, "active")
        self.assertEqual(contract.amount_recurring, 1000.0)
        # onboarding done when every task is closed
        tasks.write({"state": "1_done"})
        self.Contract._cron_lead_to_cash()
        self.assertTrue(contract.onboarding_done)

    def test_onboarding_from_template_project(self):
        source = self.env["project.project"].create({"name": "Onboarding playbook"})
        self.env["project.task"].create([
            {"name": "Security review", "project_id": source.id, "sequence": 1,
             "user_ids": [(6, 0, self.approver.ids)]},
            {"name": "SSO setup", "project_id": source.id, "sequence": 2, "user_ids": False},
        ])
        self.activate("lead_to_cash", onboarding_template_project="Onboarding playbook")
        lead = self.env["crm.lead"].create({"name": "Deal", "type": "opportunity",
                                            "partner_id": self.customer.id})
        lead.action_set_won()
        self.dispatch(self.template)
        contract = self.Contract.search([("lead_ref", "=", f"crm.lead,{lead.id}")])
        tasks = contract.onboarding_project_ref.task_ids.sorted("sequence")
        self.assertEqual(tasks.mapped("name"), ["Security review", "SSO setup"])
        self.assertEqual(tasks[0].user_ids, self.approver)
        self.assertEqual(tasks[1].user_ids, self.onboarder)

    def test_won_deal_without_customer_goes_to_dead_letter(self):
        lead = self.env["crm.lead"].create({"name": "Anonymous deal", "type": "opportunity"})
        lead.action_set_won()
        subs = self.subscriptions(self.template)
        self.Delivery.with_context(saas_workflow_only_subscription_ids=subs.ids)._dispatch()
        delivery = self.Delivery.search([("subscription_id", "in", subs.ids),
                                         ("event_id.res_id", "=", lead.id)])
        self.assertEqual(delivery.state, "dead")
        self.assertIn("has no customer", delivery.last_error)

    # -------------------------------------------------------------- discount
    def test_discount_over_limit_needs_approval_then_confirms(self):
        self.assertEqual(self.policy.filter_domain, "[('order_line.discount', '>', 20.0)]")
        small = self.order(discount=15)
        small.action_confirm()
        self.assertEqual(small.state, "sale")
        order = self.order(discount=30)
        result = order.action_confirm()
        self.assertEqual(order.state, "draft")
        self.assertEqual(result["tag"], "display_notification")
        request = self.env["saas.approval.request"].search(
            [("res_model", "=", "sale.order"), ("res_id", "=", order.id)])
        self.assertEqual(request.state, "pending")
        self.assertEqual(request.policy_id, self.policy)
        self.assertEqual(request.current_approver_ids, self.approver)
        with self.assertRaises(AccessError):
            request.with_user(self.salesman).action_approve()
        # confirming again while pending is still blocked
        order.action_confirm()
        self.assertEqual(order.state, "draft")
        request.with_user(self.approver).action_approve()
        self.assertEqual(request.state, "approved")
        self.assertEqual(order.state, "sale", "confirmed on approval")
        self.dispatch(self.template)
        self.assertEqual(self.contract_of(order).state, "active")

    # --------------------------------------------------------- contract data
    def test_missing_contract_data_is_an_exception(self):
        customer = self.make_customer("Grey Pines", vat=False, street=False)
        order = self.order(customer, payment_term_id=False)
        order.action_confirm()
        self.assertEqual(order.state, "sale")
        self.dispatch(self.template)
        contract = self.contract_of(order)
        self.assertEqual(contract.state, "exception")
        for label in ("Customer tax ID", "Invoice address", "Payment terms"):
            self.assertIn(label, contract.exception_reason)
        activity = contract.activity_ids
        self.assertEqual(activity.activity_type_id, self.env.ref(
            "saas_workflow_approvals.mail_activity_type_contract_exception"))
        self.assertEqual(activity.user_id, self.handler)
        event = self.events("contract.exception", contract)
        self.assertEqual(len(event), 1)
        self.assertIn("Payment terms", event.sudo().payload["missing"])
        # the contract does not start: nothing is invoiced
        self.assertEqual(self.Contract._cron_lead_to_cash(), 0)
        self.assertFalse(contract.period_ids)
        # the daily run checks again without duplicating the exception
        self.assertEqual(len(self.events("contract.exception", contract)), 1)
        self.assertEqual(len(contract.activity_ids), 1)
        # fixed: the check passes, the activity is done, the contract is active
        customer.write({"vat": "BE0477472701", "street": "Avenue Louise 1"})
        order.payment_term_id = self.payment_term
        contract.action_check_contract_data()
        self.assertEqual(contract.state, "active")
        self.assertFalse(contract.exception_reason)
        self.assertFalse(contract.activity_ids)
        self.assertEqual(contract.next_invoice_date, contract.start_date)
        self.assertEqual(len(self.events("contract.activated", contract)), 1)

    def test_order_without_recurring_tag_is_no_contract(self):
        order = self.order(tagged_recurring=False)
        order.action_confirm()
        self.dispatch(self.template)
        self.assertFalse(self.contract_of(order))

    # ------------------------------------------------------------- invoicing
    def test_invoice_once_per_period_with_events(self):
        order = self.order(commitment_date="2026-01-01 09:00:00")
        order.action_confirm()
        self.dispatch(self.template)
        contract = self.contract_of(order)
        self.assertEqual(contract.state, "active")
        self.assertEqual(contract.start_date, fields.Date.to_date("2026-01-01"))
        self.assertEqual(contract.end_date, fields.Date.to_date("2026-12-31"))
        with freeze_time("2025-12-31 10:00:00"):
            self.assertEqual(self.Contract._cron_lead_to_cash(), 0)
        with freeze_time("2026-01-15 10:00:00"):
            self.assertEqual(self.Contract._cron_lead_to_cash(), 1)
            self.assertEqual(self.Contract._cron_lead_to_cash(), 0, "once per period")
        self.assertEqual(len(contract.period_ids), 1)
        move = contract.period_ids.move_ref
        self.assertEqual(move.state, "posted")
        self.assertEqual(move.partner_id, self.customer)
        self.assertEqual(move.amount_untaxed, 1000.0)
        self.assertEqual(move.invoice_date, fields.Date.to_date("2026-01-01"))
        self.assertEqual(contract.next_invoice_date, fields.Date.to_date("2026-02-01"))
        posted = self.events("invoice.posted", move)
        self.assertEqual(len(posted), 1)
        self.assertEqual(posted.sudo().payload["amount_total"], "1000.00")
        with freeze_time("2026-02-01 06:00:00"):
            self.assertEqual(self.Contract._cron_lead_to_cash(), 1)
        self.assertEqual(contract.period_ids.mapped("period_start"), [
            fields.Date.to_date("2026-01-01"), fields.Date.to_date("2026-02-01")])
        # paid: invoice.paid for external systems
        self.assertFalse(self.events("invoice.paid", move))
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=move.ids
        ).create({"payment_date": "2026-01-20"})._create_payments()
        self.assertIn(move.payment_state, ("paid", "in_payment"))
        self.assertEqual(len(self.events("invoice.paid", move)), 1)

    # ------------------------------------------------------- switch off / on
    def test_switch_off_keeps_history_and_stops(self):
        order = self.order(discount=30)
        order.action_confirm()
        request = self.env["saas.approval.request"].search(
            [("res_model", "=", "sale.order"), ("res_id", "=", order.id)])
        done = self.order()
        done.action_confirm()
        self.dispatch(self.template)
        contract = self.contract_of(done)
        events_before = self.Event.search_count([])
        links = self.template.record_ids
        self.template.action_deactivate()
        self.assertEqual(self.template.state, "inactive")
        self.assertFalse(self.template.workflow_id.active)
        for link in links:
            record = link._record()
            self.assertTrue(record, f"{link.key} kept")
            if "active" in record._fields:
                self.assertFalse(record.active, f"{link.key} archived")
        # history stays
        self.assertTrue(contract.exists())
        self.assertTrue(request.exists())
        self.assertEqual(self.Event.search_count([]), events_before)
        # nothing runs any more: no approval, no contract, no invoice, no project
        other = self.order(discount=30)
        other.action_confirm()
        self.assertEqual(other.state, "sale")
        lead = self.env["crm.lead"].create({"name": "Late deal", "type": "opportunity",
                                            "partner_id": self.customer.id})
        lead.action_set_won()
        self.dispatch(self.template)
        self.assertFalse(self.contract_of(other))
        self.assertFalse(self.Contract.search([("lead_ref", "=", f"crm.lead,{lead.id}")]))
        self.assertEqual(self.Contract._cron_lead_to_cash(), 0)
        # switched on again: the same records come back
        self.template._activate()
        self.assertEqual(self.template.record_ids, links)
        self.assertTrue(all(link._record().active for link in links
                            if "active" in link._record()._fields))

    def test_activation_twice_creates_nothing_new(self):
        links = self.template.record_ids
        records = {link.key: link._record() for link in links}
        automations = self.env["base.automation"].search_count([])
        self.activate("lead_to_cash", discount_limit=25.0)
        self.assertEqual(self.template.record_ids, links)
        self.assertEqual({link.key: link._record() for link in links}, records)
        self.assertEqual(self.env["base.automation"].search_count([]), automations)
        self.assertEqual(len(self.policy.step_ids), 1)
        self.assertEqual(len(self.template.workflow_id.source_ids), 2)
        self.assertEqual(self.policy.filter_domain, "[('order_line.discount', '>', 25.0)]")
        self.assertEqual(
            self.env["saas.workflow"].with_context(active_test=False).search_count(
                [("code", "=", "lead_to_cash")]), 1)
