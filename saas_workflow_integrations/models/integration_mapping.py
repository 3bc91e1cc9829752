from odoo import api, fields, models
from odoo.exceptions import ValidationError


class SaasIntegrationMapping(models.Model):
    """One version of a receiver's field names for the canonical payload.

    Endpoints pin a mapping version: when the canonical payload evolves, a new
    version is added and each receiver moves to it when it is ready.
    """

    _name = "saas.integration.mapping"
    _description = "Integration Field Mapping"
    _order = "code, version desc"

    name = fields.Char(required=True)
    code = fields.Char(required=True, help="Stable identifier shared by all versions.")
    version = fields.Integer(required=True, default=1)
    active = fields.Boolean(default=True)
    event_type_id = fields.Many2one(
        "saas.workflow.event.type",
                ondelete="cascade",
        help="Apply only to events of this type. Empty: every type.",
    )
    keep_unmapped = fields.Boolean(
        help="Also send the canonical fields that have no line, under their canonical names."
    )
    line_ids = fields.One2many("saas.integration.mapping.line", "mapping_id", copy=True)
    description = fields.Text()

    _sql_constraints = [
        ("code_version_uniq", "unique(code, version)", "A mapping version exists only once."),
    ]

    @api.depends("name", "version")
    def _compute_display_name(self):
        for mapping in self:
            mapping.display_name = f"{mapping.name} v{mapping.version}"

    def _pairs(self):
        self.ensure_one()
        return [(line.canonical_field, line.external_name) for line in self.line_ids]

    def _applies_to(self, event):
        self.ensure_one()
        return not self.event_type_id or self.event_type_id == event.event_type_id

    def action_new_version(self):
        """Copy this mapping as the next version (lines included)."""
        self.ensure_one()
        last = self.search([("code", "=", self.code)], order="version desc", limit=1)
        new = self.copy({"version": last.version + 1})
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": new.id,
            "view_mode": "form",
        }


class SaasIntegrationMappingLine(models.Model):
    _name = "saas.integration.mapping.line"
    _description = "Integration Field Mapping Line"
    _order = "sequence, id"

    mapping_id = fields.Many2one("saas.integration.mapping", required=True, ondelete="cascade", index=True)
    sequence = fields.Integer(default=10)
    canonical_field = fields.Char(
        required=True, help="Field of the canonical payload; dots reach nested objects (partner.name)."
    )
    external_name = fields.Char(
        required=True, help="Name the receiver expects; dots build nested objects."
    )

    @api.constrains("canonical_field", "external_name")
    def _check_paths(self):
        for line in self:
            for path in (line.canonical_field, line.external_name):
                if not path or any(not part for part in path.split(".")):
                    raise ValidationError(self.env._("Invalid field path: %(path)s", path=path))
