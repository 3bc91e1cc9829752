import datetime
import json
import logging
import uuid

from odoo import http
from odoo.http import request

from ..lib import schemas, signing

_logger = logging.getLogger(__name__)


def _error(status, code, message, **extra):
    return request.make_json_response({"error": code, "message": message, **extra}, status=status)


class SaasWebhookInbound(http.Controller):
    """Receives webhooks: verify, store, acknowledge; processing happens later."""

    @http.route(
        "/saas_workflow/webhook/<string:source_code>",
        type="http",
        auth="none",
        methods=["POST"],
        csrf=False,
        save_session=False,
        readonly=False,
    )
    def receive_signed(self, source_code, **_kw):
        """Senders that sign with Standard Webhooks (shared secret per source)."""
        source = self._find_source(source_code)
        if source is None or source.auth_mode != "signature":
            return _error(404, "unknown_source", "No such webhook source.")
        return self._receive(source, signed=True)

    @http.route(
        "/saas_workflow/api/webhook/<string:source_code>",
        type="http",
        auth="bearer",
        methods=["POST"],
        csrf=False,
        save_session=False,
        readonly=False,
    )
    def receive_api_key(self, source_code, **_kw):
        """Senders that cannot sign: ``Authorization: Bearer <API key of the technical user>``."""
        source = self._find_source(source_code)
        if source is None or source.auth_mode != "api_key":
            return _error(404, "unknown_source", "No such webhook source.")
        if request.env.uid != source.technical_user_id.id:
            return _error(403, "forbidden", "This API key does not belong to the source's user.")
        return self._receive(source, signed=False)

    # ------------------------------------------------------------------
    def _find_source(self, code):
        if request.env is None or not code:
            return None
        source = (
            request.env["saas.webhook.inbound.source"]
            .sudo()
            .search([("code", "=", code), ("active", "=", True)], limit=1)
        )
        return source or None

    def _receive(self, source, signed):
        httpreq = request.httprequest
        limit = source.max_body_bytes
        declared = httpreq.content_length
        if declared is None:
            # Without a length the body could only be read unbounded (chunked upload).
            return _error(411, "length_required", "A Content-Length header is required.")
        if declared > limit:
            return _error(413, "payload_too_large", f"Bodies are limited to {limit} bytes.")
        # The input stream is bounded by the declared length; check what was actually read too.
        body = httpreq.get_data(cache=False)
        if len(body) > limit:
            return _error(413, "payload_too_large", f"Bodies are limited to {limit} bytes.")

        headers = {k.lower(): v for k, v in httpreq.headers.items()}
        sent_at = None
        if signed:
            try:
                ts = signing.verify(
                    source._current_secrets(),
                    headers.get("webhook-id"),
                    headers.get("webhook-timestamp"),
                    headers.get("webhook-signature"),
                    body,
                    tolerance=source.tolerance_seconds,
                )
            except signing.TimestampError as exc:
                return _error(400, exc.code, "The webhook-timestamp is missing, malformed or too far from now.")
            except signing.SignatureError as exc:
                _logger.info("Rejected webhook for source %s: %s", source.code, exc.code)
                return _error(401, exc.code, "Signature verification failed.")
            webhook_id = headers["webhook-id"]
            sent_at = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).replace(tzinfo=None)
        else:
            webhook_id = headers.get("webhook-id") or headers.get("idempotency-key") or f"auto_{uuid.uuid4().hex}"
        if len(webhook_id) > 255:
            return _error(400, "invalid_webhook_id", "webhook-id is too long.")

        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return _error(400, "malformed_json", "The body is not valid UTF-8 JSON.")
        try:
            schemas.validate(source.schema_name, payload)
        except schemas.SchemaError as exc:
            return _error(422, "schema_invalid", str(exc), errors=exc.errors)
        except KeyError:
            return _error(500, "schema_missing", "The source's schema is not installed.")

        message = request.env["saas.webhook.inbound.message"].sudo()._store(
            source, webhook_id, payload, len(body), sent_at=sent_at
        )
        if message is None:
            return request.make_json_response({"status": "duplicate", "webhook_id": webhook_id}, status=200)
        return request.make_json_response(
            {"status": "accepted", "webhook_id": webhook_id, "event_id": message.event_id.public_id},
            status=202,
        )
