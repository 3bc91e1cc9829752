"""HR and internal requests: employee requests (equipment, software access) routed to the
requester's manager and approved under the template's approval policies."""

from datetime import timedelta

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..lib import template_hr_requests as hrq
from .approval_policy import GUARD_MARK, _make_guard
from .common import check_protected_write, internal, is_internal

TEMPLATE_CODE = "hr_requests"
REQUEST_MODEL = "saas.internal.request"
GUARDED_METHOD = "action_approve"
FULFIL_ACTIVITY_XMLID = "saas_workflow_approvals.mail_activity_type_internal_request_fulfil"

STATES = [
    (hrq.DRAFT, "Draft"),
    (hrq.SUBMITTED, "Submitted"),
    (hrq.APPROVED, "Approved"),
    (hrq.REJECTED, "Rejected"),
    (hrq.DONE, "Done"),
    (hrq.CANCELLED, "Cancelled"),
]
PROTECTED_FIELDS = frozenset(
    {"state", "manager_user_id", "route_source", "submitted_at", "approved_at", "done_at",
     "reject_reason", "employee_name", "department_name"}
)
CONTENT_FIELDS = frozenset(
    {"name", "description", "category_id", "estimated_cost", "currency_id", "requester_id",
     "company_id"}
)


class SaasInternalRequestCategory(models.Model):
    _name = "saas.internal.request.category"
    _description = "Internal request category"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    kind = fields.Selection(
        [("equipment", "Equipment"), ("software", "Software access"), ("other", "Other")],
        default="other", required=True,
    )
    responsible_id = fields.Many2one(
        "res.users", required=True, domain=[("share", "=", False)],
        help="Fulfils the approved requests (gets an activity) and approves when the "
        "requester has no manager.",
    )
    approval_rule = fields.Selection(
        [
            (hrq.RULE_STANDARD, "Manager, and finance above the threshold"),
            (hrq.RULE_MANAGER, "Manager only"),
            (hrq.RULE_NONE, "No approval"),
        ],
        string="Approval policy", default=hrq.RULE_STANDARD, required=True,
        help="Which approval policy of the HR and internal requests template applies.",
    )
    description = fields.Text()
    request_ids = fields.One2many("saas.internal.request", "category_id")


class SaasInternalRequest(models.Model):
    _name = "saas.internal.request"
    _description = "Internal request"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "id desc"
    _check_company_auto = True

    name = fields.Char(string="Subject", required=True, tracking=True)
    reference = fields.Char(readonly=True, copy=False, default="/")
    requester_id = fields.Many2one(
        "res.users", required=True, default=lambda self: self.env.user, index=True,
        domain=[("share", "=", False)], tracking=True,
    )
    employee_name = fields.Char(string="Employee", readonly=True, copy=False,
                                help="Employee of the requester at submission (HR).")
    department_name = fields.Char(string="Department", readonly=True, copy=False)
    category_id = fields.Many2one("saas.internal.request.category", required=True,
                                  tracking=True, ondelete="restrict")
    category_kind = fields.Selection(related="category_id.kind", store=True, string="Kind")
    responsible_id = fields.Many2one(related="category_id.responsible_id", string="Fulfiller")
    description = fields.Text(required=True)
    company_id = fields.Many2one("res.company", required=True,
                                 default=lambda self: self.env.company, index=True)
    currency_id = fields.Many2one("res.currency", required=True,
                                  default=lambda self: self.env.company.currency_id)
    estimated_cost = fields.Monetary(currency_field="currency_id", tracking=True)
    state = fields.Selection(STATES, default=hrq.DRAFT, required=True, readonly=True,
                             index=True, tracking=True, copy=False)
    manager_user_id = fields.Many2one(
        "res.users", string="Routed to", readonly=True, copy=False, index="btree_not_null",
        help="First approver: the requester's manager, else the department manager, else "
        "the category responsible.",
    )
    route_source = fields.Selection(
        [(hrq.SOURCE_MANAGER, "Direct manager"), (hrq.SOURCE_DEPARTMENT, "Department manager"),
         (hrq.SOURCE_CATEGORY, "Category responsible")],
        readonly=True, copy=False,
    )
    submitted_at = fields.Datetime(readonly=True, copy=False)
    approved_at = fields.Datetime(readonly=True, copy=False)
    done_at = fields.Datetime(readonly=True, copy=False)
    reject_reason = fields.Text(readonly=True, copy=False)
    approval_hours = fields.Float(compute="_compute_kpis", store=True, aggregator="avg",
                                  string="Approval time (h)")
    fulfilment_hours = fields.Float(compute="_compute_kpis", store=True, aggregator="avg",
                                    string="Fulfilment time (h)")
    approval_request_id = fields.Many2one("saas.approval.request",
                                          compute="_compute_approval_request")
    approval_state = fields.Selection(selection="_selection_approval_state",
                                      compute="_compute_approval_request",
                                      string="Approval status")
    waiting_for = fields.Char(compute="_compute_approval_request")
    can_decide = fields.Boolean(compute="_compute_approval_request")

    _sql_constraints = [
        ("cost_positive", "CHECK(estimated_cost >= 0)", "The estimated cost cannot be negative."),
    ]

    @api.depends("submitted_at", "approved_at", "done_at")
    def _compute_kpis(self):
        for request in self:
            request.approval_hours = hrq.turnaround_hours(request.submitted_at, request.approved_at)
            request.fulfilment_hours = hrq.turnaround_hours(request.approved_at, request.done_at)

    @api.model
    def _selection_approval_state(self):
        return self.env["saas.approval.request"]._fields["state"]._description_selection(self.env)

    @api.depends_context("uid")
    def _compute_approval_request(self):
        Approval = self.env["saas.approval.request"].sudo()
        found = {}
        if self.ids:
            for approval in Approval.search(
                [("res_model", "=", self._name), ("res_id", "in", self.ids),
                 ("method_name", "=", GUARDED_METHOD)], order="id desc",
            ):
                found.setdefault(approval.res_id, approval)
        for request in self:
            approval = found.get(request.id, Approval)
            request.approval_request_id = approval.id
            request.approval_state = approval.state
            request.waiting_for = approval.current_step_names
            request.can_decide = bool(
                approval and approval.with_env(self.env).step_ids._decidable_by_me()
            )

    # --------------------------------------------------------------- ORM
    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            check_protected_write(self, vals, PROTECTED_FIELDS)
            if vals.get("reference", "/") == "/":
                vals["reference"] = (
                    self.env["ir.sequence"].sudo().next_by_code(REQUEST_MODEL) or "/"
                )
        return super().create(vals_list)

    def write(self, vals):
        check_protected_write(self, vals, PROTECTED_FIELDS)
        if CONTENT_FIELDS & set(vals) and not is_internal(self.env):
            locked = self.filtered(lambda r: r.state != hrq.DRAFT)
            if locked:
                raise UserError(self.env._(
                    "%(names)s can no longer be changed: only draft requests can be edited.",
                    names=", ".join(locked.mapped("display_name"))))
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_only_draft(self):
        if self.filtered(lambda r: r.state != hrq.DRAFT):
            raise UserError(self.env._("Only draft requests can be deleted; cancel it instead."))

    @api.depends("reference", "name")
    def _compute_display_name(self):
        for request in self:
            ref = request.reference if request.reference and request.reference != "/" else ""
            request.display_name = f"{ref} {request.name or ''}".strip()

    # --------------------------------------------------------------- helpers
    @api.model
    def _template(self):
        return self.env["saas.workflow.template"].sudo()._by_code(TEMPLATE_CODE)

    def _template_active(self):
        return bool(self.env["saas.workflow.template"]._active_by_code(TEMPLATE_CODE))

    def _check_transition(self, action):
        for request in self:
            try:
                hrq.next_state(request.state, action)
            except hrq.TransitionError:
                label = dict(STATES).get(request.state, request.state)
                raise UserError(self.env._(
                    "%(name)s is %(state)s: this action is not possible now.",
                    name=request.display_name, state=label)) from None
        return hrq.TRANSITIONS[action][1]

    def _set_state(self, action, **vals):
        target = self._check_transition(action)
        internal(self).write(dict(vals, state=target))

    def _employee(self):
        """The requester's employee (hr installed), else None."""
        self.ensure_one()
        Employee = self.env.get("hr.employee")
        if Employee is None:
            return None
        return Employee.sudo().search(
            [("user_id", "=", self.requester_id.id),
             ("company_id", "in", [self.company_id.id, False])], limit=1,
        ) or None

    def _route(self):
        """(manager user, source, employee name, department name) for this request."""
        self.ensure_one()
        employee = self._employee()
        direct = department = None
        if employee is not None:
            direct = employee.parent_id.user_id.id or None
            department = employee.department_id.manager_id.user_id.id or None
        user_id, source = hrq.route_manager(
            self.requester_id.id, direct, department, self.category_id.responsible_id.id)
        return (
            self.env["res.users"].browse(user_id),
            source,
            employee.name if employee is not None else False,
            employee.department_id.name if employee is not None and employee.department_id
            else False,
        )

    def _notify_requester(self, body, emit=None, payload=None):
        """Post ``body`` on the request and notify the requester (inbox or e-mail)."""
        for request in self:
            request.sudo().with_context(mail_notify_author=True).message_post(
                body=Markup("<p>%s</p>") % body,
                partner_ids=request.requester_id.partner_id.ids,
                message_type="comment",
                subtype_xmlid="mail.mt_note",
            )
            if emit:
                request._emit(emit, payload)

    def _emit(self, code, extra=None):
        self.ensure_one()
        payload = {
            "request_id": self.id,
            "reference": self.reference,
            "name": self.name,
            "state": self.state,
            "category": self.category_id.name,
            "requester_id": self.requester_id.id,
            "approver_id": self.manager_user_id.id or None,
            "estimated_cost": self.estimated_cost,
            "currency": self.currency_id.name,
        }
        payload.update(extra or {})
        self.env["saas.workflow.event"].sudo().emit(
            code, record=self, payload=payload, correlation_id=f"internal_request:{self.id}")

    def _approval_granted(self):
        """Whether an approved approval request covers the guarded action."""
        self.ensure_one()
        return bool(self.env["saas.approval.request"].sudo().search_count(
            [("res_model", "=", self._name), ("res_id", "=", self.id),
             ("method_name", "=", GUARDED_METHOD), ("state", "=", "approved")], limit=1))

    def _policy_applies(self):
        self.ensure_one()
        Policy = self.env["saas.approval.policy"].sudo()
        policies = Policy.browse(Policy._get_policy_ids(self._name, GUARDED_METHOD))
        return bool(policies._find_applicable(self))

    def _is_fulfiller(self):
        self.ensure_one()
        return self.env.user == self.category_id.responsible_id or self.env.user.has_group(
            "saas_workflow_approvals.group_approval_manager")

    # --------------------------------------------------------------- actions
    def action_submit(self):
        """Send the request to its approvers (the approval policy decides who)."""
        if not self._template_active():
            raise UserError(self.env._(
                "The HR and internal requests workflow is switched off: requests cannot be "
                "submitted. Ask an administrator to activate the template."))
        result = True
        for request in self:
            if request.requester_id != self.env.user and not is_internal(self.env) and not \
                    self.env.user.has_group("saas_workflow_approvals.group_approval_manager"):
                raise AccessError(self.env._("Only the requester can submit %s.",
                                             request.display_name))
            manager, source, employee, department = request._route()
            if not manager and request.category_id.approval_rule != hrq.RULE_NONE:
                raise UserError(self.env._(
                    "%(name)s cannot be routed: the requester has no manager and the category "
                    "responsible is the requester.", name=request.display_name))
            request._set_state(hrq.SUBMIT, submitted_at=fields.Datetime.now(),
                               manager_user_id=manager.id, route_source=source,
                               employee_name=employee, department_name=department,
                               reject_reason=False, approved_at=False, done_at=False)
            if manager:
                body = self.env._("%(name)s was submitted and sent to %(manager)s for approval.",
                                  name=request.display_name, manager=manager.name)
            else:
                body = self.env._("%(name)s was submitted.", name=request.display_name)
            request._notify_requester(body, emit="internal.request.submitted")
            outcome = request.with_user(request.requester_id).action_approve()
            if isinstance(outcome, dict):
                result = outcome
                approval = request.approval_request_id
                if approval.state == "exception":
                    request._notify_requester(self.env._(
                        "%(name)s waits for an administrator: %(reason)s",
                        name=request.display_name, reason=approval.exception_reason))
        return result

    def action_approve(self):
        """Mark the request approved. Guarded by the template's approval policies: it only
        completes once the approval request is approved (run automatically then)."""
        for request in self:
            request._check_transition(hrq.APPROVE)
            if request._approval_granted():
                continue
            if request._policy_applies():
                raise AccessError(self.env._(
                    "%s can only be approved through its approval request.",
                    request.display_name))
            if not (request._template_active() or self.env.user.has_group(
                    "saas_workflow_approvals.group_approval_manager")):
                raise AccessError(self.env._(
                    "Only an approval manager can approve %s.", request.display_name))
        now = fields.Datetime.now()
        template = self._template()
        days = (template._template_params().get("fulfilment_days") or 0) if template else 0
        for request in self:
            request._set_state(hrq.APPROVE, approved_at=now)
            request._notify_requester(
                self.env._("%(name)s is approved; %(who)s will fulfil it.",
                           name=request.display_name, who=request.category_id.responsible_id.name),
                emit="internal.request.approved")
            request.sudo().activity_schedule(
                FULFIL_ACTIVITY_XMLID,
                date_deadline=fields.Date.context_today(self) + timedelta(days=days),
                summary=self.env._("Fulfil %s", request.display_name),
                note=Markup("<p>%s</p>") % self.env._(
                    "%(requester)s asked for: %(description)s",
                    requester=request.requester_id.name, description=request.description),
                user_id=request.category_id.responsible_id.id,
            )
        return True

    def action_done(self):
        """The fulfiller delivered what was requested."""
        for request in self:
            if not request._is_fulfiller():
                raise AccessError(self.env._(
                    "Only %(user)s (responsible of %(category)s) can mark %(name)s done.",
                    user=request.category_id.responsible_id.name,
                    category=request.category_id.name, name=request.display_name))
        now = fields.Datetime.now()
        for request in self:
            request._set_state(hrq.FULFIL, done_at=now)
            request._fulfil_activities().action_feedback(
                feedback=self.env._("Done by %s", self.env.user.name))
            request._notify_requester(
                self.env._("%(name)s is done (%(user)s).", name=request.display_name,
                           user=self.env.user.name),
                emit="internal.request.done")
        return True

    def _fulfil_activities(self):
        activity_type = self.env.ref(FULFIL_ACTIVITY_XMLID, raise_if_not_found=False)
        return self.env["mail.activity"].sudo().search(
            [("res_model", "=", self._name), ("res_id", "in", self.ids),
             ("activity_type_id", "=", activity_type.id if activity_type else False)])

    def action_cancel(self):
        manager = self.env.user.has_group("saas_workflow_approvals.group_approval_manager")
        for request in self:
            if request.requester_id != self.env.user and not manager:
                raise AccessError(self.env._("Only the requester can cancel %s.",
                                             request.display_name))
        for request in self:
            request._check_transition(hrq.CANCEL)
            approval = request.approval_request_id
            if approval and approval.state in ("draft", "pending", "exception"):
                internal(approval)._close(
                    "cancelled", self.env._("The internal request was cancelled."))
            request._fulfil_activities().unlink()
            request._set_state(hrq.CANCEL)
            request._notify_requester(
                self.env._("%(name)s was cancelled by %(user)s.", name=request.display_name,
                           user=self.env.user.name))
        return True

    def action_reset_draft(self):
        for request in self:
            if request.requester_id != self.env.user and not self.env.user.has_group(
                    "saas_workflow_approvals.group_approval_manager"):
                raise AccessError(self.env._("Only the requester can reopen %s.",
                                             request.display_name))
        self._set_state(hrq.RESET)
        return True

    def action_approve_step(self):
        """Approve the step waiting for the current user (form button)."""
        self.ensure_one()
        if not self.approval_request_id:
            raise UserError(self.env._("%s has no approval waiting.", self.display_name))
        return self.approval_request_id.with_env(self.env).action_approve()

    def action_reject_step(self):
        self.ensure_one()
        if not self.approval_request_id:
            raise UserError(self.env._("%s has no approval waiting.", self.display_name))
        return self.approval_request_id.with_env(self.env).action_reject()

    def action_open_approval(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "saas.approval.request",
            "res_id": self.approval_request_id.id,
            "view_mode": "form",
            "views": [(False, "form")],
        }

    # ------------------------------------------------------- engine callbacks
    def _on_approval_decision(self, decision):
        """An approver decided a step: tell the requester."""
        self.ensure_one()
        if decision.decision != "approve":
            return
        step = decision.step_id
        who = decision.user_id.name
        if decision.on_behalf_of_id and decision.on_behalf_of_id != decision.user_id:
            who = self.env._("%(user)s on behalf of %(other)s", user=who,
                             other=decision.on_behalf_of_id.name)
        self._notify_requester(self.env._(
            "%(who)s approved step “%(step)s” of %(name)s.", who=who, step=step.name,
            name=self.display_name))

    def _on_approval_rejected(self, reason, decided_by=None):
        self.ensure_one()
        if self.state != hrq.SUBMITTED:
            return
        self._set_state(hrq.REJECT, reject_reason=reason)
        self._notify_requester(
            self.env._("%(name)s was rejected by %(who)s: %(reason)s", name=self.display_name,
                       who=decided_by.name if decided_by else self.env._("the system"),
                       reason=reason),
            emit="internal.request.rejected",
            payload={"reason": reason, "decided_by": decided_by.id if decided_by else None},
        )

    # ------------------------------------------------------------------ demo
    @api.model
    def _create_demo_requests(self):
        """Activate the template and walk demo requests through every state (needs hr)."""
        template = self._template()
        if not template or not template.available:
            return False
        env = self.env
        employee = env.ref("saas_workflow_approvals.demo_user_employee")
        lead = env.ref("saas_workflow_approvals.demo_user_team_lead")
        it = env.ref("saas_workflow_approvals.demo_user_it")
        finance = env.ref("saas_workflow_approvals.demo_user_finance")
        Employee = env["hr.employee"].sudo()
        lead_emp = Employee.search([("user_id", "=", lead.id)], limit=1) or Employee.create(
            {"name": lead.name, "user_id": lead.id})
        department = env["hr.department"].sudo().create(
            {"name": env._("Customer Success"), "manager_id": lead_emp.id})
        lead_emp.department_id = department
        emp = Employee.search([("user_id", "=", employee.id)], limit=1) or Employee.create(
            {"name": employee.name, "user_id": employee.id})
        emp.write({"department_id": department.id, "parent_id": lead_emp.id})
        for param in template.param_ids:
            if param.key == "finance_approver":
                param.value_user_id = finance
            elif param.key == "fulfiller":
                param.value_user_id = it
        template._activate(owner=env.ref("base.user_admin"))
        categories = {
            key: template._template_record(f"category_{key}")
            for key in ("equipment", "software", "other")
        }

        # during the module installation the registry is not ready and policies do not
        # install their guards yet: guard this model's action for the demo walk only
        model_class = type(self)
        patched = not getattr(vars(model_class).get(GUARDED_METHOD), GUARD_MARK, False)
        if patched:
            guard = _make_guard(GUARDED_METHOD)
            guard.origin = getattr(model_class, GUARDED_METHOD)
            setattr(model_class, GUARDED_METHOD, guard)
        try:
            self._walk_demo_requests(employee, lead, it, finance, categories)
        finally:
            if patched:
                delattr(model_class, GUARDED_METHOD)
        return True

    @api.model
    def _walk_demo_requests(self, employee, lead, it, finance, categories):
        env = self.env

        def make(name, category, cost, description):
            return self.with_user(employee).create({
                "name": name,
                "category_id": categories[category].id,
                "estimated_cost": cost,
                "description": description,
            })

        make("Second monitor", "equipment", 180.0, "A 27 inch monitor for the support desk.")
        make("Design tool licence", "software", 15.0,
             "Access to the design tool to prepare onboarding slides.").action_submit()
        laptop = make("Laptop for the new hire", "equipment", 1450.0,
                      "Laptop for Nora, who joins the onboarding team on Monday.")
        laptop.with_user(employee).action_submit()
        laptop.with_user(lead).action_approve_step()
        laptop.with_user(finance).action_approve_step()
        desk = make("Standing desk", "equipment", 650.0, "Height-adjustable desk.")
        desk.with_user(employee).action_submit()
        desk.approval_request_id.with_user(lead).action_reject(
            reason=env._("The furniture budget is frozen until next quarter."))
        vpn = make("VPN access", "software", 0.0, "VPN access to reach the staging servers.")
        vpn.with_user(employee).action_submit()
        vpn.with_user(lead).action_approve_step()
        vpn.with_user(it).action_done()
        ticket = make("Conference ticket", "other", 400.0, "SaaS operations conference pass.")
        ticket.with_user(employee).action_submit()
        ticket.with_user(employee).action_cancel()
        return True


class SaasApprovalDecision(models.Model):
    _inherit = "saas.approval.decision"

    @api.model_create_multi
    def create(self, vals_list):
        decisions = super().create(vals_list)
        for decision in decisions:
            request = decision.request_id
            if request.res_model == REQUEST_MODEL and decision.decision == "approve":
                record = request._record()
                if record is not None:
                    record._on_approval_decision(decision)
        return decisions


class SaasApprovalRequest(models.Model):
    _inherit = "saas.approval.request"

    def _finalize_rejected(self, reason, decided_by=None):
        res = super()._finalize_rejected(reason, decided_by=decided_by)
        if self.res_model == REQUEST_MODEL:
            record = self._record()
            if record is not None:
                record._on_approval_rejected(reason, decided_by)
        return res


class SaasWorkflowTemplate(models.Model):
    _inherit = "saas.workflow.template"

    def _template_activate_hr_requests(self, workflow, params):
        problems = hrq.check_params(params)
        if problems:
            raise UserError("\n".join(problems))
        fulfiller = params["fulfiller"]
        finance = params["finance_approver"]
        categories = (
            ("category_equipment", self.env._("Equipment"), "equipment", 10),
            ("category_software", self.env._("Software access"), "software", 20),
            ("category_other", self.env._("Other"), "other", 30),
        )
        for key, name, kind, sequence in categories:
            existing = self._template_record(key)
            values = {"kind": kind, "sequence": sequence, "responsible_id": fulfiller.id}
            if existing is None:
                values["name"] = name
            self._template_upsert(key, "saas.internal.request.category", values)
        model_id = self.env["ir.model"]._get_id(REQUEST_MODEL)
        amount_field = self.env["ir.model.fields"]._get(REQUEST_MODEL, "estimated_cost")
        threshold = params["approval_threshold"]
        timeout = params["manager_timeout_hours"] or 0.0
        currency = self.env.company.currency_id
        manager_step = {
            "name": self.env._("Manager"),
            "sequence": 10,
            "approver_type": "record_field",
            "field_path": "manager_user_id",
            "timeout_hours": timeout,
            "reminder_hours": timeout,
        }
        common = {
            "model_id": model_id,
            "method_name": GUARDED_METHOD,
            "company_id": False,
            "currency_id": currency.id,
            "execute_on_approval": True,
            "owner_id": workflow.owner_id.id,
        }
        self._template_upsert("policy_finance", "saas.approval.policy", dict(
            common,
            name=self.env._("Internal requests above %(amount)s %(currency)s",
                            amount=f"{threshold:,.0f}", currency=currency.name),
            sequence=10,
            description=self.env._("HR and internal requests template: the manager, then the "
                                   "finance approver, above the threshold."),
            filter_domain=f"[('category_id.approval_rule', '=', '{hrq.RULE_STANDARD}')]",
            amount_field_id=amount_field.id,
            amount_threshold=threshold,
            step_ids=[(5, 0, 0), (0, 0, manager_step), (0, 0, {
                "name": self.env._("Finance"),
                "sequence": 20,
                "approver_type": "users",
                "user_ids": [(6, 0, finance.ids)],
            })],
        ))
        self._template_upsert("policy_manager", "saas.approval.policy", dict(
            common,
            name=self.env._("Internal requests"),
            sequence=20,
            description=self.env._("HR and internal requests template: the requester's "
                                   "manager approves."),
            filter_domain="[('category_id.approval_rule', 'in', ('%s', '%s'))]" % (
                hrq.RULE_STANDARD, hrq.RULE_MANAGER),
            amount_field_id=False,
            amount_threshold=0.0,
            step_ids=[(5, 0, 0), (0, 0, manager_step)],
        ))
        codes = ["internal.request.submitted", "internal.request.approved",
                 "internal.request.rejected", "internal.request.done",
                 "approval.requested", "approval.approved", "approval.rejected"]
        types = self.env["saas.workflow.event.type"].sudo().with_context(
            active_test=False).search([("code", "in", codes)])
        types.filtered(lambda t: not t.active).write({"active": True})
        workflow.sudo().write({"emitted_type_ids": [(6, 0, types.ids)]})
