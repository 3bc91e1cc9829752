import datetime
import logging
import os
import socket
import time
import traceback
from collections import defaultdict

from odoo import api, fields, models
from odoo.exceptions import AccessError
from odoo.tools import SQL

from ..lib import backoff
from ..lib.errors import PermanentError, RetryableError

_logger = logging.getLogger(__name__)

DELIVERY_STATES = [
    ("pending", "Pending"),
    ("running", "Running"),
    ("done", "Done"),
    ("failed", "Failed (will retry)"),
    ("dead", "Dead"),
]
MAX_ERROR = 4000


class SaasWorkflowDelivery(models.Model):
    """One subscription's handling of one event, with its own retry state."""

    _name = "saas.workflow.delivery"
    _description = "Event Delivery"
    _order = "id desc"
    _rec_name = "event_id"

    event_id = fields.Many2one(
        "saas.workflow.event", required=True, readonly=True, ondelete="cascade", index=True
    )
    subscription_id = fields.Many2one(
        "saas.workflow.subscription", required=True, readonly=True, ondelete="restrict", index=True
    )
    public_id = fields.Char(related="event_id.public_id", string="Event ID")
    event_type_id = fields.Many2one("saas.workflow.event.type", readonly=True, index=True)
    workflow_id = fields.Many2one("saas.workflow", readonly=True, index="btree_not_null")
    company_id = fields.Many2one("res.company", readonly=True, index=True)
    handler_type = fields.Selection(related="subscription_id.handler_type")
    state = fields.Selection(DELIVERY_STATES, default="pending", required=True, readonly=True)
    attempt_count = fields.Integer(readonly=True, aggregator="sum")
    next_attempt_at = fields.Datetime(readonly=True)
    last_attempt_at = fields.Datetime(readonly=True)
    lease_until = fields.Datetime(readonly=True, help="A claim older than this is recovered.")
    claimed_by = fields.Char(readonly=True)
    last_error = fields.Text(readonly=True)
    note = fields.Char(readonly=True, help="What the handler reported on success.")
    done_at = fields.Datetime(readonly=True)
    duration_ms = fields.Integer(readonly=True, aggregator="avg", string="Handler Time (ms)")
    requeue_count = fields.Integer(readonly=True)

    _sql_constraints = [
        (
            "event_subscription_uniq",
            "unique(event_id, subscription_id)",
            "An event is delivered once per subscription.",
        ),
    ]

    def init(self):
        # Claims only ever look at due work: a partial index keeps them fast
        # however many finished deliveries the table holds.
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS saas_workflow_delivery_due_idx "
            "ON saas_workflow_delivery (next_attempt_at, id) "
            "WHERE state IN ('pending', 'failed')"
        )
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS saas_workflow_delivery_running_idx "
            "ON saas_workflow_delivery (lease_until) WHERE state = 'running'"
        )

    # ------------------------------------------------------------------
    # Settings
    # ------------------------------------------------------------------
    def _param(self, key, default):
        return self.env["ir.config_parameter"].sudo().get_param(f"saas_workflow_core.{key}", default)

    @api.model
    def _default_schedule(self):
        text = self._param("retry_schedule", "")
        try:
            return backoff.parse_schedule(text)
        except ValueError:
            _logger.warning("Invalid default retry schedule %r, using the built-in one", text)
            return backoff.DEFAULT_SCHEDULE

    # ------------------------------------------------------------------
    # Dispatcher
    # ------------------------------------------------------------------
    @api.model
    def _dispatch(self, limit=None, commit=False, worker=None):
        """Route new events, then run one batch of due deliveries.

        With ``commit=False`` (tests, or a caller that owns the transaction)
        everything happens in the current transaction. With ``commit=True``
        (the cron), the claim is committed first so that a worker that dies
        while running handlers leaves rows in ``running`` with an expiring lease
        (recovered by :meth:`_recover_stuck`), and the results are committed at
        the end of the batch.

        Returns a dict of counts: routed, claimed, done, failed, dead.
        """
        limit = limit or int(self._param("batch_size", 200))
        worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        cr = self.env.cr
        if commit:
            # The dispatcher owns its transactions (cron or benchmark worker):
            # claims must be visible to other workers before handlers run.
            cr.commit()  # pylint: disable=invalid-commit
            cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        routed = self._route_events(limit)
        claimed = self._claim(limit, worker)
        if commit:
            # Commit the claim: a worker dying from here on leaves an expiring lease.
            cr.commit()  # pylint: disable=invalid-commit
        result = {"routed": routed, "claimed": len(claimed), "done": 0, "failed": 0, "dead": 0}
        if claimed:
            result.update(claimed._run_claimed())
            if commit:
                # Event states are refreshed in a short read-committed transaction:
                # two workers finishing deliveries of one event then never conflict.
                cr.commit()  # pylint: disable=invalid-commit
                cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            self.env["saas.workflow.event"]._refresh_states(set(claimed.event_id.ids))
        if commit:
            # End of the batch: the results become durable.
            cr.commit()  # pylint: disable=invalid-commit
        return result

    @api.model
    def _route_events(self, limit):
        """Create one delivery per matching subscription for events not routed yet."""
        cr = self.env.cr
        cr.execute(
            """
            SELECT id, event_type_id, res_model, res_id, company_id
              FROM saas_workflow_event
             WHERE routed IS NOT TRUE
             ORDER BY id
             LIMIT %s
               FOR UPDATE SKIP LOCKED
            """,
            (limit,),
        )
        rows = cr.fetchall()
        if not rows:
            return 0
        subs_by_type = defaultdict(list)
        type_ids = list({row[1] for row in rows})
        subs = self.env["saas.workflow.subscription"].sudo().search(
            [("event_type_ids", "in", type_ids)]
        )
        for sub in subs:
            for etype in sub.event_type_ids:
                subs_by_type[etype.id].append(sub)
        # Domain filters are evaluated with one search per (subscription, model).
        matches = {}
        for sub in subs.filtered("filter_domain"):
            res_by_model = defaultdict(list)
            for _eid, tid, model, res_id, _cid in rows:
                if sub in subs_by_type[tid] and model and res_id and model in self.env:
                    res_by_model[model].append(res_id)
            domain = sub._get_domain()
            for model, res_ids in res_by_model.items():
                found = self.env[model].sudo().with_context(active_test=False).search(
                    [("id", "in", res_ids), *domain]
                )
                matches[(sub.id, model)] = set(found.ids)
        event_ids, sub_ids, wf_ids, type_col, company_col, no_target = [], [], [], [], [], []
        for eid, tid, model, res_id, cid in rows:
            targeted = False
            for sub in subs_by_type.get(tid, ()):
                if sub.company_id and sub.company_id.id != cid:
                    continue
                if sub.filter_domain and res_id not in matches.get((sub.id, model), ()):
                    continue
                event_ids.append(eid)
                sub_ids.append(sub.id)
                wf_ids.append(sub.workflow_id.id or None)
                type_col.append(tid)
                company_col.append(cid)
                targeted = True
            if not targeted:
                no_target.append(eid)
        if event_ids:
            cr.execute(
                """
                INSERT INTO saas_workflow_delivery
                    (event_id, subscription_id, workflow_id, event_type_id, company_id, state,
                     attempt_count, requeue_count, next_attempt_at,
                     create_uid, write_uid, create_date, write_date)
                SELECT e, s, w, t, c, 'pending', 0, 0, now() AT TIME ZONE 'UTC',
                       %s, %s, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
                  FROM unnest(%s::int[], %s::int[], %s::int[], %s::int[], %s::int[])
                       AS v(e, s, w, t, c)
                ON CONFLICT (event_id, subscription_id) DO NOTHING
                """,
                (self.env.uid, self.env.uid, event_ids, sub_ids, wf_ids, type_col, company_col),
            )
        cr.execute(
            """
            UPDATE saas_workflow_event
               SET routed = true,
                   state = CASE WHEN id = ANY(%s) THEN 'done' ELSE state END,
                   done_at = CASE WHEN id = ANY(%s) THEN now() AT TIME ZONE 'UTC' ELSE done_at END
             WHERE id = ANY(%s)
            """,
            (no_target, no_target, [row[0] for row in rows]),
        )
        self.env["saas.workflow.event"].invalidate_model(["routed", "state", "done_at"])
        return len(rows)

    @api.model
    def _claim(self, limit, worker):
        """Claim due deliveries: no two workers ever get the same row.

        The context key ``saas_workflow_only_subscription_ids`` (a list of ids)
        restricts the claim to those subscriptions, e.g. to drain one of them.
        """
        lease = int(self._param("lease_seconds", 600))
        only = self.env.context.get("saas_workflow_only_subscription_ids")
        only = [int(i) for i in only] if only else None
        self.env.cr.execute(
            """
            UPDATE saas_workflow_delivery d
               SET state = 'running',
                   attempt_count = d.attempt_count + 1,
                   last_attempt_at = now() AT TIME ZONE 'UTC',
                   lease_until = now() AT TIME ZONE 'UTC' + %s * interval '1 second',
                   claimed_by = %s
             WHERE d.id IN (
                    SELECT q.id
                      FROM saas_workflow_delivery q
                      JOIN saas_workflow_subscription s ON s.id = q.subscription_id
                     WHERE q.state IN ('pending', 'failed')
                       AND q.next_attempt_at <= now() AT TIME ZONE 'UTC'
                       AND s.active
                       AND (%s::int[] IS NULL OR q.subscription_id = ANY(%s::int[]))
                     ORDER BY q.next_attempt_at, q.id
                     LIMIT %s
                       FOR UPDATE OF q SKIP LOCKED)
            RETURNING d.id
            """,
            (lease, worker, only, only, limit),
        )
        ids = sorted(row[0] for row in self.env.cr.fetchall())
        self.invalidate_model()
        return self.browse(ids)

    def _run_claimed(self):
        """Run the handlers of claimed deliveries (``self``), each in a savepoint."""
        cr = self.env.cr
        done_ids, done_ms, done_notes = [], [], []
        failures = []  # (delivery, exception)
        events = self.event_id
        events.fetch(["public_id", "code", "version", "res_model", "res_id", "company_id",
                      "correlation_id", "occurred_at"])
        for delivery in self:
            event = delivery.event_id
            sub = delivery.subscription_id
            started = time.perf_counter()
            try:
                if sub._handler_needs_savepoint(delivery):
                    handler_sub = sub.with_context(saas_workflow_event=event._as_context())
                    with cr.savepoint():
                        note = handler_sub._run_handler(event.with_env(handler_sub.env), delivery)
                else:
                    note = sub._run_handler(event, delivery)
            except Exception as exc:
                _logger.info(
                    "Delivery %s of %s to %r failed: %s", delivery.id, event.public_id, sub.name, exc
                )
                failures.append((delivery, exc))
                continue
            done_ids.append(delivery.id)
            done_ms.append(int((time.perf_counter() - started) * 1000))
            done_notes.append(str(note)[:255] if note else None)
        if done_ids:
            cr.execute(
                """
                UPDATE saas_workflow_delivery d
                   SET state = 'done', done_at = now() AT TIME ZONE 'UTC', lease_until = NULL,
                       next_attempt_at = NULL, duration_ms = v.ms, note = v.note,
                       write_date = now() AT TIME ZONE 'UTC'
                  FROM unnest(%s::int[], %s::int[], %s::varchar[]) AS v(id, ms, note)
                 WHERE d.id = v.id
                """,
                (done_ids, done_ms, done_notes),
            )
        counts = {"done": len(done_ids), "failed": 0, "dead": 0}
        dead = self.browse()
        next_times = []
        for delivery, exc in failures:
            state, delay = self._next_state(delivery, exc)
            error = self._format_error(exc)
            cr.execute(
                """
                UPDATE saas_workflow_delivery
                   SET state = %s, last_error = %s, lease_until = NULL,
                       next_attempt_at = CASE WHEN %s::float IS NULL THEN NULL
                           ELSE now() AT TIME ZONE 'UTC' + %s::float * interval '1 second' END,
                       write_date = now() AT TIME ZONE 'UTC'
                 WHERE id = %s
                """,
                (state, error, delay, delay, delivery.id),
            )
            counts[state] += 1
            if state == "dead":
                dead |= delivery
            elif delay is not None:
                next_times.append(delay)
        self.invalidate_model()
        if dead:
            dead._notify_dead()
        if next_times:
            self._wake_at(min(next_times))
        return counts

    def _next_state(self, delivery, exc):
        if isinstance(exc, PermanentError):
            return "dead", None
        schedule = delivery.subscription_id._get_schedule()
        retry_after = exc.retry_after if isinstance(exc, RetryableError) else None
        delay = backoff.next_delay(
            schedule, delivery.attempt_count, delivery.subscription_id.jitter, retry_after
        )
        if delay is None:
            return "dead", None
        return "failed", delay

    @api.model
    def _format_error(self, exc):
        if isinstance(exc, (RetryableError, PermanentError)):
            text = f"{type(exc).__name__}: {exc}"
        else:
            text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return text[:MAX_ERROR]

    @api.model
    def _wake_at(self, delay_seconds):
        cron = self.env.ref("saas_workflow_core.ir_cron_dispatch", raise_if_not_found=False)
        if cron:
            at = fields.Datetime.now() + datetime.timedelta(seconds=delay_seconds)
            cron.sudo()._trigger(at=at)

    def _notify_dead(self):
        """Give the exception owner an activity per subscription with dead deliveries."""
        activity_type = self.env.ref(
            "saas_workflow_core.mail_activity_type_dead_letter", raise_if_not_found=False
        )
        if not activity_type:
            return
        for sub, deliveries in self.grouped("subscription_id").items():
            sub = sub.sudo()
            user = (
                sub.workflow_id._exception_user() if sub.workflow_id else sub.owner_id
            ) or self.env.ref("base.user_admin", raise_if_not_found=False)
            if not user:
                continue
            existing = sub.activity_ids.filtered(
                lambda a, u=user: a.activity_type_id == activity_type and a.user_id == u
            )
            summary = self.env._(
                "%(count)s delivery(ies) of %(name)s in the dead letter queue",
                count=len(deliveries),
                name=sub.name,
            )
            note = self.env._(
                "Last error: %(error)s", error=(deliveries[:1].last_error or "")[:500]
            )
            if existing:
                existing[:1].write({"summary": summary, "note": note})
            else:
                sub.activity_schedule(
                    "saas_workflow_core.mail_activity_type_dead_letter",
                    user_id=user.id,
                    summary=summary,
                    note=note,
                )

    @api.model
    def _recover_stuck(self):
        """Release claims whose worker died: their lease ran out while ``running``."""
        cr = self.env.cr
        cr.execute(
            """
            SELECT d.id FROM saas_workflow_delivery d
             WHERE d.state = 'running' AND d.lease_until < now() AT TIME ZONE 'UTC'
               FOR UPDATE SKIP LOCKED
            """
        )
        stuck = self.browse([row[0] for row in cr.fetchall()])
        if not stuck:
            return 0
        dead = self.browse()
        for delivery in stuck:
            exc = RetryableError("Worker lost during the attempt (lease expired)")
            state, delay = self._next_state(delivery, exc)
            # A lost worker is retried at once when retries remain.
            cr.execute(
                """
                UPDATE saas_workflow_delivery
                   SET state = %s, last_error = %s, lease_until = NULL,
                       next_attempt_at = CASE WHEN %s = 'dead' THEN NULL
                                              ELSE now() AT TIME ZONE 'UTC' END
                 WHERE id = %s
                """,
                (state, self._format_error(exc), state, delivery.id),
            )
            if state == "dead":
                dead |= delivery
        self.invalidate_model()
        self.env["saas.workflow.event"]._refresh_states(set(stuck.event_id.ids))
        if dead:
            dead._notify_dead()
        _logger.warning("Recovered %d deliveries from lost workers", len(stuck))
        return len(stuck)

    # ------------------------------------------------------------------
    # Cron entry points
    # ------------------------------------------------------------------
    @api.model
    def _cron_dispatch(self, budget_seconds=None):
        budget = float(budget_seconds or self._param("cron_budget_seconds", 50))
        deadline = time.monotonic() + budget
        totals = defaultdict(int)
        while True:
            result = self._dispatch(commit=True)
            for key, value in result.items():
                totals[key] += value
            if not result["claimed"] and not result["routed"]:
                break
            if time.monotonic() > deadline:
                self.env.ref("saas_workflow_core.ir_cron_dispatch")._trigger()
                break
        return dict(totals)

    @api.model
    def _cron_recover_stuck(self):
        self._recover_stuck()
        # Events whose state could not be refreshed (concurrent workers) are reconciled here.
        self.env.cr.execute(
            """
            SELECT DISTINCT d.event_id FROM saas_workflow_delivery d
              JOIN saas_workflow_event e ON e.id = d.event_id
             WHERE e.state IN ('pending', 'failed') AND e.routed
               AND d.write_date > now() AT TIME ZONE 'UTC' - interval '1 day'
            """
        )
        self.env["saas.workflow.event"]._refresh_states({row[0] for row in self.env.cr.fetchall()})

    # ------------------------------------------------------------------
    # User actions
    # ------------------------------------------------------------------
    @api.model
    def _check_manager(self):
        if not self.env.user.has_group("saas_workflow_core.group_workflow_manager"):
            raise AccessError(self.env._("Only workflow managers can requeue deliveries."))

    def action_requeue(self):
        """Put dead or failed deliveries back in the queue; their event id is kept."""
        self._check_manager()
        todo = self.sudo().filtered(lambda d: d.state in ("dead", "failed"))
        if not todo:
            return False
        self.env.cr.execute(
            SQL(
                """
                UPDATE saas_workflow_delivery
                   SET state = 'pending', attempt_count = 0, lease_until = NULL,
                       next_attempt_at = now() AT TIME ZONE 'UTC',
                       requeue_count = requeue_count + 1,
                       write_uid = %s, write_date = now() AT TIME ZONE 'UTC'
                 WHERE id = ANY(%s)
                """,
                self.env.uid,
                todo.ids,
            )
        )
        todo.invalidate_recordset()
        self.env["saas.workflow.event"]._refresh_states(set(todo.event_id.ids))
        self.env["saas.workflow.event"]._wake_dispatcher_on_commit()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": self.env._("%(count)s delivery(ies) requeued.", count=len(todo)),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
