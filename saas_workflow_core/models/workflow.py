from odoo import api, fields, models


class SaasWorkflow(models.Model):
    """A registered, governed workflow: who owns it, what it consumes and emits,
    and who handles its failures."""

    _name = "saas.workflow"
    _description = "Registered Workflow"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "criticality, name"

    name = fields.Char(required=True, tracking=True, translate=True)
    code = fields.Char(
        help="Technical key used by templates and integrations.", tracking=True, copy=False
    )
    active = fields.Boolean(default=True, tracking=True)
    owner_id = fields.Many2one(
        "res.users",
        required=True,
        default=lambda self: self.env.user,
        tracking=True,
        help="Accountable for the workflow's behaviour and configuration.",
    )
    exception_user_id = fields.Many2one(
        "res.users",
        string="Exception Handler",
        tracking=True,
        help="Receives an activity when a delivery of this workflow ends in the dead letter "
        "queue. Defaults to the owner.",
    )
    purpose = fields.Html(help="What the workflow is for, in business terms.")
    criticality = fields.Selection(
        [("compliance", "Compliance-mandatory"), ("operational", "Operational")],
        default="operational",
        required=True,
        tracking=True,
    )
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company, tracking=True)
    consumed_type_ids = fields.Many2many(
        "saas.workflow.event.type",
        "saas_workflow_consumed_type_rel",
        "workflow_id",
        "type_id",
        string="Inputs (events consumed)",
        tracking=True,
    )
    emitted_type_ids = fields.Many2many(
        "saas.workflow.event.type",
        "saas_workflow_emitted_type_rel",
        "workflow_id",
        "type_id",
        string="Outputs (events emitted)",
        tracking=True,
    )
    subscription_ids = fields.One2many("saas.workflow.subscription", "workflow_id")
    source_ids = fields.One2many("base.automation", "saas_workflow_id", string="Event Sources")
    subscription_count = fields.Integer(compute="_compute_counts")
    source_count = fields.Integer(compute="_compute_counts")
    dead_count = fields.Integer(compute="_compute_counts", string="Dead Deliveries")

    _sql_constraints = [
        ("code_uniq", "unique(code)", "A workflow with this code already exists."),
    ]

    @api.depends("subscription_ids", "source_ids")
    def _compute_counts(self):
        dead = dict(
            self.env["saas.workflow.delivery"]._read_group(
                [("workflow_id", "in", self.ids), ("state", "=", "dead")],
                ["workflow_id"],
                ["__count"],
            )
        )
        for workflow in self:
            workflow.subscription_count = len(workflow.subscription_ids)
            workflow.source_count = len(workflow.source_ids)
            workflow.dead_count = dead.get(workflow, 0)

    def _exception_user(self):
        self.ensure_one()
        return self.exception_user_id or self.owner_id

    def action_open_dead_letter(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "saas_workflow_core.action_dead_letter"
        )
        action["domain"] = [("workflow_id", "=", self.id), ("state", "=", "dead")]
        return action
