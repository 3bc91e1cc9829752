"""Quorum evaluation for one approval step.

A step has a frozen list of approvers (user ids), a quorum rule and an
optional set of escalation approvers added when the step timed out and was
reassigned. Decisions are recorded per approver *slot* (the approver on whose
behalf the decision was taken), never per acting user, so a delegate fills the
slot of the person they replace.
"""

from collections.abc import Iterable

ANY = "any"
ALL = "all"
N_OF_M = "n_of_m"
QUORUMS = (ANY, ALL, N_OF_M)

VETO = "veto"
UNREACHABLE = "unreachable"
REJECTION_RULES = (VETO, UNREACHABLE)

PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"


def required_count(quorum: str, approver_count: int, min_approvals: int = 1) -> int:
    """Number of approvals a step needs.

    ``n_of_m`` with N larger than the number of approvers returns N: the step
    is then unreachable (see :func:`is_reachable`), which planning reports as
    an exception instead of silently lowering the bar.
    """
    if quorum not in QUORUMS:
        raise ValueError(f"unknown quorum {quorum!r}")
    if quorum == ANY:
        return 1
    if quorum == ALL:
        return max(approver_count, 1)
    return max(int(min_approvals or 1), 1)


def is_reachable(quorum: str, approver_count: int, min_approvals: int = 1) -> bool:
    return approver_count >= required_count(quorum, approver_count, min_approvals) and approver_count > 0


def evaluate(
    approvers: Iterable[int],
    quorum: str,
    approvals: Iterable[int],
    rejections: Iterable[int] = (),
    min_approvals: int = 1,
    rejection_rule: str = VETO,
    escalation_approvers: Iterable[int] = (),
) -> str:
    """Return the state of a step: ``pending``, ``approved`` or ``rejected``.

    * approvals / rejections are approver slots (user ids) that decided;
    * an escalation approver (added by a timeout reassignment) decides the
      step alone: one approval approves it, one rejection rejects it;
    * ``veto``: any rejection rejects the step;
    * ``unreachable``: the step is rejected only once the quorum can no longer
      be reached by the approvers who have not rejected.
    """
    if rejection_rule not in REJECTION_RULES:
        raise ValueError(f"unknown rejection rule {rejection_rule!r}")
    approvers = set(approvers)
    escalation_approvers = set(escalation_approvers)
    approvals = set(approvals)
    rejections = set(rejections)
    if approvals & rejections:
        raise ValueError("an approver slot cannot both approve and reject")
    if approvals & escalation_approvers:
        return APPROVED
    if rejections & escalation_approvers:
        return REJECTED
    needed = required_count(quorum, len(approvers), min_approvals)
    if len(approvals & approvers) >= needed:
        return APPROVED
    own_rejections = rejections & approvers
    if rejection_rule == VETO and own_rejections:
        return REJECTED
    if len(approvers) - len(own_rejections) < needed and not escalation_approvers:
        return REJECTED
    return PENDING
