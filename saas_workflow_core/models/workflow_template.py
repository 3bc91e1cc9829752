import logging

from markupsafe import Markup, escape

from odoo import api, fields, models, tools
from odoo.exceptions import UserError

from ..lib import templates as tpl

_logger = logging.getLogger(__name__)


class SaasWorkflowTemplate(models.Model):
    """An installable workflow pattern: data plus a configuration wizard.

    The addon that implements a template ships its catalog record (and its
    parameters) as data and adds ``_template_activate_<code>(workflow, params)``.
    Activation creates or updates everything through the ``_template_*``
    helpers, which remember what they made; switching off archives exactly that
    and keeps every event, delivery, request and business record.
    """

    _name = "saas.workflow.template"
    _description = "Workflow Template"
    _inherit = ["mail.thread"]
    _order = "sequence, name"

    code = fields.Char(required=True, readonly=True, copy=False)
    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    summary = fields.Char(translate=True)
    description = fields.Html(
        translate=True, sanitize_attributes=False,
        help="Purpose, inputs and outputs, exception path.",
    )
    kpi_description = fields.Html(string="KPIs", translate=True)
    required_modules = fields.Char(
        readonly=True, help="Technical names of the modules the template needs, comma-separated."
    )
    missing_modules = fields.Char(compute="_compute_availability")
    available = fields.Boolean(compute="_compute_availability")
    state = fields.Selection(
        [("draft", "Not activated"), ("active", "Active"), ("inactive", "Switched off")],
        default="draft", required=True, readonly=True, tracking=True,
    )
    workflow_id = fields.Many2one("saas.workflow", readonly=True, ondelete="set null")
    param_ids = fields.One2many("saas.workflow.template.param", "template_id", string="Parameters")
    record_ids = fields.One2many(
        "saas.workflow.template.record", "template_id", string="Created Records", readonly=True
    )
    record_count = fields.Integer(compute="_compute_record_count")
    activation_date = fields.Datetime(readonly=True)
    activated_by_id = fields.Many2one("res.users", readonly=True)
    color = fields.Integer(compute="_compute_color")

    _sql_constraints = [("code_uniq", "unique(code)", "A template with this code already exists.")]

    @api.depends("required_modules")
    def _compute_availability(self):
        installed = set(
            self.env["ir.module.module"].sudo().search([("state", "=", "installed")]).mapped("name")
        )
        for template in self:
            missing = tpl.missing_modules(template.required_modules, installed)
            template.missing_modules = ", ".join(missing)
            template.available = not missing

    @api.depends("record_ids")
    def _compute_record_count(self):
        for template in self:
            template.record_count = len(template.record_ids)

    @api.depends("state")
    def _compute_color(self):
        colors = {"active": 10, "inactive": 1, "draft": 0}
        for template in self:
            template.color = colors.get(template.state, 0)

    @api.model
    def _by_code(self, code):
        return self.with_context(active_test=False).search([("code", "=", code)], limit=1)

    @api.model
    def _active_by_code(self, code):
        """The template ``code`` (sudo) when it is switched on, else an empty recordset.

        Answered from a registry cache, so guards of actions, handlers and crons
        cost no query; creating, deleting or switching a template clears it.
        """
        return self.sudo().browse(self._active_template_id(code) or ())

    @api.model
    @tools.ormcache("code")
    def _active_template_id(self, code):
        template = self.sudo().with_context(active_test=False).search(
            [("code", "=", code), ("state", "=", "active")], limit=1
        )
        return template.id or False

    @api.model_create_multi
    def create(self, vals_list):
        templates = super().create(vals_list)
        self.env.registry.clear_cache()
        return templates

    def write(self, vals):
        res = super().write(vals)
        if {"state", "code", "active"} & set(vals):
            self.env.registry.clear_cache()
        return res

    def unlink(self):
        res = super().unlink()
        self.env.registry.clear_cache()
        return res

    # ------------------------------------------------------------------
    # Parameters
    # ------------------------------------------------------------------
    def _template_params(self):
        self.ensure_one()
        return {param.key: param._value() for param in self.param_ids}

    # ------------------------------------------------------------------
    # Activation / switch off
    # ------------------------------------------------------------------
    def action_configure(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Configure %(name)s", name=self.name),
            "res_model": "saas.workflow.template.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_template_id": self.id},
        }

    def _check_activable(self):
        """Raise unless the template can be activated; return its implementation."""
        self.ensure_one()
        self.env["saas.workflow"].check_access("create")
        if not self.available:
            raise UserError(
                self.env._(
                    "The template %(name)s needs these modules, which are not installed: %(modules)s",
                    name=self.name, modules=self.missing_modules,
                )
            )
        activate = getattr(self, f"_template_activate_{self.code}", None)
        if activate is None:
            raise UserError(
                self.env._("No installed addon implements the template %(code)s.", code=self.code)
            )
        return activate

    def _activate(self, owner=None, exception_user=None):
        """Activate (or re-apply) the template with its saved parameters."""
        activate = self._check_activable()
        owner = owner or self.workflow_id.owner_id or self.env.user
        workflow_values = {
            "name": self.name,
            "code": self.code,
            "purpose": self.description,
            "owner_id": owner.id,
            "exception_user_id": (exception_user or self.workflow_id.exception_user_id or owner).id,
            "active": True,
        }
        workflow = self.workflow_id.sudo().with_context(active_test=False)
        if not workflow:
            workflow = self.env["saas.workflow"].sudo().with_context(active_test=False).search(
                [("code", "=", self.code)], limit=1
            )
        if workflow:
            workflow.write(workflow_values)
        else:
            workflow = workflow.create(workflow_values)
        self.sudo().write({"workflow_id": workflow.id})
        params = self._template_params()
        activate(workflow, params)
        self.sudo().write(
            {"state": "active", "activation_date": fields.Datetime.now(),
             "activated_by_id": self.env.user.id}
        )
        lines = Markup("<br/>").join(escape(line) for line in tpl.describe_params(params))
        workflow.message_post(
            body=Markup("%s<br/>%s") % (
                self.env._("Template activated by %(user)s with:", user=self.env.user.name), lines
            )
        )
        return workflow

    def action_deactivate(self):
        """Switch off: archive what the template created; history stays."""
        self.env["saas.workflow"].check_access("write")
        for template in self.filtered(lambda t: t.state == "active"):
            deactivate = getattr(template, f"_template_deactivate_{template.code}", None)
            if deactivate is not None:
                deactivate(template.workflow_id)
            for link in template.sudo().record_ids:
                record = link._record()
                if record and "active" in record._fields:
                    record.active = False
            if template.workflow_id:
                template.workflow_id.sudo().active = False
                template.workflow_id.sudo().message_post(
                    body=self.env._("Template switched off by %(user)s.", user=self.env.user.name)
                )
            template.sudo().write({"state": "inactive"})
        return True

    def action_open_workflow(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "saas.workflow",
            "res_id": self.workflow_id.id,
            "view_mode": "form",
            "context": {"active_test": False},
        }

    # ------------------------------------------------------------------
    # Helpers used by implementations (create-or-update tracked records)
    # ------------------------------------------------------------------
    def _template_record(self, key):
        """The record created under ``key`` by an earlier activation, or ``None``."""
        self.ensure_one()
        link = self.sudo().record_ids.filtered(lambda r: r.key == key)[:1]
        record = link._record() if link else None
        return record or None

    def _template_upsert(self, key, model_name, values):
        self.ensure_one()
        Model = self.env[model_name].sudo().with_context(active_test=False)
        values = dict(values)
        if "active" in Model._fields:
            values.setdefault("active", True)
        record = self._template_record(key)
        if record is not None and record._name == model_name:
            record.write(values)
            return record
        record = Model.create(values)
        link_model = self.env["saas.workflow.template.record"].sudo()
        link_model.search([("template_id", "=", self.id), ("key", "=", key)]).unlink()
        link_model.create(
            {"template_id": self.id, "key": key, "res_model": model_name, "res_id": record.id}
        )
        return record

    def _template_event_source(
        self, key, workflow, model_name, event_code, trigger, name=None, filter_domain=False,
        filter_pre_domain=False, trigger_field_names=(), payload_fields=(), trg_date_field=None,
        trg_date_range=0, trg_date_range_type="day",
    ):
        """An automation rule on ``model_name`` emitting ``event_code``."""
        self.ensure_one()
        etype = self.env["saas.workflow.event.type"].sudo().with_context(
            active_test=False
        ).search([("code", "=", event_code)], limit=1)
        if not etype:
            raise UserError(self.env._("Unknown event type %(code)s.", code=event_code))
        if not etype.active:
            etype.active = True
        model = self.env["ir.model"]._get(model_name)
        Fields = self.env["ir.model.fields"].sudo()
        field_ids = Fields._get_ids(model_name)
        unknown = [f for f in (*trigger_field_names, *payload_fields) if f not in field_ids]
        if unknown:
            raise UserError(
                self.env._("Unknown fields on %(model)s: %(fields)s",
                           model=model_name, fields=", ".join(unknown))
            )
        values = {
            "name": name or etype.name,
            "model_id": model.id,
            "trigger": trigger,
            "filter_domain": filter_domain,
            "filter_pre_domain": filter_pre_domain,
            "saas_workflow_id": workflow.id,
            "trigger_field_ids": [(6, 0, [field_ids[f] for f in trigger_field_names])],
        }
        if trg_date_field:
            values.update(
                trg_date_id=Fields._get(model_name, trg_date_field).id,
                trg_date_range=trg_date_range,
                trg_date_range_type=trg_date_range_type,
            )
        rule = self._template_upsert(key, "base.automation", values)
        action_values = {
            "name": self.env._("Emit %(code)s", code=event_code),
            "model_id": model.id,
            "state": "saas_emit_event",
            "saas_event_type_id": etype.id,
            "saas_payload_field_ids": [(6, 0, [field_ids[f] for f in payload_fields])],
        }
        emit = rule.action_server_ids.filtered(lambda a: a.state == "saas_emit_event")[:1]
        if emit:
            emit.write(action_values)
        else:
            rule.write({"action_server_ids": [(0, 0, action_values)]})
        return rule

    def _template_subscription(self, key, workflow, name, event_codes, handler_type, **extra_values):
        self.ensure_one()
        types = self.env["saas.workflow.event.type"].sudo().with_context(active_test=False).search(
            [("code", "in", list(event_codes))]
        )
        unknown = set(event_codes) - set(types.mapped("code"))
        if unknown:
            raise UserError(
                self.env._("Unknown event types: %(codes)s", codes=", ".join(sorted(unknown)))
            )
        types.filtered(lambda t: not t.active).write({"active": True})
        values = {
            "name": name,
            "workflow_id": workflow.id,
            "event_type_ids": [(6, 0, types.ids)],
            "handler_type": handler_type,
            "company_id": workflow.company_id.id,
            **extra_values,
        }
        return self._template_upsert(key, "saas.workflow.subscription", values)

    def _template_cron(
        self, key, workflow, name, model_name, method_name, interval_number=1, interval_type="days"
    ):
        self.ensure_one()
        values = {
            "name": name,
            "model_id": self.env["ir.model"]._get(model_name).id,
            "state": "code",
            "code": f"model.{method_name}()",
            "interval_number": interval_number,
            "interval_type": interval_type,
            "user_id": self.env.ref("base.user_root").id,
        }
        return self._template_upsert(key, "ir.cron", values)


class SaasWorkflowTemplateParam(models.Model):
    _name = "saas.workflow.template.param"
    _description = "Workflow Template Parameter"
    _order = "template_id, sequence, id"

    template_id = fields.Many2one("saas.workflow.template", required=True, ondelete="cascade")
    sequence = fields.Integer(default=10)
    key = fields.Char(required=True)
    name = fields.Char(string="Parameter", required=True, translate=True)
    help = fields.Char(translate=True)
    value_type = fields.Selection(
        [("integer", "Integer"), ("float", "Decimal"), ("char", "Text"),
         ("boolean", "Yes/No"), ("user", "User")],
        required=True, default="char",
    )
    value_integer = fields.Integer(string="Whole Number")
    value_float = fields.Float(string="Decimal Number")
    value_char = fields.Char(string="Text")
    value_boolean = fields.Boolean(string="Yes/No")
    value_user_id = fields.Many2one("res.users", string="User")
    value_display = fields.Char(compute="_compute_value_display", string="Value")

    _sql_constraints = [
        ("key_uniq", "unique(template_id, key)", "A parameter key appears once per template."),
    ]

    def _value(self):
        self.ensure_one()
        return self[tpl.param_field(self.value_type)]

    @api.depends("value_type", "value_integer", "value_float", "value_char",
                 "value_boolean", "value_user_id")
    def _compute_value_display(self):
        for param in self:
            value = param._value()
            param.value_display = value.display_name if param.value_type == "user" else str(value)


class SaasWorkflowTemplateRecord(models.Model):
    _name = "saas.workflow.template.record"
    _description = "Record Created by a Workflow Template"
    _order = "template_id, id"

    template_id = fields.Many2one("saas.workflow.template", required=True, ondelete="cascade", index=True)
    key = fields.Char(required=True)
    res_model = fields.Char(required=True, string="Model")
    res_id = fields.Many2oneReference(model_field="res_model", required=True, string="Record ID")
    res_name = fields.Char(compute="_compute_res_name", string="Record")
    res_active = fields.Boolean(compute="_compute_res_name", string="Active")

    def _record(self):
        self.ensure_one()
        if self.res_model not in self.env:
            return None
        record = self.env[self.res_model].sudo().with_context(active_test=False).browse(self.res_id)
        return record if record.exists() else None

    def _compute_res_name(self):
        for link in self:
            record = link._record()
            link.res_name = record.display_name if record else False
            if not record:
                link.res_active = False
            else:
                link.res_active = record.active if "active" in record._fields else True
