"""Helpers shared by the approval models.

``INTERNAL`` is a process-local marker object put in the context by the
decision methods. Remote callers send JSON contexts and therefore can never
forge it: protected fields (states, approvers, fingerprints, decisions) can
only be written by the server-side state machine.
"""

from odoo.exceptions import AccessError

INTERNAL_KEY = "saas_approval_internal"
INTERNAL = object()

APPROVAL_ACTIVITY_XMLID = "saas_workflow_approvals.mail_activity_type_approval"

# Context key holding the ``(model, res_id, partner_id)`` follower subscriptions the
# approval engine already made for the activities it is creating.
SUBSCRIBED_KEY = "saas_approval_subscribed"


def is_internal(env):
    return env.context.get(INTERNAL_KEY) is INTERNAL


def internal(records):
    """Return ``records`` as superuser with the internal marker set."""
    return records.sudo().with_context(**{INTERNAL_KEY: INTERNAL})


def check_protected_write(records, vals, protected):
    """Refuse writes of protected fields coming from outside the state machine."""
    forbidden = sorted(set(vals) & set(protected))
    if forbidden and not is_internal(records.env):
        raise AccessError(
            records.env._(
                "The fields %(fields)s of %(model)s are managed by the approval engine and "
                "cannot be modified directly.",
                fields=", ".join(forbidden),
                model=records._description,
            )
        )


def hours_between(start, end):
    if not start or not end:
        return 0.0
    return round((end - start).total_seconds() / 3600.0, 4)
