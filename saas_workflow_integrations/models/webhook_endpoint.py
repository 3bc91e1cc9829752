import contextvars
import datetime
import logging
import time

from odoo import api, fields, models
from odoo.addons.saas_workflow_core.lib.errors import PermanentError, RetryableError
from odoo.exceptions import ValidationError
from odoo.tools import SQL

from ..lib import body as body_lib
from ..lib import breaker, signing, ssrf
from ..lib import http as http_lib

_logger = logging.getLogger(__name__)

ALLOWLIST_PARAM = "saas_workflow_integrations.ssrf_allowlist"
DEFAULT_RETRY_SCHEDULE = "0,5,300,1800,7200,18000,36000,50400,72000,86400"

# Work that must outlive the handler's savepoint (attempt log rows, endpoint
# disabling): collected while the dispatcher runs handlers and written by
# ``saas.workflow.delivery._run_claimed`` once every savepoint is closed.
PENDING = contextvars.ContextVar("saas_webhook_pending", default=None)


def new_pending():
    # "cache": what a batch of deliveries reads once (settings, endpoints, breaker windows).
    return {"attempts": [], "disable": {}, "cache": {}}


def _batch_cache():
    pending = PENDING.get()
    return pending["cache"] if pending is not None else {}


class BreakerWait(Exception):
    """The breaker's decision depends on answers still in flight: collect them first."""


class SaasWebhookEndpoint(models.Model):
    """Receiver of signed webhooks: a subscription of the core dispatcher."""

    _name = "saas.webhook.endpoint"
    _description = "Webhook Endpoint"
    _inherits = {"saas.workflow.subscription": "subscription_id"}
    _inherit = ["saas.webhook.secret.mixin", "mail.thread", "mail.activity.mixin"]
    _order = "id desc"
    _check_company_auto = True

    subscription_id = fields.Many2one(
        "saas.workflow.subscription", required=True, ondelete="cascade", auto_join=True, index=True
    )
    url = fields.Char(string="URL", required=True, tracking=True)
    description = fields.Text()
    payload_mode = fields.Selection(
        [("full", "Full payload"), ("thin", "Thin (ids and links)")],
        default="full",
        required=True,
        tracking=True,
    )
    mapping_id = fields.Many2one(
        "saas.integration.mapping",
        string="Field Mapping",
        tracking=True,
        help="Pinned mapping version: the receiver keeps its field names while the canonical "
        "payload evolves. Empty: canonical field names.",
    )
    connect_timeout = fields.Float(default=3.0, help="Seconds to establish the connection.")
    read_timeout = fields.Float(default=10.0, help="Seconds to wait for the response.")
    header_name = fields.Char(string="Extra Header", help="e.g. Authorization")
    header_value = fields.Char(groups="base.group_system", copy=False, prefetch=False)
    disabled_reason = fields.Char(readonly=True, tracking=True)
    disabled_at = fields.Datetime(readonly=True)

    # Health over the last 7 days, computed from the attempt log.
    health_attempts = fields.Integer(compute="_compute_health", string="Attempts (7 d)")
    health_success_rate = fields.Float(compute="_compute_health", string="Success Rate (7 d, %)")
    health_p50_ms = fields.Integer(compute="_compute_health", string="p50 Latency (ms)")
    health_p95_ms = fields.Integer(compute="_compute_health", string="p95 Latency (ms)")
    health_retries = fields.Integer(compute="_compute_health", string="Retries (7 d)")
    health_failures = fields.Integer(compute="_compute_health", string="Failures (7 d)")
    last_success_at = fields.Datetime(compute="_compute_health")
    breaker_state = fields.Selection(
        [(breaker.CLOSED, "Closed"), (breaker.OPEN, "Open"), (breaker.HALF_OPEN, "Half-open")],
        compute="_compute_breaker_state",
        string="Circuit Breaker",
    )
    attempt_ids = fields.One2many("saas.webhook.attempt", "endpoint_id")

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------
    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        if "retry_schedule" in fields_list and not values.get("retry_schedule"):
            values["retry_schedule"] = DEFAULT_RETRY_SCHEDULE
        return values

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            vals["handler_type"] = "webhook"
            vals.setdefault("retry_schedule", DEFAULT_RETRY_SCHEDULE)
            vals.setdefault("jitter", 0.2)
            if not vals.get("secret"):
                vals["secret"] = signing.generate_secret()
        return super().create(vals_list)

    def write(self, vals):
        if "handler_type" in vals and vals["handler_type"] != "webhook":
            raise ValidationError(self.env._("A webhook endpoint always uses the webhook handler."))
        if vals.get("active"):
            vals.setdefault("disabled_reason", False)
            vals.setdefault("disabled_at", False)
        return super().write(vals)

    def unlink(self):
        subscriptions = self.subscription_id
        result = super().unlink()
        subscriptions.unlink()
        return result

    @api.constrains("url")
    def _check_url(self):
        guard = self._guard()
        for endpoint in self:
            try:
                guard.check_url(endpoint.url)
            except ssrf.BlockedAddressError as exc:
                raise ValidationError(
                    self.env._("Webhook URL refused: %(reason)s", reason=str(exc))
                ) from exc

    @api.constrains("connect_timeout", "read_timeout")
    def _check_timeouts(self):
        for endpoint in self:
            if not (0 < endpoint.connect_timeout <= 60 and 0 < endpoint.read_timeout <= 120):
                raise ValidationError(
                    self.env._("Timeouts must be positive: at most 60 s to connect and 120 s to read.")
                )

    # ------------------------------------------------------------------
    # Settings
    # ------------------------------------------------------------------
    @api.model
    def _param(self, key, default):
        return self.env["ir.config_parameter"].sudo().get_param(
            f"saas_workflow_integrations.{key}", default
        )

    @api.model
    def _allowlist_text(self):
        return self.env["ir.config_parameter"].sudo().get_param(ALLOWLIST_PARAM, "") or ""

    @api.model
    def _guard(self):
        try:
            allowlist = ssrf.Allowlist.parse(self._allowlist_text())
        except ValueError:
            _logger.warning("Invalid webhook allowlist, ignoring it")
            allowlist = ssrf.Allowlist()
        return ssrf.AddressGuard(allowlist)

    @api.model
    def _breaker_config(self):
        return breaker.BreakerConfig(
            window=int(self._param("breaker_window", 300)),
            min_requests=int(self._param("breaker_min_requests", 10)),
            failure_ratio=float(self._param("breaker_failure_ratio", 0.7)),
            cooldown=int(self._param("breaker_cooldown", 60)),
        )

    # ------------------------------------------------------------------
    # Health
    # ------------------------------------------------------------------
    def _compute_health(self):
        stats = {}
        if self.ids:
            self.env["saas.webhook.attempt"].flush_model()
            self.env.cr.execute(
                """
                SELECT endpoint_id,
                       count(*),
                       count(*) FILTER (WHERE outcome = 'success'),
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms),
                       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms),
                       count(*) FILTER (WHERE attempt_no > 1),
                       count(*) FILTER (WHERE outcome != 'success'),
                       max(attempted_at) FILTER (WHERE outcome = 'success')
                  FROM saas_webhook_attempt
                 WHERE endpoint_id = ANY(%s) AND called
                   AND attempted_at > (now() AT TIME ZONE 'UTC') - interval '7 days'
                 GROUP BY endpoint_id
                """,
                (list(self._origin.ids),),
            )
            stats = {row[0]: row[1:] for row in self.env.cr.fetchall()}
        for endpoint in self:
            total, ok, p50, p95, retries, failures, last_ok = stats.get(
                endpoint._origin.id, (0, 0, None, None, 0, 0, None)
            )
            endpoint.health_attempts = total
            endpoint.health_success_rate = 100.0 * ok / total if total else 0.0
            endpoint.health_p50_ms = int(p50 or 0)
            endpoint.health_p95_ms = int(p95 or 0)
            endpoint.health_retries = retries
            endpoint.health_failures = failures
            endpoint.last_success_at = last_ok

    def _compute_breaker_state(self):
        now = time.time()
        config = self._breaker_config()
        for endpoint in self:
            if not endpoint._origin.id:
                endpoint.breaker_state = breaker.CLOSED
                continue
            endpoint.breaker_state = breaker.evaluate(
                endpoint._origin._breaker_stats(now, config), now, config
            ).state

    @api.model
    def _delivery_settings(self):
        """Settings read once per batch of deliveries."""
        cache = _batch_cache()
        settings = cache.get("settings")
        if settings is None:
            settings = cache["settings"] = {
                "allowlist": self._allowlist_text(),
                "breaker": self._breaker_config(),
                "base_url": self.env["ir.config_parameter"].sudo().get_param("web.base.url", ""),
            }
        return settings

    def _breaker_window(self, now, config):
        """Logged real calls in the breaker window, for every endpoint of the batch at once."""
        cache = _batch_cache()
        windows = cache.setdefault("breaker", {})
        if self.id not in windows:
            ids = {self.id, *cache.get("endpoint_ids", ())} - set(windows)
            since = datetime.datetime.utcfromtimestamp(now - config.window)
            self.env.cr.execute(
                """
                SELECT endpoint_id, count(*), count(*) FILTER (WHERE outcome != 'success'),
                       max(attempted_at),
                       (array_agg(outcome = 'success' ORDER BY attempted_at DESC, id DESC))[1]
                  FROM saas_webhook_attempt
                 WHERE endpoint_id = ANY(%s) AND called AND attempted_at >= %s
                 GROUP BY endpoint_id
                """,
                (list(ids), since),
            )
            found = {row[0]: row[1:] for row in self.env.cr.fetchall()}
            for endpoint_id in ids:
                windows[endpoint_id] = found.get(endpoint_id, (0, 0, None, None))
        return windows[self.id]

    def _breaker_stats(self, now, config):
        """Real calls to this endpoint in the breaker window (logged and still buffered)."""
        self.ensure_one()
        total, failures, last_at, last_ok = self._breaker_window(now, config)
        last_ts = last_at.replace(tzinfo=datetime.timezone.utc).timestamp() if last_at else None
        # Calls of this batch, not logged yet (see _log_attempt).
        live = _batch_cache().get("breaker_live", {}).get(self.id)
        if live:
            total += live["total"]
            failures += live["failures"]
            if last_ts is None or live["last_ts"] >= last_ts:
                last_ts, last_ok = live["last_ts"], live["last_ok"]
        return breaker.WindowStats(
            total=total, failures=failures, last_at=last_ts, last_ok=bool(last_ok) if total else True
        )

    # ------------------------------------------------------------------
    # Delivery (called by the dispatcher through the subscription handler)
    # ------------------------------------------------------------------
    def _build_body(self, event):
        """The exact bytes that are signed and posted for ``event``."""
        self.ensure_one()
        base_url = self._delivery_settings()["base_url"]
        source = {
            "database": self.env.cr.dbname,
            "company_id": event.company_id.id or None,
            "base_url": base_url,
        }
        if self.payload_mode == "thin":
            data = body_lib.thin_data(event.res_model, event.res_id, base_url, event.public_id)
        else:
            data = body_lib.full_data(event.res_model, event.res_id, base_url, event.sudo().payload or {})
            mapping = self.mapping_id
            if mapping and mapping._applies_to(event):
                data = body_lib.apply_mapping(data, mapping._pairs(), keep_unmapped=mapping.keep_unmapped)
        envelope = body_lib.envelope(
            event.public_id, event.code, event.version, event.occurred_at, source, data
        )
        return body_lib.dumps(envelope)

    def _headers(self, event, body_bytes):
        self.ensure_one()
        secrets = self._current_secrets()
        if not secrets:
            raise PermanentError(f"Endpoint {self.name!r} has no signing secret")
        extra = None
        if self.header_name:
            extra = {self.header_name.strip(): self.sudo().header_value or ""}
        return signing.build_headers(
            secrets, event.public_id, body_bytes, user_agent=http_lib.USER_AGENT, extra=extra
        )

    def _prepare_attempt(self, event, delivery, in_flight=0):
        """Check, build and sign one attempt: returns ``(body, headers)``.

        Raises :class:`PermanentError` for a disabled endpoint or one without a
        secret, and :class:`RetryableError` while the circuit breaker is open (that
        attempt is logged as not called). ``in_flight``: calls to this endpoint
        sent but not answered yet; the breaker counts them as failures, and
        :class:`BreakerWait` asks the caller to collect their answers and ask again
        when that assumption alone would keep the receiver from being called.
        """
        self.ensure_one()
        endpoint = self.sudo()
        if not endpoint.active:
            raise PermanentError(f"Endpoint {endpoint.name!r} is disabled")
        now = time.time()
        config = endpoint._delivery_settings()["breaker"]
        stats = endpoint._breaker_stats(now, config)
        if in_flight and not breaker.evaluate(breaker.assume_failed(stats, in_flight, now), now, config).allowed:
            raise BreakerWait()
        decision = breaker.evaluate(stats, now, config)
        if not decision.allowed:
            message = f"circuit breaker open, receiver not called; next probe in {decision.retry_in} s"
            endpoint._log_attempt(event, delivery, called=False, outcome="circuit_open", error=message)
            raise RetryableError(message, retry_after=decision.retry_in)
        body_bytes = endpoint._build_body(event)
        return body_bytes, endpoint._headers(event, body_bytes)

    def _post_options(self):
        """Keyword arguments of :func:`..lib.http.post` for this endpoint."""
        self.ensure_one()
        return {
            "connect_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout,
            "max_response_bytes": http_lib.RESPONSE_EXCERPT_BYTES,
        }

    def _deliver(self, event, delivery):
        """One attempt: sign, post, log; raise to retry / give up (see core errors).

        When the dispatcher's batch was posted ahead (see
        ``saas.workflow.delivery._post_webhooks_ahead``), the answer (or the reason
        the receiver was not called) is taken from there instead of posting again.
        """
        self.ensure_one()
        endpoint = self.sudo()
        sent = _batch_cache().get("sent", {}).pop(delivery.id, None)
        if isinstance(sent, Exception):
            raise sent
        if sent is None:
            body_bytes, headers = endpoint._prepare_attempt(event, delivery)
            session = http_lib.get_session(endpoint._delivery_settings()["allowlist"])
            sent = http_lib.post(session, endpoint.url, body_bytes, headers, **endpoint._post_options())
            endpoint._count_call(sent)
        return endpoint._record_result(event, delivery, sent)

    def _record_result(self, event, delivery, result):
        """Log the attempt of ``result``; return the delivery note or raise to retry / give up."""
        endpoint = self.sudo()
        outcome = http_lib.classify(result)
        summary = f"HTTP {result.status}" if result.status else (result.error or "no response")
        if outcome == http_lib.SUCCESS:
            endpoint._log_attempt(event, delivery, result=result, outcome="success")
            return f"{summary} in {result.latency_ms} ms"
        if outcome == http_lib.RETRY:
            retry_after = http_lib.retry_after_for(result)
            endpoint._log_attempt(event, delivery, result=result, outcome="retry")
            raise RetryableError(_error_text(result), retry_after=retry_after)
        if outcome == http_lib.DISABLE:
            endpoint._log_attempt(event, delivery, result=result, outcome="disabled")
            reason = self.env._("The receiver answered 410 Gone")
            pending = PENDING.get()
            if pending is not None:
                pending["disable"][endpoint.id] = reason
            else:
                endpoint._disable(reason)
            raise PermanentError(_error_text(result))
        endpoint._log_attempt(
            event, delivery, result=result, outcome="blocked" if result.error_kind == "blocked" else "failed"
        )
        raise PermanentError(_error_text(result))

    def _count_call(self, result):
        """Count a call of this batch for the circuit breaker until its attempt is logged."""
        pending = PENDING.get()
        if pending is None or result.error_kind in ("blocked", "invalid"):
            return
        live = pending["cache"].setdefault("breaker_live", {}).setdefault(
            self.id, {"total": 0, "failures": 0, "last_ts": 0.0, "last_ok": True}
        )
        ok = http_lib.classify(result) == http_lib.SUCCESS
        live["total"] += 1
        live["failures"] += 0 if ok else 1
        live["last_ts"], live["last_ok"] = time.time(), ok

    def _log_attempt(self, event, delivery, result=None, outcome="failed", called=True, error=None):
        vals = {
            "endpoint_id": self.id,
            "delivery_id": delivery.id,
            "event_id": event.id,
            "webhook_id": event.public_id,
            "attempt_no": delivery.attempt_count or 1,
            "attempted_at": fields.Datetime.now(),
            "outcome": outcome,
            "called": called and not (result and result.error_kind in ("blocked", "invalid")),
            "company_id": event.company_id.id or self.company_id.id or False,
        }
        if result is not None:
            if result.sent_at:
                vals["attempted_at"] = datetime.datetime.fromtimestamp(
                    result.sent_at, datetime.timezone.utc
                ).replace(tzinfo=None, microsecond=0)
            vals.update(
                status_code=result.status or 0,
                latency_ms=result.latency_ms,
                response_excerpt=result.excerpt or False,
                error=result.error or False,
            )
        if error:
            vals["error"] = error
        pending = PENDING.get()
        if pending is None:
            self.env["saas.webhook.attempt"].sudo().create(vals)
            return
        pending["attempts"].append(vals)

    # ------------------------------------------------------------------
    # Disabling and notifications
    # ------------------------------------------------------------------
    def _disable(self, reason):
        for endpoint in self.sudo().filtered("active"):
            endpoint.write({"active": False, "disabled_reason": reason, "disabled_at": fields.Datetime.now()})
            endpoint.message_post(body=self.env._("Endpoint disabled: %(reason)s", reason=reason))
            endpoint._notify_owner(
                self.env._("Webhook endpoint %(name)s was disabled", name=endpoint.name), reason
            )

    def _notify_owner(self, summary, note):
        self.ensure_one()
        user = self.owner_id or self.env.ref("base.user_admin", raise_if_not_found=False)
        if not user:
            return
        activity_type = self.env.ref("saas_workflow_integrations.mail_activity_type_endpoint_attention")
        existing = self.activity_ids.filtered(
            lambda a: a.activity_type_id == activity_type and a.user_id == user
        )
        if existing:
            existing[:1].write({"summary": summary, "note": note})
        else:
            self.activity_schedule(
                "saas_workflow_integrations.mail_activity_type_endpoint_attention",
                user_id=user.id,
                summary=summary,
                note=note,
            )

    def action_enable(self):
        self.write({"active": True, "disabled_reason": False, "disabled_at": False})

    def action_disable(self):
        self._disable(self.env._("Disabled by %(user)s", user=self.env.user.name))

    def action_view_attempts(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "saas_workflow_integrations.action_webhook_attempt"
        )
        action["domain"] = [("endpoint_id", "=", self.id)]
        action["context"] = {"search_default_group_day": 0}
        return action

    def action_view_deliveries(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "saas_workflow_integrations.action_webhook_delivery"
        )
        action["domain"] = [("subscription_id", "=", self.subscription_id.id)]
        action["context"] = {}
        return action

    @api.model
    def _cron_disable_unhealthy(self):
        """Disable endpoints with failed attempts but no success for the configured days."""
        days = int(self._param("disable_after_days", 5))
        if days <= 0:
            return 0
        self.flush_model()
        self.env["saas.workflow.subscription"].flush_model(["active"])
        self.env["saas.webhook.attempt"].flush_model()
        self.env.cr.execute(
            SQL(
                """
                SELECT e.id
                  FROM saas_webhook_endpoint e
                  JOIN saas_workflow_subscription s ON s.id = e.subscription_id
                 WHERE s.active
                   AND EXISTS (SELECT 1 FROM saas_webhook_attempt a
                                WHERE a.endpoint_id = e.id AND a.called
                                  AND a.outcome != 'success'
                                  AND a.attempted_at <= (now() AT TIME ZONE 'UTC') - %(period)s)
                   AND EXISTS (SELECT 1 FROM saas_webhook_attempt a
                                WHERE a.endpoint_id = e.id AND a.called
                                  AND a.attempted_at > (now() AT TIME ZONE 'UTC') - %(period)s)
                   AND NOT EXISTS (SELECT 1 FROM saas_webhook_attempt a
                                    WHERE a.endpoint_id = e.id AND a.outcome = 'success'
                                      AND a.attempted_at > (now() AT TIME ZONE 'UTC') - %(period)s)
                """,
                period=datetime.timedelta(days=days),
            )
        )
        endpoints = self.browse([row[0] for row in self.env.cr.fetchall()])
        endpoints._disable(
            self.env._("No successful delivery for %(days)s days", days=days)
        )
        return len(endpoints)

    @api.model
    def _cron_drop_expired_secrets(self):
        count = self._drop_expired_secrets()
        count += self.env["saas.webhook.inbound.source"]._drop_expired_secrets()
        return count


def _error_text(result):
    if result.status:
        text = f"HTTP {result.status}"
        if result.excerpt:
            text += f": {result.excerpt[:200]}"
        return text
    return result.error or "no response"
