import logging
import unittest
import uuid
from contextlib import contextmanager

from odoo import SUPERUSER_ID, api
from odoo.modules.registry import Registry
from odoo.tests import BaseCase, HttpCase, TransactionCase
from odoo.tests.common import get_db_name

_logger = logging.getLogger(__name__)

FAIL_PARAM = "saas_workflow_core.test_fail"
FAILING_CODE = (
    "if env['ir.config_parameter'].sudo().get_param('saas_workflow_core.test_fail') == '1':\n"
    "    raise UserError('receiver down')\n"
)


class WorkflowCase(TransactionCase):
    """Fixtures of the event layer, rolled back after each test."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Event = cls.env["saas.workflow.event"]
        cls.Delivery = cls.env["saas.workflow.delivery"]
        cls.EventType = cls.env["saas.workflow.event.type"]
        cls.Subscription = cls.env["saas.workflow.subscription"]
        cls.exception_user = cls.env["res.users"].create(
            {"name": "Exception Handler", "login": "wf_exception_handler"}
        )
        cls.workflow = cls.env["saas.workflow"].create(
            {
                "name": "Test workflow",
                "code": "test_core_workflow",
                "exception_user_id": cls.exception_user.id,
            }
        )
        cls.ping = cls.EventType.create({"code": "test.core.ping", "name": "Ping"})
        cls.other_type = cls.EventType.create({"code": "test.core.other", "name": "Other"})
        cls.noop = cls.Subscription.create(
            {
                "name": "Acknowledge pings",
                "workflow_id": cls.workflow.id,
                "event_type_ids": [(6, 0, cls.ping.ids)],
                "handler_type": "noop",
            }
        )
        cls.failing_action = cls.env["ir.actions.server"].create(
            {
                "name": "Call a receiver",
                "model_id": cls.env["ir.model"]._get_id("res.partner"),
                "state": "code",
                "code": FAILING_CODE,
            }
        )
        cls.flaky = cls.Subscription.create(
            {
                "name": "Flaky receiver",
                "workflow_id": cls.workflow.id,
                "event_type_ids": [(6, 0, cls.ping.ids)],
                "handler_type": "server_action",
                "action_id": cls.failing_action.id,
                "retry_schedule": "60,300",
                "jitter": 0,
            }
        )
        cls.scope = [cls.noop.id, cls.flaky.id]

    def dispatch(self, **kwargs):
        """Run the dispatcher on this test's subscriptions only."""
        return self.Delivery.with_context(
            saas_workflow_only_subscription_ids=self.scope
        )._dispatch(**kwargs)

    def set_failing(self, failing):
        self.env["ir.config_parameter"].sudo().set_param(FAIL_PARAM, "1" if failing else "0")

    def make_due(self, deliveries):
        """Move the retry time of ``deliveries`` to the past (the clock of a transaction is frozen)."""
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE saas_workflow_delivery SET next_attempt_at = now() AT TIME ZONE 'UTC' "
            "- interval '1 second' WHERE id = ANY(%s)",
            (deliveries.ids,),
        )
        deliveries.invalidate_recordset()


class CommittedCase(BaseCase):
    """Tests that need several real transactions.

    They never use a test cursor: every step runs in its own registry cursor
    and is committed (or rolled back) for real, as in production, and
    ``_cleanup`` removes what they committed.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.registry = Registry(get_db_name())
        cls.tag = uuid.uuid4().hex[:8]

    @contextmanager
    def env(self, context=None):
        """A superuser environment on a new cursor, committed at the end of the block.

        Usable from other threads: the transaction is bound to the registry
        directly, as the registry lock is held by the thread running the tests.
        """
        with self.registry.cursor() as cr:
            cr.transaction = api.Transaction(self.registry)
            yield api.Environment(cr, SUPERUSER_ID, context or {})

    def count(self, query, params=()):
        with self.registry.cursor() as cr:
            cr.execute(query, params)
            return cr.fetchone()[0]

    def _cleanup_events(self, type_ids=(), sub_ids=()):
        with self.registry.cursor() as cr:
            cr.execute(
                "DELETE FROM saas_workflow_delivery WHERE subscription_id = ANY(%s) "
                "OR event_type_id = ANY(%s)",
                (list(sub_ids), list(type_ids)),
            )
            cr.execute(
                "DELETE FROM saas_workflow_event WHERE event_type_id = ANY(%s)", (list(type_ids),)
            )


class TourCase(HttpCase):
    """HttpCase whose tours survive a slow browser start.

    Odoo waits 10 s for Chromium's devtools port and then skips the test; on a
    loaded machine the first start can take longer, so the tour is started once
    more before giving up (then the skip stands and is reported).
    """

    def browser_js(self, *args, **kwargs):
        try:
            return super().browser_js(*args, **kwargs)
        except unittest.SkipTest as exc:
            if "devtools port" not in str(exc):
                raise
            _logger.warning("Browser started too slowly (%s): starting the tour once more", exc)
            return super().browser_js(*args, **kwargs)
