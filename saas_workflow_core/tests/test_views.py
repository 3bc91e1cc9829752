from odoo.tests import new_test_user, tagged

from .common import WorkflowCase

ACTIONS = [
    "action_event",
    "action_delivery",
    "action_dead_letter",
    "action_event_type",
    "action_subscription",
    "action_workflow",
    "action_event_source",
    "action_report_throughput",
    "action_report_failures",
    "action_report_latency",
]


@tagged("post_install", "-at_install")
class TestViews(WorkflowCase):
    def test_menus_open_their_views(self):
        manager = new_test_user(
            self.env, login="wf_views_manager",
            groups="base.group_user,saas_workflow_core.group_workflow_manager",
        )
        for xmlid in ACTIONS:
            with self.subTest(action=xmlid):
                action = self.env["ir.actions.act_window"].with_user(manager)._for_xml_id(
                    f"saas_workflow_core.{xmlid}"
                )
                model = self.env[action["res_model"]].with_user(manager)
                views = [(False, mode) for mode in action["view_mode"].split(",")]
                if action.get("search_view_id"):
                    views.append((action["search_view_id"][0], "search"))
                result = model.get_views(views)
                self.assertEqual(set(result["views"]), {mode for _id, mode in views})
                domain = action.get("domain") or []
                if isinstance(domain, str):
                    domain = []
                model.web_search_read(domain, {"display_name": {}}, limit=5)

    def test_dead_letter_lists_dead_deliveries_with_requeue(self):
        action = self.env["ir.actions.act_window"]._for_xml_id("saas_workflow_core.action_dead_letter")
        self.assertIn("search_default_dead", action["context"])
        arch = self.Delivery.get_views([(False, "list")])["views"]["list"]["arch"]
        self.assertIn('name="action_requeue"', arch)

    def test_workflow_buttons(self):
        event = self.Event.emit("test.core.ping", payload={})
        self.assertEqual(self.ping.action_view_events()["domain"], [("event_type_id", "=", self.ping.id)])
        self.assertEqual(self.workflow.action_open_dead_letter()["res_model"], "saas.workflow.delivery")
        self.assertEqual(self.noop.action_view_deliveries()["res_model"], "saas.workflow.delivery")
        self.assertEqual(self.ping.event_count, 1)
        self.assertTrue(event)

    def test_settings_view(self):
        settings = self.env["res.config.settings"].create(
            {"saas_workflow_retry_schedule": "10,60", "saas_workflow_retention_days": 7}
        )
        settings.execute()
        param = self.env["ir.config_parameter"].sudo()
        self.assertEqual(param.get_param("saas_workflow_core.retry_schedule"), "10,60")
        self.assertEqual(param.get_param("saas_workflow_core.retention_days"), "7")
        with self.assertRaisesRegex(Exception, "whole seconds"):
            self.env["res.config.settings"].create({"saas_workflow_retry_schedule": "ten"})
