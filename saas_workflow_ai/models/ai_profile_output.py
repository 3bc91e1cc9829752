import base64
import hashlib
import threading

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..lib import llm
from . import ai_lib
from .ai_profile import TARGET_TYPES, is_sensitive_field

_LOCAL_MODELS = {}
_LOCAL_LOCK = threading.Lock()


class SaasAiProfileOutput(models.Model):
    _name = "saas.ai.profile.output"
    _description = "AI Profile Output Field"
    _order = "sequence, id"

    profile_id = fields.Many2one("saas.ai.profile", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="profile_id.company_id", store=True)
    sequence = fields.Integer(default=10)
    name = fields.Char(
        required=True, help="Name of the answer field the model fills (e.g. category, priority)."
    )
    key = fields.Char(compute="_compute_key", store=True)
    model_id = fields.Many2one(related="profile_id.model_id")
    field_id = fields.Many2one(
        "ir.model.fields",
        string="Target Field",
        required=True,
        ondelete="cascade",
        domain="[('model_id', '=', model_id), ('ttype', 'in', %s), ('readonly', '=', False)]"
        % (list(TARGET_TYPES),),
    )
    field_type = fields.Selection(related="field_id.ttype")
    field_relation = fields.Char(related="field_id.relation")
    label_ids = fields.One2many("saas.ai.label", "output_id", string="Labels", copy=True)
    threshold = fields.Float(
        help="Calibrated confidence from which this field is applied. 0: the profile's threshold."
    )
    is_sensitive = fields.Boolean(
        compute="_compute_is_sensitive",
        help="Financial or contractual decision: only ever recommended, never applied by AI.",
    )
    # calibration (temperature scaling on reviewed decisions)
    temperature = fields.Float(default=1.0, readonly=True)
    calibration_method = fields.Char(readonly=True, help="Confidence method calibrated.")
    calibrated_at = fields.Datetime(readonly=True)
    calibration_samples = fields.Integer(readonly=True)
    accuracy = fields.Float(readonly=True, help="Share of reviewed answers that were right.")
    ece_raw = fields.Float(string="ECE before", readonly=True)
    ece_calibrated = fields.Float(string="ECE after", readonly=True)
    target_precision = fields.Float(default=0.95)
    suggested_threshold = fields.Float(
        readonly=True,
        help="Lowest calibrated threshold whose reviewed precision reaches the target precision.",
    )
    # local model
    local_model_file = fields.Binary(attachment=True, copy=False, readonly=True)
    local_sample_count = fields.Integer(readonly=True)

    @api.depends("name")
    def _compute_key(self):
        for output in self:
            output.key = llm.field_key(output.name or "")

    @api.depends("field_id")
    def _compute_is_sensitive(self):
        for output in self:
            output.is_sensitive = is_sensitive_field(output.field_id)

    @api.constrains("name", "profile_id")
    def _check_key(self):
        for output in self:
            keys = output.profile_id.output_ids.mapped("key")
            if keys.count(output.key) > 1:
                raise ValidationError(
                    self.env._(
                        "Two outputs of a profile cannot both be named %(key)s.", key=output.key
                    )
                )

    @api.constrains("field_id", "profile_id")
    def _check_field(self):
        for output in self:
            if output.field_id.model_id != output.profile_id.model_id:
                raise ValidationError(
                    self.env._("The target field must belong to the profile's model.")
                )
            if output.field_id.ttype not in TARGET_TYPES:
                raise ValidationError(
                    self.env._(
                        "Unsupported target field type %(type)s.", type=output.field_id.ttype
                    )
                )
        self.mapped("profile_id")._check_sensitive_auto()

    @api.constrains("threshold", "target_precision")
    def _check_threshold(self):
        for output in self:
            if not 0 <= output.threshold <= 1 or not 0 < output.target_precision <= 1:
                raise ValidationError(self.env._("Thresholds and precisions are between 0 and 1."))

    def _effective_threshold(self):
        self.ensure_one()
        return self.threshold or self.profile_id.confidence_threshold

    # ------------------------------------------------------------------ values
    def _value_keys(self, value):
        """Keys of a target field value, comparable to ``saas.ai.label._value_key``."""
        self.ensure_one()
        if isinstance(value, models.BaseModel):
            return [("rec", value._name, rec_id) for rec_id in value.ids]
        if value is False or value is None:
            return []
        return [("val", str(value))]

    # ------------------------------------------------------------------ calibration
    def _can_auto_apply(self, method):
        """May a confidence obtained with ``method`` decide alone for this field?"""
        self.ensure_one()
        if self.is_sensitive or method in (False, None, "", "none"):
            return False
        if method == "self_reported":
            return bool(self.calibrated_at) and self.calibration_method == method
        return True

    def _calibrate(self, raw, method):
        """Calibrated confidence for a raw confidence obtained with ``method``."""
        self.ensure_one()
        if raw is None:
            return None
        if self.calibrated_at and self.calibration_method == method and self.temperature:
            return ai_lib.apply_temperature(raw, self.temperature)
        return raw

    def _calibrate_from_reviews(self, min_samples=10):
        """Fit the temperature of each output on its reviewed decisions."""
        Line = self.env["saas.ai.decision.line"].sudo()
        for output in self:
            lines = Line.search(
                [
                    ("output_id", "=", output.id),
                    ("final_label_id", "!=", False),
                    ("label_id", "!=", False),
                    ("raw_confidence", ">", 0),
                ]
            )
            if not lines:
                continue
            methods = lines.mapped("method")
            method = max(set(methods), key=methods.count)
            lines = lines.filtered(lambda x, m=method: x.method == m)
            if len(lines) < min_samples:
                continue
            raw = lines.mapped("raw_confidence")
            correct = [line.label_id == line.final_label_id for line in lines]
            temperature = ai_lib.fit_temperature(raw, correct)
            calibrated = [ai_lib.apply_temperature(p, temperature) for p in raw]
            output.sudo().write(
                {
                    "temperature": temperature,
                    "calibration_method": method,
                    "calibrated_at": fields.Datetime.now(),
                    "calibration_samples": len(lines),
                    "accuracy": sum(correct) / len(correct),
                    "ece_raw": ai_lib.ece(raw, correct),
                    "ece_calibrated": ai_lib.ece(calibrated, correct),
                    "suggested_threshold": ai_lib.threshold_for_precision(
                        calibrated, correct, output.target_precision
                    )
                    or 0.0,
                }
            )

    def action_use_suggested_threshold(self):
        for output in self.filtered("suggested_threshold"):
            output.threshold = output.suggested_threshold

    # ------------------------------------------------------------------ local model
    def _load_local_model(self):
        self.ensure_one()
        data = self.sudo().local_model_file
        if not data:
            return None
        blob = base64.b64decode(data)
        digest = hashlib.sha256(blob).hexdigest()
        with _LOCAL_LOCK:
            model = _LOCAL_MODELS.get(digest)
            if model is None:
                model = ai_lib.local_load(blob)
                if len(_LOCAL_MODELS) > 32:
                    _LOCAL_MODELS.clear()
                _LOCAL_MODELS[digest] = model
        return model


class SaasAiLabel(models.Model):
    _name = "saas.ai.label"
    _description = "AI Label"
    _order = "sequence, id"

    output_id = fields.Many2one(
        "saas.ai.profile.output", required=True, ondelete="cascade", index=True
    )
    sequence = fields.Integer(default=10)
    name = fields.Char(string="Label", required=True, help="What the model answers.")
    field_type = fields.Selection(related="output_id.field_id.ttype")
    value_ref = fields.Reference(
        selection="_selection_models",
        string="Record Value",
        help="For relational target fields: the record to set (team, user, tag...).",
    )
    value_char = fields.Char(
        string="Value", help="For selection/char/boolean/integer fields: the raw value to set."
    )

    _sql_constraints = [
        ("name_uniq", "unique(output_id, name)", "Labels of an output must be unique."),
    ]

    @api.model
    def _selection_models(self):
        return [
            (m.model, m.name)
            for m in self.env["ir.model"].sudo().search([("transient", "=", False)])
        ]

    @api.constrains("value_ref", "value_char", "output_id")
    def _check_value(self):
        for label in self:
            field = label.output_id.field_id
            if field.ttype in ("many2one", "many2many"):
                if not label.value_ref or label.value_ref._name != field.relation:
                    raise ValidationError(
                        self.env._(
                            "Label %(label)s must point to a record of %(model)s.",
                            label=label.name,
                            model=field.relation,
                        )
                    )
            elif field.ttype == "selection":
                values = [
                    v
                    for v, _n in self.env[field.model]
                    ._fields[field.name]
                    ._description_selection(self.env)
                ]
                if label.value_char not in values:
                    raise ValidationError(
                        self.env._(
                            "Label %(label)s: %(value)s is not a value of %(field)s (%(values)s).",
                            label=label.name,
                            value=label.value_char,
                            field=field.name,
                            values=", ".join(values),
                        )
                    )
            elif field.ttype == "integer":
                try:
                    int(label.value_char or "")
                except ValueError as exc:
                    raise ValidationError(
                        self.env._("Label %(label)s needs an integer value.", label=label.name)
                    ) from exc

    def _value_key(self):
        self.ensure_one()
        if self.value_ref:
            return ("rec", self.value_ref._name, self.value_ref.id)
        value = self.value_char
        if self.field_type == "integer":
            value = str(int(value or 0))
        elif self.field_type == "boolean":
            value = str(str(value).lower() in ("1", "true", "yes"))
        return ("val", value or "")

    def _write_value(self):
        """Value for ``record.write`` on the output's target field."""
        self.ensure_one()
        ttype = self.output_id.field_id.ttype
        if ttype == "many2one":
            return self.value_ref.id
        if ttype == "many2many":
            return [(4, self.value_ref.id)]
        if ttype == "integer":
            return int(self.value_char or 0)
        if ttype == "boolean":
            return str(self.value_char).lower() in ("1", "true", "yes")
        return self.value_char or False
