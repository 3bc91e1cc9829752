from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged
from odoo.tools.safe_eval import safe_eval

from .common import TourCase
from .kpi_common import OperationsKpiCase

CORE_CODES = ("events_per_day", "event_latency", "event_retries", "dead_deliveries",
              "delivery_success")


@tagged("post_install", "-at_install")
class TestOperationsOverview(OperationsKpiCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ping = cls.env["saas.workflow.event.type"].create({"code": "test.kpi.ping", "name": "KPI ping"})
        cls.sub = cls.env["saas.workflow.subscription"].create({
            "name": "KPI receiver", "event_type_ids": [(6, 0, cls.ping.ids)], "handler_type": "noop",
        })

    def emit(self, company, days_ago, state="pending", latency_ms=None, retries=0):
        event = self.env["saas.workflow.event"].with_company(company).emit("test.kpi.ping", payload={})
        self.set_columns(event, occurred_at=self.ago(days_ago), state=state, latency_ms=latency_ms,
                         retry_count=retries, routed=True)
        return event

    def deliver(self, event, state, days_ago):
        delivery = self.env["saas.workflow.delivery"].create({
            "event_id": event.id, "subscription_id": self.sub.id, "company_id": event.company_id.id,
            "event_type_id": event.event_type_id.id, "state": state, "attempt_count": 1,
        })
        self.set_columns(delivery, create_date=self.ago(days_ago))
        return delivery

    def _known_data(self):
        a, b = self.company_a, self.company_b
        # Company A, current period (last 30 days): 6 events, 2 done with latency 100 and 300 ms,
        # 2 with retries (1 and 2); 3 deliveries: 2 done, 1 dead.
        done1 = self.emit(a, 1, "done", latency_ms=100)
        done2 = self.emit(a, 2, "done", latency_ms=300, retries=1)
        dead = self.emit(a, 3, "dead", retries=2)
        for days in (4, 5, 29):
            self.emit(a, days)
        self.deliver(done1, "done", 1)
        self.deliver(done2, "done", 2)
        self.dead_delivery = self.deliver(dead, "dead", 3)
        # Company A, previous period (30 to 60 days ago): 3 events, 1 dead delivery.
        old = self.emit(a, 31, "dead", retries=4)
        self.emit(a, 45, "done", latency_ms=1000)
        self.emit(a, 59)
        self.deliver(old, "dead", 31)
        # Company A, older than both periods: ignored.
        self.emit(a, 70)
        # Company B: 2 events with a dead delivery each, which A never sees.
        for days in (1, 2):
            self.deliver(self.emit(b, days, "dead", retries=9), "dead", days)

    def test_known_aggregates_and_drilldown(self):
        self._known_data()
        self.refresh(*CORE_CODES)
        throughput = self.kpi("events_per_day")
        self.assertAlmostEqual(throughput.value, 6 / 30, places=2)
        self.assertAlmostEqual(throughput.previous_value, 3 / 30, places=2)
        self.assertAlmostEqual(throughput.trend, 100.0, places=1)
        self.assertEqual(throughput.value_display, "0.2 / day")
        self.assertEqual(throughput.trend_display, "▲ 100 %")
        self.assertEqual(self.drilldown_count(throughput), 6)
        self.assertEqual(throughput.date_from, self.ago(30))
        self.assertEqual(throughput.date_to, self.now)

        latency = self.kpi("event_latency")
        self.assertEqual(latency.value, 200.0)
        self.assertEqual(latency.previous_value, 1000.0)
        self.assertEqual(latency.status, "good")  # target <= 5 s
        self.assertTrue(latency.trend_good, "lower latency is better: its fall is good news")
        self.assertEqual(self.kpi("event_retries").value, 3.0)
        self.assertEqual(self.kpi("event_retries").previous_value, 4.0)

        dead = self.kpi("dead_deliveries")
        self.assertEqual((dead.value, dead.previous_value), (1.0, 1.0))
        self.assertEqual(dead.status, "warning")  # target 0, alert above 10
        action = dead.action_open_records()
        self.assertEqual(action["res_model"], "saas.workflow.delivery")
        self.assertEqual(
            action["domain"],
            ["&", ("company_id", "=", self.company_a.id), "&", "&", ("state", "=", "dead"),
             ("create_date", ">=", self.ago(30).strftime("%Y-%m-%d %H:%M:%S")),
             ("create_date", "<", self.now.strftime("%Y-%m-%d %H:%M:%S"))],
        )
        self.assertEqual(self.env["saas.workflow.delivery"].search(action["domain"]), self.dead_delivery)
        self.assertNotIn("search_default_dead", action["context"])

        success = self.kpi("delivery_success")
        self.assertAlmostEqual(success.value, 200 / 3, places=2)
        self.assertEqual(success.status, "bad")  # target 99 %, alert below 95 %
        self.assertAlmostEqual(success.previous_value, 0.0)

    def test_snapshot_per_day_and_history(self):
        self._known_data()
        kpi = self.kpi("events_per_day")
        self.refresh("events_per_day")
        self.emit(self.company_a, 0.5)
        self.refresh("events_per_day")
        snapshots = kpi.value_ids
        self.assertEqual(len(snapshots), 1, "a second refresh on the same day updates the snapshot")
        self.assertAlmostEqual(snapshots.value, 7 / 30, places=2)
        self.assertEqual(snapshots.company_id, self.company_a)
        history = kpi.action_open_history()
        self.assertEqual(history["domain"], [("kpi_id", "=", kpi.id)])
        groups = self.env["saas.operations.kpi.value"]._read_group(
            history["domain"], ["date:day"], ["value:avg"])
        self.assertAlmostEqual(groups[0][1], 7 / 30, places=2)

    def test_tiles_are_isolated_per_company(self):
        self._known_data()
        self.Kpi.search([("company_id", "in", (self.company_a | self.company_b).ids)])._refresh(now=self.now)
        self.assertEqual(self.kpi("dead_deliveries", self.company_b).value, 2.0)
        self.assertEqual(self.kpi("event_retries", self.company_b).value, 18.0)
        self.assertEqual(self.kpi("dead_deliveries").value, 1.0)
        tiles = self.Kpi.with_user(self.kpi_user_a).search([])
        self.assertTrue(tiles)
        self.assertEqual(tiles.company_id, self.company_a, "a user of company A sees A's tiles only")
        self.assertFalse(
            self.env["saas.operations.kpi.value"].with_user(self.kpi_user_a).search(
                [("company_id", "=", self.company_b.id)]))
        # every company gets every indicator
        self.assertEqual(
            set(self.Kpi.search([("company_id", "=", self.company_b.id)]).mapped("code")),
            set(self.Kpi.search([("company_id", "=", self.company_a.id)]).mapped("code")),
        )

    def test_user_reads_overview_but_cannot_edit_definitions(self):
        self._known_data()
        Kpi = self.Kpi.with_user(self.kpi_user_a).with_company(self.company_a)
        action = self.env["ir.actions.act_window"].with_user(self.kpi_user_a)._for_xml_id(
            "saas_workflow_core.action_operations_overview")
        Kpi.action_refresh_all()
        result = Kpi.web_search_read(
            safe_eval(action["domain"]),
            {"name": {}, "value_display": {}, "trend_display": {}, "status": {}, "area": {}},
        )
        codes = {rec["id"] for rec in result["records"]}
        self.assertTrue(codes)
        dead = self.kpi("dead_deliveries").with_user(self.kpi_user_a)
        self.assertEqual(dead.value, 1.0, "the user's refresh computed the tiles")
        self.assertTrue(dead.action_open_records()["domain"])
        with self.assertRaises(AccessError):
            dead.write({"target": 5})
        with self.assertRaises(AccessError):
            Kpi.create({"code": "mine", "name": "Mine", "area": "process"})
        with self.assertRaises(AccessError):
            dead.unlink()
        admin = new_test_user(self.env, login="kpi_admin",
                              groups="base.group_user,saas_workflow_core.group_workflow_admin",
                              company_id=self.company_a.id, company_ids=[(6, 0, self.company_a.ids)])
        dead.with_user(admin).write({"target": 2, "threshold": 5})
        self.assertEqual(dead.status, "good")

    def test_restricted_and_unavailable_indicators(self):
        restricted = self.kpi("event_latency")
        restricted.group_ids = self.env.ref("base.group_system")
        self.assertNotIn(restricted, self.Kpi.with_user(self.kpi_user_a).search([]))
        unknown = self.Kpi.create({"code": "not_installed_here", "name": "Elsewhere", "area": "business",
                                   "company_id": self.company_a.id})
        unknown._refresh(now=self.now)
        self.assertFalse(unknown.available)
        self.assertNotIn(unknown, self.Kpi.search([("available", "=", True)]))

    def test_overview_is_the_workflows_app_action(self):
        root = self.env.ref("saas_workflow_core.menu_root")
        overview = self.env.ref("saas_workflow_core.action_operations_overview")
        self.assertEqual(root.action, overview)
        first = root.child_id.sorted("sequence")[:1]
        self.assertEqual(first, self.env.ref("saas_workflow_core.menu_overview"))
        views = self.Kpi.get_views([(False, "kanban"), (False, "list"), (False, "form"), (False, "search")])
        self.assertIn('action="action_open_records"', views["views"]["kanban"]["arch"])
        for xmlid in ("action_operations_kpi_history", "action_report_throughput_type", "action_operations_kpi"):
            action = self.env["ir.actions.act_window"]._for_xml_id(f"saas_workflow_core.{xmlid}")
            model = self.env[action["res_model"]].with_user(self.kpi_user_a)
            modes = action["view_mode"].split(",")
            result = model.get_views([(False, mode) for mode in modes] + [(False, "search")])
            self.assertEqual(set(result["views"]), {*modes, "search"})
            model.web_search_read([], {"display_name": {}}, limit=5)


@tagged("post_install", "-at_install")
class TestOperationsOverviewTour(TourCase):
    """The overview in a browser: tiles grouped by area, click through to the records."""

    def test_workflow_user_opens_overview_and_drills_down(self):
        env = self.env
        user = new_test_user(env, login="kpi_tour_user", password="kpi_tour_user",
                             groups="base.group_user,saas_workflow_core.group_workflow_user")
        etype = env["saas.workflow.event.type"].create({"code": "test.kpi.tour", "name": "KPI tour"})
        sub = env["saas.workflow.subscription"].create({
            "name": "KPI tour receiver", "event_type_ids": [(6, 0, etype.ids)], "handler_type": "noop"})
        # the user's company gets exactly one dead delivery in the period
        env["saas.workflow.delivery"].search(
            [("state", "=", "dead"), ("company_id", "=", user.company_id.id)]).unlink()
        event = env["saas.workflow.event"].with_company(user.company_id).emit("test.kpi.tour", payload={})
        env["saas.workflow.delivery"].create({
            "event_id": event.id, "subscription_id": sub.id, "company_id": user.company_id.id,
            "event_type_id": etype.id, "state": "dead", "attempt_count": 3,
        })
        env.flush_all()
        kpis = env["saas.operations.kpi"].search([("company_id", "=", user.company_id.id)])
        kpis._refresh()
        self.assertEqual(kpis.filtered(lambda k: k.code == "dead_deliveries").value, 1.0)
        self.start_tour("/odoo/action-saas_workflow_core.action_operations_overview",
                        "saas_operations_overview_tour", login="kpi_tour_user")
