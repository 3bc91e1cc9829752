import json
import logging

import psycopg2.errors
import pydantic

from odoo import api, fields, models, tools
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from ..lib import ids, schemas
from ..lib import payload as payload_lib

_logger = logging.getLogger(__name__)

EVENT_STATES = [
    ("pending", "Pending"),
    ("done", "Done"),
    ("failed", "Failed (retrying)"),
    ("dead", "Dead"),
]


class SaasWorkflowEvent(models.Model):
    """Canonical business event: the transactional outbox and the event log.

    Rows are written by :meth:`emit` in the caller's transaction with a single
    ``INSERT``; the dispatcher routes them to subscriptions after commit.
    """

    _name = "saas.workflow.event"
    _description = "Business Event"
    _order = "id desc"
    _rec_name = "public_id"
    _check_company_auto = True

    public_id = fields.Char(string="Event ID", readonly=True, required=True, index=True, copy=False)
    event_type_id = fields.Many2one(
        "saas.workflow.event.type", string="Type", required=True, readonly=True, index=True,
        ondelete="restrict",
    )
    code = fields.Char(readonly=True, required=True)
    version = fields.Integer(readonly=True, required=True, default=1)
    occurred_at = fields.Datetime(readonly=True, required=True, default=fields.Datetime.now)
    res_model = fields.Char(string="Source Model", readonly=True, index=True)
    res_id = fields.Many2oneReference(string="Source Record", model_field="res_model", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True, index=True)
    payload = fields.Json(
        string="Payload Data", readonly=True, groups="saas_workflow_core.group_workflow_manager"
    )
    payload_preview = fields.Text(
        compute="_compute_payload_preview",
        string="Payload",
        help="Shown only to users allowed to read the source record.",
    )
    idempotency_key = fields.Char(readonly=True, copy=False)
    correlation_id = fields.Char(readonly=True, index="btree_not_null")
    causation_id = fields.Char(readonly=True)
    state = fields.Selection(EVENT_STATES, default="pending", required=True, readonly=True, index=True)
    routed = fields.Boolean(readonly=True, default=False, help="Subscriptions have been matched.")
    delivery_ids = fields.One2many("saas.workflow.delivery", "event_id", readonly=True)
    delivery_count = fields.Integer(compute="_compute_delivery_stats")
    attempt_count = fields.Integer(compute="_compute_delivery_stats", string="Attempts")
    next_attempt_at = fields.Datetime(compute="_compute_delivery_stats")
    last_error = fields.Text(compute="_compute_delivery_stats")
    done_at = fields.Datetime(readonly=True)
    latency_ms = fields.Integer(
        string="Emit to Done (ms)", readonly=True, aggregator="avg",
        help="Time from the event's occurrence to its last successful delivery.",
    )
    retry_count = fields.Integer(
        readonly=True, aggregator="sum", help="Attempts beyond the first, over all deliveries."
    )

    _sql_constraints = [
        ("public_id_uniq", "unique(public_id)", "Event ids are never reused."),
    ]

    def init(self):
        cr = self.env.cr
        # One event per (type, idempotency key): the INSERT in emit() relies on it.
        cr.execute(
            "CREATE UNIQUE INDEX IF NOT EXISTS saas_workflow_event_idem_uniq "
            "ON saas_workflow_event (code, idempotency_key) WHERE idempotency_key IS NOT NULL"
        )
        # The router only ever looks at events not routed yet: keep that scan tiny.
        tools.create_index(
            cr, "saas_workflow_event_unrouted_idx", self._table, ["id"], where="routed IS NOT TRUE"
        )
        tools.create_index(
            cr, "saas_workflow_event_res_idx", self._table, ["res_model", "res_id"]
        )
        tools.create_index(
            cr, "saas_workflow_event_occurred_idx", self._table, ["occurred_at"]
        )

    # ------------------------------------------------------------------
    # Emission API
    # ------------------------------------------------------------------
    @api.model
    def emit(self, code, record=None, payload=None, idempotency_key=None,
             correlation_id=None, causation_id=None):
        """Record a business event in the current transaction and return it.

        One ``INSERT``, no network I/O: the event becomes visible (and is
        dispatched) only when the caller's transaction commits, and disappears
        with it on rollback. The same ``(code, idempotency_key)`` always yields
        one event, also across concurrent transactions (unique index plus
        ``INSERT ... ON CONFLICT DO NOTHING`` in a savepoint). When a concurrent
        transaction committed the same key first, its event is returned and no
        error reaches the caller.
        """
        type_id, version = self.env["saas.workflow.event.type"]._get_for_emit(code)
        if record is not None and record:
            record.ensure_one()
        if payload is None:
            payload = self._default_payload(record)
        elif not isinstance(payload, dict):
            raise UserError(self.env._("An event payload must be a dictionary."))
        try:
            payload = schemas.validate(code, version, payload)
            payload = payload_lib.normalize(payload)
        except (payload_lib.PayloadError, pydantic.ValidationError) as exc:
            raise UserError(
                self.env._("Invalid payload for event %(code)s: %(error)s", code=code, error=exc)
            ) from exc
        ctx_event = self.env.context.get("saas_workflow_event")
        if ctx_event:
            causation_id = causation_id or ctx_event.get("public_id")
            correlation_id = correlation_id or ctx_event.get("correlation_id")
        company_id = self._company_of(record)
        uid = self.env.uid
        cr = self.env.cr
        query = SQL(
            """
            INSERT INTO saas_workflow_event
                (public_id, event_type_id, code, version, occurred_at, res_model, res_id,
                 company_id, payload, idempotency_key, correlation_id, causation_id,
                 state, routed, create_uid, write_uid, create_date, write_date)
            VALUES (%s, %s, %s, %s, now() AT TIME ZONE 'UTC', %s, %s, %s, %s, %s, %s, %s,
                    'pending', false, %s, %s, now() AT TIME ZONE 'UTC',
                    now() AT TIME ZONE 'UTC')
            ON CONFLICT (code, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            RETURNING id
            """,
            ids.new_event_id(), type_id, code, version,
            record._name if record else None, record.id if record else None,
            company_id, payload_lib.dumps(payload), idempotency_key or None,
            correlation_id, causation_id, uid, uid,
        )
        if not idempotency_key:
            cr.execute(query)
            self._wake_dispatcher_on_commit()
            return self.sudo().browse(cr.fetchone()[0])
        try:
            with cr.savepoint(flush=False):
                cr.execute(query, log_exceptions=False)
                row = cr.fetchone()
        except psycopg2.errors.SerializationFailure:
            # A concurrent transaction committed the same (code, key) after this
            # transaction's snapshot was taken: that event is the one.
            return self._concurrent_duplicate(code, idempotency_key)
        if row:
            self._wake_dispatcher_on_commit()
            return self.sudo().browse(row[0])
        cr.execute(
            "SELECT id FROM saas_workflow_event WHERE code = %s AND idempotency_key = %s",
            (code, idempotency_key),
        )
        found = cr.fetchone()
        if not found:
            # Committed concurrently under read committed, invisible to the SELECT's snapshot
            # only in repeatable read: fall back to a fresh snapshot.
            return self._concurrent_duplicate(code, idempotency_key)
        return self.sudo().browse(found[0])

    @api.model
    def _concurrent_duplicate(self, code, idempotency_key):
        """The event a concurrent transaction committed for ``(code, idempotency_key)``.

        It is read through a new cursor, as this transaction's snapshot cannot see
        it; the returned record carries its identifying fields in cache.
        """
        cols = ["id", "public_id", "code", "version", "state", "res_model", "res_id",
                "idempotency_key", "correlation_id"]
        with self.env.registry.cursor() as other_cr:
            other_cr.execute(
                SQL(
                    "SELECT %s FROM saas_workflow_event WHERE code = %s AND idempotency_key = %s",
                    SQL(", ").join(SQL.identifier(col) for col in cols),
                    code,
                    idempotency_key,
                )
            )
            values = other_cr.fetchone()
        if not values:
            raise UserError(
                self.env._(
                    "Event %(code)s with key %(key)s was emitted concurrently and could not be "
                    "read back; retry the operation.",
                    code=code,
                    key=idempotency_key,
                )
            )
        event = self.sudo().browse(values[0])
        for col, value in zip(cols[1:], values[1:]):
            self.env.cache.update(event, self._fields[col], [value])
        return event

    @api.model
    def _default_payload(self, record):
        if not record:
            return {}
        return {"id": record.id, "model": record._name, "display_name": record.display_name}

    @api.model
    def _company_of(self, record):
        if record and "company_id" in record._fields and record._fields["company_id"].type == "many2one":
            company = record.sudo().company_id
            if company:
                return company.id
        return self.env.company.id

    @api.model
    def _wake_dispatcher_on_commit(self):
        """Wake the dispatcher cron once per transaction, right after commit.

        No new wake-up is requested while one is already pending.
        """
        data = self.env.cr.precommit.data
        if data.get("saas_workflow_wake"):
            return
        data["saas_workflow_wake"] = True

        def wake():
            cron_id = self.env["ir.model.data"]._xmlid_to_res_id(
                "saas_workflow_core.ir_cron_dispatch", raise_if_not_found=False
            )
            if not cron_id:
                return
            cron = self.env["ir.cron"].browse(cron_id)
            # A wake-up already due and not consumed yet covers this commit too: the
            # dispatcher runs until no work is left. This saves a trigger row and a
            # notification transaction per business transaction under load.
            self.env.cr.execute(
                """
                SELECT 1 FROM ir_cron_trigger
                 WHERE cron_id = %s AND call_at <= clock_timestamp() AT TIME ZONE 'UTC'
                 LIMIT 1
                """,
                (cron_id,),
            )
            if not self.env.cr.fetchone():
                cron.sudo()._trigger()

        self.env.cr.precommit.add(wake)

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------
    def _get_record(self):
        """The source record, or an empty recordset when it is gone."""
        self.ensure_one()
        if not self.res_model or self.res_model not in self.env:
            return self.browse()
        return self.env[self.res_model].browse(self.res_id).exists()

    def _as_context(self):
        """What handlers find in ``env.context['saas_workflow_event']``."""
        self.ensure_one()
        event = self.sudo()
        return {
            "id": event.id,
            "public_id": event.public_id,
            "code": event.code,
            "version": event.version,
            "res_model": event.res_model,
            "res_id": event.res_id,
            "company_id": event.company_id.id,
            "correlation_id": event.correlation_id or event.public_id,
            "occurred_at": fields.Datetime.to_string(event.occurred_at),
            "payload": event.payload,
        }

    @api.depends("res_model", "res_id")
    def _compute_payload_preview(self):
        is_manager = self.env.user.has_group("saas_workflow_core.group_workflow_manager")
        for event in self:
            allowed = is_manager
            if not allowed and event.res_model and event.res_model in self.env and event.res_id:
                try:
                    self.env[event.res_model].browse(event.res_id).check_access("read")
                    allowed = True
                except AccessError:
                    allowed = False
            event.payload_preview = (
                json.dumps(event.sudo().payload, indent=2, sort_keys=True, ensure_ascii=False)
                if allowed
                else self.env._("(hidden: you may not read the source record)")
            )

    @api.depends("delivery_ids.state", "delivery_ids.attempt_count")
    def _compute_delivery_stats(self):
        for event in self:
            deliveries = event.delivery_ids
            event.delivery_count = len(deliveries)
            event.attempt_count = sum(deliveries.mapped("attempt_count"))
            due = [d.next_attempt_at for d in deliveries if d.state in ("pending", "failed") and d.next_attempt_at]
            event.next_attempt_at = min(due) if due else False
            errors = [d.last_error for d in deliveries if d.last_error and d.state != "done"]
            event.last_error = errors[0] if errors else False

    def action_open_source(self):
        self.ensure_one()
        record = self._get_record()
        if not record:
            raise UserError(self.env._("The source record no longer exists."))
        return {
            "type": "ir.actions.act_window",
            "res_model": record._name,
            "res_id": record.id,
            "view_mode": "form",
        }

    def action_requeue(self):
        """Requeue the failed or dead deliveries of these events (same event ids)."""
        self.env["saas.workflow.delivery"]._check_manager()
        deliveries = self.sudo().delivery_ids.filtered(lambda d: d.state in ("dead", "failed"))
        return deliveries.action_requeue()

    # ------------------------------------------------------------------
    # State bookkeeping (used by the dispatcher)
    # ------------------------------------------------------------------
    @api.model
    def _refresh_states(self, event_ids):
        """Recompute the state of events from their deliveries, in one statement."""
        if not event_ids:
            return
        self.env.cr.execute(
            """
            UPDATE saas_workflow_event e
               SET state = s.new_state,
                   done_at = CASE WHEN s.new_state = 'done' THEN s.last_done ELSE NULL END,
                   latency_ms = CASE WHEN s.new_state = 'done'
                       THEN (EXTRACT(EPOCH FROM (s.last_done - e.occurred_at)) * 1000)::int
                       ELSE NULL END,
                   retry_count = s.retries,
                   write_date = now() AT TIME ZONE 'UTC'
              FROM (
                SELECT d.event_id,
                       CASE WHEN bool_or(d.state = 'dead') THEN 'dead'
                            WHEN bool_or(d.state = 'failed') THEN 'failed'
                            WHEN bool_and(d.state IN ('done', 'cancelled')) THEN 'done'
                            ELSE 'pending' END AS new_state,
                       max(d.done_at) AS last_done,
                       sum(GREATEST(d.attempt_count - 1, 0)) AS retries
                  FROM saas_workflow_delivery d
                 WHERE d.event_id = ANY(%s)
                 GROUP BY d.event_id
              ) s
             WHERE e.id = s.event_id AND e.state IS DISTINCT FROM s.new_state
                OR e.id = s.event_id AND e.retry_count IS DISTINCT FROM s.retries
            """,
            (list(event_ids),),
        )
        self.invalidate_model(["state", "done_at", "latency_ms", "retry_count"])

    @api.model
    def _gc_done_events(self):
        """Retention: delete ``done`` events older than the configured number of days.

        Failed and dead events are never deleted here.
        """
        days = int(
            self.env["ir.config_parameter"].sudo().get_param("saas_workflow_core.retention_days", 30)
        )
        if days <= 0:
            return 0
        self.env.cr.execute(
            """
            DELETE FROM saas_workflow_event
             WHERE id IN (SELECT id FROM saas_workflow_event
                           WHERE state = 'done'
                             AND occurred_at < (now() AT TIME ZONE 'UTC') - %s * interval '1 day'
                           LIMIT 10000)
            """,
            (days,),
        )
        deleted = self.env.cr.rowcount
        if deleted:
            _logger.info("Retention: deleted %d done events older than %d days", deleted, days)
        return deleted

    def _cron_retention(self):
        while self._gc_done_events() >= 10000:
            # Cron: commit each deleted chunk so a large backlog never holds one huge transaction.
            self.env.cr.commit()  # pylint: disable=invalid-commit
