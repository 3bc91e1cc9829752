"""HR and internal requests: state machine, routing and parameter checks (no Odoo import).

A request moves ``draft -> submitted -> approved -> done``; ``submitted`` ends in
``rejected`` when an approver says no, and open requests can be cancelled. On
submission the request is routed to the requester's direct manager, else the
manager of their department, else the category's responsible: the first of
those who is not the requester (nobody approves their own request).
"""

DRAFT = "draft"
SUBMITTED = "submitted"
APPROVED = "approved"
REJECTED = "rejected"
DONE = "done"
CANCELLED = "cancelled"

STATES = (DRAFT, SUBMITTED, APPROVED, REJECTED, DONE, CANCELLED)

SUBMIT = "submit"
APPROVE = "approve"
REJECT = "reject"
FULFIL = "done"
CANCEL = "cancel"
RESET = "reset"

# action -> (states it may start from, state it leads to)
TRANSITIONS = {
    SUBMIT: ((DRAFT,), SUBMITTED),
    APPROVE: ((SUBMITTED,), APPROVED),
    REJECT: ((SUBMITTED,), REJECTED),
    FULFIL: ((APPROVED,), DONE),
    CANCEL: ((DRAFT, SUBMITTED, APPROVED), CANCELLED),
    RESET: ((REJECTED, CANCELLED), DRAFT),
}

# where the approver of the first step came from
SOURCE_MANAGER = "manager"
SOURCE_DEPARTMENT = "department"
SOURCE_CATEGORY = "category"

# category approval rules
RULE_STANDARD = "standard"  # manager, and the finance approver above the threshold
RULE_MANAGER = "manager"  # manager only, whatever the amount
RULE_NONE = "none"  # approved on submission


class TransitionError(ValueError):
    """An action that the current state does not allow."""

    def __init__(self, state, action):
        super().__init__(f"cannot {action} a request in state {state}")
        self.state = state
        self.action = action


def next_state(state, action):
    """State reached by ``action`` from ``state``; TransitionError when not allowed."""
    if action not in TRANSITIONS:
        raise ValueError(f"unknown action {action!r}")
    sources, target = TRANSITIONS[action]
    if state not in sources:
        raise TransitionError(state, action)
    return target


def allowed_actions(state):
    """Actions possible from ``state``, in a stable order."""
    return [action for action, (sources, _target) in TRANSITIONS.items() if state in sources]


def route_manager(requester_id, direct_manager_id=None, department_manager_id=None,
                  responsible_id=None):
    """``(user_id, source)`` of the first approver, or ``(None, None)``.

    Candidates in order: the direct manager, the department manager, the
    category responsible; empty ones and the requester are skipped.
    """
    for user_id, source in (
        (direct_manager_id, SOURCE_MANAGER),
        (department_manager_id, SOURCE_DEPARTMENT),
        (responsible_id, SOURCE_CATEGORY),
    ):
        if user_id and user_id != requester_id:
            return user_id, source
    return None, None


def needs_finance(rule, amount, threshold):
    """Whether the finance approver also decides (standard rule above the threshold)."""
    return rule == RULE_STANDARD and abs(amount or 0.0) > (threshold or 0.0)


def check_params(params):
    """Human-readable problems of the template parameters (empty list when fine)."""
    problems = []
    threshold = params.get("approval_threshold")
    if threshold is None or threshold < 0:
        problems.append("The finance approval threshold cannot be negative.")
    timeout = params.get("manager_timeout_hours")
    if timeout is None or timeout < 0:
        problems.append("The manager reminder delay cannot be negative.")
    days = params.get("fulfilment_days")
    if days is None or days < 0:
        problems.append("The fulfilment delay cannot be negative.")
    for key, label in (("fulfiller", "fulfiller"), ("finance_approver", "finance approver")):
        if not params.get(key):
            problems.append(f"Choose the {label}.")
    return problems


def turnaround_hours(start, end):
    """Hours between two datetimes (0 when one is missing), rounded to 0.01."""
    if not start or not end:
        return 0.0
    return round((end - start).total_seconds() / 3600.0, 2)
