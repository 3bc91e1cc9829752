"""Plan the steps of a new approval request from a policy.

Input is plain data (already resolved candidate user ids per step); output is
the frozen plan stored on the request. Problems that would make a request
hang forever are reported as errors so the request goes to the exception
queue instead of passing or waiting for nobody.
"""

from dataclasses import dataclass, field

from . import quorum as q

MANDATORY = "mandatory"
OVERSIGHT = "oversight"

ERR_NO_APPROVER = "no_approver"
ERR_ONLY_REQUESTER = "only_requester"
ERR_QUORUM_UNREACHABLE = "quorum_unreachable"
ERR_SAME_APPROVER = "same_approver_conflict"
ERR_RESOLUTION = "resolution_failed"


@dataclass
class StepSpec:
    sequence: int
    name: str
    kind: str = MANDATORY
    quorum: str = q.ANY
    min_approvals: int = 1
    min_amount: float = 0.0
    condition_met: bool = True
    candidates: list = field(default_factory=list)
    resolution_error: str | None = None


@dataclass
class PlannedStep:
    sequence: int
    name: str
    kind: str
    quorum: str
    approvers: list
    required: int
    skipped: bool = False
    error: str | None = None
    detail: str = ""


def step_applies(min_amount: float, amount: float | None) -> bool:
    """A step with a minimum amount only applies above it (strictly)."""
    if not min_amount:
        return True
    if amount is None:
        return True
    return abs(amount) > min_amount


def plan(specs, requester_id, amount=None, allow_same_approver=False):
    """Return a list of :class:`PlannedStep` in execution order."""
    planned = []
    for spec in sorted(specs, key=lambda s: s.sequence):
        if spec.kind not in (MANDATORY, OVERSIGHT):
            raise ValueError(f"unknown step kind {spec.kind!r}")
        candidates = list(dict.fromkeys(c for c in spec.candidates if c))
        approvers = [c for c in candidates if c != requester_id]
        step = PlannedStep(
            sequence=spec.sequence,
            name=spec.name,
            kind=spec.kind,
            quorum=spec.quorum,
            approvers=approvers,
            required=q.required_count(spec.quorum, len(approvers), spec.min_approvals),
        )
        if not spec.condition_met or not step_applies(spec.min_amount, amount):
            step.skipped = True
        elif spec.resolution_error:
            step.error, step.detail = ERR_RESOLUTION, spec.resolution_error
        elif not candidates:
            step.error = ERR_NO_APPROVER
        elif not approvers:
            step.error = ERR_ONLY_REQUESTER
        elif not q.is_reachable(spec.quorum, len(approvers), spec.min_approvals):
            step.error = ERR_QUORUM_UNREACHABLE
        planned.append(step)
    if not allow_same_approver:
        _check_same_approver(planned)
    return planned


def _check_same_approver(planned):
    """Detect steps that can only be filled by someone already needed earlier.

    When a step's approvers are all "consumed" by earlier steps whose quorum
    needs every one of their approvers, nobody is left to decide it.
    """
    consumed = set()
    for step in planned:
        if step.skipped or step.error:
            continue
        free = [a for a in step.approvers if a not in consumed]
        if len(free) < step.required:
            step.error = ERR_SAME_APPROVER
            continue
        if len(step.approvers) == step.required:
            consumed.update(step.approvers)


def first_error(planned):
    for step in planned:
        if step.error:
            return step
    return None


def needs_approval(planned) -> bool:
    """True when at least one mandatory step is active in the plan."""
    return any(s.kind == MANDATORY and not s.skipped for s in planned)


# states of a step that routing walks past
CLOSED_STATES = frozenset({"approved", "skipped", "rejected", "cancelled"})
WAITING = "waiting"


def route(steps):
    """Which steps open next, and whether a mandatory step still blocks.

    ``steps``: ``[(state, kind)]`` in execution order. Oversight steps open as
    soon as routing reaches them and never block; the first mandatory step that
    is not closed blocks (and opens when it is still waiting). Returns
    ``(indexes of the steps to open, blocked)``; not blocked means the request
    is approved.
    """
    to_open = []
    for index, (state, kind) in enumerate(steps):
        if state in CLOSED_STATES:
            continue
        if state == WAITING:
            to_open.append(index)
        if kind != OVERSIGHT:
            return to_open, True
    return to_open, False
