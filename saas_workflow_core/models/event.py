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
EMIT_CHUNK = 1000  # rows per INSERT statement of emit_many()


class SaasWorkflowEvent(models.Model):
    """Canonical business event: the transactional outbox and the event log.

    Rows are written by :meth:`emit` / :meth:`emit_many` in the caller's
    transaction with a single ``INSERT``; the dispatcher routes them to
    subscriptions after commit.
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
        # One event per (type, idempotency key): the INSERT in emit_many() relies on it.
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
        return self.emit_many(code, [{
            "record": record,
            "payload": payload,
            "idempotency_key": idempotency_key,
            "correlation_id": correlation_id,
            "causation_id": causation_id,
        }])

    @api.model
    def emit_many(self, code, items):
        """Record a batch of events of type ``code``; return them in the order of ``items``.

        ``items`` is a list of dicts with the keys of :meth:`emit`'s arguments
        (``record``, ``payload``, ``idempotency_key``, ``correlation_id``,
        ``causation_id``). Every item is validated before anything is written:
        one invalid item raises the same ``UserError`` as :meth:`emit` and no
        event is recorded. The batch is written with one multi-row ``INSERT``
        (per 1,000 events) in the caller's transaction, so :meth:`emit`'s
        guarantees hold for the whole batch: visible and dispatched only after
        commit, gone on rollback, and one event per ``(code, idempotency_key)``
        also across concurrent transactions. An item whose key already exists
        (in the database, committed concurrently, or earlier in the same batch)
        yields the existing event, so the result has one entry per item.
        """
        if not isinstance(items, (list, tuple)):
            raise UserError(self.env._("Events to emit must be given as a list."))
        type_id, version = self.env["saas.workflow.event.type"]._get_for_emit(code)
        rows = self._emit_prepare(code, version, items)
        if not rows:
            return self.sudo().browse()
        event_ids = [None] * len(rows)
        to_insert = []   # indexes of the rows to insert
        first_of_key = {}  # idempotency key -> index of its first row in the batch
        for index, row in enumerate(rows):
            key = row["idempotency_key"]
            if key and key in first_of_key:
                continue
            if key:
                first_of_key[key] = index
            to_insert.append(index)
        inserted = self._emit_insert(code, type_id, version, rows, to_insert, bool(first_of_key))
        for index in to_insert:
            event_ids[index] = inserted.get(rows[index]["public_id"])
        if inserted:
            self._wake_dispatcher_on_commit()
        # Keys whose row was not inserted: the event existed before (or was
        # committed concurrently); one query finds the ones this snapshot sees.
        missing = [key for key, index in first_of_key.items() if event_ids[index] is None]
        existing = {}
        if missing:
            self.env.cr.execute(
                "SELECT idempotency_key, id FROM saas_workflow_event "
                "WHERE code = %s AND idempotency_key = ANY(%s)",
                (code, missing),
            )
            existing = dict(self.env.cr.fetchall())
        # Committed concurrently, invisible to this snapshot (repeatable read):
        # read them through a fresh snapshot.
        unseen = [key for key in missing if key not in existing]
        events = self._concurrent_duplicates(code, unseen)
        for key in unseen:
            if key not in events:
                events[key] = self._concurrent_duplicate(code, key)  # raises: not readable
        result = []
        for index, row in enumerate(rows):
            key = row["idempotency_key"]
            if key in events:
                result.append(events[key].id)  # its fields are in this transaction's cache
            elif key:
                result.append(event_ids[first_of_key[key]] or existing[key])
            else:
                result.append(event_ids[index])
        return self.sudo().browse(result)

    @api.model
    def _emit_prepare(self, code, version, items):
        """Validate ``items`` and return the rows to write (nothing is written here)."""
        allowed = {"record", "payload", "idempotency_key", "correlation_id", "causation_id"}
        ctx_event = self.env.context.get("saas_workflow_event") or {}
        rows = []
        for item in items:
            if not isinstance(item, dict):
                raise UserError(self.env._("Each event to emit must be a dictionary."))
            unknown = set(item) - allowed
            if unknown:
                raise UserError(
                    self.env._("Unknown event arguments: %(names)s",
                               names=", ".join(sorted(unknown)))
                )
            record = item.get("record")
            if record is not None and record:
                record.ensure_one()
            else:
                record = None
            payload = item.get("payload")
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
            rows.append({
                "public_id": ids.new_event_id(),
                "record": record,
                "payload": payload_lib.dumps(payload),
                "idempotency_key": str(item["idempotency_key"]) if item.get("idempotency_key") else None,
                "correlation_id": item.get("correlation_id") or ctx_event.get("correlation_id"),
                "causation_id": item.get("causation_id") or ctx_event.get("public_id"),
            })
        companies = self._companies_of([row["record"] for row in rows])
        for row, company_id in zip(rows, companies):
            row["company_id"] = company_id
        return rows

    @api.model
    def _emit_insert(self, code, type_id, version, rows, indexes, keyed):
        """Insert ``rows[i]`` for ``i`` in ``indexes``; return ``{public_id: id}`` of the new rows.

        Rows whose key exists already are skipped by ``ON CONFLICT DO NOTHING``.
        With keys, the batch runs in one savepoint: when a concurrent transaction
        committed one of its keys after this snapshot was taken (repeatable read),
        the keys found committed are left out and the batch is written again.
        """
        if not keyed:
            return self._emit_insert_rows(code, type_id, version, [rows[i] for i in indexes])
        cr = self.env.cr
        pending = [rows[i] for i in indexes]
        while True:
            try:
                with cr.savepoint(flush=False):
                    return self._emit_insert_rows(code, type_id, version, pending, log_exceptions=False)
            except psycopg2.errors.SerializationFailure:
                # A concurrent transaction committed some of these (code, key) after
                # this snapshot: those events are the ones; insert the others.
                keys = [row["idempotency_key"] for row in pending if row["idempotency_key"]]
                committed = self._concurrent_duplicates(code, keys)
                if not committed:
                    raise UserError(
                        self.env._(
                            "Event %(code)s with key %(key)s was emitted concurrently and could "
                            "not be read back; retry the operation.",
                            code=code,
                            key=", ".join(keys),
                        )
                    ) from None
                pending = [row for row in pending if row["idempotency_key"] not in committed]

    @api.model
    def _emit_insert_rows(self, code, type_id, version, rows, log_exceptions=True):
        cr = self.env.cr
        uid = self.env.uid
        now = SQL("now() AT TIME ZONE 'UTC'")
        inserted = {}
        for start in range(0, len(rows), EMIT_CHUNK):
            values = SQL(", ").join(
                SQL(
                    "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'pending', false, %s, %s, %s, %s)",
                    row["public_id"], type_id, code, version, now,
                    row["record"]._name if row["record"] else None,
                    row["record"].id if row["record"] else None,
                    row["company_id"], row["payload"], row["idempotency_key"],
                    row["correlation_id"], row["causation_id"], uid, uid, now, now,
                )
                for row in rows[start:start + EMIT_CHUNK]
            )
            cr.execute(
                SQL(
                    """
                    INSERT INTO saas_workflow_event
                        (public_id, event_type_id, code, version, occurred_at, res_model, res_id,
                         company_id, payload, idempotency_key, correlation_id, causation_id,
                         state, routed, create_uid, write_uid, create_date, write_date)
                    VALUES %s
                    ON CONFLICT (code, idempotency_key) WHERE idempotency_key IS NOT NULL
                    DO NOTHING
                    RETURNING public_id, id
                    """,
                    values,
                ),
                log_exceptions=log_exceptions,
            )
            inserted.update(cr.fetchall())
        return inserted

    @api.model
    def _concurrent_duplicate(self, code, idempotency_key):
        """The event a concurrent transaction committed for ``(code, idempotency_key)``.

        It is read through a new cursor, as this transaction's snapshot cannot see
        it; the returned record carries its identifying fields in cache.
        """
        event = self._concurrent_duplicates(code, [idempotency_key]).get(idempotency_key)
        if event is None:
            raise UserError(
                self.env._(
                    "Event %(code)s with key %(key)s was emitted concurrently and could not be "
                    "read back; retry the operation.",
                    code=code,
                    key=idempotency_key,
                )
            )
        return event

    @api.model
    def _concurrent_duplicates(self, code, idempotency_keys):
        """``{key: event}`` of the keys committed for ``code``, read through a new cursor."""
        cols = ["id", "public_id", "code", "version", "state", "res_model", "res_id",
                "idempotency_key", "correlation_id"]
        if not idempotency_keys:
            return {}
        with self.env.registry.cursor() as other_cr:
            other_cr.execute(
                SQL(
                    "SELECT %s FROM saas_workflow_event WHERE code = %s AND idempotency_key = ANY(%s)",
                    SQL(", ").join(SQL.identifier(col) for col in cols),
                    code,
                    list(idempotency_keys),
                )
            )
            rows = other_cr.fetchall()
        found = {}
        for values in rows:
            event = self.sudo().browse(values[0])
            for col, value in zip(cols[1:], values[1:]):
                self.env.cache.update(event, self._fields[col], [value])
            found[values[7]] = event
        return found

    @api.model
    def _default_payload(self, record):
        if not record:
            return {}
        return {"id": record.id, "model": record._name, "display_name": record.display_name}

    @api.model
    def _company_of(self, record):
        return self._companies_of([record])[0]

    @api.model
    def _companies_of(self, records):
        """The company id of each event source in ``records`` (records or ``None``).

        The source's own company when it has one, else the current company;
        sources of one model are read together.
        """
        default = self.env.company.id
        by_model = {}
        for record in records:
            if (record and "company_id" in record._fields
                    and record._fields["company_id"].type == "many2one"):
                by_model.setdefault(record._name, []).append(record)
        companies = {}
        for model_name, sources in by_model.items():
            if len(sources) == 1:
                # A single source keeps its own prefetch set: emitting in a loop over a
                # recordset reads the companies of the whole recordset once.
                sources = sources[0].sudo()
            else:
                # One browse over all ids: the first read prefetches the others.
                sources = self.env[model_name].sudo().browse([s.id for s in sources])
            for source in sources:
                companies[model_name, source.id] = source.company_id.id
        return [
            (companies.get((record._name, record.id)) if record else None) or default
            for record in records
        ]

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
