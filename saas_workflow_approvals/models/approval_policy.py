import logging
from ast import literal_eval

from odoo import api, fields, models, tools
from odoo.exceptions import UserError, ValidationError

from ..lib import fingerprint as fp
from ..lib import planning
from .common import internal

_logger = logging.getLogger(__name__)

GUARD_MARK = "_saas_approval_guard"

# ORM and framework entry points that must never be guarded: guarding them
# would break the registry, the web client or the approval engine itself.
FORBIDDEN_METHODS = frozenset(
    {
        "browse", "check_access", "copy", "copy_data", "create", "default_get", "exists",
        "fields_get", "filtered", "filtered_domain", "flush_model", "flush_recordset",
        "get_views", "invalidate_model", "invalidate_recordset", "load", "mapped",
        "message_post", "modified", "name_create", "name_search", "onchange", "read",
        "read_group", "search", "search_count", "search_fetch", "search_read", "sorted",
        "sudo", "unlink", "update", "web_read", "web_read_group", "web_save",
        "web_search_read", "with_context", "with_env", "with_user", "write",
        "activity_schedule", "message_subscribe",
    }
)


def _make_guard(method_name):
    """Build the wrapper installed on the model class for ``method_name``.

    Defined in its own function so that each wrapper closes over its own
    ``method_name`` (see base_automation's ``_register_hook`` for the same
    pattern).
    """

    def guarded(self, *args, **kwargs):
        return self.env["saas.approval.policy"]._guard_call(
            self, method_name, guarded.origin, args, kwargs
        )

    setattr(guarded, GUARD_MARK, True)
    guarded.__name__ = method_name
    return guarded


class SaasApprovalPolicy(models.Model):
    _name = "saas.approval.policy"
    _description = "Approval policy"
    _inherit = ["mail.thread"]
    _order = "sequence, id"
    _check_company_auto = True

    name = fields.Char(required=True, translate=True, tracking=True)
    active = fields.Boolean(default=True, tracking=True)
    sequence = fields.Integer(
        string="Priority",
        default=10,
        help="When several policies match a record, the one with the lowest priority "
        "number applies.",
    )
    description = fields.Text()
    company_id = fields.Many2one(
        "res.company",
        default=lambda self: self.env.company,
        help="Leave empty to apply the policy to records of every company.",
    )
    owner_id = fields.Many2one(
        "res.users", default=lambda self: self.env.user, tracking=True
    )
    model_id = fields.Many2one(
        "ir.model",
        required=True,
        ondelete="cascade",
        domain=[("transient", "=", False)],
        tracking=True,
    )
    model_name = fields.Char(related="model_id.model", string="Model name", store=True, index=True)
    method_name = fields.Char(
        string="Guarded action",
        required=True,
        tracking=True,
        help="Name of the public method that may not complete until approved, e.g. "
        "button_confirm on purchase.order, action_post on account.move.",
    )
    filter_domain = fields.Char(
        string="Applies to",
        default="[]",
        help="Domain on the record. Empty means every record.",
    )
    amount_field_id = fields.Many2one(
        "ir.model.fields",
        string="Amount field",
        ondelete="set null",
        domain="[('model_id', '=', model_id), ('ttype', 'in', ('monetary', 'float', 'integer'))]",
    )
    currency_field_id = fields.Many2one(
        "ir.model.fields",
        string="Record currency field",
        ondelete="set null",
        domain="[('model_id', '=', model_id), ('ttype', '=', 'many2one'), "
        "('relation', '=', 'res.currency')]",
        help="Currency of the amount. Defaults to the monetary field's currency, then to "
        "the record's currency_id, then to the company currency.",
    )
    currency_id = fields.Many2one(
        "res.currency",
        string="Policy currency",
        default=lambda self: self.env.company.currency_id,
        help="Thresholds are expressed in this currency; record amounts are converted.",
    )
    amount_threshold = fields.Monetary(
        currency_field="currency_id",
        help="The policy applies only when the converted amount is above this value.",
    )
    allow_same_approver = fields.Boolean(
        string="Same approver on several steps",
        help="Allow one person to decide more than one step of the same request.",
    )
    execute_on_approval = fields.Boolean(
        string="Run the action once approved",
        help="Run the guarded action automatically, as the requester, when the request is "
        "approved.",
    )
    email_approvers = fields.Boolean(
        string="Email approvers",
        default=True,
        help="Send the standard activity assignment email to each approver. Without it, "
        "approvers see the activity in their activity menu and in My approvals only.",
    )
    step_ids = fields.One2many("saas.approval.policy.step", "policy_id", string="Steps", copy=True)
    request_ids = fields.One2many("saas.approval.request", "policy_id")
    request_count = fields.Integer(compute="_compute_request_count")

    _sql_constraints = [
        (
            "threshold_positive",
            "CHECK(amount_threshold >= 0)",
            "The amount threshold cannot be negative.",
        ),
    ]

    # ------------------------------------------------------------------ compute
    def _compute_request_count(self):
        data = self.env["saas.approval.request"]._read_group(
            [("policy_id", "in", self.ids)], ["policy_id"], ["__count"]
        )
        counts = {policy.id: count for policy, count in data}
        for policy in self:
            policy.request_count = counts.get(policy.id, 0)

    # -------------------------------------------------------------- constraints
    @api.constrains("model_id", "method_name")
    def _check_method(self):
        for policy in self:
            method = (policy.method_name or "").strip()
            if not method.isidentifier() or method.startswith("_"):
                raise ValidationError(
                    self.env._("The guarded action must be the name of a public method.")
                )
            if method in FORBIDDEN_METHODS:
                raise ValidationError(
                    self.env._("The method %(method)s cannot be guarded.", method=method)
                )
            model = self.env.get(policy.model_name)
            if model is None:
                continue
            func = getattr(type(model), method, None)
            if not callable(func):
                raise ValidationError(
                    self.env._(
                        "The model %(model)s has no method %(method)s.",
                        model=policy.model_name,
                        method=method,
                    )
                )
            if getattr(func, "_api", None) in ("model", "model_create"):
                raise ValidationError(
                    self.env._(
                        "%(method)s does not act on records and cannot be guarded.",
                        method=method,
                    )
                )

    @api.constrains("filter_domain", "model_id")
    def _check_domain(self):
        for policy in self:
            domain = policy._get_domain()
            model = self.env.get(policy.model_name)
            if model is None:
                continue
            try:
                model.sudo().search(domain, limit=1)
            except Exception as exc:
                raise ValidationError(
                    self.env._("Invalid domain %(domain)s: %(error)s", domain=policy.filter_domain,
                               error=exc)
                ) from exc

    @api.constrains("amount_field_id", "currency_field_id", "model_id")
    def _check_fields_model(self):
        for policy in self:
            for fld in policy.amount_field_id | policy.currency_field_id:
                if fld.model_id != policy.model_id:
                    raise ValidationError(
                        self.env._("Field %(field)s does not belong to the policy model.",
                                   field=fld.name)
                    )

    # ------------------------------------------------------------ ORM & registry
    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("method_name"):
                vals["method_name"] = vals["method_name"].strip()
        policies = super().create(vals_list)
        self._update_registry()
        return policies

    def write(self, vals):
        if vals.get("method_name"):
            vals["method_name"] = vals["method_name"].strip()
        res = super().write(vals)
        if {"model_id", "method_name", "active", "sequence", "company_id"} & set(vals):
            self._update_registry()
        return res

    @api.ondelete(at_uninstall=False)
    def _unlink_except_with_requests(self):
        if self.request_ids:
            raise UserError(
                self.env._("A policy with requests cannot be deleted; archive it instead.")
            )

    def unlink(self):
        res = super().unlink()
        self._update_registry()
        return res

    def _update_registry(self):
        """Re-install the method guards and tell the other workers to do the same."""
        self.env.registry.clear_cache()
        if self.env.registry.ready and not self.env.context.get("import_file"):
            self._unregister_hook()
            self._register_hook()
            self.env.registry.registry_invalidated = True

    def _register_hook(self):
        super()._register_hook()
        self._patch_guarded_methods()

    def _unregister_hook(self):
        res = super()._unregister_hook()
        for model_class in self.env.registry.models.values():
            for name, value in list(vars(model_class).items()):
                if getattr(value, GUARD_MARK, False):
                    delattr(model_class, name)
        return res

    def _patch_guarded_methods(self):
        self.flush_model(["model_name", "method_name", "active"])
        self.env.cr.execute(
            "SELECT DISTINCT model_name, method_name FROM saas_approval_policy WHERE active"
        )
        for model_name, method_name in self.env.cr.fetchall():
            if model_name not in self.env.registry:
                _logger.warning(
                    "Approval policy on unknown model %s ignored (module uninstalled?)", model_name
                )
                continue
            model_class = self.env.registry[model_name]
            current = vars(model_class).get(method_name)
            if current is not None and getattr(current, GUARD_MARK, False):
                continue
            origin = getattr(model_class, method_name, None)
            if not callable(origin) or method_name in FORBIDDEN_METHODS:
                _logger.warning(
                    "Approval policy: %s.%s is not a guardable method", model_name, method_name
                )
                continue
            guard = _make_guard(method_name)
            guard.origin = origin
            setattr(model_class, method_name, guard)

    # ------------------------------------------------------------------ helpers
    def _get_domain(self):
        self.ensure_one()
        try:
            domain = literal_eval(self.filter_domain or "[]")
        except (ValueError, SyntaxError) as exc:
            raise ValidationError(
                self.env._("The domain must be a literal list, e.g. [('state', '=', 'draft')].")
            ) from exc
        if not isinstance(domain, list | tuple):
            raise ValidationError(self.env._("The domain must be a list."))
        return list(domain)

    @api.model
    @tools.ormcache("model_name", "method_name")
    def _get_policy_ids(self, model_name, method_name):
        return tuple(
            self.sudo()
            .search([("model_name", "=", model_name), ("method_name", "=", method_name)])
            .ids
        )

    def _record_company(self, record):
        if "company_id" in record._fields and record.company_id:
            return record.company_id
        return self.env.company

    def _record_currency(self, record):
        self.ensure_one()
        if self.currency_field_id:
            currency = record[self.currency_field_id.name]
            if currency:
                return currency
        if self.amount_field_id:
            fld = record._fields.get(self.amount_field_id.name)
            cur_name = getattr(fld, "currency_field", None)
            if fld is not None and fld.type == "monetary" and cur_name:
                currency = record[cur_name] if cur_name in record._fields else False
                if currency:
                    return currency
        if "currency_id" in record._fields and record._fields["currency_id"].comodel_name == "res.currency":
            currency = record.currency_id
            if currency:
                return currency
        return self._record_company(record).currency_id

    def _get_amount(self, record):
        """Record amount converted to the policy currency (None without amount field)."""
        self.ensure_one()
        if not self.amount_field_id:
            return None
        raw = record[self.amount_field_id.name] or 0.0
        target = self.currency_id or self._record_company(record).currency_id
        source = self._record_currency(record)
        if source and target and source != target:
            return source._convert(
                raw, target, self._record_company(record), fields.Date.context_today(self)
            )
        return float(raw)

    def _fingerprint_paths(self):
        self.ensure_one()
        currency_path = self.currency_field_id.name or False
        if not currency_path and self.amount_field_id:
            model = self.env[self.model_name]
            fld = model._fields.get(self.amount_field_id.name)
            if fld is not None and fld.type == "monetary":
                currency_path = fld.currency_field or False
        return fp.relevant_paths(
            self._get_domain(), self.amount_field_id.name or None, currency_path or None
        )

    @api.model
    def _read_path(self, record, path):
        value = record
        for part in path.split("."):
            if not isinstance(value, models.BaseModel) or part not in value._fields:
                return None
            value = value.mapped(part) if len(value) != 1 else value[part]
        if isinstance(value, models.BaseModel):
            return sorted(value.ids)
        return value

    @api.model
    def _compute_fingerprint(self, record, paths):
        record = record.sudo()
        return fp.compute({path: self._read_path(record, path) for path in paths})

    def _applies_to(self, record):
        """Whether this policy guards ``record`` (company, domain and amount)."""
        self.ensure_one()
        return bool(self._filter_applicable(record))

    def _filter_applicable(self, records):
        """The records of ``records`` this policy guards (company, domain and amount)."""
        self.ensure_one()
        records_sudo = records.sudo()
        if self.company_id:
            records_sudo = records_sudo.filtered(
                lambda r: self._record_company(r) == self.company_id
            )
        domain = self._get_domain()
        if domain and records_sudo:
            records_sudo = records_sudo.filtered_domain(domain)
        if self.amount_field_id and records_sudo:
            threshold = self.amount_threshold or 0.0
            records_sudo = records_sudo.filtered(
                lambda r: abs(self._get_amount(r)) > threshold
            )
        return records.browse(records_sudo.ids)

    def _find_applicable(self, record):
        """First policy of ``self`` (ordered by priority) that guards ``record``."""
        for policy, _records in self._match(record):
            return policy
        return self.browse()

    def _match(self, records):
        """``[(policy, records)]``: each record goes to the first policy of ``self``
        (ordered by priority) that guards it; unguarded records are left out."""
        result = []
        remaining = records
        for policy in self.sorted(lambda p: (p.sequence, p.id)):
            if not remaining:
                break
            matched = policy._filter_applicable(remaining)
            if matched:
                result.append((policy, matched))
                remaining -= matched
        return result

    # -------------------------------------------------------------- the guard
    @api.model
    def _guard_call(self, records, method_name, origin, args, kwargs):
        """Body of every guarded method (see :func:`_make_guard`).

        For each record: an approval whose fingerprint still matches lets the
        action run; otherwise a request is created (or the pending one is
        reused) and the original method is NOT called for that record. Instead
        of raising (which would roll back the request), the call returns a
        client notification action describing the requests; the request, its
        activities and chatter messages are committed with the transaction.

        Records without an open request are handled in bulk: one policy match
        pass, then per policy one ``create`` each for the requests, their
        steps, the activities and the chatter logs.
        """
        real = records.filtered(lambda r: isinstance(r.id, int))
        policy_ids = self._get_policy_ids(records._name, method_name)
        if not real or not policy_ids:
            return origin(records, *args, **kwargs)
        policies = self.sudo().browse(policy_ids)
        Request = internal(self.env["saas.approval.request"])
        open_requests = Request._find_open(records._name, real.ids, method_name)
        blocked_ids = []
        fresh = real.filtered(lambda r: r.id not in open_requests)
        for record in real - fresh:
            blocked_ids += Request._evaluate_guard(
                record, method_name, policies, open_requests[record.id]
            ).ids
        if fresh:
            blocked_ids += Request._guard_new(fresh, method_name, policies).ids
        blocked = Request.browse(blocked_ids)
        blocked_res_ids = set(blocked.mapped("res_id"))
        allowed_ids = [rid for rid in real.ids if rid not in blocked_res_ids]
        if not blocked:
            return origin(records, *args, **kwargs)
        result = None
        unsaved = records - real
        allowed = records.browse(allowed_ids) | unsaved
        if allowed:
            result = origin(allowed, *args, **kwargs)
        _logger.info(
            "Approval required for %s.%s on %s (requests %s)",
            records._name,
            method_name,
            blocked.mapped("res_id"),
            blocked.ids,
        )
        return blocked.with_env(self.env)._notification_action(result)

    # ------------------------------------------------------------------ actions
    def action_view_requests(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "saas_workflow_approvals.action_approval_request"
        )
        action["domain"] = [("policy_id", "=", self.id)]
        action["context"] = {}
        return action

    def _snapshot(self):
        """Plain-data copy of the policy, frozen on each request."""
        self.ensure_one()
        return {
            "id": self.id,
            "name": self.name,
            "model": self.model_name,
            "method": self.method_name,
            "domain": self.filter_domain or "[]",
            "amount_field": self.amount_field_id.name or None,
            "currency": self.currency_id.name or None,
            "amount_threshold": self.amount_threshold,
            "allow_same_approver": self.allow_same_approver,
            "execute_on_approval": self.execute_on_approval,
            "email_approvers": self.email_approvers,
            "steps": [step._snapshot() for step in self.step_ids.sorted("sequence")],
        }

    @api.model
    def _has_open_anomaly(self, record):
        """True when the AI addon flagged ``record`` (soft dependency: False without it)."""
        Anomaly = self.env.get("saas.ai.anomaly")
        return bool(Anomaly is not None and Anomaly._is_flagged(record))

    @api.model
    def _plan_for(self, record, requester, amount):
        """Resolve the approvers of every step and plan the request."""
        self.ensure_one()
        specs = []
        for index, step in enumerate(self.step_ids.sorted(lambda s: (s.sequence, s.id))):
            users, error = step._resolve_approvers(record, requester)
            specs.append(
                planning.StepSpec(
                    sequence=index,
                    name=step.name,
                    kind=step.kind,
                    quorum=step.quorum,
                    min_approvals=step.min_approvals,
                    min_amount=step.min_amount if self.amount_field_id else 0.0,
                    condition_met=not step.only_if_anomaly or self._has_open_anomaly(record),
                    candidates=users.ids,
                    resolution_error=error,
                )
            )
        planned = planning.plan(
            specs, requester.id, amount=amount, allow_same_approver=self.allow_same_approver
        )
        steps = self.step_ids.sorted(lambda s: (s.sequence, s.id))
        return list(zip(steps, planned))

    # ------------------------------------------------------------------- demo
    DEMO_MODELS = ("purchase.order", "account.move", "sale.order")

    @api.model
    def _create_demo_policies(self):
        """Demo policies for purchase, credit notes and sale discounts.

        purchase/account/sale are not dependencies of this module: each demo
        policy is only created when its model is installed.
        """
        return self._create_demo_policies_for([m for m in self.DEMO_MODELS if m in self.env])

    @api.model
    def _create_demo_policies_for(self, model_names):
        env = self.env
        company = env.company
        finance = env.ref("saas_workflow_approvals.demo_user_finance", raise_if_not_found=False)
        sales_manager = env.ref(
            "saas_workflow_approvals.demo_user_sales_manager", raise_if_not_found=False
        )
        created = self.browse()

        def field(model, name):
            return env["ir.model.fields"]._get(model, name)

        if "purchase.order" in model_names and "purchase.order" in env and not self._demo_exists("purchase.order", "button_confirm"):
            created |= self.create(
                {
                    "name": env._("Purchase orders above 1,000"),
                    "model_id": env["ir.model"]._get_id("purchase.order"),
                    "method_name": "button_confirm",
                    "filter_domain": "[('state', 'in', ('draft', 'sent', 'to approve'))]",
                    "amount_field_id": field("purchase.order", "amount_total").id,
                    "currency_id": company.currency_id.id,
                    "amount_threshold": 1000.0,
                    "step_ids": [
                        (0, 0, {
                            "name": env._("Department manager"),
                            "sequence": 10,
                            "approver_type": "department_manager",
                            "timeout_hours": 48,
                            "escalation_action": "reassign",
                            "escalation_user_id": finance.id if finance else env.uid,
                            "reminder_hours": 24,
                        }),
                        (0, 0, {
                            "name": env._("Finance director"),
                            "sequence": 20,
                            "approver_type": "users",
                            "user_ids": [(6, 0, finance.ids if finance else [env.uid])],
                            "min_amount": 10000.0,
                            "timeout_hours": 72,
                            "escalation_action": "notify",
                        }),
                    ],
                }
            )
        if "account.move" in model_names and "account.move" in env and not self._demo_exists("account.move", "action_post"):
            created |= self.create(
                {
                    "name": env._("Credit notes above 500"),
                    "model_id": env["ir.model"]._get_id("account.move"),
                    "method_name": "action_post",
                    "filter_domain": "[('move_type', 'in', ('out_refund', 'in_refund'))]",
                    "amount_field_id": field("account.move", "amount_total").id,
                    "currency_id": company.currency_id.id,
                    "amount_threshold": 500.0,
                    "step_ids": [
                        (0, 0, {
                            "name": env._("Finance"),
                            "approver_type": "users",
                            "user_ids": [(6, 0, finance.ids if finance else [env.uid])],
                            "timeout_hours": 24,
                            "escalation_action": "notify",
                        }),
                    ],
                }
            )
        if "sale.order" in model_names and "sale.order" in env and not self._demo_exists("sale.order", "action_confirm"):
            created |= self.create(
                {
                    "name": env._("Discounts above 20%"),
                    "model_id": env["ir.model"]._get_id("sale.order"),
                    "method_name": "action_confirm",
                    "filter_domain": "[('order_line.discount', '>', 20)]",
                    "step_ids": [
                        (0, 0, {
                            "name": env._("Sales manager"),
                            "approver_type": "users",
                            "user_ids": [(6, 0, sales_manager.ids if sales_manager else [env.uid])],
                            "timeout_hours": 24,
                            "escalation_action": "auto_reject",
                        }),
                    ],
                }
            )
        return created

    @api.model
    def _demo_exists(self, model_name, method_name):
        return bool(
            self.with_context(active_test=False).search_count(
                [("model_name", "=", model_name), ("method_name", "=", method_name)], limit=1
            )
        )
