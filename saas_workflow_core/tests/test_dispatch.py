from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from ..lib.errors import PermanentError, RetryableError
from .common import WorkflowCase


@tagged("post_install", "-at_install")
class TestDispatch(WorkflowCase):
    def deliveries(self, event):
        return self.Delivery.search([("event_id", "=", event.id)])

    def test_dispatch_success(self):
        self.set_failing(False)
        event = self.Event.emit("test.core.ping", payload={"n": 1})
        result = self.dispatch()
        self.assertGreaterEqual(result["routed"], 1)
        deliveries = self.deliveries(event)
        self.assertEqual(deliveries.subscription_id, self.noop | self.flaky)
        self.assertEqual(set(deliveries.mapped("state")), {"done"})
        self.assertEqual(deliveries.mapped("attempt_count"), [1, 1])
        self.assertTrue(all(deliveries.mapped("done_at")))
        self.assertEqual(deliveries.workflow_id, self.workflow)
        event.invalidate_recordset()
        self.assertEqual(event.state, "done")
        self.assertTrue(event.done_at)
        self.assertGreaterEqual(event.latency_ms, 0)
        # Done deliveries are never run again.
        self.assertEqual(self.dispatch()["claimed"], 0)

    def test_event_without_subscription_is_done(self):
        event = self.Event.emit("test.core.other", payload={})
        self.dispatch()
        event.invalidate_recordset()
        self.assertTrue(event.routed)
        self.assertEqual(event.state, "done")
        self.assertFalse(self.deliveries(event))

    def test_inactive_subscription_is_not_routed(self):
        self.flaky.active = False
        event = self.Event.emit("test.core.ping", payload={})
        self.dispatch()
        self.assertEqual(self.deliveries(event).subscription_id, self.noop)

    def test_subscription_filter_on_source_record(self):
        self.noop.filter_domain = "[('is_company', '=', True)]"
        self.flaky.active = False
        person = self.env["res.partner"].create({"name": "Person"})
        company = self.env["res.partner"].create({"name": "Company", "is_company": True})
        ev_person = self.Event.emit("test.core.ping", record=person)
        ev_company = self.Event.emit("test.core.ping", record=company)
        self.dispatch()
        self.assertFalse(self.deliveries(ev_person))
        self.assertEqual(self.deliveries(ev_company).state, "done")

    def test_retry_with_backoff_then_dead_letter(self):
        self.set_failing(True)
        event = self.Event.emit("test.core.ping", payload={})
        now = self.env.cr.now()
        self.dispatch()
        flaky = self.deliveries(event).filtered(lambda d: d.subscription_id == self.flaky)
        noop = self.deliveries(event) - flaky
        # One failing handler neither blocks nor repeats the others.
        self.assertEqual(noop.state, "done")
        self.assertEqual(flaky.state, "failed")
        self.assertEqual(flaky.attempt_count, 1)
        self.assertIn("receiver down", flaky.last_error)
        self.assertAlmostEqual((flaky.next_attempt_at - now).total_seconds(), 60, delta=1)
        event.invalidate_recordset()
        self.assertEqual(event.state, "failed")
        # Not due yet: nothing runs.
        self.assertEqual(self.dispatch()["claimed"], 0)

        self.make_due(flaky)
        self.dispatch()
        self.assertEqual(flaky.state, "failed")
        self.assertEqual(flaky.attempt_count, 2)
        self.assertAlmostEqual((flaky.next_attempt_at - now).total_seconds(), 300, delta=1)
        self.assertEqual(noop.attempt_count, 1)

        self.make_due(flaky)
        result = self.dispatch()
        self.assertEqual(result["dead"], 1)
        self.assertEqual(flaky.state, "dead")
        self.assertEqual(flaky.attempt_count, 3)
        self.assertFalse(flaky.next_attempt_at)
        event.invalidate_recordset()
        self.assertEqual(event.state, "dead")
        self.assertEqual(event.retry_count, 2)
        # The workflow's exception handler gets an activity.
        activity_type = self.env.ref("saas_workflow_core.mail_activity_type_dead_letter")
        activities = self.flaky.activity_ids.filtered(lambda a: a.activity_type_id == activity_type)
        self.assertEqual(activities.user_id, self.exception_user)
        self.assertIn("dead letter", activities.summary)
        self.assertEqual(self.workflow.dead_count, 1)

    def test_default_schedule_from_settings(self):
        self.env["ir.config_parameter"].sudo().set_param("saas_workflow_core.retry_schedule", "5")
        self.flaky.retry_schedule = False
        self.set_failing(True)
        event = self.Event.emit("test.core.ping", payload={})
        now = self.env.cr.now()
        self.dispatch()
        flaky = self.deliveries(event).filtered(lambda d: d.subscription_id == self.flaky)
        self.assertEqual(flaky.state, "failed")
        self.assertAlmostEqual((flaky.next_attempt_at - now).total_seconds(), 5, delta=1)
        self.make_due(flaky)
        self.dispatch()
        self.assertEqual(flaky.state, "dead")

    def test_handler_outcomes(self):
        event = self.Event.emit("test.core.ping", payload={})
        self.dispatch()
        delivery = self.deliveries(event)[:1]
        self.assertEqual(delivery._next_state(delivery, PermanentError("gone")), ("dead", None))
        state, delay = delivery._next_state(delivery, RetryableError("busy", retry_after=3600))
        self.assertEqual(state, "failed")
        self.assertGreaterEqual(delay, 3600)

    def test_invalid_retry_schedule_is_refused(self):
        with self.assertRaisesRegex(Exception, "whole seconds"):
            self.flaky.retry_schedule = "10, soon"
        with self.assertRaisesRegex(Exception, "negative"):
            self.flaky.retry_schedule = "-5"

    def kill_flaky(self, count=1):
        self.set_failing(True)
        self.flaky.retry_schedule = "0"
        events = self.Event.browse()
        for i in range(count):
            events |= self.Event.emit("test.core.ping", payload={"n": i})
        self.dispatch()
        self.make_due(self.Delivery.search([("event_id", "in", events.ids)]))
        self.dispatch()
        dead = self.Delivery.search([("event_id", "in", events.ids), ("state", "=", "dead")])
        self.assertEqual(len(dead), count)
        return events, dead

    def test_requeue_single_keeps_event_id(self):
        events, dead = self.kill_flaky()
        public_id = events.public_id
        self.set_failing(False)
        dead.action_requeue()
        self.assertEqual(dead.state, "pending")
        self.assertEqual(dead.attempt_count, 0)
        self.assertEqual(dead.requeue_count, 1)
        events.invalidate_recordset()
        self.assertEqual(events.state, "pending")
        self.dispatch()
        self.assertEqual(dead.state, "done")
        events.invalidate_recordset()
        self.assertEqual(events.state, "done")
        self.assertEqual(events.public_id, public_id)
        self.assertEqual(dead.public_id, public_id)

    def test_requeue_bulk_from_events(self):
        events, dead = self.kill_flaky(count=3)
        self.set_failing(False)
        # Bulk requeue, as from the list view of the events or of the dead letter queue.
        events.action_requeue()
        self.assertEqual(set(dead.mapped("state")), {"pending"})
        self.dispatch()
        self.assertEqual(set(dead.mapped("state")), {"done"})
        self.assertEqual(sorted(dead.mapped("public_id")), sorted(events.mapped("public_id")))

    def test_requeue_needs_manager(self):
        _events, dead = self.kill_flaky()
        user = new_test_user(
            self.env, login="wf_reader", groups="base.group_user,saas_workflow_core.group_workflow_user"
        )
        with self.assertRaises(AccessError):
            dead.with_user(user).action_requeue()
        self.assertEqual(dead.state, "dead")

    def test_lost_worker_claim_is_recovered(self):
        self.flaky.active = False
        event = self.Event.emit("test.core.ping", payload={})
        Delivery = self.Delivery.with_context(saas_workflow_only_subscription_ids=self.scope)
        Delivery._route_events(100)
        claimed = Delivery._claim(100, "worker-that-dies")
        delivery = self.deliveries(event)
        self.assertEqual(claimed, delivery)
        self.assertEqual((delivery.state, delivery.claimed_by), ("running", "worker-that-dies"))
        # While the lease runs, the claim is neither recovered nor claimed again.
        self.assertEqual(self.Delivery._recover_stuck(), 0)
        self.assertEqual(self.dispatch()["claimed"], 0)
        # The worker died: its lease expires.
        self.env.cr.execute(
            "UPDATE saas_workflow_delivery SET lease_until = now() AT TIME ZONE 'UTC' "
            "- interval '1 second' WHERE id = %s",
            (delivery.id,),
        )
        delivery.invalidate_recordset()
        self.Delivery._cron_recover_stuck()
        self.assertEqual(delivery.state, "failed")
        self.assertIn("Worker lost", delivery.last_error)
        self.dispatch()
        self.assertEqual(delivery.state, "done")
        self.assertEqual(delivery.attempt_count, 2)
        event.invalidate_recordset()
        self.assertEqual(event.state, "done")

    def test_server_action_handler_sees_the_event(self):
        action = self.env["ir.actions.server"].create(
            {
                "name": "Tag the partner",
                "model_id": self.env["ir.model"]._get_id("res.partner"),
                "state": "code",
                "code": "record.write({'ref': env.context['saas_workflow_event']['public_id']})",
            }
        )
        self.flaky.write({"action_id": action.id})
        partner = self.env["res.partner"].create({"name": "Target"})
        event = self.Event.emit("test.core.ping", record=partner)
        self.dispatch()
        self.assertEqual(partner.ref, event.public_id)
