import json

from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tests.common import JsonRpcException


@tagged("post_install", "-at_install")
class TestRpcEnforcement(HttpCase):
    """Segregation of duties holds for remote callers, not only in the UI."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        groups = "base.group_user,base.group_partner_manager"
        cls.requester = new_test_user(cls.env, "rpc_requester", groups=groups)
        cls.approver = new_test_user(cls.env, "rpc_approver", groups=groups)
        cls.second = new_test_user(cls.env, "rpc_second", groups=groups)
        cls.env["saas.approval.policy"].create({
            "name": "Archive companies",
            "model_id": cls.env["ir.model"]._get_id("res.partner"),
            "method_name": "action_archive",
            "filter_domain": "[('is_company', '=', True)]",
            "company_id": False,
            "step_ids": [
                (0, 0, {"name": "One", "sequence": 1, "approver_type": "users",
                        "user_ids": [(6, 0, cls.approver.ids)]}),
                (0, 0, {"name": "Two", "sequence": 2, "approver_type": "users",
                        "user_ids": [(6, 0, (cls.approver | cls.second).ids)]}),
            ],
        })
        cls.partner = cls.env["res.partner"].create({"name": "RPC Corp", "is_company": True})

    def call_kw(self, model, method, args, kwargs=None):
        return self.make_jsonrpc_request(
            f"/web/dataset/call_kw/{model}/{method}",
            {"model": model, "method": method, "args": args, "kwargs": kwargs or {}},
        )

    def external(self, login, model, method, args, kwargs=None):
        """The external JSON-RPC API (``/jsonrpc``, service ``object``)."""
        uid = self.env["res.users"].search([("login", "=", login)]).id
        payload = {
            "jsonrpc": "2.0", "method": "call", "id": 1,
            "params": {"service": "object", "method": "execute_kw",
                       "args": [self.env.cr.dbname, uid, login, model, method, args, kwargs or {}]},
        }
        response = self.url_open("/jsonrpc", data=json.dumps(payload),
                                 headers={"Content-Type": "application/json"})
        return response.json()

    def request(self):
        return self.env["saas.approval.request"].search(
            [("res_model", "=", "res.partner"), ("res_id", "=", self.partner.id)], limit=1)

    def test_rpc_guard_and_sod(self):
        self.authenticate("rpc_requester", "rpc_requester")
        result = self.call_kw("res.partner", "action_archive", [[self.partner.id]])
        self.assertTrue(result["saas_approval"]["blocked"])
        self.partner.invalidate_recordset()
        self.assertTrue(self.partner.active)
        request = self.request()
        self.assertEqual(request.state, "pending")
        step_one, step_two = request.step_ids.sorted("sequence")

        # the requester cannot approve, force the state, nor forge a decision
        with self.assertRaisesRegex(JsonRpcException, "AccessError"):
            self.call_kw("saas.approval.request.step", "action_approve", [[step_one.id]])
        with self.assertRaisesRegex(JsonRpcException, "AccessError"):
            self.call_kw("saas.approval.request", "write", [[request.id], {"state": "approved"}],
                         {"context": {"saas_approval_internal": True}})
        with self.assertRaisesRegex(JsonRpcException, "AccessError"):
            self.call_kw("saas.approval.decision", "create", [{
                "request_id": request.id, "user_id": self.approver.id,
                "decision": "approve", "channel": "api"}])
        with self.assertRaises(JsonRpcException):
            self.call_kw("saas.approval.request.step", "_decide", [[step_one.id], "approve"])

        # the approver approves step one through the external API
        answer = self.external("rpc_approver", "saas.approval.request.step", "action_approve",
                               [[step_one.id]])
        self.assertNotIn("error", answer)
        request.invalidate_recordset()
        self.assertEqual(step_one.state, "approved")
        self.assertEqual(request.decision_ids.channel, "api")
        # ... but cannot fill step two as well
        answer = self.external("rpc_approver", "saas.approval.request.step", "action_approve",
                               [[step_two.id]])
        self.assertIn("another step", answer["error"]["data"]["message"])
        self.authenticate("rpc_second", "rpc_second")
        self.call_kw("saas.approval.request.step", "action_approve", [[step_two.id]])
        request.invalidate_recordset()
        self.assertEqual(request.state, "approved")
        self.assertEqual(request.decision_ids.sorted("id")[-1].channel, "button")

        self.authenticate("rpc_requester", "rpc_requester")
        self.call_kw("res.partner", "action_archive", [[self.partner.id]])
        self.partner.invalidate_recordset()
        self.assertFalse(self.partner.active)
