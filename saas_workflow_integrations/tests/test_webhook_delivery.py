import json
import socket
from unittest.mock import patch

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from .common import Receiver, WebhookCase


@tagged("post_install", "-at_install")
class TestWebhookDelivery(WebhookCase):
    def test_signed_delivery_verifies_with_reference_library(self):
        endpoint = self.make_endpoint()
        event = self.emit({"amount": 12.5, "note": "Zoë €"})
        self.dispatch()
        self.assertEqual(len(self.receiver.hits), 1)
        hit = self.receiver.hits[0]
        headers = {k.lower(): v for k, v in hit["headers"].items()}
        self.assertEqual(headers["webhook-id"], event.public_id)
        self.assertEqual(headers["content-type"], "application/json")
        self.assertIn("SaaS-Workflow-Webhooks/", headers["user-agent"])
        payload = Webhook(endpoint.sudo().secret).verify(hit["body"], headers)
        self.assertEqual(
            list(payload), ["id", "type", "version", "timestamp", "source", "data"]
        )
        self.assertEqual(payload["id"], event.public_id)
        self.assertEqual(payload["type"], "test.integration.thing")
        self.assertTrue(payload["timestamp"].endswith("Z"))
        self.assertEqual(payload["source"]["database"], self.env.cr.dbname)
        self.assertEqual(payload["data"]["amount"], "12.5", "amounts travel as strings")
        self.assertEqual(payload["data"]["object"], {
            "model": "res.partner", "id": self.partner.id,
            "url": f"{payload['source']['base_url']}/odoo/res.partner/{self.partner.id}",
        })
        # Compact UTF-8 JSON: exactly the bytes that were signed.
        self.assertIn("Zoë €".encode(), hit["body"])
        self.assertNotIn(b", ", hit["body"])
        delivery = self.delivery_of(event, endpoint)
        self.assertEqual(delivery.state, "done")
        attempt = delivery.webhook_attempt_ids
        self.assertEqual(len(attempt), 1)
        self.assertEqual((attempt.outcome, attempt.status_code, attempt.webhook_id), ("success", 200, event.public_id))
        self.assertEqual(attempt.response_excerpt, '{"ok":true}')
        with self.assertRaises(WebhookVerificationError):
            Webhook(endpoint.sudo().secret).verify(hit["body"].replace(b"12.5", b"99.5"), headers)

    def test_static_header_and_domain_filter(self):
        endpoint = self.make_endpoint(
            header_name="Authorization",
            header_value="Bearer receiver-token",
            filter_domain="[('name', 'ilike', 'Zoë')]",
        )
        other = self.env["res.partner"].create({"name": "Somebody else"})
        matching = self.emit()
        self.emit(record=other)
        self.dispatch()
        self.assertEqual(len(self.receiver.hits), 1, "the filter keeps the other partner's event out")
        headers = self.receiver.hits[0]["headers"]
        self.assertEqual(headers["webhook-id"], matching.public_id)
        self.assertEqual(headers["Authorization"], "Bearer receiver-token")
        Webhook(endpoint.sudo().secret).verify(self.receiver.hits[0]["body"], headers)
        with self.assertRaises(AccessError):
            endpoint.with_user(self.owner).read(["header_value"])

    def test_rotation_signs_with_both_secrets(self):
        endpoint = self.make_endpoint()
        endpoint.secret_rotated_at = "2025-01-01 00:00:00"  # the first secret was shown
        old = endpoint.sudo().secret
        action = endpoint.action_rotate_secret()
        new = action["context"]["default_secret"]
        self.assertNotEqual(old, new)
        self.assertEqual(endpoint.sudo().secret, new)
        self.emit()
        self.dispatch()
        hit = self.receiver.hits[0]
        self.assertEqual(len(hit["headers"]["webhook-signature"].split(" ")), 2)
        Webhook(old).verify(hit["body"], hit["headers"])
        Webhook(new).verify(hit["body"], hit["headers"])
        # Once the overlap is over the cron drops the old secret: only the new one signs.
        endpoint.previous_secret_valid_until = "2000-01-01 00:00:00"
        self.env["saas.webhook.endpoint"]._cron_drop_expired_secrets()
        self.assertFalse(endpoint.sudo().previous_secret)
        self.emit()
        self.dispatch()
        hit = self.receiver.hits[1]
        Webhook(new).verify(hit["body"], hit["headers"])
        with self.assertRaises(WebhookVerificationError):
            Webhook(old).verify(hit["body"], hit["headers"])

    def test_server_error_retries_with_same_webhook_id(self):
        endpoint = self.make_endpoint()
        self.receiver.set("error")
        event = self.emit()
        self.dispatch()
        delivery = self.delivery_of(event, endpoint)
        self.assertEqual(delivery.state, "failed")
        attempt = delivery.webhook_attempt_ids
        self.assertEqual((attempt.outcome, attempt.status_code), ("retry", 500))
        self.assertEqual(attempt.response_excerpt, "internal error")
        self.assertTrue(attempt.next_attempt_at)
        self.receiver.set("ok")
        self.make_due(delivery)
        self.dispatch()
        self.assertEqual(delivery.state, "done")
        ids = {hit["headers"]["webhook-id"] for hit in self.receiver.hits}
        self.assertEqual(ids, {event.public_id})
        self.assertEqual(len(self.receiver.hits), 2)
        self.assertEqual(delivery.webhook_attempt_ids.mapped("attempt_no"), [2, 1])

    def test_timeout_and_reset_are_retried(self):
        endpoint = self.make_endpoint(read_timeout=0.3)
        self.receiver.set("slow", delay=1.0)
        event = self.emit()
        self.dispatch()
        delivery = self.delivery_of(event, endpoint)
        self.assertEqual(delivery.state, "failed")
        self.assertIn("timeout", delivery.webhook_attempt_ids.error)
        self.receiver.set("reset")
        self.make_due(delivery)
        self.dispatch()
        self.assertEqual(delivery.state, "failed")
        self.assertIn("connection error", delivery.webhook_attempt_ids[0].error)

    def test_429_and_503_honour_retry_after_within_bounds(self):
        endpoint = self.make_endpoint()
        for behaviour, asked, expected in (("429", 600, 600), ("503", 120, 120), ("429", 10**9, 86400)):
            with self.subTest(behaviour=behaviour, asked=asked):
                self.receiver.set(behaviour, retry_after=asked)
                event = self.emit()
                self.dispatch()
                delivery = self.delivery_of(event, endpoint)
                self.assertEqual(delivery.state, "failed")
                self.assertEqual(delivery.webhook_attempt_ids.status_code, int(behaviour))
                wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
                # The first retry of the schedule is immediate: the wait is the receiver's,
                # capped at one day.
                self.assertGreater(wait, expected - 10)
                self.assertLess(wait, expected + 10)

    def test_retry_schedule_has_jitter(self):
        ICP = self.env["ir.config_parameter"].sudo()
        ICP.set_param("saas_workflow_integrations.breaker_min_requests", 1000)
        endpoint = self.make_endpoint()
        self.receiver.set("error")
        events = [self.emit() for _i in range(8)]
        self.dispatch()  # first attempts fail; the first retry is immediate
        self.dispatch()  # second attempts fail; the next retry comes after 5 s ± 20 %
        waits = []
        for event in events:
            delivery = self.delivery_of(event, endpoint)
            self.assertEqual((delivery.state, delivery.attempt_count), ("failed", 2))
            waits.append((delivery.next_attempt_at - delivery.last_attempt_at).total_seconds())
        for wait in waits:
            self.assertGreaterEqual(wait, 3.5)
            self.assertLessEqual(wait, 6.5)
        self.assertGreater(len({round(w, 3) for w in waits}), 1, "retries of one schedule are spread")

    def test_slow_receiver_within_timeout_is_a_success(self):
        endpoint = self.make_endpoint(read_timeout=3.0)
        self.receiver.set("slow", delay=0.6)
        event = self.emit()
        self.dispatch()
        delivery = self.delivery_of(event, endpoint)
        self.assertEqual(delivery.state, "done")
        attempt = delivery.webhook_attempt_ids
        self.assertEqual((attempt.outcome, attempt.status_code), ("success", 200))
        self.assertGreaterEqual(attempt.latency_ms, 600)

    def test_batch_posted_concurrently_each_delivery_keeps_its_outcome(self):
        self.env["ir.config_parameter"].sudo().set_param("saas_workflow_integrations.delivery_concurrency", 3)
        failing = Receiver()
        self.addCleanup(failing.stop)
        failing.set("error")
        slow = self.make_endpoint(read_timeout=3.0)
        broken = self.make_endpoint(name="Broken receiver", url=failing.url)
        self.receiver.set("slow", delay=0.5)
        events = [self.emit({"n": i}) for i in range(6)]
        self.dispatch()
        # The posts of one batch overlap, at most as many at once as configured.
        self.assertEqual(self.receiver.server.max_active, 3)
        self.assertEqual(
            sorted(hit["headers"]["webhook-id"] for hit in self.receiver.hits),
            sorted(event.public_id for event in events),
        )
        self.assertEqual(len(failing.hits), 6)
        for event in events:
            done, failed = self.delivery_of(event, slow), self.delivery_of(event, broken)
            self.assertEqual((done.state, failed.state), ("done", "failed"))
            self.assertEqual(
                [(a.webhook_id, a.outcome, a.status_code) for a in done.webhook_attempt_ids],
                [(event.public_id, "success", 200)],
            )
            self.assertEqual(
                [(a.webhook_id, a.outcome, a.status_code) for a in failed.webhook_attempt_ids],
                [(event.public_id, "retry", 500)],
            )
            self.assertGreaterEqual(done.webhook_attempt_ids.latency_ms, 500)
            self.assertEqual(failed.webhook_attempt_ids.next_attempt_at, failed.next_attempt_at)

    def test_410_disables_endpoint(self):
        endpoint = self.make_endpoint()
        self.receiver.set("gone")
        event = self.emit()
        self.dispatch()
        delivery = self.delivery_of(event, endpoint)
        self.assertEqual(delivery.state, "dead")
        self.assertFalse(endpoint.active)
        self.assertIn("410", endpoint.disabled_reason)
        self.assertEqual(delivery.webhook_attempt_ids.outcome, "disabled")
        self.assertIn(self.owner, endpoint.activity_ids.user_id)
        # No further event reaches the disabled endpoint.
        self.emit()
        self.dispatch()
        self.assertEqual(len(self.receiver.hits), 1)

    def test_redirect_is_not_followed(self):
        endpoint = self.make_endpoint()
        self.receiver.set("redirect")
        event = self.emit()
        self.dispatch()
        self.assertEqual([hit["path"] for hit in self.receiver.hits], ["/hook"])
        delivery = self.delivery_of(event, endpoint)
        self.assertEqual(delivery.state, "failed")
        self.assertEqual(delivery.webhook_attempt_ids.status_code, 302)

    def test_huge_response_is_capped(self):
        endpoint = self.make_endpoint()
        self.receiver.set("huge")
        event = self.emit()
        self.dispatch()
        delivery = self.delivery_of(event, endpoint)
        self.assertEqual(delivery.state, "done")
        self.assertEqual(len(delivery.webhook_attempt_ids.response_excerpt), 1024)

    def test_rolled_back_event_is_never_delivered(self):
        self.make_endpoint()
        with self.assertRaises(RuntimeError), self.env.cr.savepoint():
            self.emit()
            raise RuntimeError("the business transaction fails")
        self.dispatch()
        self.assertEqual(self.receiver.hits, [])

    def test_lost_worker_redelivers_same_webhook_id(self):
        endpoint = self.make_endpoint()
        event = self.emit()
        Delivery = self.env["saas.workflow.delivery"]
        Delivery._route_events(100)
        claimed = Delivery._claim(100, "worker-that-dies")
        delivery = self.delivery_of(event, endpoint)
        self.assertIn(delivery, claimed)
        # The worker posts, then dies before recording the outcome.
        endpoint.subscription_id._run_handler(event, delivery)
        self.assertEqual(delivery.state, "running")
        self.env.cr.execute(
            "UPDATE saas_workflow_delivery SET lease_until = now() AT TIME ZONE 'UTC' - interval '1 minute' "
            "WHERE id = %s",
            (delivery.id,),
        )
        delivery.invalidate_recordset()
        self.assertEqual(Delivery._recover_stuck(), 1)
        self.dispatch()
        self.assertEqual(delivery.state, "done")
        self.assertEqual(len(self.receiver.hits), 2)
        secret = endpoint.sudo().secret
        for hit in self.receiver.hits:
            self.assertEqual(hit["headers"]["webhook-id"], event.public_id)
            Webhook(secret).verify(hit["body"], hit["headers"])
        self.assertEqual(
            json.loads(self.receiver.hits[0]["body"]), json.loads(self.receiver.hits[1]["body"])
        )

    def test_dead_after_last_attempt_then_replay(self):
        endpoint = self.make_endpoint(retry_schedule="0")
        self.receiver.set("error")
        event = self.emit()
        self.dispatch()
        delivery = self.delivery_of(event, endpoint)
        self.make_due(delivery)
        self.dispatch()
        self.assertEqual(delivery.state, "dead")
        activity = endpoint.activity_ids.filtered(lambda a: a.user_id == self.owner)
        self.assertTrue(activity)
        self.assertIn("dead", activity.summary)
        self.receiver.set("ok")
        delivery.with_user(self.owner).action_requeue()
        self.dispatch()
        self.assertEqual(delivery.state, "done")
        self.assertEqual({hit["headers"]["webhook-id"] for hit in self.receiver.hits}, {event.public_id})
        self.assertEqual(len(self.receiver.hits), 3)

    def test_circuit_breaker_stops_calling_failing_receiver(self):
        ICP = self.env["ir.config_parameter"].sudo()
        ICP.set_param("saas_workflow_integrations.breaker_min_requests", 3)
        ICP.set_param("saas_workflow_integrations.breaker_cooldown", 60)
        endpoint = self.make_endpoint()
        self.receiver.set("error")
        events = [self.emit() for _i in range(6)]
        self.dispatch()
        self.assertEqual(len(self.receiver.hits), 3, "the breaker opens after 3 failed calls")
        attempts = endpoint.attempt_ids
        self.assertEqual(attempts.mapped("outcome").count("circuit_open"), 3)
        self.assertFalse(any(attempts.filtered(lambda a: a.outcome == "circuit_open").mapped("called")))
        self.assertEqual(endpoint.breaker_state, "open")
        deliveries = self.env["saas.workflow.delivery"].search([("event_id", "in", [e.id for e in events])])
        self.assertEqual(set(deliveries.mapped("state")), {"failed"})
        # Postponed by the cool-down, not by the immediate first retry.
        for delivery in deliveries.filtered(lambda d: d.webhook_attempt_ids[:1].outcome == "circuit_open"):
            self.assertGreater((delivery.next_attempt_at - delivery.last_attempt_at).total_seconds(), 30)
        # After the cool-down one probe goes through; success closes the breaker.
        self.env.cr.execute(
            "UPDATE saas_webhook_attempt SET attempted_at = attempted_at - interval '61 seconds' "
            "WHERE endpoint_id = %s",
            (endpoint.id,),
        )
        self.receiver.set("ok")
        self.make_due(deliveries)
        self.dispatch()
        self.assertEqual(set(deliveries.mapped("state")), {"done"})
        endpoint.invalidate_recordset(["breaker_state"])
        self.assertEqual(endpoint.breaker_state, "closed")

    def test_ssrf_targets_refused_before_connecting(self):
        for url in ("http://10.1.2.3/hook", "http://169.254.169.254/latest/meta-data", "http://[::1]:8069/",
                    "http://[fd00::1]/", "http://0.0.0.0/", "ftp://example.com/"):
            with self.subTest(url=url), self.assertRaises(ValidationError) as err, self.env.cr.savepoint():
                self.make_endpoint(url=url)
            self.assertIn("refused", str(err.exception))
        # An endpoint on loopback was allowed; once loopback leaves the allowlist, the
        # connection is refused although the receiver is listening.
        endpoint = self.make_endpoint()
        self.env["ir.config_parameter"].sudo().set_param("saas_workflow_integrations.ssrf_allowlist", "")
        event = self.emit()
        self.dispatch()
        self.assert_blocked(event, endpoint, "loopback")

    def test_connected_address_is_vetted_not_only_the_url(self):
        """DNS rebinding: the name resolves to an allowed address when the URL is checked and to
        a refused one when the connection is made; the connection is never opened."""
        self.env["ir.config_parameter"].sudo().set_param(
            "saas_workflow_integrations.ssrf_allowlist", "127.0.0.1/32"
        )
        port = self.receiver.server.server_port
        endpoint = self.make_endpoint(url=f"http://localhost:{port}/hook")
        real_getaddrinfo = socket.getaddrinfo
        answers = []

        def rebinding_dns(host, *args, **kwargs):
            if host != "localhost":
                return real_getaddrinfo(host, *args, **kwargs)
            address = "127.0.0.1" if not answers else "127.0.0.2"
            answers.append(address)
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, args[0]))]

        with patch.object(socket, "getaddrinfo", rebinding_dns):
            event = self.emit()
            self.dispatch()
        self.assertEqual(answers[:2], ["127.0.0.1", "127.0.0.2"], "checked before sending, then at connect")
        self.assert_blocked(event, endpoint, "127.0.0.2")
        # With an honest answer the same endpoint is delivered through the vetted address.
        self.emit()
        self.dispatch()
        self.assertEqual(len(self.receiver.hits), 1)
        self.assertEqual(self.receiver.hits[0]["headers"]["Host"], f"localhost:{port}")

    def test_private_ranges_refused_at_delivery_too(self):
        """An endpoint saved while its network was allowlisted is refused once it is not."""
        self.env["ir.config_parameter"].sudo().set_param(
            "saas_workflow_integrations.ssrf_allowlist", "127.0.0.0/8, 10.0.0.0/8"
        )
        endpoint = self.make_endpoint(url="http://10.255.255.1:9/hook", connect_timeout=0.5)
        self.env["ir.config_parameter"].sudo().set_param(
            "saas_workflow_integrations.ssrf_allowlist", "127.0.0.0/8"
        )
        event = self.emit()
        self.dispatch()
        attempt = self.delivery_of(event, endpoint).webhook_attempt_ids
        self.assertEqual(attempt.outcome, "blocked")
        self.assertIn("private", attempt.error)

    def test_thin_payload_and_pinned_mapping(self):
        thin = self.make_endpoint(name="thin", payload_mode="thin")
        mapping = self.env["saas.integration.mapping"].create({
            "name": "Receiver names", "code": "recv", "version": 1,
            "line_ids": [(0, 0, {"canonical_field": "amount", "external_name": "total"}),
                         (0, 0, {"canonical_field": "object.id", "external_name": "ref.id"})],
        })
        mapped = self.make_endpoint(name="mapped", mapping_id=mapping.id)
        event = self.emit({"amount": "10.00", "secret_note": "internal"})
        self.dispatch()
        bodies = {}
        for hit in self.receiver.hits:
            payload = json.loads(hit["body"])
            for endpoint in (thin, mapped):
                try:
                    Webhook(endpoint.sudo().secret).verify(hit["body"], hit["headers"])
                    bodies[endpoint.name] = payload
                except WebhookVerificationError:
                    continue
        self.assertEqual(bodies["thin"]["data"]["object"], {"model": "res.partner", "id": self.partner.id})
        self.assertNotIn("amount", bodies["thin"]["data"])
        self.assertEqual(bodies["thin"]["data"]["event_id"], event.public_id)
        self.assertEqual(bodies["mapped"]["data"], {"total": "10.00", "ref": {"id": self.partner.id}})
        # A new version with other names does not change what the pinned endpoint receives.
        action = mapping.action_new_version()
        v2 = self.env["saas.integration.mapping"].browse(action["res_id"])
        self.assertEqual((v2.code, v2.version), ("recv", 2))
        v2.line_ids.filtered(lambda line: line.canonical_field == "amount").external_name = "amountTotal"
        on_v2 = self.make_endpoint(name="on v2", mapping_id=v2.id)
        self.receiver.hits.clear()
        self.emit({"amount": "11.00"})
        self.dispatch()
        received = {}
        for hit in self.receiver.hits:
            for endpoint in (mapped, on_v2):
                try:
                    received[endpoint.name] = Webhook(endpoint.sudo().secret).verify(hit["body"], hit["headers"])
                except WebhookVerificationError:
                    continue
        self.assertEqual(received["mapped"]["data"], {"total": "11.00", "ref": {"id": self.partner.id}})
        self.assertEqual(received["on v2"]["data"], {"amountTotal": "11.00", "ref": {"id": self.partner.id}})
