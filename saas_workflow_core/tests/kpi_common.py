import datetime

from odoo import fields
from odoo.tests import TransactionCase, new_test_user
from odoo.tools import SQL


class OperationsKpiCase(TransactionCase):
    """Two fresh companies and a fixed clock for exact indicator values.

    Records are dated with SQL (``occurred_at``, ``create_date``... are set by the
    server), relative to ``cls.now``, the instant every refresh is run at.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Kpi = cls.env["saas.operations.kpi"]
        cls.company_a = cls.env["res.company"].create({"name": "KPI Company A"})
        cls.company_b = cls.env["res.company"].create({"name": "KPI Company B"})
        cls.Kpi._ensure_companies()
        cls.now = fields.Datetime.now().replace(microsecond=0)
        cls.kpi_user_a = new_test_user(
            cls.env, login="kpi_user_a",
            groups="base.group_user,saas_workflow_core.group_workflow_user",
            company_id=cls.company_a.id, company_ids=[(6, 0, cls.company_a.ids)],
        )

    def ago(self, days, hours=0):
        return self.now - datetime.timedelta(days=days, hours=hours)

    def set_columns(self, records, **values):
        """Write stored columns directly (server-set dates, states written by the dispatcher)."""
        self.env.flush_all()
        assignments = SQL(", ").join(
            SQL("%s = %s", SQL.identifier(name), value) for name, value in values.items()
        )
        self.env.cr.execute(SQL(
            "UPDATE %s SET %s WHERE id = ANY(%s)", SQL.identifier(records._table), assignments,
            records.ids,
        ))
        records.invalidate_recordset()

    def kpi(self, code, company=None):
        kpi = self.Kpi.search([("code", "=", code), ("company_id", "=", (company or self.company_a).id)])
        self.assertEqual(len(kpi), 1, f"indicator {code} exists once per company")
        return kpi

    def refresh(self, *codes, company=None):
        kpis = self.Kpi.browse()
        for code in codes:
            kpis |= self.kpi(code, company)
        kpis._refresh(now=self.now)
        return kpis

    def drilldown_count(self, kpi):
        action = kpi.action_open_records()
        return self.env[action["res_model"]].search_count(action["domain"])
