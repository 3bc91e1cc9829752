import logging

from odoo import api, fields, models
from odoo.addons.saas_workflow_core.lib.actions import record_form
from odoo.exceptions import AccessError, UserError

from ..lib import llm

_logger = logging.getLogger(__name__)

STATUS = [
    ("ok", "Answered"),
    ("refused", "Refused"),
    ("truncated", "Truncated"),
    ("invalid", "Invalid answer"),
    ("timeout", "Timeout"),
    ("rate_limited", "Rate limited"),
    ("api_error", "API error"),
    ("blocked", "Blocked by policy"),
]
STATES = [
    ("applied", "Applied"),
    ("suggested", "Suggested"),
    ("review", "Queued for review"),
    ("failed", "Failed (in review)"),
    ("blocked", "Blocked (in review)"),
    ("reviewed", "Reviewed"),
    ("done", "Done"),
]
WRITE_CTX = "saas_ai_decision_write"


def _technical(vals):
    return {k for k in vals if k.startswith(("message_", "activity_"))}


class SaasAiDecision(models.Model):
    """Audit of one AI call; immutable except through the review action."""

    _name = "saas.ai.decision"
    _description = "AI Decision"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "id desc"
    _check_company_auto = True
    _REVIEW_STATES = ("suggested", "review", "failed", "blocked")

    name = fields.Char(compute="_compute_name")
    kind = fields.Selection(
        [("classify", "Classification"), ("summary", "Summary")], required=True, readonly=True
    )
    profile_id = fields.Many2one("saas.ai.profile", ondelete="restrict", readonly=True, index=True)
    company_id = fields.Many2one("res.company", readonly=True, index=True)
    res_model = fields.Char(string="Model", readonly=True, index=True)
    res_id = fields.Many2oneReference(model_field="res_model", string="Record ID", readonly=True)
    record_name = fields.Char(readonly=True)
    provider_id = fields.Many2one("saas.ai.provider", ondelete="restrict", readonly=True)
    provider_type = fields.Selection(
        [("openai", "OpenAI-compatible"), ("local", "Local")], readonly=True
    )
    llm_model = fields.Char(string="Model Used", readonly=True)
    event_id = fields.Many2one("saas.workflow.event", ondelete="set null", readonly=True)
    status = fields.Selection(STATUS, readonly=True, index=True)
    state = fields.Selection(STATES, readonly=True, index=True, tracking=True)
    error = fields.Text(string="Reason", readonly=True)
    input_sent = fields.Text(string="Input Sent (redacted)", readonly=True)
    prompt_sent = fields.Text(string="Messages Sent", readonly=True)
    input_hash = fields.Char(string="SHA-256 of Input Sent", readonly=True)
    redaction_count = fields.Integer(string="Redactions", readonly=True)
    raw_output = fields.Text(readonly=True)
    summary_text = fields.Text(readonly=True)
    line_ids = fields.One2many("saas.ai.decision.line", "decision_id", readonly=True)
    latency_ms = fields.Float(string="Latency (ms)", readonly=True, aggregator="avg")
    prompt_tokens = fields.Integer(readonly=True)
    completion_tokens = fields.Integer(readonly=True)
    total_tokens = fields.Integer(compute="_compute_total_tokens", store=True)
    call_count = fields.Integer(string="HTTP Calls", readonly=True)
    applied_count = fields.Integer(compute="_compute_applied", store=True)
    min_confidence = fields.Float(compute="_compute_applied", store=True, aggregator="avg")
    reviewer_id = fields.Many2one("res.users", readonly=True)
    reviewed_at = fields.Datetime(readonly=True)
    review_result = fields.Selection(
        [("accepted", "Accepted"), ("corrected", "Corrected")], readonly=True
    )

    @api.depends("profile_id", "record_name", "kind")
    def _compute_name(self):
        for decision in self:
            decision.name = "%s / %s" % (
                decision.profile_id.name or dict(self._fields["kind"].selection).get(decision.kind),
                decision.record_name or decision.res_id,
            )

    @api.depends("prompt_tokens", "completion_tokens")
    def _compute_total_tokens(self):
        for decision in self:
            decision.total_tokens = decision.prompt_tokens + decision.completion_tokens

    @api.depends("line_ids.applied", "line_ids.confidence")
    def _compute_applied(self):
        for decision in self:
            decision.applied_count = len(decision.line_ids.filtered("applied"))
            confs = decision.line_ids.mapped("confidence")
            decision.min_confidence = min(confs) if confs else 0.0

    # ------------------------------------------------------------------ immutability
    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.context.get(WRITE_CTX):
            raise AccessError(self.env._("AI decisions are recorded by the system only."))
        for vals in vals_list:
            if vals.get("res_model") and vals.get("res_id") and not vals.get("record_name"):
                record = self.env[vals["res_model"]].sudo().browse(vals["res_id"]).exists()
                vals["record_name"] = record.display_name if record else False
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.context.get(WRITE_CTX) and set(vals) - _technical(vals):
            raise AccessError(self.env._("AI decisions are an audit trail and cannot be edited."))
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_audit(self):
        raise AccessError(self.env._("AI decisions are an audit trail and cannot be deleted."))

    def _sys(self):
        return self.sudo().with_context(**{WRITE_CTX: True})

    # ------------------------------------------------------------------ outcome
    def _get_record(self):
        self.ensure_one()
        if not self.res_model or self.res_model not in self.env or not self.res_id:
            return None
        return self.env[self.res_model].sudo().browse(self.res_id).exists() or None

    def _decide(self, record):
        """Apply confident labels (auto mode) and queue the rest for review."""
        self.ensure_one()
        decision = self._sys()
        profile = decision.profile_id
        if decision.status != llm.STATUS_OK:
            decision.state = "failed"
            decision._queue_review()
            return
        lines = decision.line_ids
        to_apply = lines.filtered(
            lambda x: (
                profile.mode == "auto"
                and x.label_id
                and x.output_id._can_auto_apply(x.method)
                and x.confidence >= x.output_id._effective_threshold()
            )
        )
        for line in lines:
            line.threshold = line.output_id._effective_threshold()
        if to_apply:
            error = decision._write_labels(record, to_apply.mapped("label_id"))
            if error:
                decision.error = error
                to_apply = to_apply.browse()
        to_apply.write({"applied": True})
        if to_apply:
            decision._emit_applied(to_apply)
        if lines and to_apply == lines:
            decision.state = "applied"
        else:
            decision.state = "suggested" if profile.mode == "suggest" else "review"
            decision._queue_review()

    def _write_labels(self, record, labels):
        """Write label values on ``record``; return an error text or ''."""
        vals = {}
        for label in labels.sudo():
            fname = label.output_id.field_id.name
            value = label._write_value()
            if isinstance(value, list) and isinstance(vals.get(fname), list):
                vals[fname] += value
            else:
                vals[fname] = value
        if not vals or record is None:
            return ""
        try:
            with self.env.cr.savepoint():
                record.sudo().with_context(saas_ai_applying=True).write(vals)
        except Exception as exc:  # any refusal of the record ends in review
            _logger.info("AI decision %s: labels not applied: %s", self.id, exc)
            return self.env._("Labels could not be written: %(error)s", error=exc)
        self.env["saas.sla.status"]._sync_records(record)
        return ""

    def _emit_applied(self, lines, reviewer=None):
        record = self._get_record()
        self.env["saas.workflow.event"].sudo().emit(
            "ai.classification.applied",
            record=record,
            payload={
                "decision_id": self.id,
                "profile_id": self.profile_id.id,
                "model": self.res_model,
                "id": self.res_id,
                "labels": {
                    line.output_id.key: (line.final_label_id or line.label_id).name
                    for line in lines
                },
                "confidence": {line.output_id.key: round(line.confidence, 4) for line in lines},
                "reviewed_by": reviewer.id if reviewer else None,
            },
        )

    def _pick_reviewer(self):
        self.ensure_one()
        team = self.profile_id.review_user_ids.filtered("active")
        if not team:
            return self.profile_id.create_uid
        activity_type = self.env.ref("saas_workflow_ai.mail_activity_ai_review")
        counts = dict(
            self.env["mail.activity"]
            .sudo()
            ._read_group(
                [("activity_type_id", "=", activity_type.id), ("user_id", "in", team.ids)],
                ["user_id"],
                ["__count"],
            )
        )
        return min(team, key=lambda u: (counts.get(u, 0), u.id))

    def _queue_review(self):
        for decision in self._sys():
            if decision.state not in self._REVIEW_STATES:
                decision.state = "review"
            reviewer = decision._pick_reviewer()
            decision.activity_schedule(
                "saas_workflow_ai.mail_activity_ai_review",
                summary=self.env._(
                    "Review AI classification of %(name)s",
                    name=decision.record_name or decision.res_id,
                ),
                note=decision.error or False,
                user_id=reviewer.id,
            )
            self.env["saas.workflow.event"].sudo().emit(
                "ai.classification.review_requested",
                record=decision._get_record(),
                payload={
                    "decision_id": decision.id,
                    "profile_id": decision.profile_id.id,
                    "model": decision.res_model,
                    "id": decision.res_id,
                    "state": decision.state,
                    "status": decision.status,
                    "reviewer_id": reviewer.id,
                },
            )

    # ------------------------------------------------------------------ review
    def _check_reviewer(self):
        user = self.env.user
        if self.env.is_superuser() or user.has_group("saas_workflow_ai.group_ai_manager"):
            return
        for decision in self:
            if user not in decision.profile_id.review_user_ids:
                raise AccessError(
                    self.env._("Only the profile's review team may review decisions.")
                )

    def action_accept(self):
        """One click: the suggested labels are right."""
        self._check_reviewer()
        for decision in self:
            if decision.state not in self._REVIEW_STATES:
                raise UserError(
                    self.env._("Decision %(name)s is not waiting for review.", name=decision.name)
                )
            if not decision.line_ids or not all(decision.line_ids.mapped("label_id")):
                raise UserError(
                    self.env._(
                        "Decision %(name)s has no complete suggestion: correct it instead.",
                        name=decision.name,
                    )
                )
            decision._apply_review({line.output_id: line.label_id for line in decision.line_ids})
        return True

    def action_correct(self):
        self.ensure_one()
        self._check_reviewer()
        return self.env["saas.ai.review.wizard"]._action_open(self)

    def _apply_review(self, choices):
        """``choices``: {output: final label}. Applies them and records the review."""
        self.ensure_one()
        decision = self._sys()
        record = decision._get_record()
        Line = self.env["saas.ai.decision.line"].sudo().with_context(**{WRITE_CTX: True})
        to_write = self.env["saas.ai.label"]
        changed = False
        for output, label in choices.items():
            if not label:
                continue
            line = decision.line_ids.filtered(lambda x, o=output: x.output_id == o)[:1]
            if not line:
                line = Line.create(
                    {"decision_id": decision.id, "output_id": output.id, "method": "none"}
                )
            line.final_label_id = label
            changed = changed or line.label_id != label
            if not line.applied or line.label_id != label:
                to_write |= label
        error = decision._write_labels(record, to_write) if to_write else ""
        if error:
            raise UserError(error)
        decision.write(
            {
                "state": "reviewed",
                "reviewer_id": self.env.user.id,
                "reviewed_at": fields.Datetime.now(),
                "review_result": "corrected" if changed else "accepted",
            }
        )
        decision.line_ids.filtered("final_label_id").write({"applied": True})
        decision.activity_ids.sudo().action_feedback(
            feedback=self.env._("Reviewed: %(result)s", result=decision.review_result)
        )
        decision._emit_applied(decision.line_ids.filtered("final_label_id"), reviewer=self.env.user)
        decision.line_ids.mapped("output_id")._calibrate_from_reviews()

    def action_retry(self):
        """Run the profile again on the record (a new decision)."""
        self._check_reviewer()
        new = self.browse()
        for decision in self.filtered(lambda d: d.kind == "classify"):
            record = decision._get_record()
            if record is None:
                raise UserError(self.env._("The record does not exist anymore."))
            new |= decision.profile_id._classify_record(record)
            if decision.state in self._REVIEW_STATES:
                decision._sys().state = "done"
                decision.activity_ids.sudo().action_feedback(
                    feedback=self.env._("Superseded by a new classification.")
                )
        return new

    def action_open_record(self):
        self.ensure_one()
        return record_form(self.res_model, self.res_id)


class SaasAiDecisionLine(models.Model):
    _name = "saas.ai.decision.line"
    _description = "AI Decision Field"
    _order = "decision_id, id"

    decision_id = fields.Many2one("saas.ai.decision", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="decision_id.company_id", store=True)
    profile_id = fields.Many2one(related="decision_id.profile_id", store=True)
    output_id = fields.Many2one("saas.ai.profile.output", ondelete="set null", index=True)
    output_name = fields.Char(related="output_id.name")
    label = fields.Char(string="Answer", help="Label answered by the provider.")
    label_id = fields.Many2one("saas.ai.label", string="Suggested Label", ondelete="set null")
    method = fields.Selection(
        [
            ("logprobs", "Token logprobs"),
            ("samples", "Sample agreement"),
            ("self_reported", "Self-reported"),
            ("local", "Local model"),
            ("none", "None"),
        ],
        string="Confidence Method",
    )
    raw_confidence = fields.Float(digits=(16, 4))
    confidence = fields.Float(string="Calibrated Confidence", digits=(16, 4), aggregator="avg")
    threshold = fields.Float(digits=(16, 4))
    distribution = fields.Json()
    applied = fields.Boolean()
    final_label_id = fields.Many2one("saas.ai.label", ondelete="set null")
    correct = fields.Boolean(compute="_compute_correct", store=True)

    @api.depends("label_id", "final_label_id")
    def _compute_correct(self):
        for line in self:
            line.correct = bool(line.final_label_id) and line.final_label_id == line.label_id

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.context.get(WRITE_CTX):
            raise AccessError(self.env._("AI decisions are recorded by the system only."))
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.context.get(WRITE_CTX):
            raise AccessError(self.env._("AI decisions are an audit trail and cannot be edited."))
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_audit(self):
        raise AccessError(self.env._("AI decisions are an audit trail and cannot be deleted."))
