from . import (
    approval_decision,
    approval_delegation,
    approval_policy,
    approval_policy_step,
    approval_request,
    approval_request_step,
    common,
    mail_activity,
    mail_activity_type,
)
