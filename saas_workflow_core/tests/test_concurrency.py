import sys
import threading
import traceback

from odoo import SUPERUSER_ID, api
from odoo.tests import tagged

from .common import CommittedCase

CODE = "test.core.race"


@tagged("post_install", "-at_install")
class TestCommitted(CommittedCase):
    """Transactional outbox, idempotency races, concurrent dispatchers and lost workers,
    each step in its own real, committed transaction."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        with cls.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            cls.type_id = env["saas.workflow.event.type"].create(
                {"code": CODE, "name": "Race"}
            ).id
            action = env["ir.actions.server"].create(
                {
                    "name": f"Log delivery {cls.tag}",
                    "model_id": env["ir.model"]._get_id("res.partner"),
                    "state": "code",
                    "code": "log('%s ' + env.context['saas_workflow_event']['public_id'])" % cls.tag,
                }
            )
            cls.action_id = action.id
            cls.sub_id = env["saas.workflow.subscription"].create(
                {
                    "name": f"Race subscription {cls.tag}",
                    "event_type_ids": [(6, 0, [cls.type_id])],
                    "handler_type": "server_action",
                    "action_id": action.id,
                }
            ).id
            cls.cron_id = env.ref("saas_workflow_core.ir_cron_dispatch").id

    @classmethod
    def tearDownClass(cls):
        with cls.registry.cursor() as cr:
            cr.execute(
                "DELETE FROM saas_workflow_delivery WHERE subscription_id = %s", (cls.sub_id,)
            )
            cr.execute("DELETE FROM saas_workflow_event WHERE event_type_id = %s", (cls.type_id,))
            cr.execute(
                "DELETE FROM saas_workflow_subscription_type_rel WHERE subscription_id = %s",
                (cls.sub_id,),
            )
            cr.execute("DELETE FROM saas_workflow_subscription WHERE id = %s", (cls.sub_id,))
            cr.execute("DELETE FROM ir_act_server WHERE id = %s", (cls.action_id,))
            cr.execute("DELETE FROM saas_workflow_event_type WHERE id = %s", (cls.type_id,))
            cr.execute("DELETE FROM ir_logging WHERE message LIKE %s", (f"{cls.tag} %",))
            cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id = %s", (cls.cron_id,))
        cls.registry.clear_cache()
        super().tearDownClass()

    def tearDown(self):
        with self.registry.cursor() as cr:
            cr.execute(
                "DELETE FROM saas_workflow_delivery WHERE subscription_id = %s", (self.sub_id,)
            )
            cr.execute("DELETE FROM saas_workflow_event WHERE event_type_id = %s", (self.type_id,))
            cr.execute("DELETE FROM ir_logging WHERE message LIKE %s", (f"{self.tag} %",))
        super().tearDown()

    def event_count(self, **where):
        clauses = ["event_type_id = %s"] + [f"{col} = %s" for col in where]
        return self.count(
            f"SELECT count(*) FROM saas_workflow_event WHERE {' AND '.join(clauses)}",
            (self.type_id, *where.values()),
        )

    def join(self, threads, timeout):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout)
        stuck = [t for t in threads if t.is_alive()]
        if stuck:
            frames = sys._current_frames()
            stacks = "\n".join("".join(traceback.format_stack(frames[t.ident])) for t in stuck)
            self.fail(f"threads did not finish:\n{stacks}")

    def dispatch_until_idle(self, env, limit, stats):
        Delivery = env["saas.workflow.delivery"].with_context(
            saas_workflow_only_subscription_ids=[self.sub_id]
        )
        while True:
            result = Delivery._dispatch(limit=limit, commit=True)
            stats.append(result["claimed"])
            if not result["claimed"] and not result["routed"]:
                return

    # ------------------------------------------------------------------
    def test_outbox_rollback_emits_nothing(self):
        with self.env() as env:
            event = env["saas.workflow.event"].emit(CODE, payload={"n": 1})
            public_id = event.public_id
            self.assertEqual(self.event_count(public_id=public_id), 0, "invisible before commit")
            env.cr.rollback()
        self.assertEqual(self.event_count(public_id=public_id), 0, "gone with the rollback")

    def test_outbox_commit_publishes_and_wakes_dispatcher(self):
        triggers = "SELECT count(*) FROM ir_cron_trigger WHERE cron_id = %s"
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id = %s", (self.cron_id,))
        with self.env() as env:
            public_id = env["saas.workflow.event"].emit(CODE, payload={"n": 1}).public_id
            self.assertEqual(self.event_count(public_id=public_id), 0)
            self.assertEqual(self.count(triggers, (self.cron_id,)), 0)
        self.assertEqual(self.event_count(public_id=public_id), 1, "visible once committed")
        self.assertEqual(
            self.count(triggers, (self.cron_id,)), 1, "the dispatcher is woken after commit"
        )
        # While that wake-up is pending, later commits need no other one.
        for i in range(3):
            with self.env() as env:
                env["saas.workflow.event"].emit(CODE, payload={"n": i})
        self.assertEqual(self.count(triggers, (self.cron_id,)), 1)
        self.assertEqual(self.event_count(), 4)

    def race_on_key(self, key, second_emit):
        """Two transactions on the same idempotency key: the first emits it and keeps its
        transaction open; the second, whose snapshot predates the first commit, then
        runs ``second_emit(env)``. Returns (first event's public id, second's result)."""
        first_emitted = threading.Event()
        results, errors = {}, []

        def first():
            try:
                with self.env() as env:
                    results["first"] = env["saas.workflow.event"].emit(
                        CODE, payload={"who": "first"}, idempotency_key=key
                    ).public_id
                    first_emitted.set()
                    # Keep the transaction open while the second one tries the same key.
                    threading.Event().wait(0.5)
            except Exception as exc:  # pylint: disable=broad-except
                errors.append(exc)
                first_emitted.set()

        def second():
            try:
                with self.env() as env:
                    env.cr.execute("SELECT 1")  # the snapshot predates the first commit
                    first_emitted.wait(10)
                    results["second"] = second_emit(env)
            except Exception as exc:  # pylint: disable=broad-except
                errors.append(exc)

        self.join([threading.Thread(target=first), threading.Thread(target=second)], 15)
        self.assertEqual(errors, [])
        return results["first"], results["second"]

    def test_idempotent_emit_from_two_transactions(self):
        key = f"race-{self.tag}"
        first, second = self.race_on_key(key, lambda env: env["saas.workflow.event"].emit(
            CODE, payload={"who": "second"}, idempotency_key=key).public_id)
        self.assertEqual(first, second)
        self.assertEqual(self.event_count(idempotency_key=key), 1)
        # Later emits of the same key, committed or not, still give that event.
        with self.env() as env:
            again = env["saas.workflow.event"].emit(CODE, payload={}, idempotency_key=key)
            self.assertEqual(again.public_id, first)
        self.assertEqual(self.event_count(idempotency_key=key), 1)

    def test_two_dispatchers_never_run_a_delivery_twice(self):
        total = 300
        with self.env() as env:
            Event = env["saas.workflow.event"]
            public_ids = [Event.emit(CODE, payload={"n": i}).public_id for i in range(total)]
        stats = {"a": [], "b": []}
        errors = []

        def worker(name):
            try:
                with self.env() as env:
                    self.dispatch_until_idle(env, 10, stats[name])
            except Exception as exc:  # pylint: disable=broad-except
                errors.append(exc)

        self.join([threading.Thread(target=worker, args=(name,)) for name in stats], 20)
        self.assertEqual(errors, [])
        self.assertEqual(sum(stats["a"]) + sum(stats["b"]), total)
        self.assertEqual(
            self.count(
                "SELECT count(*) FROM saas_workflow_delivery WHERE subscription_id = %s "
                "AND state = 'done' AND attempt_count = 1",
                (self.sub_id,),
            ),
            total,
        )
        # Each handler ran exactly once (its log line is written in its own transaction).
        with self.registry.cursor() as cr:
            expected = [f"{self.tag} {pid}" for pid in public_ids]
            cr.execute(
                "SELECT message, count(*) FROM ir_logging WHERE message = ANY(%s) GROUP BY message",
                (expected,),
            )
            runs = dict(cr.fetchall())
        self.assertEqual(sorted(runs), sorted(expected))
        self.assertEqual(set(runs.values()), {1})
        self.assertEqual(self.event_count(state="done"), total)

    def test_killed_worker_claim_is_recovered(self):
        with self.env() as env:
            public_id = env["saas.workflow.event"].emit(CODE, payload={}).public_id
        # A worker claims the delivery, commits the claim, then dies before running it.
        with self.env({"saas_workflow_only_subscription_ids": [self.sub_id]}) as env:
            Delivery = env["saas.workflow.delivery"]
            Delivery._route_events(100)
            claimed = Delivery._claim(100, "worker-killed")
            self.assertEqual(len(claimed), 1)
        state = "SELECT state FROM saas_workflow_delivery WHERE subscription_id = %s"
        self.assertEqual(self.count(state, (self.sub_id,)), "running")
        # Another worker does not take it while the lease runs.
        with self.env({"saas_workflow_only_subscription_ids": [self.sub_id]}) as env:
            self.assertEqual(env["saas.workflow.delivery"]._dispatch(commit=True)["claimed"], 0)
        with self.registry.cursor() as cr:
            cr.execute(
                "UPDATE saas_workflow_delivery SET lease_until = now() AT TIME ZONE 'UTC' "
                "- interval '1 second' WHERE subscription_id = %s",
                (self.sub_id,),
            )
        # The scheduled sweep releases it and the next batch delivers it.
        with self.env() as env:
            env["saas.workflow.delivery"]._cron_recover_stuck()
        self.assertEqual(self.count(state, (self.sub_id,)), "failed")
        stats = []
        with self.env() as env:
            self.dispatch_until_idle(env, 50, stats)
        self.assertEqual(sum(stats), 1)
        self.assertEqual(self.count(state, (self.sub_id,)), "done")
        self.assertEqual(
            self.count(
                "SELECT attempt_count FROM saas_workflow_delivery WHERE subscription_id = %s",
                (self.sub_id,),
            ),
            2,
        )
        self.assertEqual(
            self.count("SELECT count(*) FROM ir_logging WHERE message = %s", (f"{self.tag} {public_id}",)),
            1,
        )

    def test_idempotent_batch_from_two_transactions(self):
        key = f"race-batch-{self.tag}"
        first, (own, shared, plain) = self.race_on_key(
            key, lambda env: env["saas.workflow.event"].emit_many(CODE, [
                {"payload": {"who": "second"}, "idempotency_key": f"{key}-own"},
                {"payload": {"who": "second"}, "idempotency_key": key},
                {"payload": {"who": "second"}},
            ]).mapped("public_id"))
        self.assertEqual(shared, first, "the concurrently committed event is returned")
        self.assertNotIn(first, (own, plain))
        self.assertEqual(self.event_count(idempotency_key=key), 1)
        self.assertEqual(self.event_count(idempotency_key=f"{key}-own"), 1)
        self.assertEqual(self.event_count(), 3, "the rest of the batch is written")
