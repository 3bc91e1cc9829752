"""What the escalation sweep must do with one pending step."""

import datetime

NONE = "none"
REASSIGN = "reassign"
NOTIFY = "notify"
AUTO_REJECT = "auto_reject"
ACTIONS = (NONE, REASSIGN, NOTIFY, AUTO_REJECT)

ESCALATE = "escalate"
REMIND = "remind"


def deadline(activated_at, timeout_hours):
    if not activated_at or not timeout_hours:
        return None
    return activated_at + datetime.timedelta(hours=timeout_hours)


def decide(now, deadline_at, escalation_action, escalated_at=None,
           reminder_hours=0.0, last_reminder_at=None, activated_at=None):
    """Return ``'escalate'``, ``'remind'`` or ``None``.

    * escalation happens once, when the deadline is reached and an action
      other than ``none`` is configured;
    * reminders repeat every ``reminder_hours`` after activation (or after the
      previous reminder) while the step stays pending.
    """
    if escalation_action not in ACTIONS:
        raise ValueError(f"unknown escalation action {escalation_action!r}")
    if deadline_at and now >= deadline_at and not escalated_at and escalation_action != NONE:
        return ESCALATE
    if reminder_hours:
        base = last_reminder_at or activated_at
        if base and now >= base + datetime.timedelta(hours=reminder_hours):
            return REMIND
    return None


def next_check(deadline_at, escalation_action, escalated_at=None,
               reminder_hours=0.0, last_reminder_at=None, activated_at=None):
    """Earliest moment the sweep has something to do for this step (or None)."""
    candidates = []
    if deadline_at and not escalated_at and escalation_action != NONE:
        candidates.append(deadline_at)
    if reminder_hours:
        base = last_reminder_at or activated_at
        if base:
            candidates.append(base + datetime.timedelta(hours=reminder_hours))
    return min(candidates) if candidates else None
