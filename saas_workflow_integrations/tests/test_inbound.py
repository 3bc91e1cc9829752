import datetime
import json
import time

from standardwebhooks.webhooks import Webhook

from odoo.exceptions import ValidationError
from odoo.tests import HttpCase, new_test_user, tagged

from ..lib import signing

URL = "/saas_workflow/webhook/"


@tagged("post_install", "-at_install")
class TestInboundWebhook(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tech_user = new_test_user(
            cls.env,
            login="n8n_integration",
            groups="base.group_user,saas_workflow_integrations.group_integration_technical",
        )
        cls.target_type = cls.env["saas.workflow.event.type"].create(
            {"code": "test.inbound.order_paid", "name": "Order paid (from outside)"}
        )
        cls.source = cls.env["saas.webhook.inbound.source"].create({
            "name": "Shop", "code": "shop", "schema_name": "event", "technical_user_id": cls.tech_user.id,
            "process_mode": "event", "event_type_id": cls.target_type.id, "max_body_bytes": 2048,
        })
        cls.secret = cls.source.sudo().secret

    def setUp(self):
        super().setUp()
        self.authenticate(None, None)

    def counts(self):
        self.env.invalidate_all()
        return (
            self.env["saas.webhook.inbound.message"].search_count([]),
            self.env["saas.workflow.event"].search_count([("code", "=", "integration.inbound.received")]),
        )

    def post(self, body, headers=None, path="shop", sign=True, secret=None, msg_id=None, timestamp=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        hdrs = {"Content-Type": "application/json"}
        if sign:
            hdrs.update(signing.build_headers(
                [secret or self.secret], msg_id or f"msg_{time.time_ns()}", body, timestamp=timestamp
            ))
        hdrs.update(headers or {})
        return self.url_open(URL + path, data=body, headers=hdrs)

    def assertRejected(self, response, status, code):
        self.assertEqual(response.status_code, status, response.text)
        self.assertEqual(response.json()["error"], code)

    def test_valid_call_is_stored_then_processed_as_technical_user(self):
        body = {"type": "order.paid", "data": {"order": "S0042", "amount": "99.90"}}
        before = self.counts()
        response = self.post(body, msg_id="msg_valid_1")
        self.assertEqual(response.status_code, 202, response.text)
        self.assertEqual(response.json()["status"], "accepted")
        self.assertEqual(self.counts(), (before[0] + 1, before[1] + 1))
        message = self.env["saas.webhook.inbound.message"].search([("webhook_id", "=", "msg_valid_1")])
        self.assertEqual(message.payload["data"]["order"], "S0042")
        self.assertTrue(message.sent_at)
        self.assertFalse(message.result_event_id, "processing is asynchronous")
        self.env["saas.workflow.delivery"]._dispatch(limit=100)
        message.invalidate_recordset()
        self.assertEqual(message.state, "done")
        # Processed by the core dispatcher, through the inbound subscription.
        delivery = message.event_id.delivery_ids
        self.assertEqual(
            delivery.subscription_id, self.env.ref("saas_workflow_integrations.subscription_inbound_process")
        )
        self.assertEqual((delivery.state, delivery.attempt_count), ("done", 1))
        result = message.result_event_id
        self.assertEqual(result.code, "test.inbound.order_paid")
        self.assertEqual(result.payload["data"]["amount"], "99.90")
        self.assertEqual(result.create_uid, self.tech_user, "processed as the source's technical user")
        self.assertEqual(result.causation_id, message.event_id.public_id)

    def test_reference_library_signature_accepted(self):
        body = json.dumps({"type": "ping", "data": {}}).encode()
        ts = int(time.time())
        sig = Webhook(self.secret).sign("msg_ref", datetime.datetime.fromtimestamp(ts, datetime.timezone.utc), body)
        response = self.url_open(URL + "shop", data=body, headers={
            "webhook-id": "msg_ref", "webhook-timestamp": str(ts), "webhook-signature": sig,
            "Content-Type": "application/json"})
        self.assertEqual(response.status_code, 202, response.text)

    def test_bad_signature_rejected(self):
        before = self.counts()
        self.assertRejected(self.post({"type": "x", "data": {}}, secret=signing.generate_secret()), 401, "invalid_signature")
        response = self.post({"type": "x", "data": {}}, sign=False)
        self.assertRejected(response, 401, "missing_headers")
        self.assertEqual(self.counts(), before)

    def test_stale_timestamp_rejected(self):
        before = self.counts()
        self.assertRejected(self.post({"type": "x", "data": {}}, timestamp=time.time() - 400), 400, "stale_timestamp")
        self.assertRejected(self.post({"type": "x", "data": {}}, timestamp=time.time() + 400), 400, "stale_timestamp")
        self.assertEqual(self.counts(), before)

    def test_replayed_webhook_id_acknowledged_once(self):
        body = {"type": "order.paid", "data": {"n": 1}}
        before = self.counts()
        first = self.post(body, msg_id="msg_dup")
        second = self.post(body, msg_id="msg_dup")
        self.assertEqual(first.status_code, 202)
        self.assertEqual(second.status_code, 200)
        self.assertEqual(second.json()["status"], "duplicate")
        self.assertEqual(self.counts(), (before[0] + 1, before[1] + 1))
        self.env["saas.workflow.delivery"]._dispatch(limit=100)
        third = self.post(body, msg_id="msg_dup")
        self.assertEqual((third.status_code, third.json()["status"]), (200, "duplicate"))
        self.env["saas.workflow.delivery"]._dispatch(limit=100)
        processed = self.env["saas.workflow.event"].search([("code", "=", "test.inbound.order_paid")])
        self.assertEqual(len(processed), 1, "a replayed webhook-id is processed once")

    def test_oversized_body_rejected(self):
        before = self.counts()
        body = {"type": "x", "data": {"blob": "x" * 4096}}
        self.assertRejected(self.post(body), 413, "payload_too_large")
        # A chunked upload announces no length: refused before anything is read.
        raw = json.dumps(body).encode()
        headers = signing.build_headers([self.secret], "msg_chunked", raw)
        response = self.url_open(URL + "shop", data=(raw[i:i + 512] for i in range(0, len(raw), 512)), headers=headers)
        self.assertRejected(response, 411, "length_required")
        self.assertEqual(self.counts(), before)

    def test_malformed_json_rejected(self):
        before = self.counts()
        self.assertRejected(self.post(b'{"type": "x", "data": '), 400, "malformed_json")
        self.assertRejected(self.post(b"\xff\xfe"), 400, "malformed_json")
        self.assertEqual(self.counts(), before)

    def test_schema_invalid_rejected(self):
        before = self.counts()
        response = self.post({"data": {"no": "type"}})
        self.assertRejected(response, 422, "schema_invalid")
        self.assertEqual(response.json()["errors"][0]["loc"], "type")
        self.assertRejected(self.post([1, 2, 3]), 422, "schema_invalid")
        self.assertEqual(self.counts(), before)

    def test_unknown_source_is_404(self):
        self.assertRejected(self.post({"type": "x", "data": {}}, path="nope"), 404, "unknown_source")
        self.source.active = False
        self.assertRejected(self.post({"type": "x", "data": {}}), 404, "unknown_source")

    def test_secret_rotation_accepts_both_during_overlap(self):
        self.source.secret_rotated_at = "2025-01-01 00:00:00"
        old = self.secret
        new = self.source._rotate_secret()
        self.assertEqual(self.post({"type": "x", "data": {}}, secret=old).status_code, 202)
        self.assertEqual(self.post({"type": "x", "data": {}}, secret=new).status_code, 202)
        self.source.previous_secret_valid_until = "2000-01-01 00:00:00"
        self.assertRejected(self.post({"type": "x", "data": {}}, secret=old), 401, "invalid_signature")

    def test_api_key_route_for_senders_that_cannot_sign(self):
        source = self.env["saas.webhook.inbound.source"].create({
            "name": "Legacy", "code": "legacy", "auth_mode": "api_key", "schema_name": "json_object",
            "technical_user_id": self.tech_user.id, "process_mode": "event",
            "event_type_id": self.target_type.id,
        })
        expires = datetime.datetime.now() + datetime.timedelta(days=30)
        key = self.env["res.users.apikeys"].with_user(self.tech_user)._generate(None, "n8n", expires)
        other = new_test_user(self.env, login="someone_else", groups="base.group_user")
        other_key = self.env["res.users.apikeys"].with_user(other)._generate(None, "x", expires)
        url = "/saas_workflow/api/webhook/" + source.code
        body = json.dumps({"hello": "world"}).encode()
        ok = self.url_open(url, data=body, headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "k1"})
        self.assertEqual(ok.status_code, 202, ok.text)
        wrong = self.url_open(url, data=body, headers={"Authorization": f"Bearer {other_key}"})
        self.assertRejected(wrong, 403, "forbidden")
        nokey = self.url_open(url, data=body, headers={"Authorization": "Bearer nope"})
        self.assertEqual(nokey.status_code, 401)
        # The signed route does not serve API-key sources and vice versa.
        self.assertRejected(self.post({"type": "x", "data": {}}, path="legacy"), 404, "unknown_source")

    def test_failing_processing_rolls_back_and_retries(self):
        action = self.env["ir.actions.server"].create({
            "name": "Note the size, then rename the company (not allowed for the technical user)",
            "model_id": self.env.ref("saas_workflow_integrations.model_saas_webhook_inbound_message").id,
            "state": "code",
            "code": "record.write({'body_size': 424242})\n"
                    "env['res.company'].browse(1).write({'name': 'hijacked'})",
        })
        source = self.env["saas.webhook.inbound.source"].create({
            "name": "Actions", "code": "act", "schema_name": "json_object",
            "technical_user_id": self.tech_user.id, "process_mode": "server_action", "action_id": action.id,
        })
        secret = source.sudo().secret
        company_name = self.env.company.name
        response = self.post({"a": 1}, path="act", secret=secret)
        self.assertEqual(response.status_code, 202, response.text)
        self.env["saas.workflow.delivery"]._dispatch(limit=100)
        message = self.env["saas.webhook.inbound.message"].search([("source_id", "=", source.id)])
        delivery = message.event_id.delivery_ids
        self.assertEqual(delivery.state, "failed")
        self.assertIn("AccessError", delivery.last_error)
        self.env.invalidate_all()
        self.assertNotEqual(message.body_size, 424242, "the handler's first write was rolled back")
        self.assertEqual(self.env.company.name, company_name)
        self.assertTrue(delivery.next_attempt_at)
        # Once the action is fixed, the retry processes the message (once).
        action.code = "record.write({'body_size': 4242})"
        self.env.cr.execute(
            "UPDATE saas_workflow_delivery SET next_attempt_at = now() AT TIME ZONE 'UTC' "
            "- interval '1 second' WHERE id = %s",
            (delivery.id,),
        )
        self.env.invalidate_all()
        self.env["saas.workflow.delivery"]._dispatch(limit=100)
        self.env.invalidate_all()
        self.assertEqual((delivery.state, delivery.attempt_count), ("done", 2))
        self.assertEqual(message.body_size, 4242)
        self.assertEqual(message.write_uid, self.tech_user, "the action ran as the technical user")

    def test_administrator_cannot_be_technical_user(self):
        with self.assertRaises(ValidationError):
            self.env["saas.webhook.inbound.source"].create({
                "name": "Bad", "code": "bad", "technical_user_id": self.env.ref("base.user_admin").id,
                "process_mode": "event", "event_type_id": self.target_type.id,
            })
