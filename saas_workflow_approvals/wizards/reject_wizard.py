from odoo import fields, models


class SaasApprovalRejectWizard(models.TransientModel):
    _name = "saas.approval.reject.wizard"
    _description = "Reject an approval request"

    step_id = fields.Many2one("saas.approval.request.step", required=True, ondelete="cascade")
    activity_id = fields.Many2one("mail.activity", ondelete="set null")
    request_name = fields.Char(related="step_id.request_id.name")
    res_name = fields.Char(related="step_id.request_id.res_name")
    reason = fields.Text(required=True)

    def action_confirm(self):
        self.ensure_one()
        channel = "activity" if self.activity_id else None
        self.step_id.with_env(self.env)._decide("reject", comment=self.reason, channel=channel)
        return {"type": "ir.actions.act_window_close", "infos": {"saas_approval": "rejected"}}
