"""Pure logic of saas_workflow_approvals: quorum, planning, segregation of duties,
escalation timing, delegation chains and fingerprints."""

import datetime

import pytest

from saas_workflow_approvals.lib import delegation as dlg
from saas_workflow_approvals.lib import escalation as esc
from saas_workflow_approvals.lib import fingerprint as fp
from saas_workflow_approvals.lib import planning, sod
from saas_workflow_approvals.lib import quorum as q

# ---------------------------------------------------------------- quorum


def test_any_one_approval_is_enough():
    assert q.evaluate([1, 2, 3], q.ANY, {2}) == q.APPROVED
    assert q.evaluate([1, 2, 3], q.ANY, set()) == q.PENDING


def test_all_needs_everyone():
    assert q.evaluate([1, 2], q.ALL, {1}) == q.PENDING
    assert q.evaluate([1, 2], q.ALL, {1, 2}) == q.APPROVED


def test_n_of_m():
    assert q.required_count(q.N_OF_M, 3, 2) == 2
    assert q.evaluate([1, 2, 3], q.N_OF_M, {1}, min_approvals=2) == q.PENDING
    assert q.evaluate([1, 2, 3], q.N_OF_M, {1, 3}, min_approvals=2) == q.APPROVED


def test_veto_and_unreachable_rejection():
    assert q.evaluate([1, 2, 3], q.N_OF_M, set(), {1}, min_approvals=2) == q.REJECTED
    assert q.evaluate([1, 2, 3], q.N_OF_M, set(), {1}, min_approvals=2,
                      rejection_rule=q.UNREACHABLE) == q.PENDING
    assert q.evaluate([1, 2, 3], q.N_OF_M, set(), {1, 2}, min_approvals=2,
                      rejection_rule=q.UNREACHABLE) == q.REJECTED


def test_votes_of_non_approvers_do_not_count():
    assert q.evaluate([1, 2], q.ANY, {9}) == q.PENDING


def test_escalation_approver_decides_alone():
    assert q.evaluate([1, 2], q.ALL, {7}, escalation_approvers=[7]) == q.APPROVED
    assert q.evaluate([1, 2], q.ALL, set(), {7}, escalation_approvers=[7]) == q.REJECTED


def test_n_larger_than_m_is_unreachable():
    assert not q.is_reachable(q.N_OF_M, 3, 4)
    assert q.is_reachable(q.N_OF_M, 3, 3)
    assert not q.is_reachable(q.ANY, 0)


def test_bad_quorum_and_double_vote_refused():
    with pytest.raises(ValueError):
        q.required_count("most", 3)
    with pytest.raises(ValueError):
        q.evaluate([1], q.ANY, {1}, {1})


# -------------------------------------------------------------- planning


def test_requester_removed_from_approvers():
    (step,) = planning.plan([planning.StepSpec(0, "A", candidates=[5, 6])], requester_id=5)
    assert step.approvers == [6]
    assert step.error is None


def test_nobody_and_only_requester_are_errors():
    steps = planning.plan(
        [planning.StepSpec(0, "Empty", candidates=[]),
         planning.StepSpec(1, "Self", candidates=[5])],
        requester_id=5,
    )
    assert [s.error for s in steps] == [planning.ERR_NO_APPROVER, planning.ERR_ONLY_REQUESTER]
    assert planning.first_error(steps).name == "Empty"


def test_min_amount_skips_step():
    steps = planning.plan(
        [planning.StepSpec(0, "Manager", candidates=[1]),
         planning.StepSpec(1, "Director", candidates=[2], min_amount=10000)],
        requester_id=9, amount=5000,
    )
    assert [s.skipped for s in steps] == [False, True]
    assert planning.needs_approval(steps)
    big = planning.plan([planning.StepSpec(1, "Director", candidates=[2], min_amount=10000)],
                        requester_id=9, amount=10000.01)
    assert not big[0].skipped


def test_unmet_condition_skips_step_even_without_approvers():
    steps = planning.plan(
        [planning.StepSpec(0, "Manager", candidates=[1]),
         planning.StepSpec(1, "Fraud review", candidates=[], condition_met=False)],
        requester_id=9,
    )
    assert [s.skipped for s in steps] == [False, True]
    assert planning.first_error(steps) is None


def test_same_single_approver_on_two_steps_is_an_error_unless_allowed():
    specs = [planning.StepSpec(0, "A", candidates=[1]), planning.StepSpec(1, "B", candidates=[1])]
    assert planning.plan(specs, 9)[1].error == planning.ERR_SAME_APPROVER
    assert planning.plan(specs, 9, allow_same_approver=True)[1].error is None
    ok = [planning.StepSpec(0, "A", candidates=[1]), planning.StepSpec(1, "B", candidates=[1, 2])]
    assert planning.plan(ok, 9)[1].error is None


def test_oversight_only_plan_needs_no_approval():
    steps = planning.plan([planning.StepSpec(0, "Audit", kind=planning.OVERSIGHT,
                                             candidates=[1])], 9)
    assert not planning.needs_approval(steps)


# ------------------------------------------------- segregation of duties


def test_self_approval_refused():
    with pytest.raises(sod.SodViolation) as exc:
        sod.check_decision(5, 5, sod.StepFacts(approvers=[5, 6]))
    assert exc.value.code == sod.SELF_APPROVAL


def test_non_approver_refused_and_delegate_gets_slot():
    facts = sod.StepFacts(approvers=[1, 2])
    with pytest.raises(sod.SodViolation) as exc:
        sod.check_decision(3, 9, facts)
    assert exc.value.code == sod.NOT_APPROVER
    assert sod.check_decision(3, 9, facts, delegators={2}) == 2


def test_requester_as_delegate_refused():
    with pytest.raises(sod.SodViolation) as exc:
        sod.check_decision(9, 9, sod.StepFacts(approvers=[1]), delegators={1})
    assert exc.value.code == sod.SELF_APPROVAL


def test_double_decision_and_second_step_refused():
    facts = sod.StepFacts(approvers=[1, 2], decisions=[(1, 1)])
    with pytest.raises(sod.SodViolation) as exc:
        sod.check_decision(1, 9, facts)
    assert exc.value.code == sod.ALREADY_DECIDED
    with pytest.raises(sod.SodViolation) as exc:
        sod.check_decision(2, 9, sod.StepFacts(approvers=[2]), other_steps_people={2})
    assert exc.value.code == sod.SAME_APPROVER_STEPS
    assert sod.check_decision(2, 9, sod.StepFacts(approvers=[2]), other_steps_people={2},
                              allow_same_approver=True) == 2


def test_closed_step_refused():
    with pytest.raises(sod.SodViolation) as exc:
        sod.check_decision(1, 9, sod.StepFacts(approvers=[1], is_open=False))
    assert exc.value.code == sod.STEP_CLOSED


# ------------------------------------------------------------ escalation

T0 = datetime.datetime(2026, 3, 2, 8, 0)


def test_escalates_once_at_deadline():
    deadline = esc.deadline(T0, 4)
    assert deadline == datetime.datetime(2026, 3, 2, 12, 0)
    assert esc.decide(deadline - datetime.timedelta(seconds=1), deadline, esc.REASSIGN) is None
    assert esc.decide(deadline, deadline, esc.REASSIGN) == esc.ESCALATE
    assert esc.decide(deadline, deadline, esc.REASSIGN, escalated_at=deadline) is None
    assert esc.decide(deadline, deadline, esc.NONE) is None


def test_reminders_and_next_check():
    deadline = esc.deadline(T0, 4)
    one_hour = T0 + datetime.timedelta(hours=1)
    assert esc.decide(one_hour, deadline, esc.NONE, reminder_hours=1, activated_at=T0) == esc.REMIND
    assert esc.decide(one_hour, deadline, esc.NONE, reminder_hours=1, last_reminder_at=one_hour,
                      activated_at=T0) is None
    assert esc.next_check(deadline, esc.NOTIFY, reminder_hours=1, activated_at=T0) == one_hour
    assert esc.next_check(deadline, esc.NOTIFY, escalated_at=deadline) is None
    with pytest.raises(ValueError):
        esc.decide(T0, deadline, "explode")


# ------------------------------------------------------------ delegation

D = datetime.date


def test_delegation_only_in_range_and_scope():
    delegations = [dlg.Delegation(1, 2, D(2026, 3, 5), D(2026, 3, 10), frozenset({7}))]
    assert dlg.active_map(delegations, D(2026, 3, 4), 7) == {}
    assert dlg.active_map(delegations, D(2026, 3, 5), 7) == {1: 2}
    assert dlg.active_map(delegations, D(2026, 3, 10), 8) == {}
    assert dlg.active_map(delegations, D(2026, 3, 11), 7) == {}


def test_chains_and_cycles():
    mapping = {1: 2, 2: 3}
    assert dlg.resolve(1, mapping) == 3
    assert dlg.delegators_of(3, mapping) == {1, 2}
    assert dlg.resolve(1, {1: 2, 2: 1}) == 2


# ----------------------------------------------------------- fingerprint


def test_fingerprint_tracks_relevant_values_only():
    paths = fp.relevant_paths([("state", "=", "draft"), "|", ("partner_id.country_id", "=", 1),
                               (1, "=", 1)], "amount_total", "currency_id")
    assert paths == ["amount_total", "currency_id", "partner_id.country_id", "state"]
    a = fp.compute({"amount_total": 100.0, "state": "draft"})
    assert a == fp.compute({"state": "draft", "amount_total": 100.0000000001})
    assert a != fp.compute({"amount_total": 100.5, "state": "draft"})
    assert fp.compute({"lines": [1, 2]}) != fp.compute({"lines": [2, 1]})


# -------------------------------------------------------------- routing
def test_route_opens_first_mandatory_step_and_blocks():
    steps = [("waiting", planning.MANDATORY), ("waiting", planning.MANDATORY)]
    assert planning.route(steps) == ([0], True)


def test_route_opens_oversight_steps_up_to_the_first_mandatory_one():
    steps = [("waiting", planning.OVERSIGHT), ("skipped", planning.MANDATORY),
             ("waiting", planning.MANDATORY), ("waiting", planning.OVERSIGHT)]
    assert planning.route(steps) == ([0, 2], True)


def test_route_pending_mandatory_step_blocks_without_reopening():
    steps = [("approved", planning.MANDATORY), ("pending", planning.MANDATORY),
             ("waiting", planning.MANDATORY)]
    assert planning.route(steps) == ([], True)


def test_route_only_oversight_left_means_approved():
    steps = [("approved", planning.MANDATORY), ("pending", planning.OVERSIGHT),
             ("waiting", planning.OVERSIGHT), ("skipped", planning.MANDATORY)]
    assert planning.route(steps) == ([2], False)
    assert planning.route([]) == ([], False)
