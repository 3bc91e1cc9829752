import time

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import html2plaintext, plaintext2html

from ..lib import llm
from ..models.ai_profile import MAX_SUMMARY_CHARS


class SaasAiSummaryWizard(models.TransientModel):
    """Draft summary of a ticket thread for the agent; never sent to the customer."""

    _name = "saas.ai.summary.wizard"
    _description = "Summarize a Thread"

    res_model = fields.Char(required=True)
    res_id = fields.Integer(required=True)
    profile_id = fields.Many2one("saas.ai.profile", required=True)
    decision_id = fields.Many2one("saas.ai.decision", readonly=True)
    summary = fields.Text()
    error = fields.Text(readonly=True)

    @api.model
    def _profile_for(self, model_name):
        return (
            self.env["saas.ai.profile"]
            .sudo()
            .search(
                [
                    ("model_name", "=", model_name),
                    ("enable_summary", "=", True),
                    ("provider_id.provider_type", "=", "openai"),
                    ("company_id", "in", self.env.companies.ids),
                ],
                limit=1,
            )
        )

    @api.model
    def _action_open(self, records):
        record = records[:1]
        if not record:
            raise UserError(self.env._("Open a record to summarize its thread."))
        record.check_access("read")
        profile = self._profile_for(record._name)
        if not profile:
            raise UserError(self.env._("No AI profile offers summaries on this model."))
        wizard = self.create(
            {"res_model": record._name, "res_id": record.id, "profile_id": profile.id}
        )
        wizard._draft()
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": wizard.id,
            "view_mode": "form",
            "target": "new",
            "name": self.env._("Thread summary"),
        }

    def _thread_text(self, record):
        messages = (
            self.env["mail.message"]
            .sudo()
            .search(
                [
                    ("model", "=", record._name),
                    ("res_id", "=", record.id),
                    ("message_type", "in", ("email", "comment")),
                ],
                order="id",
            )
        )
        parts, size = [], 0
        for message in reversed(messages):
            body = html2plaintext(message.body or "").strip()
            if not body:
                continue
            part = "%s (%s):\n%s" % (
                message.author_id.name or message.email_from or "?",
                message.date,
                body,
            )
            size += len(part)
            if size > MAX_SUMMARY_CHARS:
                break
            parts.append(part)
        return "\n\n".join(reversed(parts))

    def _draft(self):
        """Call the provider (policy, redaction and audit as for classifications)."""
        self.ensure_one()
        profile = self.profile_id.sudo()
        record = self.env[self.res_model].sudo().browse(self.res_id).exists()
        Decision = self.env["saas.ai.decision"].sudo().with_context(saas_ai_decision_write=True)
        base = {
            "kind": "summary",
            "profile_id": profile.id,
            "company_id": profile.company_id.id,
            "res_model": self.res_model,
            "res_id": self.res_id,
            "provider_id": profile.provider_id.id,
            "provider_type": profile.provider_id.provider_type,
            "llm_model": profile.provider_id.model_name,
        }
        blocked = profile._policy_blocks_external()
        if blocked:
            decision = Decision.create(
                dict(
                    base,
                    status="blocked",
                    state="blocked",
                    error=self.env._("No call made: %(reason)s.", reason=blocked),
                )
            )
            self.write({"decision_id": decision.id, "error": decision.error})
            return
        text = self._thread_text(record)
        if not text:
            raise UserError(self.env._("This record has no conversation to summarize."))
        sent, redactions = profile._prepare_text(record, text)
        started = time.monotonic()
        result = profile.provider_id._get_classifier().summarize(
            sent, max_words=profile.summary_max_words or 120
        )
        decision = Decision.create(
            dict(
                base,
                status=result.status,
                state="done" if result.ok else "failed",
                error=result.error or False,
                raw_output=result.raw_output or False,
                summary_text=result.text or False,
                redaction_count=redactions,
                input_hash=llm.text_hash(sent),
                input_sent=False if profile.audit_hash_only else sent,
                latency_ms=result.latency_ms or (time.monotonic() - started) * 1000,
                prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
                call_count=result.calls,
                llm_model=result.model or base["llm_model"],
            )
        )
        self.write(
            {
                "decision_id": decision.id,
                "summary": result.text if result.ok else False,
                "error": False if result.ok else result.error,
            }
        )

    def action_post_note(self):
        """Post the (possibly edited) summary as an internal note: never to followers."""
        self.ensure_one()
        if not self.summary:
            raise UserError(self.env._("There is no summary to post."))
        record = self.env[self.res_model].browse(self.res_id)
        record.check_access("read")
        if not hasattr(record, "message_post"):
            raise UserError(self.env._("This record has no chatter."))
        record.message_post(
            body=plaintext2html(self.env._("AI summary (draft for agents):") + "\n" + self.summary),
            message_type="comment",
            subtype_xmlid="mail.mt_note",
        )
        return {"type": "ir.actions.act_window_close"}
