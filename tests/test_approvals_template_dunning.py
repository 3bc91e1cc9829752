from datetime import date

import pytest

from saas_workflow_approvals.lib import template_dunning as dn

DELAYS = (3, 10, 20)
DUE = date(2026, 3, 1)


def test_validate_delays_accepts_increasing_days():
    assert dn.validate_delays(["3", 10, 20.0]) == (3, 10, 20)


@pytest.mark.parametrize(
    "delays",
    [(3, 10), (3, 10, 20, 30), (0, 10, 20), (3, 3, 20), (10, 3, 20), ("a", 1, 2)],
)
def test_validate_delays_refuses_bad_schedules(delays):
    with pytest.raises(dn.ScheduleError):
        dn.validate_delays(delays)


def test_days_overdue():
    assert dn.days_overdue(DUE, date(2026, 2, 20)) == 0
    assert dn.days_overdue(DUE, DUE) == 0
    assert dn.days_overdue(DUE, date(2026, 3, 11)) == 10
    assert dn.days_overdue(None, DUE) == 0


@pytest.mark.parametrize(
    ("stage", "days", "expected"),
    [
        (0, 2, None),
        (0, 3, 1),
        (0, 25, 1),  # never skip the customer reminder
        (1, 9, None),
        (1, 10, 2),
        (2, 19, None),
        (2, 20, 3),
        (3, 400, None),
    ],
)
def test_next_stage_follows_the_schedule_one_stage_at_a_time(stage, days, expected):
    assert dn.next_stage(stage, days, DELAYS) == expected


def test_next_action_date():
    assert dn.next_action_date(DUE, 0, DELAYS) == date(2026, 3, 4)
    assert dn.next_action_date(DUE, 1, DELAYS) == date(2026, 3, 11)
    assert dn.next_action_date(DUE, 2, DELAYS) == date(2026, 3, 21)
    assert dn.next_action_date(DUE, 3, DELAYS) is None


@pytest.mark.parametrize("payment_state", ["paid", "in_payment", "reversed"])
def test_payment_settles_whatever_the_stage(payment_state):
    for stage in range(4):
        assert dn.decide(stage, payment_state, "posted", 30, DELAYS) == ("settle", None)


def test_decide_stops_on_cancelled_invoice_and_waits_until_due():
    action, reason = dn.decide(1, "not_paid", "cancel", 30, DELAYS)
    assert action == "stop" and "cancel" in reason
    assert dn.decide(1, "partial", "posted", 5, DELAYS) == ("wait", None)
    assert dn.decide(1, "partial", "posted", 12, DELAYS) == ("advance", 2)


def test_needs_run_only_for_overdue_open_customer_invoices():
    today = date(2026, 3, 2)
    assert dn.needs_run("out_invoice", "posted", "not_paid", DUE, today)
    assert dn.needs_run("out_invoice", "posted", "partial", DUE, today)
    assert not dn.needs_run("out_invoice", "posted", "not_paid", DUE, DUE)
    assert not dn.needs_run("out_invoice", "posted", "paid", DUE, today)
    assert not dn.needs_run("out_invoice", "draft", "not_paid", DUE, today)
    assert not dn.needs_run("out_refund", "posted", "not_paid", DUE, today)
    assert not dn.needs_run("in_invoice", "posted", "not_paid", DUE, today)
    assert not dn.needs_run("out_invoice", "posted", "not_paid", None, today)


def test_stage_label_and_cutoff():
    assert dn.stage_label(3) == "Escalated"
    assert dn.cutoff_date(date(2026, 3, 10), DELAYS) == date(2026, 3, 7)
