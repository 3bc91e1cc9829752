from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged

from .common import AiCase


@tagged("post_install", "-at_install")
class TestReview(AiCase):
    def _queued(self, text, category="technical", p=0.6):
        self.server.add_rule(
            text,
            labels={"category": category, "priority": "normal"},
            probs={"category": {category: p, "account": 1 - p}, "priority": {"normal": 0.6}},
        )
        task = self._task(text)
        self._dispatch()
        decision = self._decision(task)
        self.assertEqual(decision.state, "review")
        return task, decision

    def test_accept_in_one_click(self):
        task, decision = self._queued("screen flickers")
        decision.with_user(self.reviewer).action_accept()
        self.assertEqual(decision.state, "reviewed")
        self.assertEqual(decision.review_result, "accepted")
        self.assertEqual(decision.reviewer_id, self.reviewer)
        self.assertEqual(task.tag_ids, self.tag_technical)
        self.assertFalse(self._review_activities(decision))
        self.assertEqual(decision.line_ids.final_label_id, decision.line_ids.label_id)
        event = self._events("ai.classification.applied", task).filtered(
            lambda e: e.payload.get("reviewed_by")
        )
        self.assertEqual(event.payload["reviewed_by"], self.reviewer.id)
        with self.assertRaises(UserError):
            decision.with_user(self.reviewer).action_accept()

    def test_correct_through_wizard(self):
        task, decision = self._queued("cannot log in")
        action = decision.with_user(self.reviewer).action_correct()
        wizard = self.env["saas.ai.review.wizard"].with_user(self.reviewer).browse(action["res_id"])
        with Form(wizard) as form:
            with form.line_ids.edit(0) as line:
                line.final_label_id = self.profile.output_ids[0].label_ids.filtered(
                    lambda lab: lab.name == "account"
                )
        wizard.action_apply()
        self.assertEqual(decision.state, "reviewed")
        self.assertEqual(decision.review_result, "corrected")
        self.assertEqual(task.tag_ids, self.tag_account)
        cat = decision.line_ids.filtered(lambda x: x.output_id.key == "category")
        self.assertEqual(cat.final_label_id.name, "account")
        self.assertFalse(cat.correct)

    def test_only_review_team_reviews(self):
        _task, decision = self._queued("strange noise")
        outsider = self.env["res.users"].create(
            {
                "name": "Outsider",
                "login": "ai_outsider",
                "groups_id": [
                    (6, 0, [self.env.ref("base.group_user").id,
                            self.env.ref("saas_workflow_ai.group_ai_user").id])
                ],
            }
        )
        with self.assertRaises(AccessError):
            decision.with_user(outsider).action_accept()
        self.assertEqual(decision.state, "review")

    def test_reviews_feed_calibration(self):
        output = self.profile.output_ids.filtered(lambda o: o.key == "category")
        self.assertFalse(output.calibrated_at)
        label_account = output.label_ids.filtered(lambda lab: lab.name == "account")
        # an over-confident provider: 0.75 stated, right only half of the time
        for index in range(12):
            _task, decision = self._queued("ticket number %02d" % index, p=0.75)
            if index % 2:
                decision.with_user(self.reviewer).action_accept()
            else:
                decision.with_user(self.reviewer)._apply_review({output: label_account})
        self.assertTrue(output.calibrated_at)
        self.assertEqual(output.calibration_samples, 12)
        self.assertEqual(output.calibration_method, "logprobs")
        self.assertAlmostEqual(output.accuracy, 0.5)
        self.assertGreater(output.temperature, 1.0)
        self.assertLess(output.ece_calibrated, output.ece_raw)
        # 12 category reviews (half right) and 6 accepted priorities
        self.assertAlmostEqual(self.profile.accuracy, 12 / 18)
        self.assertEqual(self.profile.reviewed_count, 12)
        # the next decision uses the calibrated confidence
        _task, decision = self._queued("ticket after calibration", p=0.75)
        line = decision.line_ids.filtered(lambda x: x.output_id == output)
        self.assertAlmostEqual(line.raw_confidence, 0.75, places=3)
        self.assertLess(line.confidence, 0.7)
        # corrections are labeled data for retraining
        texts, labels = self.profile._training_data(output)
        self.assertEqual(labels.count("account"), 6)
        self.assertGreaterEqual(len(texts), 12)
