import datetime

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import Form, new_test_user, tagged

from .common import WebhookCase


@tagged("post_install", "-at_install")
class TestWebhookAdmin(WebhookCase):
    def test_secret_shown_once_and_only_to_administrators(self):
        endpoint = self.make_endpoint()
        self.assertTrue(endpoint.has_secret)
        manager = self.owner
        with self.assertRaises(AccessError):
            endpoint.with_user(manager).read(["secret"])
        with self.assertRaises(AccessError):
            endpoint.with_user(manager).action_rotate_secret()
        action = endpoint.action_rotate_secret()
        self.assertEqual(action["res_model"], "saas.webhook.secret.wizard")
        secret = action["context"]["default_secret"]
        self.assertTrue(secret.startswith("whsec_"))
        # The dialog only carries it: nothing is stored in the wizard table.
        wizard = Form(self.env["saas.webhook.secret.wizard"].with_context(**action["context"]))
        self.assertEqual(wizard.secret, secret)
        self.assertFalse(self.env["saas.webhook.secret.wizard"].search_count([("secret", "=", secret)]))
        # A never-shown secret is replaced without overlap; a shown one is kept for the overlap.
        self.assertFalse(endpoint.sudo().previous_secret)
        second = endpoint.action_rotate_secret()["context"]["default_secret"]
        self.assertEqual(endpoint.sudo().previous_secret, secret)
        self.assertTrue(endpoint.previous_secret_valid_until)
        # Neither secret ever reaches the chatter (tracking or rotation notes).
        bodies = " ".join(endpoint.message_ids.mapped(lambda m: str(m.body)))
        tracked = " ".join(
            str(value) for value in endpoint.message_ids.tracking_value_ids.mapped(
                lambda t: (t.old_value_char, t.new_value_char)
            )
        )
        self.assertIn("rotated", bodies)
        for value in (secret, second, secret[6:], second[6:]):
            self.assertNotIn(value, bodies)
            self.assertNotIn(value, tracked)

    def test_inbound_secret_only_for_administrators(self):
        tech = new_test_user(self.env, login="tech_hook", groups="base.group_user")
        source = self.env["saas.webhook.inbound.source"].create({
            "name": "Src", "code": "src_admin", "technical_user_id": tech.id,
            "process_mode": "event", "event_type_id": self.event_type.id,
        })
        self.assertTrue(source.sudo().secret.startswith("whsec_"))
        for user in (self.owner, tech):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                source.with_user(user).read(["secret"])
        self.assertTrue(source.with_user(self.owner).has_secret)
        with self.assertRaises(AccessError):
            source.with_user(self.owner).action_rotate_secret()

    def test_endpoint_is_a_webhook_subscription(self):
        endpoint = self.make_endpoint()
        sub = endpoint.subscription_id
        self.assertEqual(sub.handler_type, "webhook")
        self.assertEqual(sub.event_type_ids, self.event_type)
        self.assertEqual(sub.owner_id, self.owner)
        with self.assertRaises(ValidationError):
            endpoint.write({"read_timeout": 0})

    def test_default_retry_schedule(self):
        endpoint = self.make_endpoint()
        self.assertEqual(endpoint.retry_schedule, "0,5,300,1800,7200,18000,36000,50400,72000,86400")
        self.assertAlmostEqual(endpoint.jitter, 0.2)

    def test_health_figures_from_attempts(self):
        endpoint = self.make_endpoint(retry_schedule="0")
        self.emit()
        self.emit()
        self.dispatch()
        self.receiver.set("error")
        self.emit()
        self.dispatch()
        endpoint.invalidate_recordset()
        self.assertEqual(endpoint.health_attempts, 3)
        self.assertAlmostEqual(endpoint.health_success_rate, 200 / 3, places=2)
        self.assertEqual(endpoint.health_failures, 1)
        self.assertGreaterEqual(endpoint.health_p95_ms, endpoint.health_p50_ms)
        self.assertTrue(endpoint.last_success_at)
        self.env.flush_all()
        health = self.env["saas.webhook.endpoint.health"].search([("endpoint_id", "=", endpoint.id)])
        self.assertEqual((health.attempt_count, health.success_count, health.failure_count), (3, 2, 1))

    def test_cron_disables_endpoint_failing_for_days(self):
        healthy = self.make_endpoint(name="healthy")
        failing = self.make_endpoint(name="failing")
        Attempt = self.env["saas.webhook.attempt"]
        now = datetime.datetime.now().replace(microsecond=0)
        for endpoint, outcome in ((failing, "retry"), (healthy, "retry")):
            Attempt.create({"endpoint_id": endpoint.id, "webhook_id": "evt_old", "attempted_at": now - datetime.timedelta(days=6),
                            "outcome": outcome, "status_code": 500})
        Attempt.create({"endpoint_id": failing.id, "webhook_id": "evt_new", "attempted_at": now - datetime.timedelta(hours=1),
                        "outcome": "retry", "status_code": 500})
        Attempt.create({"endpoint_id": healthy.id, "webhook_id": "evt_ok", "attempted_at": now - datetime.timedelta(hours=1),
                        "outcome": "success", "status_code": 200})
        self.assertEqual(self.env["saas.webhook.endpoint"]._cron_disable_unhealthy(), 1)
        self.assertFalse(failing.active)
        self.assertTrue(healthy.active)
        self.assertIn("5 days", failing.disabled_reason)
        self.assertIn(self.owner, failing.activity_ids.user_id)

    def test_allowlist_setting_validated(self):
        with self.assertRaises(ValidationError):
            self.env["res.config.settings"].create({"saas_webhook_allowlist": "http://nope/"})
        settings = self.env["res.config.settings"].create({
            "saas_webhook_allowlist": "n8n.lan, 10.0.0.0/8",
            "saas_workflow_retry_schedule": "30,120",  # the core refuses an empty one (reported)
        })
        settings.execute()
        self.assertEqual(
            self.env["ir.config_parameter"].get_param("saas_workflow_integrations.ssrf_allowlist"),
            "n8n.lan, 10.0.0.0/8",
        )
        # Private addresses of the allowlist are accepted.
        self.make_endpoint(url="http://10.20.30.40:5678/webhook/odoo")

    def test_workflow_user_reads_health_not_secrets(self):
        user = new_test_user(self.env, login="hook_reader", groups="base.group_user,saas_workflow_core.group_workflow_user")
        endpoint = self.make_endpoint()
        endpoint.with_user(user).read(["name", "url", "health_success_rate", "has_secret"])
        with self.assertRaises(AccessError):
            endpoint.with_user(user).write({"url": "https://example.com/x"})
