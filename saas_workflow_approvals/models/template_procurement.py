"""Procurement and spend control template.

Purchase request (an RFQ) -> threshold approvals -> vendor onboarding checks:

* approval policies on ``purchase.order.button_confirm`` route orders above
  the auto-approval limit to the requester's department manager, and orders
  above the manager limit also to the finance director (the existing approval
  engine does the routing, escalation and audit);
* a vendor must pass onboarding checks (tax ID, email, country, bank account,
  not blocked for purchases) before an order to it is confirmed. The check
  runs when the purchaser clicks Confirm, before any approval request is
  created, so approvers never spend time on an order that could not be sent,
  and again when the order actually becomes confirmed (an automation rule on
  the order's state), so no path around the button passes an incomplete
  vendor;
* choosing a vendor that fails the checks on an RFQ gives procurement an
  onboarding checklist activity on the vendor (through the
  ``procurement.vendor_selected`` event), closed automatically once an order
  to the vendor passes the checks.

``purchase`` is not a dependency: every access goes through ``self.env.get``.
"""

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import format_amount

from ..lib import template_procurement as pr

CODE = "procurement"
PO_MODEL = "purchase.order"
ACTIVITY_ONBOARDING = "saas_workflow_approvals.mail_activity_type_vendor_onboarding"
DRAFT_STATES = ["draft", "sent"]
CONFIRMED_STATES = ["to approve", "purchase", "done"]


class SaasWorkflowTemplateProcurement(models.Model):
    _inherit = "saas.workflow.template"  # pylint: disable=consider-merging-classes-inherited

    # ------------------------------------------------------------- activation
    @api.model
    def _procurement_limits(self, params):
        auto_limit = params.get("auto_approve_limit") or 0.0
        manager_limit = params.get("manager_limit") or 0.0
        try:
            pr.approval_tiers(0.0, auto_limit, manager_limit)
        except ValueError as exc:
            raise UserError(str(exc)) from exc
        return auto_limit, manager_limit

    def _template_activate_procurement(self, workflow, params):
        auto_limit, manager_limit = self._procurement_limits(params)
        self._procurement_policy(workflow, params, auto_limit, manager_limit)
        model = self.env["ir.model"]._get(PO_MODEL)
        gate = self._template_upsert("vendor_gate", "base.automation", {
            "name": self.env._("Procurement: vendor onboarding checks on confirmation"),
            "model_id": model.id,
            "trigger": "on_create_or_write",
            "filter_pre_domain": repr([("state", "in", DRAFT_STATES)]),
            "filter_domain": repr([("state", "in", CONFIRMED_STATES)]),
            "trigger_field_ids": [(6, 0, [self.env["ir.model.fields"]._get(PO_MODEL, "state").id])],
            "saas_workflow_id": workflow.id,
        })
        action_values = {
            "name": self.env._("Check the vendor's onboarding data"),
            "model_id": model.id,
            "state": "code",
            "code": "env['saas.workflow.template']._procurement_gate(records)",
        }
        action = gate.action_server_ids.filtered(lambda a: a.state == "code")[:1]
        if action:
            action.write(action_values)
        else:
            gate.write({"action_server_ids": [(0, 0, action_values)]})
        self._template_event_source(
            "vendor_source", workflow, PO_MODEL, "procurement.vendor_selected",
            "on_create_or_write", name=self.env._("Procurement: vendor chosen on a request"),
            filter_domain=repr([("state", "in", DRAFT_STATES)]),
            trigger_field_names=("partner_id",),
            payload_fields=("name", "partner_id", "amount_total", "currency_id"),
        )
        self._template_subscription(
            "onboarding_subscription", workflow,
            self.env._("Procurement: vendor onboarding checklist"),
            ["procurement.vendor_selected"], "procurement_onboarding",
        )
        types = self.env["saas.workflow.event.type"].sudo().search([("code", "in", [
            "procurement.vendor_selected", "procurement.onboarding_requested",
            "approval.requested", "approval.approved", "approval.rejected",
        ])])
        workflow.write({
            "consumed_type_ids": [(6, 0, types.filtered(
                lambda t: t.code == "procurement.vendor_selected").ids)],
            "emitted_type_ids": [(6, 0, types.filtered(
                lambda t: t.code != "procurement.vendor_selected").ids)],
        })

    def _procurement_policy(self, workflow, params, auto_limit, manager_limit):
        director = params.get("finance_director") or workflow.owner_id
        company = workflow.company_id or self.env.company
        values = {
            "name": self.env._("Procurement: purchases above %(amount)s",
                               amount=format_amount(self.env, auto_limit, company.currency_id)),
            "sequence": 5,
            "model_id": self.env["ir.model"]._get_id(PO_MODEL),
            "method_name": "button_confirm",
            "filter_domain": repr([("state", "in", DRAFT_STATES)]),
            "amount_field_id": self.env["ir.model.fields"]._get(PO_MODEL, "amount_total").id,
            "currency_id": company.currency_id.id,
            "amount_threshold": auto_limit,
            "company_id": False,
            "owner_id": workflow.owner_id.id,
            "description": self.env._(
                "Created by the Procurement and spend control template: purchases up to the "
                "auto-approval limit are confirmed directly, up to the manager limit they need "
                "the requester's department manager, above it also the finance director."),
        }
        steps = [
            {
                "name": self.env._("Department manager"),
                "sequence": 10,
                "approver_type": "department_manager",
                "min_amount": 0.0,
                "timeout_hours": 48,
                "escalation_action": "notify",
            },
            {
                "name": self.env._("Finance director"),
                "sequence": 20,
                "approver_type": "users",
                "user_ids": [(6, 0, director.ids)],
                "min_amount": manager_limit,
                "timeout_hours": 72,
                "escalation_action": "notify",
            },
        ]
        policy = self._template_record("purchase_policy")
        if policy is None:
            values["step_ids"] = [(0, 0, step) for step in steps]
        policy = self._template_upsert("purchase_policy", "saas.approval.policy", values)
        if "step_ids" not in values:
            existing = policy.step_ids.sorted(lambda s: (s.sequence, s.id))
            for index, step in enumerate(steps):
                if index < len(existing):
                    existing[index].write(step)
                else:
                    policy.write({"step_ids": [(0, 0, step)]})
        return policy

    # ----------------------------------------------------------- vendor checks
    @api.model
    def _procurement_vendor_facts(self, vendor):
        vendor = vendor.sudo().commercial_partner_id
        blocked = "purchase_warn" in vendor._fields and vendor.purchase_warn == "block"
        return {
            "vat": vendor.vat,
            "email": vendor.email,
            "country": vendor.country_id.code,
            "bank_count": len(vendor.bank_ids),
            "blocked": blocked,
            "blocked_message": vendor.purchase_warn_msg if blocked else "",
        }

    @api.model
    def _procurement_required_checks(self, params):
        return pr.required_checks(
            require_vat=params.get("require_vat", True),
            require_email=params.get("require_email", True),
            require_country=params.get("require_country", True),
            require_bank=params.get("require_bank", True),
        )

    @api.model
    def _procurement_failures(self, vendor, params):
        return pr.check_vendor(
            self._procurement_vendor_facts(vendor), self._procurement_required_checks(params)
        )

    @api.model
    def _procurement_gate(self, orders):
        """Refuse to confirm ``orders`` whose vendor has not passed onboarding checks.

        Raises a UserError naming the vendor and everything missing; when every
        vendor passes, open onboarding activities of those vendors are closed."""
        template = self._active_by_code(CODE)
        if not template or not orders:
            return True
        params = template._template_params()
        by_vendor = {}
        for order in orders.sudo():
            by_vendor.setdefault(order.partner_id.commercial_partner_id, []).append(order.name)
        messages = []
        passed = self.env["res.partner"]
        for vendor, names in by_vendor.items():
            failures = self._procurement_failures(vendor, params)
            if failures:
                messages.append(pr.block_message(vendor.display_name, failures, names))
            else:
                passed |= vendor
        if messages:
            raise UserError("\n\n".join(messages))
        self._procurement_close_onboarding(passed)
        return True

    @api.model
    def _procurement_open_onboarding(self, vendors):
        activity_type = self.env.ref(ACTIVITY_ONBOARDING)
        return self.env["mail.activity"].sudo().search([
            ("res_model", "=", "res.partner"), ("res_id", "in", vendors.ids),
            ("activity_type_id", "=", activity_type.id),
        ])

    @api.model
    def _procurement_close_onboarding(self, vendors):
        activities = self._procurement_open_onboarding(vendors) if vendors else None
        if activities:
            activities.action_feedback(
                feedback=self.env._("Onboarding checks passed on a purchase confirmation.")
            )

    @api.model
    def _procurement_onboard(self, vendor, order=None):
        """Give procurement an onboarding checklist activity for ``vendor`` when it fails
        the checks and has none open. Returns the activity created, if any."""
        template = self._active_by_code(CODE)
        if not template or not vendor:
            return None
        vendor = vendor.sudo().commercial_partner_id
        params = template._template_params()
        failures = self._procurement_failures(vendor, params)
        if not failures or self._procurement_open_onboarding(vendor):
            return None
        user = params.get("procurement_user") or template.workflow_id.owner_id
        items = Markup("").join(
            Markup("<li>%s</li>") % line for line in pr.checklist(failures)
        )
        note = Markup("<p>%s</p><ul>%s</ul>") % (
            self.env._("Complete the vendor's onboarding before purchases from it can be "
                       "confirmed%(order)s:",
                       order=self.env._(" (first request: %s)", order.name) if order else ""),
            items,
        )
        activity = vendor.activity_schedule(
            ACTIVITY_ONBOARDING,
            date_deadline=fields.Date.context_today(self),
            summary=self.env._("Onboard vendor %(vendor)s", vendor=vendor.display_name),
            note=note,
            user_id=user.id,
        )
        self.env["saas.workflow.event"].sudo().emit(
            "procurement.onboarding_requested",
            record=vendor,
            payload={
                "vendor_id": vendor.id,
                "vendor": vendor.display_name,
                "missing": [code for code, _text in failures],
                "order": order.name if order else None,
                "assigned_to": user.id,
            },
        )
        return activity


class SaasApprovalRequestProcurement(models.Model):
    _inherit = "saas.approval.request"  # pylint: disable=consider-merging-classes-inherited

    @api.model
    def _guard_new(self, records, method_name, policies):
        # Vendor checks come before any approval request: approvers are never asked
        # about an order that could not be confirmed anyway.
        if records._name == PO_MODEL and method_name == "button_confirm":
            self.env["saas.workflow.template"]._procurement_gate(
                records.filtered(lambda o: o.state in DRAFT_STATES)
            )
        return super()._guard_new(records, method_name, policies)


class SaasWorkflowSubscriptionProcurement(models.Model):
    _inherit = "saas.workflow.subscription"  # pylint: disable=consider-merging-classes-inherited

    handler_type = fields.Selection(
        selection_add=[("procurement_onboarding", "Vendor onboarding checklist")],
        ondelete={"procurement_onboarding": "cascade"},
    )

    def _handle_procurement_onboarding(self, event, delivery):
        Template = self.env["saas.workflow.template"]
        if not Template._active_by_code(CODE) or event.res_model != PO_MODEL:
            return None
        Order = self.env.get(PO_MODEL)
        order = Order.sudo().browse(event.res_id).exists() if Order is not None else None
        if not order or order.state not in DRAFT_STATES:
            return None
        Template._procurement_onboard(order.partner_id, order)
        return None



class SaasWorkflowDemoProcurement(models.AbstractModel):
    _inherit = "saas.workflow.demo"  # pylint: disable=consider-merging-classes-inherited

    @api.model
    def _load_procurement_story(self):
        """Configure the template for Orbitly (not activated: see the demo file)."""
        template = self.env["saas.workflow.template"]._by_code(CODE)
        if not template or template.state != "draft":
            return True
        users = {
            "finance_director": self._demo_ref("saas_workflow_approvals.demo_user_finance"),
            "procurement_user": self._demo_ref("saas_workflow_core.demo_user_olivia"),
        }
        for param in template.param_ids:
            if users.get(param.key) and not param.value_user_id:
                param.value_user_id = users[param.key]
        return True
