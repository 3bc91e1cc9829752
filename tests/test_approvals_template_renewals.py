import datetime

import pytest

from saas_workflow_approvals.lib import template_renewals as ren

D = datetime.date


def test_score_adds_weighted_signals_and_caps():
    weights = ren.RiskWeights(overdue_invoice=30, sla_breach=20, escalation=25)
    assert ren.risk_score(ren.RiskSignals(), weights) == 0
    assert ren.risk_score(ren.RiskSignals(overdue_invoices=1), weights) == 30
    assert ren.risk_score(ren.RiskSignals(1, 1, 1), weights) == 75
    assert ren.risk_score(ren.RiskSignals(3, 2, 1), weights) == 100
    with pytest.raises(ValueError):
        ren.risk_score(ren.RiskSignals(overdue_invoices=-1), weights)
    with pytest.raises(ValueError):
        ren.RiskWeights(sla_breach=-5)


def test_levels():
    assert ren.risk_level(75, 70) == ren.HIGH
    assert ren.risk_level(70, 70) == ren.HIGH
    assert ren.risk_level(35, 70) == ren.MEDIUM
    assert ren.risk_level(34.9, 70) == ren.LOW
    with pytest.raises(ValueError):
        ren.risk_level(10, 0)


def test_explanation_lists_each_signal():
    lines = ren.explain(ren.RiskSignals(1, 2, 0), ren.RiskWeights(), 70)
    assert lines[0] == "Overdue invoices: 1 × 30 = 30"
    assert lines[1] == "SLA breaches: 2 × 20 = 40"
    assert lines[2] == "Open escalations: 0 × 25 = 0"
    assert lines[3].startswith("Score (capped at 100): 70 — high risk")


def test_renewal_due_window():
    end = D(2026, 12, 31)
    # 31 December minus 60 days is 1 November
    assert ren.renewal_due(end, D(2026, 10, 31), 60) is False
    assert ren.renewal_due(end, D(2026, 11, 1), 60) is True
    assert not ren.renewal_due(end, D(2026, 11, 1), 59)
    assert not ren.renewal_due(False, D(2026, 11, 2), 60)
    with pytest.raises(ValueError):
        ren.renewal_due(end, D(2026, 11, 2), -1)


def test_readiness():
    assert ren.is_ready(True, False)
    assert ren.is_ready(False, True)
    assert not ren.is_ready(False, False)
