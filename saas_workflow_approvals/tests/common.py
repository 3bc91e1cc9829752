from odoo.tests import new_test_user
from odoo.tests.common import TransactionCase


class ApprovalCase(TransactionCase):
    """Users and a helper to build policies on res.partner (always installed).

    The guarded action in these tests is ``res.partner.action_archive``:
    archiving a company contact needs approval.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        groups = "base.group_user,base.group_partner_manager"
        cls.requester = new_test_user(cls.env, "apr_requester", groups=groups, name="Rita Requester")
        cls.approver_a = new_test_user(cls.env, "apr_a", groups=groups, name="Alice Approver")
        cls.approver_b = new_test_user(cls.env, "apr_b", groups=groups, name="Bob Approver")
        cls.approver_c = new_test_user(cls.env, "apr_c", groups=groups, name="Carol Approver")
        cls.delegate = new_test_user(cls.env, "apr_delegate", groups=groups, name="Dan Delegate")
        cls.escalation_user = new_test_user(cls.env, "apr_boss", groups=groups, name="Eve Escalation")
        cls.outsider = new_test_user(cls.env, "apr_outsider", groups=groups, name="Oscar Outsider")
        cls.admin_mgr = new_test_user(
            cls.env, "apr_manager",
            groups=groups + ",saas_workflow_approvals.group_approval_manager",
            name="Max Manager",
        )
        cls.Policy = cls.env["saas.approval.policy"]
        # demo policies must not interfere with the ones built by the tests
        cls.Policy.search([]).write({"active": False})
        cls.Request = cls.env["saas.approval.request"]
        cls.partner_model = cls.env["ir.model"]._get("res.partner")

    def make_policy(self, steps, **vals):
        values = {
            "name": "Archive companies",
            "model_id": self.partner_model.id,
            "method_name": "action_archive",
            "filter_domain": "[('is_company', '=', True)]",
            "company_id": False,
            "step_ids": [(0, 0, step) for step in steps],
        }
        values.update(vals)
        return self.Policy.create(values)

    @staticmethod
    def users_step(users, name="Review", **vals):
        step = {"name": name, "approver_type": "users", "user_ids": [(6, 0, users.ids)]}
        step.update(vals)
        return step

    def make_company(self, name="ACME Corp", **vals):
        return self.env["res.partner"].create({"name": name, "is_company": True, **vals})

    def archive_as(self, user, partner):
        return partner.with_user(user).action_archive()

    def request_for(self, record, method="action_archive"):
        return self.Request.search(
            [("res_model", "=", record._name), ("res_id", "=", record.id),
             ("method_name", "=", method)],
            order="id desc", limit=1,
        )

    def events(self, code, request):
        return self.env["saas.workflow.event"].sudo().search(
            [("code", "=", code), ("res_model", "=", request.res_model),
             ("res_id", "=", request.res_id)]
        ).filtered(lambda e: (e.payload or {}).get("request_id") == request.id)

    def approval_activities(self, record):
        return self.env["mail.activity"].sudo().search(
            [("res_model", "=", record._name), ("res_id", "=", record.id),
             ("saas_approval_step_id", "!=", False)]
        )
