import json
import logging

from odoo import api, fields, models, tools
from odoo.exceptions import UserError, ValidationError

from ..lib import ids, schemas

_logger = logging.getLogger(__name__)

SOURCE_TRIGGERS = [
    ("on_create", "Created"),
    ("on_create_or_write", "Created or updated"),
    ("on_time", "Date-based"),
]


class SaasWorkflowEventType(models.Model):
    """The catalog of business events. Emitting an unknown code is refused."""

    _name = "saas.workflow.event.type"
    _description = "Business Event Type"
    _inherit = ["mail.thread"]
    _order = "code"
    _rec_name = "code"

    code = fields.Char(
        required=True,
        tracking=True,
        help="Dotted identifier such as account.move.posted. Part of the public contract.",
    )
    name = fields.Char(required=True, translate=True, tracking=True)
    description = fields.Text(translate=True)
    version = fields.Integer(
        default=1, required=True, tracking=True, help="Major version of the payload schema."
    )
    payload_schema = fields.Json(
        string="Payload JSON Schema",
        compute="_compute_payload_schema",
        help="JSON schema of the payload, generated from the registered pydantic model.",
    )
    payload_schema_text = fields.Text(compute="_compute_payload_schema", string="Payload Schema")
    owner_id = fields.Many2one("res.users", tracking=True)
    active = fields.Boolean(default=True, tracking=True)
    source_model = fields.Char(
        help="Model whose changes emit this event. Standard events of a model that is not "
        "installed stay unavailable."
    )
    available = fields.Boolean(compute="_compute_available", search="_search_available")
    is_standard = fields.Boolean(readonly=True, help="Shipped with the suite's standard catalog.")
    standard_trigger = fields.Selection(SOURCE_TRIGGERS, readonly=True)
    standard_pre_domain = fields.Char(readonly=True)
    standard_domain = fields.Char(readonly=True)
    standard_fields = fields.Char(
        readonly=True, help="Comma separated field names put in the payload."
    )
    event_count = fields.Integer(compute="_compute_event_count")

    _sql_constraints = [
        ("code_uniq", "unique(code)", "An event type with this code already exists."),
    ]

    @api.constrains("code")
    def _check_code(self):
        for etype in self:
            if not ids.is_valid_code(etype.code):
                raise ValidationError(
                    self.env._(
                        "Event type code %(code)s must be dotted lower-case words, "
                        "e.g. account.move.posted.",
                        code=etype.code,
                    )
                )

    @api.depends("code", "version")
    def _compute_payload_schema(self):
        for etype in self:
            schema = schemas.json_schema(etype.code or "", etype.version or 1)
            etype.payload_schema = schema
            etype.payload_schema_text = (
                json.dumps(schema, indent=2, sort_keys=True) if schema else False
            )

    @api.depends("source_model")
    def _compute_available(self):
        for etype in self:
            etype.available = not etype.source_model or etype.source_model in self.env

    def _search_available(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise UserError(self.env._("Unsupported search on availability."))
        missing = [
            model
            for model in set(self.sudo().with_context(active_test=False).search([]).mapped("source_model"))
            if model and model not in self.env
        ]
        positive = (operator == "=") == value
        if positive:
            return [("source_model", "not in", missing)]
        return [("source_model", "in", missing)]

    def _compute_event_count(self):
        counts = dict(
            self.env["saas.workflow.event"]._read_group(
                [("event_type_id", "in", self.ids)], ["event_type_id"], ["__count"]
            )
        )
        for etype in self:
            etype.event_count = counts.get(etype, 0)

    # ------------------------------------------------------------------
    # Lookup used by emit(): cached, so emitting costs no extra query
    # ------------------------------------------------------------------
    @api.model
    @tools.ormcache("code")
    def _lookup(self, code):
        self.flush_model(["code", "version", "active", "source_model"])
        self.env.cr.execute(
            "SELECT id, version, active, source_model FROM saas_workflow_event_type WHERE code = %s",
            (code,),
        )
        row = self.env.cr.fetchone()
        return tuple(row) if row else None

    @api.model
    def _get_for_emit(self, code):
        """Return ``(type_id, version)`` for an emittable code or raise a clear error."""
        row = self._lookup(code)
        if not row:
            raise UserError(
                self.env._(
                    "Unknown business event type %(code)s. Declare it in the event catalog "
                    "(Workflows > Configuration > Event Types) before emitting it.",
                    code=code,
                )
            )
        type_id, version, active, source_model = row
        if not active:
            raise UserError(
                self.env._("Business event type %(code)s is archived.", code=code)
            )
        if source_model and source_model not in self.env:
            raise UserError(
                self.env._(
                    "Business event type %(code)s needs model %(model)s, which is not installed.",
                    code=code,
                    model=source_model,
                )
            )
        return type_id, version

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        self.env.registry.clear_cache()
        return records

    def write(self, vals):
        res = super().write(vals)
        self.env.registry.clear_cache()
        return res

    @api.ondelete(at_uninstall=False)
    def _unlink_except_used(self):
        if self.env["saas.workflow.event"].sudo().search_count([("event_type_id", "in", self.ids)], limit=1):
            raise UserError(
                self.env._("Event types that have events cannot be deleted; archive them instead.")
            )

    def unlink(self):
        res = super().unlink()
        self.env.registry.clear_cache()
        return res

    def action_view_events(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("saas_workflow_core.action_event")
        action["domain"] = [("event_type_id", "=", self.id)]
        return action

    # ------------------------------------------------------------------
    # Standard catalog: event sources created for installed models only
    # ------------------------------------------------------------------
    @api.model
    def _sync_standard_sources(self):
        """Create the automation rule of each standard event whose model is installed.

        Runs at installation and whenever the registry loads, so installing
        ``crm`` later activates the *deal won* source. Existing rules are never
        touched: an administrator may have edited or archived them.
        """
        Automation = self.env["base.automation"].sudo().with_context(active_test=False)
        standard = self.sudo().search([("is_standard", "=", True), ("standard_trigger", "!=", False)])
        done = set(Automation.search([("saas_standard_type_id", "in", standard.ids)]).mapped(
            "saas_standard_type_id"
        ).ids)
        created = Automation
        for etype in standard:
            if etype.id in done or not etype.source_model or etype.source_model not in self.env:
                continue
            model = self.env["ir.model"]._get(etype.source_model)
            field_names = [
                name.strip()
                for name in (etype.standard_fields or "").split(",")
                if name.strip() in self.env[etype.source_model]._fields
            ]
            payload_fields = self.env["ir.model.fields"].search(
                [("model", "=", etype.source_model), ("name", "in", field_names)]
            )
            created |= Automation.create(
                {
                    "name": etype.name,
                    "model_id": model.id,
                    "trigger": etype.standard_trigger,
                    "filter_pre_domain": etype.standard_pre_domain or False,
                    "filter_domain": etype.standard_domain or False,
                    "saas_standard_type_id": etype.id,
                    "action_server_ids": [
                        (
                            0,
                            0,
                            {
                                "name": self.env._("Emit %(code)s", code=etype.code),
                                "model_id": model.id,
                                "state": "saas_emit_event",
                                "saas_event_type_id": etype.id,
                                "saas_payload_field_ids": [(6, 0, payload_fields.ids)],
                            },
                        )
                    ],
                }
            )
        if created:
            _logger.info("Created %d standard event sources", len(created))
        return created

    def _register_hook(self):
        super()._register_hook()
        if "saas_standard_type_id" in self.env["base.automation"]._fields:
            self._sync_standard_sources()
