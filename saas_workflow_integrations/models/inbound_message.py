import json

from odoo import api, fields, models
from odoo.tools import SQL

INBOUND_EVENT = "integration.inbound.received"


class SaasWebhookInboundMessage(models.Model):
    """An accepted inbound call: stored first, processed asynchronously."""

    _name = "saas.webhook.inbound.message"
    _description = "Inbound Webhook Message"
    _order = "id desc"
    _rec_name = "webhook_id"
    _check_company_auto = True

    source_id = fields.Many2one(
        "saas.webhook.inbound.source", required=True, ondelete="cascade", index=True, readonly=True
    )
    company_id = fields.Many2one("res.company", readonly=True, index=True)
    webhook_id = fields.Char(string="Webhook ID", required=True, readonly=True)
    received_at = fields.Datetime(readonly=True, default=fields.Datetime.now)
    sent_at = fields.Datetime(readonly=True, help="Timestamp signed by the sender.")
    payload = fields.Json(readonly=True)
    payload_preview = fields.Text(compute="_compute_payload_preview", string="Payload (formatted)")
    body_size = fields.Integer(readonly=True)
    event_id = fields.Many2one(
        "saas.workflow.event", readonly=True, string="Received Event", ondelete="set null"
    )
    state = fields.Selection(related="event_id.state", string="Processing")
    result_event_id = fields.Many2one("saas.workflow.event", readonly=True, ondelete="set null")

    _sql_constraints = [
        (
            "source_webhook_uniq",
            "unique(source_id, webhook_id)",
            "A webhook id is processed once per source.",
        )
    ]

    def _compute_payload_preview(self):
        for message in self:
            message.payload_preview = json.dumps(message.payload, indent=2, ensure_ascii=False)

    @api.model
    def _store(self, source, webhook_id, payload, body_size, sent_at=None):
        """Insert the message unless ``webhook_id`` was seen; return it or ``None`` (duplicate).

        ``INSERT ... ON CONFLICT DO NOTHING`` makes concurrent deliveries of the
        same id race-safe: exactly one transaction inserts.
        """
        uid = self.env.uid
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO saas_webhook_inbound_message
                    (source_id, company_id, webhook_id, received_at, sent_at, payload, body_size,
                     create_uid, write_uid, create_date, write_date)
                VALUES (%s, %s, %s, now() AT TIME ZONE 'UTC', %s, %s, %s, %s, %s,
                        now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')
                ON CONFLICT (source_id, webhook_id) DO NOTHING
                RETURNING id
                """,
                source.id,
                source.company_id.id or None,
                webhook_id,
                sent_at,
                json.dumps(payload, ensure_ascii=False),
                body_size,
                uid,
                uid,
            )
        )
        row = self.env.cr.fetchone()
        if not row:
            return None
        message = self.browse(row[0])
        event = self.env["saas.workflow.event"].emit(
            INBOUND_EVENT,
            record=message,
            payload={"source": source.code, "message_id": message.id, "webhook_id": webhook_id},
        )
        self.env.cr.execute(
            "UPDATE saas_webhook_inbound_message SET event_id = %s WHERE id = %s", (event.id, message.id)
        )
        message.invalidate_recordset(["event_id"])
        return message

    def _process(self, event):
        """Run the source's processing as its technical user (in the dispatcher's savepoint)."""
        self.ensure_one()
        source = self.source_id.sudo()
        user = source.technical_user_id
        if not user or user._is_superuser() or user._is_system():
            raise ValueError("inbound sources never run as an administrator")
        env = self.env(user=user.id, su=False)
        payload = self.payload or {}
        if source.process_mode == "event":
            emitted = env["saas.workflow.event"].emit(
                source.event_type_id.code,
                payload=payload if isinstance(payload, dict) else {"data": payload},
                idempotency_key=f"inbound:{source.code}:{self.webhook_id}",
                causation_id=event.public_id,
                correlation_id=event.correlation_id,
            )
            self.sudo().result_event_id = emitted.id
            return f"emitted {emitted.public_id}"
        action = source.action_id
        ctx = {
            "active_model": self._name,
            "active_id": self.id,
            "active_ids": self.ids,
            "saas_webhook_payload": payload,
            "saas_webhook_source": source.code,
        }
        action.with_env(env).with_context(**ctx).run()
        return f"ran {action.name}"
