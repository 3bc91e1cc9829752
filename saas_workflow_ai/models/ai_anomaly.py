from datetime import timedelta

from odoo import api, fields, models
from odoo.addons.saas_workflow_core.lib.actions import record_form
from odoo.exceptions import ValidationError
from odoo.tools.safe_eval import safe_eval

from . import ai_lib

# Standard rules, created when their model is installed.
STANDARD_RULES = [
    {
        "key": "customer_invoice",
        "name": "Customer invoices",
        "kind": "invoice",
        "model": "account.move",
        "domain": "[('move_type', '=', 'out_invoice'), ('state', '=', 'posted')]",
        "amount": "amount_total",
        "group": "partner_id",
    },
    {
        "key": "vendor_bill",
        "name": "Vendor bills",
        "kind": "bill",
        "model": "account.move",
        "domain": "[('move_type', '=', 'in_invoice'), ('state', 'in', ('draft', 'posted'))]",
        "amount": "amount_total",
        "group": "partner_id",
    },
    {
        "key": "purchase_order",
        "name": "Purchase requests",
        "kind": "purchase",
        "model": "purchase.order",
        "domain": "[('state', 'in', ('draft', 'sent', 'to approve', 'purchase'))]",
        "amount": "amount_total",
        "group": "partner_id",
    },
]
NOUNS = [
    ("invoice", "invoices"),
    ("bill", "bills"),
    ("purchase", "purchases"),
    ("other", "documents"),
]
KINDS = [
    ("invoice", "Invoice"),
    ("bill", "Vendor bill"),
    ("purchase", "Purchase"),
    ("other", "Other"),
]


class SaasAiAnomalyRule(models.Model):
    _name = "saas.ai.anomaly.rule"
    _description = "Anomaly Detection Rule"
    _order = "sequence, id"
    _check_company_auto = True

    name = fields.Char(required=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    standard_key = fields.Char(readonly=True, copy=False)
    company_id = fields.Many2one("res.company", help="Empty: every company.")
    kind = fields.Selection(KINDS, default="other", required=True)
    model_id = fields.Many2one(
        "ir.model", required=True, ondelete="cascade", domain="[('transient', '=', False)]"
    )
    model_name = fields.Char(
        related="model_id.model", string="Model Name", store=True, index=True
    )
    domain = fields.Char(default="[]", help="Documents watched by this rule.")
    amount_field_id = fields.Many2one(
        "ir.model.fields",
        required=True,
        ondelete="cascade",
        domain="[('model_id', '=', model_id), ('ttype', 'in', ['monetary', 'float', 'integer'])]",
    )
    group_field_id = fields.Many2one(
        "ir.model.fields",
        ondelete="cascade",
        string="Compare Within",
        domain="[('model_id', '=', model_id), ('ttype', '=', 'many2one')]",
        help="Documents are compared with earlier ones of the same value (e.g. partner).",
    )
    threshold = fields.Float(default=3.5, help="Robust z-score from which a document is flagged.")
    min_history = fields.Integer(default=5, help="Earlier documents needed to judge one.")
    history_size = fields.Integer(default=200)
    history_days = fields.Integer(default=365)
    last_scanned_id = fields.Integer(readonly=True, copy=False)
    anomaly_count = fields.Integer(compute="_compute_anomaly_count")

    _sql_constraints = [
        ("standard_key_uniq", "unique(standard_key)", "Standard rules are unique."),
    ]

    def _compute_anomaly_count(self):
        counts = dict(
            self.env["saas.ai.anomaly"]._read_group(
                [("rule_id", "in", self.ids), ("state", "=", "open")], ["rule_id"], ["__count"]
            )
        )
        for rule in self:
            rule.anomaly_count = counts.get(rule, 0)

    @api.constrains("domain", "model_id", "threshold", "min_history")
    def _check_rule(self):
        for rule in self:
            if rule.threshold <= 0 or rule.min_history < 2:
                raise ValidationError(
                    self.env._(
                        "The threshold must be positive and the history at least 2 documents."
                    )
                )
            try:
                self.env[rule.model_name].search_count(safe_eval(rule.domain or "[]"), limit=1)
            except Exception as exc:
                raise ValidationError(
                    self.env._("Invalid domain on %(name)s: %(error)s", name=rule.name, error=exc)
                ) from exc

    @api.model
    def _sync_standard_rules(self):
        existing = set(
            self.with_context(active_test=False)
            .search([("standard_key", "!=", False)])
            .mapped("standard_key")
        )
        for spec in STANDARD_RULES:
            if spec["key"] in existing or spec["model"] not in self.env:
                continue
            Model = self.env[spec["model"]]
            if spec["amount"] not in Model._fields:
                continue
            fields_ = self.env["ir.model.fields"]._get_ids(spec["model"])
            self.create(
                {
                    "name": spec["name"],
                    "standard_key": spec["key"],
                    "kind": spec["kind"],
                    "model_id": self.env["ir.model"]._get_id(spec["model"]),
                    "domain": spec["domain"],
                    "amount_field_id": fields_[spec["amount"]],
                    "group_field_id": fields_.get(spec["group"]),
                }
            )

    def _register_hook(self):
        super()._register_hook()
        self.sudo()._sync_standard_rules()

    # ------------------------------------------------------------------ scan
    def _history(self, record):
        self.ensure_one()
        domain = [*safe_eval(self.domain or "[]"), ("id", "<", record.id)]
        if self.group_field_id:
            group = record[self.group_field_id.name]
            if not group:
                return []
            domain.append((self.group_field_id.name, "=", group.id))
        if self.history_days:
            since = fields.Datetime.now() - timedelta(days=self.history_days)
            domain.append(("create_date", ">=", since))
        others = (
            self.env[self.model_name]
            .sudo()
            .search(domain, order="id desc", limit=self.history_size)
        )
        return [float(v or 0.0) for v in others.mapped(self.amount_field_id.name)]

    def _score_records(self, records):
        """Score ``records``; flag the outliers. Returns the anomalies created."""
        self.ensure_one()
        Anomaly = self.env["saas.ai.anomaly"].sudo()
        created = Anomaly
        for record in records:
            history = self._history(record)
            if len(history) < self.min_history:
                continue
            value = float(record[self.amount_field_id.name] or 0.0)
            noun = dict(NOUNS).get(self.kind, "documents")
            if self.group_field_id and record[self.group_field_id.name]:
                noun = "%s of %s" % (noun, record[self.group_field_id.name].display_name)
            score, explanation, flagged = ai_lib.anomaly_score(
                history, value, self.threshold, noun=noun
            )
            if not flagged:
                continue
            if Anomaly.search_count(
                [
                    ("res_model", "=", record._name),
                    ("res_id", "=", record.id),
                    ("rule_id", "=", self.id),
                ],
                limit=1,
            ):
                continue
            anomaly = Anomaly.create(
                {
                    "rule_id": self.id,
                    "res_model": record._name,
                    "res_id": record.id,
                    "record_name": record.display_name,
                    "company_id": (
                        record.company_id.id
                        if "company_id" in record._fields
                        else self.company_id.id
                    )
                    or False,
                    "score": score,
                    "amount": value,
                    "explanation": explanation,
                    "group_name": record[self.group_field_id.name].display_name
                    if self.group_field_id
                    else False,
                }
            )
            self.env["saas.workflow.event"].sudo().emit(
                "ai.anomaly.flagged",
                record=record,
                payload={
                    "anomaly_id": anomaly.id,
                    "rule": self.name,
                    "kind": self.kind,
                    "score": round(score, 3),
                    "explanation": explanation,
                },
            )
            created |= anomaly
        return created

    def action_scan(self, limit=500):
        """Score documents not scanned yet (by id watermark)."""
        created = self.env["saas.ai.anomaly"]
        for rule in self:
            Model = self.env[rule.model_name].sudo()
            domain = [*safe_eval(rule.domain or "[]"), ("id", ">", rule.last_scanned_id)]
            if rule.company_id and "company_id" in Model._fields:
                domain.append(("company_id", "=", rule.company_id.id))
            records = Model.search(domain, order="id", limit=limit)
            created |= rule._score_records(records)
            if records:
                rule.sudo().last_scanned_id = records[-1].id
        return created

    @api.model
    def _cron_scan(self):
        self.search([("active", "=", True)]).action_scan()


class SaasAiAnomaly(models.Model):
    """A document outside its normal pattern. It only recommends a closer look."""

    _name = "saas.ai.anomaly"
    _description = "Anomaly Flag"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "id desc"
    _check_company_auto = True

    name = fields.Char(compute="_compute_name")
    rule_id = fields.Many2one("saas.ai.anomaly.rule", ondelete="set null", readonly=True)
    kind = fields.Selection(related="rule_id.kind", store=True)
    company_id = fields.Many2one("res.company", readonly=True, index=True)
    res_model = fields.Char(required=True, readonly=True, index=True)
    res_id = fields.Many2oneReference(
        model_field="res_model", required=True, readonly=True, index=True
    )
    record_name = fields.Char(readonly=True)
    group_name = fields.Char(string="Compared Within", readonly=True)
    score = fields.Float(readonly=True, digits=(16, 3), aggregator="max")
    amount = fields.Float(readonly=True)
    explanation = fields.Text(readonly=True)
    state = fields.Selection(
        [("open", "Open"), ("confirmed", "Confirmed issue"), ("dismissed", "Dismissed")],
        default="open",
        required=True,
        tracking=True,
        index=True,
    )

    @api.depends("record_name", "score")
    def _compute_name(self):
        for anomaly in self:
            anomaly.name = "%s (%.1f)" % (anomaly.record_name or anomaly.res_id, anomaly.score)

    @api.model
    def _is_flagged(self, record):
        """True when ``record`` has an open anomaly flag (for approval policies)."""
        if not record:
            return False
        record.ensure_one()
        return bool(
            self.sudo().search_count(
                [
                    ("res_model", "=", record._name),
                    ("res_id", "=", record.id),
                    ("state", "=", "open"),
                ],
                limit=1,
            )
        )

    @api.model
    def _flagged_ids(self, model_name):
        """Ids of the records of ``model_name`` with an open flag (usable in a domain)."""
        return (
            self.sudo()
            .search([("res_model", "=", model_name), ("state", "=", "open")])
            .mapped("res_id")
        )

    def action_dismiss(self):
        self.write({"state": "dismissed"})

    def action_confirm(self):
        self.write({"state": "confirmed"})

    def action_reopen(self):
        self.write({"state": "open"})

    def action_open_record(self):
        self.ensure_one()
        return record_form(self.res_model, self.res_id)
