import logging
from concurrent.futures import FIRST_COMPLETED, wait

import psycopg2

from odoo import fields, models
from odoo.addons.saas_workflow_core.lib.errors import PermanentError, RetryableError

from ..lib import http as http_lib
from .webhook_endpoint import PENDING, BreakerWait, new_pending

_logger = logging.getLogger(__name__)
DEFAULT_CONCURRENCY = 8


class SaasWorkflowDelivery(models.Model):
    _inherit = "saas.workflow.delivery"

    webhook_endpoint_id = fields.Many2one(
        "saas.webhook.endpoint", compute="_compute_webhook_endpoint"
    )
    webhook_attempt_ids = fields.One2many("saas.webhook.attempt", "delivery_id", string="Attempts")

    def _compute_webhook_endpoint(self):
        endpoints = self.env["saas.webhook.endpoint"].sudo().with_context(active_test=False).search(
            [("subscription_id", "in", self.subscription_id.ids)]
        )
        by_sub = {endpoint.subscription_id.id: endpoint for endpoint in endpoints}
        for delivery in self:
            delivery.webhook_endpoint_id = by_sub.get(delivery.subscription_id.id, False)

    def _run_claimed(self):
        """Write the attempt log and endpoint changes once the handlers' savepoints are closed.

        A failed attempt raises out of the handler, which rolls its savepoint
        back; what must survive it (the attempt row, a 410 disabling the
        endpoint) is collected in memory and written here, in the same
        transaction as the new delivery states.
        """
        pending = new_pending()
        webhook = self.filtered(lambda d: d.subscription_id.handler_type == "webhook")
        pending["cache"]["subscription_ids"] = webhook.subscription_id.ids
        token = PENDING.set(pending)
        try:
            webhook._post_webhooks_ahead()
            result = super()._run_claimed()
        finally:
            PENDING.reset(token)
        self._flush_webhook_pending(pending)
        return result

    def _post_webhooks_ahead(self):
        """Send the posts of these webhook deliveries concurrently, before their handlers run.

        Only HTTP leaves this thread: checks, bodies and signatures are prepared
        here, a small pool of threads (one ``requests`` session each) posts them,
        and the answers are kept in the batch cache. Each delivery's handler then
        logs its attempt and succeeds or raises with that answer exactly as if it
        had posted itself (it writes nothing, so it needs no savepoint: see
        ``_handler_needs_savepoint``); a delivery that could not be prepared here
        is posted by its handler, in its savepoint, as usual.

        The circuit breaker counts calls still in flight as failures: when that
        alone would stop a call, their answers are collected first, so the breaker
        opens after the same number of calls as when posting one at a time.
        Deliveries of one batch may reach a receiver in any order.
        """
        setting = self.env["ir.config_parameter"].sudo().get_param(
            "saas_workflow_integrations.delivery_concurrency", DEFAULT_CONCURRENCY
        )
        try:
            size = min(int(setting or 1), 64)
        except ValueError:
            _logger.warning("Invalid delivery_concurrency %r, using %s", setting, DEFAULT_CONCURRENCY)
            size = DEFAULT_CONCURRENCY
        if size <= 1 or len(self) < 2:
            return
        sent = PENDING.get()["cache"].setdefault("sent", {})
        allowlist = self.env["saas.webhook.endpoint"]._delivery_settings()["allowlist"]
        pool = http_lib.get_pool(size)
        in_flight = {}  # future -> (delivery id, endpoint)

        def collect():
            """Record the answers of the posts that finished (waits for at least one)."""
            done, _rest = wait(list(in_flight), return_when=FIRST_COMPLETED)
            for future in done:
                delivery_id, endpoint = in_flight.pop(future)
                try:
                    result = future.result()
                except Exception as exc:  # post() reports network trouble itself
                    result = http_lib.Result(error=f"connection error: {exc}", error_kind="connection")
                endpoint._count_call(result)
                sent[delivery_id] = result

        def busy(endpoint):
            return sum(1 for _d, other in in_flight.values() if other.id == endpoint.id)

        self.event_id.fetch(["public_id", "code", "version", "res_model", "res_id", "company_id",
                             "occurred_at", "payload"])
        try:
            # Preparing only reads; the savepoint keeps an unexpected database error
            # from spoiling the batch's transaction (the handlers then post themselves).
            with self.env.cr.savepoint():
                for delivery in self:
                    endpoint = delivery.subscription_id._webhook_endpoint()
                    if not endpoint:
                        continue
                    while len(in_flight) >= size:
                        collect()
                    while True:
                        try:
                            body, headers = endpoint._prepare_attempt(
                                delivery.event_id, delivery, in_flight=busy(endpoint)
                            )
                        except BreakerWait:
                            collect()
                            continue
                        except (RetryableError, PermanentError) as exc:
                            sent[delivery.id] = exc
                            body = None
                        except psycopg2.Error:
                            raise
                        except Exception:  # the handler raises it again in its savepoint
                            body = None
                        break
                    if body is None:
                        continue
                    future = pool.submit(
                        http_lib.post_in_thread, allowlist, endpoint.url, body, headers, **endpoint._post_options()
                    )
                    in_flight[future] = (delivery.id, endpoint)
        except psycopg2.Error as exc:
            _logger.warning("Could not prepare webhook posts ahead, posting one by one: %s", exc)
        finally:
            while in_flight:
                collect()

    def _flush_webhook_pending(self, pending):
        if pending["attempts"]:
            deliveries = self.browse({vals["delivery_id"] for vals in pending["attempts"]}).sudo()
            deliveries.invalidate_recordset(["state", "next_attempt_at"])
            retry_at = {d.id: d.next_attempt_at for d in deliveries if d.state == "failed"}
            for vals in pending["attempts"]:
                if vals["outcome"] in ("retry", "circuit_open"):
                    vals["next_attempt_at"] = retry_at.get(vals["delivery_id"]) or False
            self.env["saas.webhook.attempt"].sudo()._insert_log(pending["attempts"])
        if pending["disable"]:
            endpoints = self.env["saas.webhook.endpoint"].sudo().browse(list(pending["disable"]))
            for endpoint in endpoints.exists():
                endpoint._disable(pending["disable"][endpoint.id])

    def _notify_dead(self):
        """Webhook deliveries: the endpoint owner gets an activity on the endpoint.

        The core notifies the workflow's exception owner; for endpoints without
        a workflow that would be the same person, so it is left to this one.
        """
        webhook = self.filtered(lambda d: d.subscription_id.handler_type == "webhook")
        core = self - webhook.filtered(lambda d: not d.subscription_id.workflow_id)
        result = super(SaasWorkflowDelivery, core)._notify_dead() if core else None
        for endpoint, deliveries in webhook.grouped("webhook_endpoint_id").items():
            if not endpoint:
                continue
            endpoint._notify_owner(
                self.env._(
                    "%(count)s delivery(ies) to %(name)s are dead", count=len(deliveries), name=endpoint.name
                ),
                self.env._(
                    "Last error: %(error)s. Fix the receiver, then replay them from the dead letter list.",
                    error=(deliveries[:1].last_error or "")[:500],
                ),
            )
        return result
