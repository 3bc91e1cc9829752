from odoo.tests import TransactionCase, new_test_user

from .fake_openai_server import FakeOpenAIServer


def loopback_provider(env, server, name, **vals):
    """An OpenAI-compatible provider pointing at the loopback ``server`` (short timeouts,
    one retry), as every AI test uses it."""
    return env["saas.ai.provider"].create({
        "name": name,
        "provider_type": "openai",
        "base_url": server.base_url,
        "model_name": "fake-model",
        "api_key_input": "sk-test-secret",
        "timeout": 2.0,
        "max_retries": 1,
        "max_rate_wait": 1.0,
        **vals,
    })


class AiCase(TransactionCase):
    """A project.task classification profile against a real loopback OpenAI-compatible server."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = FakeOpenAIServer().start()
        cls.addClassCleanup(cls.server.stop)
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.company = cls.env.company
        cls.company.saas_ai_allow_external = True
        cls.reviewer = new_test_user(
            cls.env, login="ai_reviewer", name="Rita Reviewer", email="rita@example.com",
            groups="base.group_user,saas_workflow_ai.group_ai_user,project.group_project_user",
        )
        cls.manager = new_test_user(
            cls.env, login="ai_manager", name="Max Manager",
            groups="base.group_user,saas_workflow_ai.group_ai_manager,project.group_project_manager",
        )
        cls.project = cls.env["project.project"].create({"name": "Support"})
        Tag = cls.env["project.tags"]
        cls.tag_billing = Tag.create({"name": "AI Billing"})
        cls.tag_technical = Tag.create({"name": "AI Technical"})
        cls.tag_account = Tag.create({"name": "AI Account"})
        cls.provider = loopback_provider(cls.env, cls.server, "Loopback LLM", samples=3)
        cls.profile = cls._make_profile(cls.provider, "Ticket triage")

    @classmethod
    def _field(cls, model, name):
        return cls.env["ir.model.fields"]._get(model, name)

    @classmethod
    def _make_profile(cls, provider, name, mode="auto", threshold=0.8):
        fname = cls._field("project.task", "name")
        fdesc = cls._field("project.task", "description")
        fpartner = cls._field("project.task", "partner_id")
        tag_ref = "project.tags,%d"
        return cls.env["saas.ai.profile"].create(
            {
                "name": name,
                "model_id": cls.env["ir.model"]._get_id("project.task"),
                "provider_id": provider.id,
                "allow_external": True,
                "mode": mode,
                "confidence_threshold": threshold,
                "filter_domain": "[('project_id', '=', %d)]" % cls.project.id,
                "allowed_field_ids": [(6, 0, [fname.id, fdesc.id, fpartner.id])],
                "input_field_ids": [(6, 0, [fname.id, fdesc.id])],
                "review_user_ids": [(6, 0, cls.reviewer.ids)],
                "output_ids": [
                    (
                        0,
                        0,
                        {
                            "name": "category",
                            "field_id": cls._field("project.task", "tag_ids").id,
                            "label_ids": [
                                (0, 0, {"name": "billing", "value_ref": tag_ref % cls.tag_billing.id}),
                                (0, 0, {"name": "technical",
                                        "value_ref": tag_ref % cls.tag_technical.id}),
                                (0, 0, {"name": "account", "value_ref": tag_ref % cls.tag_account.id}),
                            ],
                        },
                    ),
                    (
                        0,
                        0,
                        {
                            "name": "priority",
                            "field_id": cls._field("project.task", "priority").id,
                            "label_ids": [
                                (0, 0, {"name": "normal", "value_char": "0"}),
                                (0, 0, {"name": "urgent", "value_char": "1"}),
                            ],
                        },
                    ),
                ],
            }
        )

    def setUp(self):
        super().setUp()
        self.server.reset()
        self.server.logprobs = "on"

    # ------------------------------------------------------------------ helpers
    def _task(self, name, description="", **vals):
        return self.env["project.task"].create(
            dict({"name": name, "description": description, "project_id": self.project.id}, **vals)
        )

    def _dispatch(self):
        return self.env["saas.workflow.delivery"]._dispatch()

    def _decision(self, task, profile=None):
        return self.env["saas.ai.decision"].search(
            [
                ("res_model", "=", "project.task"),
                ("res_id", "=", task.id),
                ("profile_id", "=", (profile or self.profile).id),
            ],
            order="id desc",
            limit=1,
        )

    def _events(self, code, task):
        return self.env["saas.workflow.event"].search(
            [("code", "=", code), ("res_model", "=", "project.task"), ("res_id", "=", task.id)]
        )

    def _review_activities(self, decision):
        return decision.activity_ids.filtered(
            lambda a: a.activity_type_id == self.env.ref("saas_workflow_ai.mail_activity_ai_review")
        )

    def _sent_texts(self):
        """User messages actually received by the server."""
        return [
            m["content"]
            for body in self.server.bodies()
            for m in body["messages"]
            if m["role"] == "user"
        ]
