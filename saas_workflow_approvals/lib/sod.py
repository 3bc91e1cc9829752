"""Segregation-of-duties rules for one decision on one step.

Everything here works on user ids so the rules can be checked identically
whatever the channel (button, activity, RPC).
"""

from dataclasses import dataclass, field

SELF_APPROVAL = "self_approval"
NOT_APPROVER = "not_approver"
ALREADY_DECIDED = "already_decided"
SAME_APPROVER_STEPS = "same_approver_multiple_steps"
STEP_CLOSED = "step_closed"


class SodViolation(Exception):
    """Raised when a decision breaks a segregation-of-duties rule."""

    def __init__(self, code, detail=""):
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


@dataclass
class StepFacts:
    approvers: list
    escalation_approvers: list = field(default_factory=list)
    # (actor_id, slot_id) pairs already recorded on this step
    decisions: list = field(default_factory=list)
    is_open: bool = True


def check_decision(
    actor_id,
    requester_id,
    step: StepFacts,
    other_steps_people=(),
    delegators=(),
    allow_same_approver=False,
):
    """Return the approver slot the actor decides for, or raise SodViolation.

    :param actor_id: the user taking the decision
    :param requester_id: the user who submitted the request
    :param other_steps_people: user ids that acted (as actor or slot) on other
        steps of the same request
    :param delegators: user ids who currently delegate to ``actor_id``
        (already filtered on date range and policy)
    """
    if not step.is_open:
        raise SodViolation(STEP_CLOSED)
    if actor_id == requester_id:
        raise SodViolation(SELF_APPROVAL)
    acted = {a for a, _s in step.decisions}
    used_slots = {s for _a, s in step.decisions}
    if actor_id in acted:
        raise SodViolation(ALREADY_DECIDED)
    slots = list(step.approvers) + [e for e in step.escalation_approvers if e not in step.approvers]
    slot = None
    if actor_id in slots:
        if actor_id in used_slots:
            raise SodViolation(ALREADY_DECIDED)
        slot = actor_id
    else:
        delegators = set(delegators)
        for candidate in slots:
            if candidate in delegators and candidate not in used_slots:
                slot = candidate
                break
        if slot is None:
            if delegators & set(slots):
                raise SodViolation(ALREADY_DECIDED)
            raise SodViolation(NOT_APPROVER)
    if slot == requester_id:
        raise SodViolation(SELF_APPROVAL)
    if not allow_same_approver:
        others = set(other_steps_people)
        if actor_id in others or slot in others:
            raise SodViolation(SAME_APPROVER_STEPS)
    return slot
