import threading
import time

from odoo import SUPERUSER_ID, api
from odoo.addons.saas_workflow_core.tests.common import CommittedCase
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import Receiver

CODE = "test.integration.committed"
LEASE_SECONDS = 2


@tagged("post_install", "-at_install")
class TestWebhookCommitted(CommittedCase):
    """Outbound webhooks across real, committed transactions.

    The event is emitted, claimed, posted and recorded by separate registry
    cursors that commit (or die) for real; the receiver is an HTTP server on
    127.0.0.1 that checks every call with the ``standardwebhooks`` library.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.receiver = Receiver()
        cls.addClassCleanup(cls.receiver.stop)
        with cls.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            icp = env["ir.config_parameter"]
            cls.saved_params = {
                key: icp.get_param(key)
                for key in ("saas_workflow_integrations.ssrf_allowlist", "saas_workflow_core.lease_seconds")
            }
            icp.set_param("saas_workflow_integrations.ssrf_allowlist", "127.0.0.0/8")
            # Short claims, so that a lost worker's lease runs out within the test.
            icp.set_param("saas_workflow_core.lease_seconds", LEASE_SECONDS)
            cls.type_id = env["saas.workflow.event.type"].create(
                {"code": CODE, "name": f"Committed webhook test {cls.tag}"}
            ).id
            endpoint = env["saas.webhook.endpoint"].create({
                "name": f"Committed receiver {cls.tag}",
                "url": cls.receiver.url,
                "event_type_ids": [(6, 0, [cls.type_id])],
                "read_timeout": 5.0,
            })
            cls.endpoint_id, cls.sub_id = endpoint.id, endpoint.subscription_id.id
            cls.receiver.set("ok", verify_secret=endpoint.secret)
            cls.cron_id = env.ref("saas_workflow_core.ir_cron_dispatch").id

    @classmethod
    def tearDownClass(cls):
        with cls.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            cr.execute("DELETE FROM saas_workflow_delivery WHERE subscription_id = %s", (cls.sub_id,))
            cr.execute("DELETE FROM saas_workflow_event WHERE event_type_id = %s", (cls.type_id,))
            env["saas.webhook.endpoint"].with_context(active_test=False).browse(cls.endpoint_id).unlink()
            env["saas.workflow.event.type"].browse(cls.type_id).unlink()
            for key, value in cls.saved_params.items():
                env["ir.config_parameter"].set_param(key, value or False)
            cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id = %s", (cls.cron_id,))
        cls.registry.clear_cache()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.receiver.hits.clear()
        self.receiver.set("ok")

    def tearDown(self):
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM saas_workflow_delivery WHERE subscription_id = %s", (self.sub_id,))
            cr.execute("DELETE FROM saas_workflow_event WHERE event_type_id = %s", (self.type_id,))
            cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id = %s", (self.cron_id,))
        super().tearDown()

    def dispatch(self):
        """One dispatcher batch as the cron runs it: claim committed, then results committed."""
        with self.env({"saas_workflow_only_subscription_ids": [self.sub_id]}) as env:
            return env["saas.workflow.delivery"]._dispatch(commit=True)

    def delivery_row(self):
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT id, state, attempt_count FROM saas_workflow_delivery WHERE subscription_id = %s",
                (self.sub_id,),
            )
            return cr.fetchall()

    def attempts(self):
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT webhook_id, attempt_no, outcome FROM saas_webhook_attempt "
                "WHERE endpoint_id = %s ORDER BY id",
                (self.endpoint_id,),
            )
            return cr.fetchall()

    def wait_for(self, condition, timeout=15, message="condition not met"):
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                self.fail(message)
            time.sleep(0.05)

    # ------------------------------------------------------------------
    def test_event_rolled_back_before_commit_is_never_delivered(self):
        failed = False
        try:
            with self.env() as env:
                rolled_back = env["saas.workflow.event"].emit(CODE, payload={"order": "S1"}).public_id
                raise RuntimeError("the business transaction fails after emitting")
        except RuntimeError:
            failed = True  # the cursor rolled the transaction back
        self.assertTrue(failed)
        with self.env() as env:
            committed = env["saas.workflow.event"].emit(CODE, payload={"order": "S2"}).public_id
        self.assertEqual(
            self.count("SELECT count(*) FROM saas_workflow_event WHERE public_id = %s", (rolled_back,)), 0
        )
        while self.dispatch()["claimed"]:
            pass
        ids = [hit["headers"]["webhook-id"] for hit in self.receiver.hits]
        self.assertEqual(ids, [committed], "only the committed event reaches the receiver")
        self.assertTrue(self.receiver.hits[0]["verified"])
        self.assertEqual(self.delivery_row()[0][1:], ("done", 1))
        self.assertEqual(self.attempts(), [(committed, 1, "success")])

    def test_worker_killed_mid_delivery_redelivers_same_webhook_id(self):
        with self.env() as env:
            public_ids = sorted(
                env["saas.workflow.event"].emit(CODE, payload={"order": f"S{i}"}).public_id for i in (3, 4)
            )
        # The receiver takes its time: the worker is killed while it waits for the answers.
        self.receiver.set("slow", delay=1.0)
        backend, errors = {}, []

        def worker():
            try:
                with self.env({"saas_workflow_only_subscription_ids": [self.sub_id]}) as env:
                    backend["pid"] = env.cr._cnx.get_backend_pid()
                    env["saas.workflow.delivery"]._dispatch(commit=True)
            except Exception as exc:  # pylint: disable=broad-except
                errors.append(exc)

        thread = threading.Thread(target=worker)
        with mute_logger("odoo.sql_db"):  # the dead worker's failing queries
            thread.start()
            self.wait_for(lambda: len(self.receiver.hits) == 2, message="the worker did not post")
            # The worker's database session ends as when its process is killed.
            with self.registry.cursor() as cr:
                cr.execute("SELECT pg_terminate_backend(%s)", (backend["pid"],))
                self.assertTrue(cr.fetchone()[0])
            thread.join(30)
        self.assertFalse(thread.is_alive())
        self.assertTrue(errors, "the killed worker could not record the outcome")
        # Its claim was committed before posting: the deliveries stay claimed, nothing recorded.
        self.assertEqual([row[1:] for row in self.delivery_row()], [("running", 1)] * 2)
        self.assertEqual(self.attempts(), [])
        # Another worker leaves the claims alone while their lease runs ...
        self.receiver.set("ok")
        self.assertEqual(self.dispatch()["claimed"], 0)
        # ... then the sweep releases them and the next batch delivers them again.
        recovered = []

        def sweep():
            with self.env() as env:
                recovered.append(env["saas.workflow.delivery"]._recover_stuck())
            return recovered[-1]

        self.wait_for(sweep, timeout=LEASE_SECONDS + 10, message="the expired claims were not recovered")
        self.assertEqual(recovered[-1], 2)
        self.assertEqual(self.dispatch()["claimed"], 2)
        self.assertEqual([row[1:] for row in self.delivery_row()], [("done", 2)] * 2)
        hits = self.receiver.hits
        self.assertEqual(len(hits), 4)
        self.assertTrue(all(hit["verified"] for hit in hits), "every call verifies with the reference library")
        for public_id in public_ids:
            calls = [hit for hit in hits if hit["headers"]["webhook-id"] == public_id]
            self.assertEqual(len(calls), 2, "the receiver sees the same webhook-id again")
            self.assertEqual(calls[0]["body"], calls[1]["body"], "and the same signed body")
        self.assertEqual(sorted(self.attempts()), [(public_id, 2, "success") for public_id in public_ids])
