from odoo import fields, models, tools


class SaasWebhookEndpointHealth(models.Model):
    """Per endpoint and day: attempts, success rate, latency percentiles, retries."""

    _name = "saas.webhook.endpoint.health"
    _description = "Webhook Endpoint Health"
    _auto = False
    _order = "day desc, endpoint_id"

    endpoint_id = fields.Many2one("saas.webhook.endpoint", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    day = fields.Date(readonly=True)
    attempt_count = fields.Integer(string="Attempts", readonly=True)
    success_count = fields.Integer(string="Successes", readonly=True)
    failure_count = fields.Integer(string="Failures", readonly=True)
    retry_count = fields.Integer(string="Retries", readonly=True)
    success_rate = fields.Float(string="Success Rate (%)", readonly=True, aggregator="avg")
    p50_ms = fields.Integer(string="p50 Latency (ms)", readonly=True, aggregator="avg")
    p95_ms = fields.Integer(string="p95 Latency (ms)", readonly=True, aggregator="max")

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
        self.env.cr.execute(
            f"""
            CREATE VIEW {self._table} AS (
                SELECT min(a.id) AS id,
                       a.endpoint_id,
                       a.company_id,
                       (a.attempted_at)::date AS day,
                       count(*) AS attempt_count,
                       count(*) FILTER (WHERE a.outcome = 'success') AS success_count,
                       count(*) FILTER (WHERE a.outcome != 'success') AS failure_count,
                       count(*) FILTER (WHERE a.attempt_no > 1) AS retry_count,
                       100.0 * count(*) FILTER (WHERE a.outcome = 'success') / count(*) AS success_rate,
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY a.latency_ms)::int AS p50_ms,
                       percentile_cont(0.95) WITHIN GROUP (ORDER BY a.latency_ms)::int AS p95_ms
                  FROM saas_webhook_attempt a
                 WHERE a.called
                 GROUP BY a.endpoint_id, a.company_id, (a.attempted_at)::date
            )
            """
        )
