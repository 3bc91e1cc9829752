"""Collections / dunning: the reminder schedule, without Odoo.

A dunning run follows one overdue customer invoice through numbered stages:

* 0 -- overdue, nothing sent yet;
* 1 -- reminder email sent to the customer;
* 2 -- follow-up activity for finance;
* 3 -- escalated to a manager.

Stage ``n`` is due once the invoice is ``delays[n - 1]`` days overdue. Stages
are never skipped (the customer always gets the reminder before anyone
escalates) and a run moves at most one stage per pass of the scheduler, so
an invoice found 25 days overdue gets the email today, the finance activity on
the next pass and the escalation on the one after.

An invoice is settled -- and its run closes at once, whatever the stage --
when its payment state says the customer paid or the invoice was reversed.
"""

from datetime import timedelta

STAGE_OVERDUE = 0
STAGE_REMINDER = 1
STAGE_FINANCE = 2
STAGE_ESCALATED = 3
LAST_STAGE = STAGE_ESCALATED

STAGES = (
    (STAGE_OVERDUE, "Overdue"),
    (STAGE_REMINDER, "Reminder sent"),
    (STAGE_FINANCE, "Finance follow-up"),
    (STAGE_ESCALATED, "Escalated"),
)

SETTLED_PAYMENT_STATES = frozenset({"paid", "in_payment", "reversed"})
# An invoice in one of these payment states still has money to collect.
OPEN_PAYMENT_STATES = frozenset({"not_paid", "partial"})


class ScheduleError(ValueError):
    """The stage delays cannot form a schedule."""


def validate_delays(delays):
    """Return ``delays`` as a tuple of three non-negative, strictly increasing ints.

    Raises :class:`ScheduleError` with a readable reason otherwise.
    """
    try:
        values = tuple(int(value) for value in delays)
    except (TypeError, ValueError) as exc:
        raise ScheduleError("The stage delays must be whole numbers of days.") from exc
    if len(values) != LAST_STAGE:
        raise ScheduleError(f"Exactly {LAST_STAGE} stage delays are needed, got {len(values)}.")
    if values[0] < 1:
        raise ScheduleError("The first reminder must wait at least one day after the due date.")
    for before, after in zip(values, values[1:]):
        if after <= before:
            raise ScheduleError(
                f"Each stage must come after the previous one ({after} days is not after "
                f"{before} days)."
            )
    return values


def days_overdue(due_date, today):
    """Whole days between the due date and ``today`` (0 when not yet due)."""
    if not due_date:
        return 0
    return max((today - due_date).days, 0)


def is_settled(payment_state):
    return payment_state in SETTLED_PAYMENT_STATES


def next_stage(stage, overdue_days, delays):
    """The stage to perform now for a run at ``stage``, or None when nothing is due."""
    delays = validate_delays(delays)
    if stage >= LAST_STAGE:
        return None
    if overdue_days >= delays[stage]:
        return stage + 1
    return None


def next_action_date(due_date, stage, delays):
    """Date on which the stage after ``stage`` becomes due (None after the last stage)."""
    delays = validate_delays(delays)
    if stage >= LAST_STAGE or not due_date:
        return None
    return due_date + timedelta(days=delays[stage])


def needs_run(move_type, state, payment_state, due_date, today):
    """Whether a customer invoice is overdue and should be followed by a dunning run."""
    return (
        move_type == "out_invoice"
        and state == "posted"
        and payment_state in OPEN_PAYMENT_STATES
        and bool(due_date)
        and due_date < today
    )


def decide(stage, payment_state, move_state, overdue_days, delays):
    """What the scheduler does with a running run, checked before every action.

    Returns ``("settle", None)`` when the invoice is paid, in payment or
    reversed; ``("stop", reason)`` when it is no longer a posted invoice;
    ``("advance", stage)`` when a stage is due; ``("wait", None)`` otherwise.
    """
    if is_settled(payment_state):
        return "settle", None
    if move_state != "posted":
        return "stop", f"the invoice is no longer posted ({move_state})"
    stage_due = next_stage(stage, overdue_days, delays)
    if stage_due is None:
        return "wait", None
    return "advance", stage_due


def stage_label(stage):
    return dict(STAGES).get(stage, str(stage))


def cutoff_date(today, delays):
    """Invoices due before this date may have a stage due (the first delay has passed)."""
    delays = validate_delays(delays)
    return today - timedelta(days=delays[0])

