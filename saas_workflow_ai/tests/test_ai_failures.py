import socket
import time

from odoo.tests import tagged

from .common import AiCase


@tagged("post_install", "-at_install")
class TestProviderFailures(AiCase):
    """Every provider failure ends in the review queue, never in an applied label."""

    def _assert_in_review(self, task, status):
        decision = self._decision(task)
        self.assertEqual(decision.status, status, decision.error)
        self.assertEqual(decision.state, "failed")
        self.assertTrue(decision.error)
        self.assertFalse(decision.line_ids.filtered("applied"))
        self.assertFalse(task.tag_ids)
        self.assertEqual(task.priority, "0")
        self.assertTrue(self._review_activities(decision))
        self.assertTrue(self._events("ai.classification.review_requested", task))
        self.assertFalse(self._events("ai.classification.applied", task))
        return decision

    def test_refusal(self):
        self.server.add_rule("charged", refusal="I can't help with that.")
        task = self._task("I was charged twice")
        self._dispatch()
        decision = self._assert_in_review(task, "refused")
        self.assertIn("can't help", decision.error)

    def test_content_filter(self):
        self.server.add_rule("charged", content_filter=True)
        task = self._task("I was charged twice")
        self._dispatch()
        self._assert_in_review(task, "refused")

    def test_malformed_json(self):
        self.server.add_rule("charged", malformed='{"category": "billing", "prio')
        task = self._task("I was charged twice")
        self._dispatch()
        decision = self._assert_in_review(task, "invalid")
        self.assertIn('"prio', decision.raw_output)

    def test_truncated(self):
        self.server.add_rule("charged", length=True)
        task = self._task("I was charged twice")
        self._dispatch()
        self._assert_in_review(task, "truncated")

    def test_rate_limited_with_long_retry_after(self):
        self.server.add_rule("charged", status=429, retry_after=30)
        task = self._task("I was charged twice")
        started = time.monotonic()
        self._dispatch()
        # a Retry-After longer than the provider's limit is not slept through
        self.assertLess(time.monotonic() - started, 5)
        decision = self._assert_in_review(task, "rate_limited")
        self.assertEqual(decision.call_count, 1)

    def test_rate_limited_once_then_answered(self):
        self.server.add_rule(
            "charged",
            status=429,
            retry_after=0,
            times=1,
            labels={"category": "billing", "priority": "urgent"},
            probs={"category": {"billing": 0.99}, "priority": {"urgent": 0.99}},
        )
        task = self._task("I was charged twice")
        self._dispatch()
        decision = self._decision(task)
        self.assertEqual(decision.status, "ok")
        self.assertEqual(decision.call_count, 2)
        self.assertEqual(decision.state, "applied")
        self.assertEqual(task.tag_ids, self.tag_billing)

    def test_timeout(self):
        self.provider.write({"timeout": 0.3, "max_retries": 1})
        self.server.add_rule("charged", delay=1.0)
        task = self._task("I was charged twice")
        self._dispatch()
        decision = self._assert_in_review(task, "timeout")
        self.assertEqual(decision.call_count, 2)

    def test_server_error(self):
        self.server.add_rule("charged", status=500)
        task = self._task("I was charged twice")
        self._dispatch()
        decision = self._assert_in_review(task, "api_error")
        self.assertIn("500", decision.error)
        self.assertEqual(decision.call_count, 2)  # bounded: one retry

    def test_server_down(self):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            closed_port = sock.getsockname()[1]
        self.provider.base_url = "http://127.0.0.1:%d/v1" % closed_port
        task = self._task("I was charged twice")
        self.assertTrue(task.exists())
        self._dispatch()
        decision = self._assert_in_review(task, "api_error")
        self.assertIn("connection", decision.error)
