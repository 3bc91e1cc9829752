"""Demo story: Orbitly, a SaaS company selling a scheduling platform.

The business side of the story (deals, recurring orders, invoices) lives in
apps the suite does not depend on (crm, sale, account): each part is created
only when its model is installed. Loaded from the demo data of each addon
(``<function model="saas.workflow.demo" name="..."/>``); running a loader
again creates nothing new.
"""

import logging
from datetime import timedelta

from odoo import api, fields, models

_logger = logging.getLogger(__name__)

COMPANY_NAME = "Orbitly"

# customer xmlid suffix, plan, monthly price, months billed, story
SUBSCRIPTIONS = [
    ("brightline", "business", 4000.0, 3, "paid"),
    ("kestrel", "enterprise", 9500.0, 2, "overdue"),
    ("harbor_pine", "team", 1450.0, 3, "paid"),
    ("quantix", "business", 4000.0, 1, "open"),
]

# customer, deal name, expected revenue, outcome, days ago
DEALS = [
    ("brightline", "Brightline Logistics: Business plan, 40 dispatchers", 48000.0, "won", 120),
    ("kestrel", "Kestrel Health: Enterprise plan with SSO", 114000.0, "won", 75),
    ("harbor_pine", "Harbor & Pine Retail: Team plan for 12 stores", 17400.0, "won", 95),
    ("quantix", "Quantix Labs: Business plan pilot", 48000.0, "won", 30),
    ("quantix", "Quantix Labs: expansion to the Berlin lab", 36000.0, "open", 6),
    ("meridian", "Meridian Legal: Team plan for 3 offices", 21000.0, "lost", 20),
    ("fjord", "Fjord Mobility: fleet scheduling trial", 60000.0, "open", 3),
]

PLANS = {
    "team": ("Orbitly Team plan (monthly)", 1450.0),
    "business": ("Orbitly Business plan (monthly)", 4000.0),
    "enterprise": ("Orbitly Enterprise plan (monthly)", 9500.0),
}


class SaasWorkflowDemo(models.AbstractModel):
    _name = "saas.workflow.demo"
    _description = "SaaS Workflow demo story"

    # ------------------------------------------------------------- helpers
    @api.model
    def _demo_ref(self, xmlid):
        return self.env.ref(xmlid, raise_if_not_found=False)

    @api.model
    def _demo_customer(self, key):
        return self._demo_ref(f"saas_workflow_core.demo_customer_{key}")

    @api.model
    def _demo_done(self, key):
        """True when the part ``key`` of the story was already loaded (marker parameter)."""
        return bool(self.env["ir.config_parameter"].sudo().get_param(f"saas_workflow_demo.{key}"))

    @api.model
    def _demo_mark(self, key):
        self.env["ir.config_parameter"].sudo().set_param(f"saas_workflow_demo.{key}", "1")

    @api.model
    def _demo_group(self, user, *xmlids):
        groups = [self._demo_ref(x) for x in xmlids]
        groups = [g.id for g in groups if g]
        if user and groups:
            user.sudo().write({"groups_id": [(4, gid) for gid in groups]})

    @api.model
    def _demo_emit(self, code, records):
        """Emit ``code`` for ``records`` the way its standard event source does.

        Automation rules are not hooked while modules are being installed, so the
        story emits the events its business actions would have emitted.
        """
        Event = self.env["saas.workflow.event"].sudo()
        action = self.env["base.automation"].sudo().with_context(active_test=False).search(
            [("saas_standard_type_id.code", "=", code)], limit=1
        ).action_server_ids.filtered(lambda a: a.state == "saas_emit_event")[:1]
        events = Event
        for record in records:
            existing = Event.search(
                [("code", "=", code), ("res_model", "=", record._name), ("res_id", "=", record.id)],
                limit=1,
            )
            if existing:
                events |= existing
                continue
            if action:
                payload = action._saas_event_payload(record)
            else:
                payload = None
            events |= Event.emit(code, record=record, payload=payload)
        return events

    @api.model
    def _demo_dispatch(self):
        """Run what the story emitted so far, as the dispatcher cron would right after commit.

        Only local handlers run here: no webhook endpoint of the story is active while modules
        are being installed, so nothing calls the network.
        """
        Delivery = self.env["saas.workflow.delivery"]
        for _i in range(20):
            result = Delivery._dispatch()
            if not result["routed"] and not result["claimed"]:
                break

    # ---------------------------------------------------------------- core
    @api.model
    def _load_core_story(self):
        """Company name, and the deals, recurring orders and invoices of the installed apps."""
        company = self.env.ref("base.main_company")
        if company.name in ("YourCompany", "My Company"):
            company.write({
                "name": COMPANY_NAME,
                "email": "hello@orbitly.example",
                "website": "https://orbitly.example",
            })
        self.env["saas.workflow.event.type"]._sync_standard_sources()
        for part in ("crm", "sale", "account"):
            model = {"crm": "crm.lead", "sale": "sale.order", "account": "account.move"}[part]
            if model not in self.env or self._demo_done(f"core_{part}"):
                continue
            getattr(self, f"_load_core_{part}")()
            self._demo_mark(f"core_{part}")
        self._demo_dispatch()
        return True

    @api.model
    def _load_core_crm(self):
        Lead = self.env["crm.lead"].with_context(mail_create_nolog=True, tracking_disable=True)
        sales = self._demo_ref("saas_workflow_core.demo_user_leo")
        self._demo_group(sales, "sales_team.group_sale_salesman")
        now = fields.Datetime.now()
        won = Lead
        for key, name, revenue, outcome, days in DEALS:
            partner = self._demo_customer(key)
            lead = Lead.create({
                "name": name,
                "type": "opportunity",
                "partner_id": partner.id,
                "expected_revenue": revenue,
                "user_id": sales.id if sales else self.env.uid,
                "probability": 60.0 if outcome == "open" else 10.0,
                "date_deadline": fields.Date.to_date(now + timedelta(days=21)),
            })
            if outcome == "won":
                lead.action_set_won()
                lead.date_closed = now - timedelta(days=days)
                won |= lead
            elif outcome == "lost":
                lead.action_set_lost()
        self._demo_emit("crm.lead.won", won)

    @api.model
    def _demo_plan_product(self, plan):
        name, price = PLANS[plan]
        Product = self.env["product.product"]
        product = Product.search([("name", "=", name)], limit=1)
        if not product:
            vals = {"name": name, "type": "service", "list_price": price, "sale_ok": True}
            if "invoice_policy" in Product._fields:
                vals["invoice_policy"] = "order"
            product = Product.create(vals)
        return product

    @api.model
    def _load_core_sale(self):
        """Monthly recurring orders: one confirmed order per customer and month billed."""
        SaleOrder = self.env["sale.order"].with_context(mail_create_nolog=True, tracking_disable=True)
        sales = self._demo_ref("saas_workflow_core.demo_user_leo")
        self._demo_group(sales, "sales_team.group_sale_salesman")
        today = fields.Date.context_today(self)
        confirmed = SaleOrder
        for key, plan, price, months, _story in SUBSCRIPTIONS:
            partner = self._demo_customer(key)
            product = self._demo_plan_product(plan)
            for month in range(months, 0, -1):
                start = today - timedelta(days=30 * month)
                order = SaleOrder.create({
                    "partner_id": partner.id,
                    "user_id": sales.id if sales else self.env.uid,
                    "client_order_ref": f"SUB-{partner.id:04d}",
                    "origin": f"Subscription SUB-{partner.id:04d}, month of {start:%B %Y}",
                    "order_line": [(0, 0, {
                        "product_id": product.id,
                        "name": f"{product.name}, {start:%d %b %Y} to "
                                f"{start + timedelta(days=29):%d %b %Y}",
                        "product_uom_qty": 1,
                        "price_unit": price,
                    })],
                })
                order.action_confirm()
                order.date_order = fields.Datetime.to_datetime(start) + timedelta(hours=9)
                confirmed |= order
        self._demo_emit("sale.order.confirmed", confirmed)

    @api.model
    def _load_core_account(self):
        """Invoices of the recurring orders: paid, open, and one customer overdue."""
        if "sale.order" not in self.env:
            return
        orders = self.env["sale.order"].search(
            [("client_order_ref", "like", "SUB-"), ("state", "=", "sale")], order="date_order, id"
        )
        term = self._demo_ref("account.account_payment_term_30days")
        posted = paid = self.env["account.move"]
        today = fields.Date.context_today(self)
        for order in orders:
            story = next(
                (s[4] for s in SUBSCRIPTIONS if self._demo_customer(s[0]) == order.partner_id),
                "open",
            )
            invoice = order._create_invoices()
            invoice_date = fields.Date.to_date(order.date_order)
            vals = {"invoice_date": invoice_date}
            if term:
                vals["invoice_payment_term_id"] = term.id
            invoice.write(vals)
            invoice.action_post()
            posted |= invoice
            if story == "paid" and invoice_date + timedelta(days=12) <= today:
                self._demo_pay(invoice, invoice_date + timedelta(days=12))
                paid |= invoice
        self._demo_invoice_export()
        self._demo_emit("account.move.posted", posted)
        self._demo_emit("account.move.paid", paid.filtered(lambda m: m.payment_state in ("paid", "in_payment")))

    @api.model
    def _demo_invoice_export(self):
        """Posted invoices go to the accounting firm, which refuses them without a VAT number.

        Harbor & Pine has none: its deliveries end in the dead letter queue (retried once),
        and the workflow's exception owner gets an activity. Fix: enter the VAT number and
        requeue them.
        """
        workflow = self._demo_ref("saas_workflow_core.demo_workflow_invoice_export")
        posted_type = self.env["saas.workflow.event.type"].search(
            [("code", "=", "account.move.posted")], limit=1
        )
        if not workflow or not posted_type:
            return
        action = self.env["ir.actions.server"].create({
            "name": "Send invoice to the accounting firm",
            "model_id": self.env["ir.model"]._get_id("account.move"),
            "state": "code",
            "code": (
                "for move in records:\n"
                "    if not move.commercial_partner_id.vat:\n"
                "        raise UserError('%s: %s has no VAT number; the accounting firm refuses "
                "invoices without one.' % (move.name, move.commercial_partner_id.name))\n"
                "    move.message_post(body='Sent to the accounting firm.')\n"
            ),
        })
        self.env["saas.workflow.subscription"].create({
            "name": "Export posted invoices to the accounting firm",
            "workflow_id": workflow.id,
            "event_type_ids": [(6, 0, posted_type.ids)],
            "filter_domain": "[('move_type', '=', 'out_invoice')]",
            "handler_type": "server_action",
            "action_id": action.id,
            "retry_schedule": "0",
        })

    @api.model
    def _demo_pay(self, invoice, date):
        wizard = self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"payment_date": date})
        wizard._create_payments()
