import datetime
import logging
import re

from odoo import api, fields, models, tools
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.osv import expression
from odoo.tools import SQL
from odoo.tools.safe_eval import safe_eval

from ..lib import kpi as kpi_lib

_logger = logging.getLogger(__name__)

AREAS = [
    ("process", "Process"),
    ("approvals", "Approvals"),
    ("integrations", "Integrations"),
    ("sla", "SLA and Support"),
    ("business", "Business"),
]
UNITS = [
    ("count", "Count"),
    ("per_day", "Per day"),
    ("percent", "Percent"),
    ("ms", "Milliseconds"),
    ("hours", "Hours"),
    ("days", "Days"),
]
STATUSES = [
    ("none", "No data"),
    ("neutral", "No target"),
    ("good", "On target"),
    ("warning", "Watch"),
    ("bad", "Off target"),
]
CODE_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class SaasOperationsKpi(models.Model):
    """One operations indicator of one company, as the overview shows it.

    Values are computed by ``_kpi_compute_<code>(date_from, date_to)`` (set-based
    queries over the stored data), stored here by the refresh job together with
    the value of the previous period, and kept as one snapshot per day in
    ``saas.operations.kpi.value``. Opening the overview reads these stored rows only.
    Addons add indicators with a record in XML and the method through ``_inherit``.
    """

    _name = "saas.operations.kpi"
    _description = "Operations Indicator"
    _order = "area_sequence, sequence, id"
    _check_company_auto = True

    code = fields.Char(required=True, help="Technical key: the value comes from _kpi_compute_<code>.")
    name = fields.Char(required=True, translate=True)
    description = fields.Text(translate=True, help="What is counted, over which records.")
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    area = fields.Selection(AREAS, required=True, default="process")
    area_sequence = fields.Integer(compute="_compute_area_sequence", store=True)
    unit = fields.Selection(UNITS, required=True, default="count")
    period_days = fields.Integer(
        string="Period (days)", default=30, required=True,
        help="The value covers the last N days; the trend compares it with the N days before.",
    )
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True,
    )
    group_ids = fields.Many2many(
        "res.groups", string="Visible to", help="Only members of these groups see the tile. Empty: everyone.",
    )
    # Value
    value = fields.Float(readonly=True, digits=(16, 2))
    previous_value = fields.Float(readonly=True, digits=(16, 2))
    has_value = fields.Boolean(readonly=True, help="The last refresh produced a value.")
    has_previous = fields.Boolean(readonly=True)
    available = fields.Boolean(
        readonly=True, default=True,
        help="False when the data this indicator needs is not installed in this database.",
    )
    trend = fields.Float(string="Trend (%)", readonly=True, digits=(16, 1))
    has_trend = fields.Boolean(readonly=True)
    date_from = fields.Datetime(readonly=True, string="Period start")
    date_to = fields.Datetime(readonly=True, string="Period end")
    last_refresh = fields.Datetime(readonly=True)
    # Target
    has_target = fields.Boolean(string="Target set")
    higher_is_better = fields.Boolean(default=True)
    target = fields.Float(digits=(16, 2), help="Value at or beyond which the indicator is on target.")
    threshold = fields.Float(
        string="Alert threshold", digits=(16, 2),
        help="Between the target and this value the indicator is to watch; beyond it, off target.",
    )
    status = fields.Selection(STATUSES, compute="_compute_status", store=True)
    # Drill-down
    res_model = fields.Char(string="Records", help="Model of the records behind the figure.")
    domain = fields.Char(
        default="[]",
        help="Records behind the figure; may use date_from and date_to (UTC strings of the period).",
    )
    action_id = fields.Many2one(
        "ir.actions.act_window", string="Drill-down action", ondelete="set null",
        help="Opened on the records behind the figure, with its own views.",
    )
    drilldown_domain = fields.Char(readonly=True, help="Domain of the records of the last refresh.")
    # Display
    value_display = fields.Char(compute="_compute_display", string="Value shown")
    previous_display = fields.Char(compute="_compute_display", string="Previous value shown")
    trend_display = fields.Char(compute="_compute_display", string="Trend shown")
    trend_good = fields.Boolean(compute="_compute_display")
    value_ids = fields.One2many("saas.operations.kpi.value", "kpi_id", string="History", readonly=True)

    _sql_constraints = [
        ("code_company_uniq", "unique(code, company_id)", "An indicator exists once per company."),
        ("period_positive", "CHECK(period_days > 0)", "The period must be at least one day."),
    ]

    @api.constrains("code")
    def _check_code(self):
        for kpi in self:
            if not CODE_RE.match(kpi.code or ""):
                raise ValidationError(self.env._(
                    "Indicator code %(code)s: use lower-case letters, digits and underscores.",
                    code=kpi.code))

    @api.constrains("domain", "res_model", "action_id")
    def _check_domain(self):
        for kpi in self:
            if kpi.action_id and kpi.action_id.res_model != kpi.res_model:
                raise ValidationError(self.env._(
                    "The drill-down action of %(name)s must open %(model)s records.",
                    name=kpi.name, model=kpi.res_model))
            if kpi.res_model and kpi.res_model in self.env:
                try:
                    kpi._kpi_domain(fields.Datetime.now(), fields.Datetime.now())
                except Exception as exc:
                    raise ValidationError(self.env._(
                        "Invalid domain for indicator %(name)s: %(error)s", name=kpi.name, error=exc,
                    )) from exc

    @api.depends("area")
    def _compute_area_sequence(self):
        order = {key: index for index, (key, _label) in enumerate(AREAS)}
        for kpi in self:
            kpi.area_sequence = order.get(kpi.area, len(AREAS))

    @api.depends("value", "has_value", "has_target", "target", "threshold", "higher_is_better")
    def _compute_status(self):
        for kpi in self:
            kpi.status = kpi_lib.status(
                kpi.value if kpi.has_value else None, kpi.has_target, kpi.target, kpi.threshold,
                kpi.higher_is_better,
            )

    @api.depends("value", "previous_value", "has_value", "has_previous", "trend", "has_trend", "unit")
    def _compute_display(self):
        for kpi in self:
            kpi.value_display = kpi._format(kpi.value) if kpi.has_value else "–"
            kpi.previous_display = kpi._format(kpi.previous_value) if kpi.has_previous else "–"
            if kpi.has_trend:
                kpi.trend_display = kpi_lib.format_trend(kpi.trend)
                kpi.trend_good = (kpi.trend >= 0) == bool(kpi.higher_is_better)
            else:
                kpi.trend_display = False
                kpi.trend_good = False

    def _format(self, value):
        self.ensure_one()
        return kpi_lib.format_value(value, self.unit)

    # ------------------------------------------------------------------
    # Computation
    # ------------------------------------------------------------------
    def _kpi_domain(self, date_from, date_to):
        """The records behind the figure over ``[date_from, date_to)``, for this company."""
        self.ensure_one()
        domain = safe_eval(self.domain or "[]", self._kpi_eval_context(date_from, date_to))
        Model = self.env[self.res_model]
        if "company_id" in Model._fields:
            domain = expression.AND([[("company_id", "=", self.company_id.id)], domain])
        return domain

    @api.model
    def _kpi_eval_context(self, date_from, date_to):
        """Names a domain may use: the period as UTC datetime strings (``date_from``,
        ``date_to``), as dates (``day_from``, ``day_to``), and the end of the next period of
        the same length (``date_next``, ``day_next``) for forward-looking indicators."""
        date_next = date_to + (date_to - date_from)
        return {
            "date_from": fields.Datetime.to_string(date_from),
            "date_to": fields.Datetime.to_string(date_to),
            "date_next": fields.Datetime.to_string(date_next),
            "day_from": fields.Date.to_string(date_from.date()),
            "day_to": fields.Date.to_string(date_to.date()),
            "day_next": fields.Date.to_string(date_next.date()),
        }

    def _kpi_avg_duration(self, date_from, date_to, start_field, end_field, unit="days"):
        """Average of ``end_field - start_field`` (datetimes) over the records of
        :meth:`_kpi_domain`, in ``unit`` (days or hours), in one query; None without record."""
        self.ensure_one()
        if not self.res_model or self.res_model not in self.env:
            return None
        Model = self.env[self.res_model].sudo().with_context(active_test=False)
        if start_field not in Model._fields or end_field not in Model._fields:
            return None
        domain = expression.AND([
            self._kpi_domain(date_from, date_to),
            [(start_field, "!=", False), (end_field, "!=", False)],
        ])
        query = Model._search(domain)
        divisor = 86400.0 if unit == "days" else 3600.0
        self.env.cr.execute(query.select(SQL(
            "avg(EXTRACT(EPOCH FROM (%s - %s))) / %s",
            SQL.identifier(Model._table, end_field), SQL.identifier(Model._table, start_field),
            divisor,
        )))
        result = self.env.cr.fetchone()[0]
        return None if result is None else float(result)

    def _kpi_read(self, date_from, date_to, aggregate="__count"):
        """``aggregate`` (``__count``, ``field:sum``, ``field:avg``...) of the records of
        :meth:`_kpi_domain`, in one grouped query; None when there is no record to average."""
        self.ensure_one()
        if not self.res_model or self.res_model not in self.env:
            return None
        Model = self.env[self.res_model].sudo().with_context(active_test=False)
        domain = self._kpi_domain(date_from, date_to)
        if aggregate == "__count":
            [(count,)] = Model._read_group(domain, [], ["__count"])
            return float(count)
        [(count, result)] = Model._read_group(domain, [], ["__count", aggregate])
        if not count and aggregate.endswith(":avg"):
            return None
        return float(result or 0.0)

    def _kpi_ratio(self, date_from, date_to, extra_domain):
        """Share in % of the records of :meth:`_kpi_domain` that also match ``extra_domain``
        (None when there is no record)."""
        total = self._kpi_read(date_from, date_to)
        if not total:
            return None
        Model = self.env[self.res_model].sudo().with_context(active_test=False)
        domain = expression.AND([self._kpi_domain(date_from, date_to), extra_domain])
        return 100.0 * Model.search_count(domain) / total

    def _kpi_compute(self, date_from, date_to):
        """Value of the indicator over ``[date_from, date_to)``: a float, None when there is
        nothing to measure, or ``(value, domain)`` when the records behind it need their own
        domain. ``NotImplemented`` when the indicator cannot be computed in this database."""
        self.ensure_one()
        method = getattr(self, f"_kpi_compute_{self.code}", None)
        if method is None:
            return NotImplemented
        return method(date_from, date_to)

    def _refresh(self, now=None):
        """Recompute these indicators and write today's snapshot; returns the indicators.

        The period ends at ``now`` (excluded), by default the end of the current second, so
        that records stamped in this second are counted.
        """
        now = now or fields.Datetime.now() + datetime.timedelta(seconds=1)
        today = fields.Date.context_today(self, now)
        Value = self.env["saas.operations.kpi.value"].sudo()
        for kpi in self.sudo():
            date_to = now
            date_from = now - datetime.timedelta(days=kpi.period_days)
            previous_from = date_from - datetime.timedelta(days=kpi.period_days)
            try:
                with self.env.cr.savepoint():
                    current = kpi._kpi_compute(date_from, date_to)
                    previous = kpi._kpi_compute(previous_from, date_from)
            except Exception:
                _logger.exception("Operations indicator %s could not be computed", kpi.code)
                continue
            if current is NotImplemented:
                kpi.write({"available": False, "has_value": False, "has_previous": False,
                           "has_trend": False, "last_refresh": now})
                continue
            domain = False
            if isinstance(current, tuple):
                current, domain = current
            if isinstance(previous, tuple):
                previous = previous[0]
            if domain is False and kpi.res_model and kpi.res_model in self.env:
                domain = kpi._kpi_domain(date_from, date_to)
            trend = kpi_lib.trend(current, previous)
            kpi.write({
                "available": True,
                "value": current or 0.0,
                "has_value": current is not None,
                "previous_value": previous or 0.0,
                "has_previous": previous is not None,
                "trend": trend or 0.0,
                "has_trend": trend is not None,
                "date_from": date_from,
                "date_to": date_to,
                "last_refresh": now,
                "drilldown_domain": repr(domain) if domain is not False else False,
            })
            if current is not None:
                Value._upsert(kpi, today, current)
        return self

    @api.model
    def _ensure_companies(self):
        """Give every company the indicators the others have (a copy of their definition)."""
        Kpi = self.sudo().with_context(active_test=False)
        companies = self.env["res.company"].sudo().search([("active", "=", True)])
        existing = {(kpi.code, kpi.company_id.id): kpi for kpi in Kpi.search([("code", "!=", False)])}
        by_code = {}
        for (code, _company_id), kpi in sorted(existing.items(), key=lambda item: item[1].id):
            by_code.setdefault(code, kpi)
        for code, source in by_code.items():
            for company in companies:
                if (code, company.id) not in existing:
                    source.copy({"company_id": company.id, "name": source.name})

    @api.model
    def _cron_refresh(self):
        self._ensure_companies()
        self.sudo().search([("active", "=", True)])._refresh()

    def action_refresh_all(self):
        """Refresh button of the overview (a header button: ``self`` is the selection, often
        empty): recompute the indicators of the allowed companies."""
        if not self.env.user.has_group("saas_workflow_core.group_workflow_user"):
            raise AccessError(self.env._("Only workflow users may refresh the overview."))
        self._ensure_companies()
        self.search([("company_id", "in", self.env.companies.ids)])._refresh()
        return {"type": "ir.actions.client", "tag": "soft_reload"}

    # ------------------------------------------------------------------
    # Drill-down
    # ------------------------------------------------------------------
    def action_open_records(self):
        """The records behind the figure of the last refresh, in the indicator's action."""
        self.ensure_one()
        if not self.res_model or self.res_model not in self.env:
            raise UserError(self.env._("The records behind %(name)s are not installed.", name=self.name))
        if not self.env[self.res_model].has_access("read"):
            raise UserError(self.env._(
                "You may not see the records behind %(name)s.", name=self.name))
        domain = (
            safe_eval(self.drilldown_domain) if self.drilldown_domain
            else self._kpi_domain(*self._period())
        )
        if self.action_id:
            action = self.action_id.sudo()._get_action_dict()
            context = action.get("context") or {}
            if isinstance(context, str):
                try:
                    context = safe_eval(context, {"uid": self.env.uid, "active_id": False})
                except Exception:
                    context = {}
            context = {key: val for key, val in context.items() if not key.startswith("search_default_")}
        else:
            action = {
                "type": "ir.actions.act_window",
                "res_model": self.res_model,
                "view_mode": "list,form,pivot,graph",
                "views": [(False, "list"), (False, "form"), (False, "pivot"), (False, "graph")],
            }
            context = {}
        action.update({
            "name": self.name,
            "display_name": self.name,
            "domain": domain,
            "context": context,
            "target": "current",
        })
        action.pop("id", None)
        return action

    def action_refresh(self):
        """Refresh button of an indicator's form."""
        if not self.env.user.has_group("saas_workflow_core.group_workflow_user"):
            raise AccessError(self.env._("Only workflow users may refresh indicators."))
        self._refresh()
        return True

    def action_open_history(self):
        """Daily values of the indicator, as a line graph."""
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "saas_workflow_core.action_operations_kpi_history")
        action["domain"] = [("kpi_id", "=", self.id)]
        action["context"] = {"graph_groupbys": ["date:day"]}
        action["name"] = self.env._("History: %(name)s", name=self.name)
        return action

    def _period(self):
        self.ensure_one()
        date_to = self.date_to or fields.Datetime.now()
        return (self.date_from or date_to - datetime.timedelta(days=self.period_days), date_to)

    # ------------------------------------------------------------------
    # Indicators of the event layer
    # ------------------------------------------------------------------
    def _kpi_compute_events_per_day(self, date_from, date_to):
        days = max((date_to - date_from).total_seconds() / 86400.0, 1.0)
        return self._kpi_read(date_from, date_to) / days

    def _kpi_compute_event_latency(self, date_from, date_to):
        return self._kpi_read(date_from, date_to, "latency_ms:avg")

    def _kpi_compute_event_retries(self, date_from, date_to):
        return self._kpi_read(date_from, date_to, "retry_count:sum")

    def _kpi_compute_dead_deliveries(self, date_from, date_to):
        return self._kpi_read(date_from, date_to)

    def _kpi_compute_delivery_success(self, date_from, date_to):
        return self._kpi_ratio(date_from, date_to, [("state", "=", "done")])


class SaasOperationsKpiValue(models.Model):
    """Daily snapshot of an indicator: the history behind trend graphs and pivots."""

    _name = "saas.operations.kpi.value"
    _description = "Operations Indicator Snapshot"
    _order = "date desc, kpi_id"
    _rec_name = "kpi_id"

    kpi_id = fields.Many2one("saas.operations.kpi", required=True, ondelete="cascade", readonly=True)
    code = fields.Char(related="kpi_id.code", store=True)
    area = fields.Selection(related="kpi_id.area", store=True)
    unit = fields.Selection(related="kpi_id.unit")
    date = fields.Date(required=True, readonly=True, index=True)
    value = fields.Float(readonly=True, aggregator="avg", digits=(16, 2))
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)

    _sql_constraints = [
        ("kpi_date_uniq", "unique(kpi_id, date)", "One snapshot per indicator and day."),
    ]

    @api.model
    def _upsert(self, kpi, day, value):
        self.env.flush_all()
        self.env.cr.execute(
            """
            INSERT INTO saas_operations_kpi_value
                (kpi_id, code, area, date, value, company_id, create_uid, write_uid, create_date,
                 write_date)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')
            ON CONFLICT (kpi_id, date) DO UPDATE
               SET value = EXCLUDED.value, write_date = EXCLUDED.write_date
            """,
            (kpi.id, kpi.code, kpi.area, day, value, kpi.company_id.id, self.env.uid, self.env.uid),
        )
        self.invalidate_model(["value"])


class SaasWorkflowEvent(models.Model):
    _inherit = "saas.workflow.event"

    def init(self):
        res = super().init()
        # The operations indicators aggregate per company over a time window.
        tools.create_index(self.env.cr, "saas_workflow_event_company_occurred_idx", self._table,
                           ["company_id", "occurred_at"])
        return res


class SaasWorkflowDelivery(models.Model):
    _inherit = "saas.workflow.delivery"

    def init(self):
        res = super().init()
        cr = self.env.cr
        tools.create_index(cr, "saas_workflow_delivery_company_created_idx", self._table,
                           ["company_id", "create_date"])
        tools.create_index(cr, "saas_workflow_delivery_dead_idx", self._table,
                           ["company_id", "create_date"], where="state = 'dead'")
        return res
