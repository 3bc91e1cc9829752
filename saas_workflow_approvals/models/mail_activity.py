from odoo import api, fields, models
from odoo.exceptions import UserError

from .common import SUBSCRIBED_KEY, is_internal


class MailThread(models.AbstractModel):
    _inherit = "mail.thread"

    def message_subscribe(self, partner_ids=None, subtype_ids=None):
        """Skip the subscriptions the approval engine made already for its activities.

        ``mail.activity.create`` subscribes each assignee in its own call; the
        approval engine subscribes all of a batch's assignees beforehand (see
        ``saas.approval.request.step._create_activities``). The context value is a
        frozenset, which a JSON-RPC context cannot carry.
        """
        done = self.env.context.get(SUBSCRIBED_KEY)
        if (
            isinstance(done, frozenset)
            and partner_ids
            and not subtype_ids
            and all((self._name, res_id, partner_id) in done
                    for res_id in self.ids for partner_id in partner_ids)
        ):
            return True
        return super().message_subscribe(partner_ids=partner_ids, subtype_ids=subtype_ids)


class MailActivity(models.Model):
    _inherit = "mail.activity"

    saas_approval_step_id = fields.Many2one(
        "saas.approval.request.step", string="Approval step", ondelete="cascade",
        index="btree_not_null", readonly=True,
    )
    saas_approval_approver_id = fields.Many2one(
        "res.users", string="Approver slot", readonly=True,
        help="Approver this activity stands for (the assignee may be their delegate).",
    )
    saas_approval_request_id = fields.Many2one(
        related="saas_approval_step_id.request_id", string="Approval request"
    )

    def _saas_step(self):
        self.ensure_one()
        step = self.sudo().saas_approval_step_id
        if not step:
            raise UserError(self.env._("This activity is not an approval."))
        return step.with_env(self.env)

    def action_saas_approve(self, comment=None):
        """Approve the request behind the activity (called from the chatter)."""
        for activity in self:
            activity._saas_step()._decide("approve", comment=comment, channel="activity")
        return True

    def action_saas_reject(self, reason=None):
        """Reject with ``reason``; without one, open the reason wizard."""
        self.ensure_one()
        step = self._saas_step()
        if reason:
            step._decide("reject", comment=reason, channel="activity")
            return True
        return step._open_reject_wizard(activity=self)

    def _action_done(self, feedback=False, attachment_ids=None):
        if not is_internal(self.env) and self.filtered("saas_approval_step_id"):
            raise UserError(
                self.env._("Approval activities are closed by approving or rejecting the request.")
            )
        return super()._action_done(feedback=feedback, attachment_ids=attachment_ids)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_pending_approval(self):
        if is_internal(self.env) or self.env.su:
            return
        if self.filtered(lambda a: a.saas_approval_step_id.state == "pending"):
            raise UserError(
                self.env._("A pending approval activity cannot be cancelled; approve or reject.")
            )
