from odoo import api, fields, models
from odoo.tools import SQL

OUTCOMES = [
    ("success", "Success"),
    ("retry", "Failed, will retry"),
    ("failed", "Failed (permanent)"),
    ("disabled", "Gone: endpoint disabled"),
    ("blocked", "Refused target"),
    ("circuit_open", "Circuit open (not called)"),
]


class SaasWebhookAttempt(models.Model):
    """One HTTP attempt of one delivery (the log behind retries and health)."""

    _name = "saas.webhook.attempt"
    _description = "Webhook Delivery Attempt"
    _order = "attempted_at desc, id desc"
    _rec_name = "webhook_id"
    _log_access = False

    endpoint_id = fields.Many2one(
        "saas.webhook.endpoint", required=True, ondelete="cascade", index=True, readonly=True
    )
    delivery_id = fields.Many2one(
        "saas.workflow.delivery", ondelete="cascade", index=True, readonly=True
    )
    event_id = fields.Many2one("saas.workflow.event", ondelete="cascade", readonly=True)
    event_type_id = fields.Many2one(related="event_id.event_type_id", string="Event Type")
    webhook_id = fields.Char(string="Webhook ID", readonly=True, index=True)
    attempt_no = fields.Integer(string="Attempt", readonly=True)
    attempted_at = fields.Datetime(readonly=True, required=True, default=fields.Datetime.now)
    status_code = fields.Integer(readonly=True, aggregator=None)
    latency_ms = fields.Integer(string="Latency (ms)", readonly=True, aggregator="avg")
    response_excerpt = fields.Text(string="Response (first 1 KB)", readonly=True)
    error = fields.Text(readonly=True)
    outcome = fields.Selection(OUTCOMES, readonly=True, required=True, index=True)
    called = fields.Boolean(
        readonly=True, default=True, help="The receiver was contacted (not refused, not short-circuited)."
    )
    is_failure = fields.Boolean(compute="_compute_is_failure", store=True)
    next_attempt_at = fields.Datetime(readonly=True)
    company_id = fields.Many2one("res.company", readonly=True, index=True)
    attempt_count = fields.Integer(string="Attempts", compute="_compute_counters", store=True, aggregator="sum")
    failure_count = fields.Integer(string="Failures", compute="_compute_counters", store=True, aggregator="sum")

    def init(self):
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS saas_webhook_attempt_endpoint_time_idx "
            "ON saas_webhook_attempt (endpoint_id, attempted_at)"
        )

    _LOG_COLUMNS = (
        "endpoint_id", "delivery_id", "event_id", "webhook_id", "attempt_no", "attempted_at",
        "status_code", "latency_ms", "response_excerpt", "error", "outcome", "called",
        "next_attempt_at", "company_id",
    )

    _LOG_TYPES = {
        "endpoint_id": "int4", "delivery_id": "int4", "event_id": "int4", "webhook_id": "varchar",
        "attempt_no": "int4", "attempted_at": "timestamp", "status_code": "int4", "latency_ms": "int4",
        "response_excerpt": "text", "error": "text", "outcome": "varchar", "called": "bool",
        "next_attempt_at": "timestamp", "company_id": "int4", "is_failure": "bool",
        "attempt_count": "int4", "failure_count": "int4",
    }

    @api.model
    def _insert_log(self, vals_list):
        """Append attempt rows in one statement (the dispatcher's hot path).

        The log is append-only and has no business logic on create: a single
        ``INSERT`` keeps the cost per delivery low. Stored computed columns are
        filled here with the same rules as their compute methods.
        """
        if not vals_list:
            return
        columns = (*self._LOG_COLUMNS, "is_failure", "attempt_count", "failure_count")
        arrays = {name: [] for name in columns}
        for vals in vals_list:
            for name in self._LOG_COLUMNS:
                arrays[name].append(vals.get(name) or None)
            failure = vals["outcome"] != "success"
            arrays["called"][-1] = bool(vals.get("called", True))
            arrays["status_code"][-1] = vals.get("status_code") or 0
            arrays["latency_ms"][-1] = vals.get("latency_ms") or 0
            arrays["is_failure"].append(failure)
            arrays["attempt_count"].append(1)
            arrays["failure_count"].append(int(failure))
        # One array parameter per column, whatever the number of rows.
        self.env.cr.execute(
            SQL(
                "INSERT INTO saas_webhook_attempt (%s) SELECT * FROM unnest(%s)",
                SQL(", ").join(SQL.identifier(name) for name in columns),
                SQL(", ").join(
                    SQL("%s::%s[]", arrays[name], SQL(self._LOG_TYPES[name])) for name in columns
                ),
            )
        )
        self.invalidate_model()

    @api.depends("outcome")
    def _compute_is_failure(self):
        for attempt in self:
            attempt.is_failure = attempt.outcome != "success"

    @api.depends("outcome")
    def _compute_counters(self):
        for attempt in self:
            attempt.attempt_count = 1
            attempt.failure_count = 0 if attempt.outcome == "success" else 1

    @api.autovacuum
    def _gc_old_attempts(self):
        days = int(
            self.env["ir.config_parameter"].sudo().get_param(
                "saas_workflow_integrations.attempt_retention_days", 90
            )
        )
        if days > 0:
            self.env.cr.execute(
                "DELETE FROM saas_webhook_attempt "
                "WHERE attempted_at < (now() AT TIME ZONE 'UTC') - %s * interval '1 day'",
                (days,),
            )
