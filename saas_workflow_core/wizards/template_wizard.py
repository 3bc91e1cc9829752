from odoo import api, fields, models

from ..lib import templates as tpl


class SaasWorkflowTemplateWizard(models.TransientModel):
    """Configure and activate a template: owner, exception handler, parameters."""

    _name = "saas.workflow.template.wizard"
    _description = "Configure Workflow Template"

    template_id = fields.Many2one("saas.workflow.template", required=True, ondelete="cascade")
    description = fields.Html(related="template_id.description")
    missing_modules = fields.Char(related="template_id.missing_modules")
    available = fields.Boolean(related="template_id.available")
    owner_id = fields.Many2one(
        "res.users", required=True, default=lambda self: self.env.user,
        help="Accountable for the workflow the template creates.",
    )
    exception_user_id = fields.Many2one(
        "res.users", string="Exception Handler",
        help="Receives the activities of the workflow's exceptions. Defaults to the owner.",
    )
    line_ids = fields.One2many("saas.workflow.template.wizard.line", "wizard_id", string="Parameters")

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        template = self.env["saas.workflow.template"].browse(values.get("template_id"))
        if template:
            if template.workflow_id:
                values["owner_id"] = template.workflow_id.owner_id.id
                values["exception_user_id"] = template.workflow_id.exception_user_id.id
            values["line_ids"] = [
                (0, 0, {
                    "param_id": param.id,
                    "value_integer": param.value_integer,
                    "value_float": param.value_float,
                    "value_char": param.value_char,
                    "value_boolean": param.value_boolean,
                    "value_user_id": param.value_user_id.id,
                })
                for param in template.param_ids
            ]
        return values

    def action_apply(self):
        self.ensure_one()
        self.template_id._check_activable()
        for line in self.line_ids:
            field = tpl.param_field(line.param_id.value_type)
            value = line[field]
            line.param_id.sudo().write({field: value.id if field == "value_user_id" else value})
        workflow = self.template_id._activate(self.owner_id, self.exception_user_id)
        return {
            "type": "ir.actions.act_window",
            "res_model": "saas.workflow",
            "res_id": workflow.id,
            "view_mode": "form",
        }


class SaasWorkflowTemplateWizardLine(models.TransientModel):
    _name = "saas.workflow.template.wizard.line"
    _description = "Workflow Template Parameter Value"

    wizard_id = fields.Many2one("saas.workflow.template.wizard", required=True, ondelete="cascade")
    param_id = fields.Many2one("saas.workflow.template.param", required=True, ondelete="cascade")
    name = fields.Char(related="param_id.name")
    help = fields.Char(related="param_id.help")
    value_type = fields.Selection(related="param_id.value_type")
    value_integer = fields.Integer(string="Whole Number")
    value_float = fields.Float(string="Decimal Number")
    value_char = fields.Char(string="Text")
    value_boolean = fields.Boolean(string="Yes/No")
    value_user_id = fields.Many2one("res.users", string="User")
