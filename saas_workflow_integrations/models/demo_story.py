"""Orbitly's integrations: n8n's delivery log.

"n8n: deals and invoices" is the automation platform beside Odoo; its last seven
days of delivery attempts are part of the demo. It stays archived until its host
is allowlisted (``docker compose --profile n8n up`` does both).
"""

import random
from datetime import timedelta

from odoo import api, fields, models


class SaasWorkflowDemo(models.AbstractModel):
    _inherit = "saas.workflow.demo"

    @api.model
    def _load_integrations_story(self):
        if self._demo_done("integrations"):
            return True
        self._demo_dispatch()
        n8n = self._demo_ref("saas_workflow_integrations.demo_endpoint_n8n")
        if n8n:
            n8n.sudo()._rotate_secret()
            self._demo_attempt_history(n8n)
        self._demo_mark("integrations")
        return True

    @api.model
    def _demo_attempt_history(self, endpoint, days=7, seed=7):
        """Seven days of attempts: mostly 200s, two 503s retried, one timeout."""
        rng = random.Random(seed)
        now = fields.Datetime.now()
        rows = []
        for day in range(days, 0, -1):
            for _n in range(rng.randint(6, 11)):
                at = now - timedelta(days=day, hours=rng.randint(0, 10), minutes=rng.randint(0, 59))
                rows.append({
                    "endpoint_id": endpoint.id,
                    "company_id": endpoint.company_id.id or self.env.company.id,
                    "webhook_id": "evt_%032x" % rng.getrandbits(128),
                    "attempt_no": 1,
                    "attempted_at": at,
                    "status_code": 200,
                    "latency_ms": int(rng.lognormvariate(4.9, 0.35)),
                    "response_excerpt": '{"received": true}',
                    "outcome": "success",
                })
        rows.sort(key=lambda row: row["attempted_at"])
        # the receiver was redeployed yesterday (two 503s) and timed out once the day before:
        # each time the next attempt succeeded
        failures = (
            (rows[-3], 503, "HTTP 503: workflow is being updated"),
            (rows[-5], 503, "HTTP 503: workflow is being updated"),
            (rows[-14], 0, "read timeout after 10.0 s"),
        )
        for first, status, error in failures:
            retry_at = first["attempted_at"] + timedelta(seconds=5)
            first.update({
                "status_code": status,
                "latency_ms": 10000 if not status else int(rng.uniform(20, 60)),
                "response_excerpt": False,
                "error": error,
                "outcome": "retry",
                "next_attempt_at": retry_at,
            })
            rows.append(dict(first, attempt_no=2, attempted_at=retry_at, status_code=200,
                             latency_ms=int(rng.uniform(120, 260)), error=False,
                             response_excerpt='{"received": true}', outcome="success",
                             next_attempt_at=False))
        self.env["saas.webhook.attempt"]._insert_log(rows)
