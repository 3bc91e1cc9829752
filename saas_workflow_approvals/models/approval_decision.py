from odoo import api, fields, models
from odoo.exceptions import AccessError

from ..lib import escalation
from .common import is_internal


class SaasApprovalDecision(models.Model):
    """Append-only audit log of approval decisions and system actions."""

    _name = "saas.approval.decision"
    _description = "Approval decision"
    _order = "decided_at desc, id desc"

    request_id = fields.Many2one("saas.approval.request", required=True, ondelete="restrict",
                                 index=True, readonly=True)
    step_id = fields.Many2one("saas.approval.request.step", ondelete="restrict", index=True,
                              readonly=True)
    step_name = fields.Char(related="step_id.name", store=True, string="Step name")
    policy_id = fields.Many2one(related="request_id.policy_id", store=True, index=True)
    company_id = fields.Many2one(related="request_id.company_id", store=True)
    res_model = fields.Char(related="request_id.res_model", store=True)
    res_id = fields.Many2oneReference(related="request_id.res_id", store=True,
                                      model_field="res_model")
    res_name = fields.Char(related="request_id.res_name", string="Document")
    user_id = fields.Many2one("res.users", string="Decided by", required=True, readonly=True,
                              index=True)
    on_behalf_of_id = fields.Many2one("res.users", string="On behalf of", readonly=True)
    decision = fields.Selection(
        [
            ("approve", "Approved"),
            ("reject", "Rejected"),
            ("escalate", "Escalated"),
        ],
        required=True,
        readonly=True,
    )
    escalation_action = fields.Selection(
        [
            (escalation.REASSIGN, "Reassigned"),
            (escalation.NOTIFY, "Manager notified"),
            (escalation.AUTO_REJECT, "Rejected automatically"),
        ],
        readonly=True,
    )
    comment = fields.Text(readonly=True)
    channel = fields.Selection(
        [("button", "Button"), ("activity", "Activity"), ("api", "API"), ("system", "System")],
        required=True,
        readonly=True,
    )
    decided_at = fields.Datetime(required=True, readonly=True, default=fields.Datetime.now)
    response_hours = fields.Float(readonly=True, aggregator="avg",
                                  help="Hours between the step opening and this decision.")
    summary = fields.Char(compute="_compute_summary")

    @api.depends("user_id", "on_behalf_of_id", "decision")
    def _compute_summary(self):
        labels = dict(self._fields["decision"]._description_selection(self.env))
        for rec in self:
            if rec.on_behalf_of_id and rec.on_behalf_of_id != rec.user_id:
                rec.summary = self.env._(
                    "%(decision)s by %(user)s on behalf of %(other)s",
                    decision=labels.get(rec.decision), user=rec.user_id.name,
                    other=rec.on_behalf_of_id.name,
                )
            else:
                rec.summary = self.env._(
                    "%(decision)s by %(user)s", decision=labels.get(rec.decision),
                    user=rec.user_id.name,
                )

    @api.model_create_multi
    def create(self, vals_list):
        if not is_internal(self.env):
            raise AccessError(self.env._("Decisions are recorded by the approval engine only."))
        return super().create(vals_list)

    def write(self, vals):  # pylint: disable=method-required-super
        # append-only: no caller, internal or not, may change a recorded decision
        raise AccessError(self.env._("The decision log is append-only."))

    @api.ondelete(at_uninstall=False)
    def _unlink_except_append_only(self):
        # append-only: no caller, internal or not, may delete a recorded decision
        raise AccessError(self.env._("The decision log is append-only."))
