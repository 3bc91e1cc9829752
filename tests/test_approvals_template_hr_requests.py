from datetime import datetime

import pytest

from saas_workflow_approvals.lib import template_hr_requests as hrq


def test_happy_path_transitions():
    state = hrq.DRAFT
    for action, expected in ((hrq.SUBMIT, hrq.SUBMITTED), (hrq.APPROVE, hrq.APPROVED),
                             (hrq.FULFIL, hrq.DONE)):
        state = hrq.next_state(state, action)
        assert state == expected


def test_rejection_and_reopen():
    assert hrq.next_state(hrq.SUBMITTED, hrq.REJECT) == hrq.REJECTED
    assert hrq.next_state(hrq.REJECTED, hrq.RESET) == hrq.DRAFT
    assert hrq.next_state(hrq.CANCELLED, hrq.RESET) == hrq.DRAFT


@pytest.mark.parametrize("state,action", [
    (hrq.DRAFT, hrq.APPROVE),
    (hrq.DRAFT, hrq.FULFIL),
    (hrq.SUBMITTED, hrq.SUBMIT),
    (hrq.APPROVED, hrq.REJECT),
    (hrq.DONE, hrq.CANCEL),
    (hrq.REJECTED, hrq.APPROVE),
    (hrq.SUBMITTED, hrq.RESET),
])
def test_forbidden_transitions(state, action):
    with pytest.raises(hrq.TransitionError) as info:
        hrq.next_state(state, action)
    assert info.value.state == state
    assert info.value.action == action


def test_unknown_action():
    with pytest.raises(ValueError):
        hrq.next_state(hrq.DRAFT, "teleport")


def test_allowed_actions():
    assert hrq.allowed_actions(hrq.DRAFT) == [hrq.SUBMIT, hrq.CANCEL]
    assert hrq.allowed_actions(hrq.SUBMITTED) == [hrq.APPROVE, hrq.REJECT, hrq.CANCEL]
    assert hrq.allowed_actions(hrq.DONE) == []


def test_route_prefers_direct_manager():
    assert hrq.route_manager(1, 2, 3, 4) == (2, hrq.SOURCE_MANAGER)


def test_route_falls_back_to_department_then_category():
    assert hrq.route_manager(1, None, 3, 4) == (3, hrq.SOURCE_DEPARTMENT)
    assert hrq.route_manager(1, None, None, 4) == (4, hrq.SOURCE_CATEGORY)


def test_route_never_to_the_requester():
    # the requester manages the department: the category responsible approves
    assert hrq.route_manager(1, None, 1, 4) == (4, hrq.SOURCE_CATEGORY)
    assert hrq.route_manager(1, 1, 1, 1) == (None, None)
    assert hrq.route_manager(1) == (None, None)


def test_needs_finance():
    assert hrq.needs_finance(hrq.RULE_STANDARD, 1500, 1000)
    assert not hrq.needs_finance(hrq.RULE_STANDARD, 1000, 1000)
    assert not hrq.needs_finance(hrq.RULE_MANAGER, 1e6, 1000)
    assert not hrq.needs_finance(hrq.RULE_STANDARD, None, 0)


def test_check_params():
    good = {"approval_threshold": 1000.0, "manager_timeout_hours": 48.0, "fulfilment_days": 3,
            "fulfiller": 7, "finance_approver": 8}
    assert hrq.check_params(good) == []
    bad = dict(good, approval_threshold=-1, fulfilment_days=-2, fulfiller=None)
    problems = hrq.check_params(bad)
    assert len(problems) == 3
    assert any("threshold" in p for p in problems)
    assert any("fulfiller" in p for p in problems)


def test_turnaround_hours():
    start = datetime(2026, 5, 4, 9, 0)
    assert hrq.turnaround_hours(start, datetime(2026, 5, 5, 10, 30)) == 25.5
    assert hrq.turnaround_hours(None, start) == 0.0
