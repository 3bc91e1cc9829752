from odoo import api, fields, models
from odoo.exceptions import UserError


class SaasAiReviewWizard(models.TransientModel):
    _name = "saas.ai.review.wizard"
    _description = "Review an AI Decision"

    decision_id = fields.Many2one("saas.ai.decision", required=True, ondelete="cascade")
    line_ids = fields.One2many("saas.ai.review.wizard.line", "wizard_id")

    @api.model
    def _action_open(self, decision):
        wizard = self.create(
            {
                "decision_id": decision.id,
                "line_ids": [
                    (
                        0,
                        0,
                        {
                            "output_id": output.id,
                            "suggested_label_id": decision.line_ids.filtered(
                                lambda x, o=output: x.output_id == o
                            )[:1].label_id.id,
                            "final_label_id": decision.line_ids.filtered(
                                lambda x, o=output: x.output_id == o
                            )[:1].label_id.id,
                        },
                    )
                    for output in decision.profile_id.output_ids
                ],
            }
        )
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": wizard.id,
            "view_mode": "form",
            "target": "new",
            "name": self.env._("Review AI classification"),
        }

    def action_apply(self):
        self.ensure_one()
        decision = self.decision_id
        decision._check_reviewer()
        if decision.state not in decision._REVIEW_STATES:
            raise UserError(self.env._("This decision is not waiting for review anymore."))
        choices = {line.output_id: line.final_label_id for line in self.line_ids}
        if not any(choices.values()):
            raise UserError(self.env._("Choose at least one label."))
        decision._apply_review(choices)
        return {"type": "ir.actions.act_window_close"}


class SaasAiReviewWizardLine(models.TransientModel):
    _name = "saas.ai.review.wizard.line"
    _description = "Review an AI Decision: field"

    wizard_id = fields.Many2one("saas.ai.review.wizard", required=True, ondelete="cascade")
    output_id = fields.Many2one("saas.ai.profile.output", required=True, readonly=True)
    suggested_label_id = fields.Many2one("saas.ai.label", readonly=True)
    final_label_id = fields.Many2one(
        "saas.ai.label", string="Correct Label", domain="[('output_id', '=', output_id)]"
    )
