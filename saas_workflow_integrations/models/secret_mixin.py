import datetime

from odoo import api, fields, models
from odoo.exceptions import AccessError

from ..lib import signing


class SaasWebhookSecretMixin(models.AbstractModel):
    """Signing secret with rotation: the previous secret stays valid for an overlap."""

    _name = "saas.webhook.secret.mixin"
    _description = "Webhook Secret (with rotation)"

    secret = fields.Char(groups="base.group_system", copy=False, prefetch=False)
    previous_secret = fields.Char(groups="base.group_system", copy=False, prefetch=False)
    previous_secret_valid_until = fields.Datetime(
        copy=False, readonly=True, help="The previous secret is dropped after this moment."
    )
    secret_overlap_hours = fields.Integer(
        string="Rotation Overlap (hours)",
        default=24,
        help="After a rotation the previous secret stays valid this long.",
    )
    secret_rotated_at = fields.Datetime(copy=False, readonly=True)
    has_secret = fields.Boolean(compute="_compute_has_secret", string="Secret Set")

    def _compute_has_secret(self):
        self.env.cr.execute(
            f"SELECT id, secret IS NOT NULL AND secret != '' FROM {self._table} WHERE id = ANY(%s)",
            (list(self._origin.ids),),
        )
        flags = dict(self.env.cr.fetchall())
        for rec in self:
            rec.has_secret = flags.get(rec._origin.id, False)

    def _current_secrets(self):
        """Secrets that sign (outbound) or are accepted (inbound) right now."""
        self.ensure_one()
        rec = self.sudo()
        until = rec.previous_secret_valid_until
        return signing.signing_secrets(
            rec.secret,
            rec.previous_secret,
            previous_valid_until=until.replace(tzinfo=datetime.timezone.utc).timestamp() if until else None,
        )

    def _rotate_secret(self):
        """Generate a new secret, keep the current one for the overlap; return the new one."""
        self.ensure_one()
        rec = self.sudo()
        new = signing.generate_secret()
        now = fields.Datetime.now()
        vals = {"secret": new, "secret_rotated_at": now}
        if rec.secret and rec.secret_rotated_at:
            # The current secret was shown, receivers may use it: keep it for the overlap.
            # One generated at creation and never shown is simply replaced.
            vals.update(
                previous_secret=rec.secret,
                previous_secret_valid_until=now + datetime.timedelta(hours=max(rec.secret_overlap_hours, 0)),
            )
        rec.write(vals)
        return new

    def action_rotate_secret(self):
        """Generate (or rotate) the secret and show it once in a dialog."""
        self.ensure_one()
        if not self.env.user.has_group("base.group_system"):
            raise AccessError(self.env._("Only administrators can generate signing secrets."))
        new = self._rotate_secret()
        if hasattr(self, "message_post"):
            self.message_post(
                body=self.env._(
                    "Signing secret rotated; the previous one stays valid until %(until)s.",
                    until=self.previous_secret_valid_until or "-",
                )
            )
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("New signing secret"),
            "res_model": "saas.webhook.secret.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_secret": new, "default_owner_ref": f"{self._name},{self.id}"},
        }

    @api.model
    def _drop_expired_secrets(self):
        now = fields.Datetime.now()
        expired = self.sudo().with_context(active_test=False).search(
            [("previous_secret_valid_until", "!=", False), ("previous_secret_valid_until", "<", now)]
        )
        expired.write({"previous_secret": False, "previous_secret_valid_until": False})
        return len(expired)
