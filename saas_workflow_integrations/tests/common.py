"""Real HTTP receivers on 127.0.0.1 for the webhook tests."""

import contextlib
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from odoo.tests import TransactionCase, new_test_user


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        result = super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return result

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        server = self.server
        hit = {"path": self.path, "headers": dict(self.headers.items()), "body": body}
        server.hits.append(hit)
        if server.verify_secret:
            # A receiver that checks every call with the reference library, as it arrives.
            try:
                Webhook(server.verify_secret).verify(body, hit["headers"])
                hit["verified"] = True
            except WebhookVerificationError:
                hit["verified"] = False
                self.send_response(400)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        behaviour = server.behaviour
        if behaviour == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if behaviour == "slow":
            with server.lock:
                server.active += 1
                server.max_active = max(server.max_active, server.active)
            time.sleep(server.delay)
            with server.lock:
                server.active -= 1
        status, headers, payload = 200, {}, b'{"ok":true}'
        if behaviour == "error":
            status, payload = 500, b"internal error"
        elif behaviour in ("429", "503"):
            status, headers = int(behaviour), {"Retry-After": str(server.retry_after)}
        elif behaviour == "gone":
            status = 410
        elif behaviour == "redirect":
            status, headers = 302, {"Location": f"http://127.0.0.1:{server.server_port}/moved"}
        elif behaviour == "huge":
            payload = b"A" * (3 * 1024 * 1024)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client may hang up on a huge body
            self.wfile.write(payload)


class Receiver:
    """A threaded HTTP receiver whose behaviour the test switches."""

    def __init__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.hits = []
        self.server.behaviour = "ok"
        self.server.delay = 1.0
        self.server.retry_after = 120
        self.server.verify_secret = None
        self.server.lock = threading.Lock()
        self.server.active = self.server.max_active = 0  # calls being answered at once ("slow")
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    @property
    def hits(self):
        return self.server.hits

    def set(self, behaviour, **kw):
        self.server.behaviour = behaviour
        for key, value in kw.items():
            setattr(self.server, key, value)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class WebhookCase(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.receiver = Receiver()
        cls.addClassCleanup(cls.receiver.stop)
        cls.env["ir.config_parameter"].sudo().set_param(
            "saas_workflow_integrations.ssrf_allowlist", "127.0.0.0/8"
        )
        cls.event_type = cls.env["saas.workflow.event.type"].create(
            {"code": "test.integration.thing", "name": "Test thing happened"}
        )
        cls.owner = new_test_user(
            cls.env, login="hook_owner", groups="base.group_user,saas_workflow_core.group_workflow_manager"
        )
        cls.partner = cls.env["res.partner"].create({"name": "Zoë Receiver"})

    def setUp(self):
        super().setUp()
        self.receiver.hits.clear()
        self.receiver.set("ok")

    def make_endpoint(self, **vals):
        values = {
            "name": "Test receiver",
            "url": self.receiver.url,
            "event_type_ids": [(6, 0, self.event_type.ids)],
            "owner_id": self.owner.id,
            "read_timeout": 2.0,
        }
        values.update(vals)
        return self.env["saas.webhook.endpoint"].create(values)

    def emit(self, payload=None, record=None):
        return self.env["saas.workflow.event"].emit(
            "test.integration.thing", record=record or self.partner, payload=payload or {"amount": 12.5}
        )

    def dispatch(self):
        return self.env["saas.workflow.delivery"]._dispatch(limit=100)

    def delivery_of(self, event, endpoint):
        return self.env["saas.workflow.delivery"].search(
            [("event_id", "=", event.id), ("subscription_id", "=", endpoint.subscription_id.id)]
        )

    def assert_blocked(self, event, endpoint, reason):
        """The delivery is dead without the receiver being called, and its attempt says why."""
        self.assertEqual(self.receiver.hits, [])
        delivery = self.delivery_of(event, endpoint)
        self.assertEqual(delivery.state, "dead")
        attempt = delivery.webhook_attempt_ids
        self.assertEqual(attempt.outcome, "blocked")
        self.assertFalse(attempt.called)
        self.assertIn(reason, attempt.error)
        return delivery

    def make_due(self, deliveries):
        """Jump over the retry delay without waiting for it."""
        self.env.cr.execute(
            "UPDATE saas_workflow_delivery SET next_attempt_at = now() AT TIME ZONE 'UTC' "
            "- interval '1 second' WHERE id = ANY(%s)",
            (deliveries.ids,),
        )
        deliveries.invalidate_recordset()
