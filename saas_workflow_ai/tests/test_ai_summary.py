from odoo.tests import tagged

from .common import AiCase


@tagged("post_install", "-at_install")
class TestSummary(AiCase):
    def test_summary_drafted_audited_and_never_sent_to_customer(self):
        self.profile.enable_summary = True
        self.assertTrue(self.profile.summary_action_id)
        partner = self.env["res.partner"].create(
            {"name": "Quentin Quark", "email": "quentin@customer.example"}
        )
        task = self._task("Long thread", partner_id=partner.id)
        task.message_subscribe(partner_ids=partner.ids)
        task.message_post(
            body="My printer prints blank pages. Mail me at quentin@customer.example",
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
            author_id=partner.id,
        )
        self.server.add_rule("blank pages", summary="Customer's printer prints blank pages.")
        action = self.env["saas.ai.summary.wizard"]._action_open(task)
        wizard = self.env["saas.ai.summary.wizard"].browse(action["res_id"])
        self.assertEqual(wizard.summary, "Customer's printer prints blank pages.")
        decision = wizard.decision_id
        self.assertEqual(decision.kind, "summary")
        self.assertEqual(decision.status, "ok")
        self.assertEqual(decision.summary_text, wizard.summary)
        sent = "\n".join(self._sent_texts())
        self.assertIn("blank pages", sent)
        self.assertNotIn("quentin@customer.example", sent)
        self.assertNotIn("Quentin", sent)
        # drafting sent nothing to the customer; posting is an internal note
        messages_before = task.message_ids
        wizard.action_post_note()
        note = task.message_ids - messages_before
        self.assertEqual(len(note), 1)
        self.assertEqual(note.subtype_id, self.env.ref("mail.mt_note"))
        self.assertFalse(note.partner_ids)

    def test_summary_blocked_by_policy(self):
        self.profile.enable_summary = True
        self.company.saas_ai_allow_external = False
        task = self._task("Thread")
        task.message_post(body="Hello there", message_type="comment")
        action = self.env["saas.ai.summary.wizard"]._action_open(task)
        wizard = self.env["saas.ai.summary.wizard"].browse(action["res_id"])
        self.assertFalse(self.server.requests)
        self.assertEqual(wizard.decision_id.status, "blocked")
        self.assertFalse(wizard.summary)
