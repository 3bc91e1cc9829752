import datetime

import pytest

from saas_workflow_approvals.lib import template_lead_to_cash as l2c

D = datetime.date


def test_add_months_clamps_to_month_end():
    assert l2c.add_months(D(2026, 1, 31), 1) == D(2026, 2, 28)
    assert l2c.add_months(D(2028, 1, 31), 1) == D(2028, 2, 29)
    assert l2c.add_months(D(2026, 11, 15), 3) == D(2027, 2, 15)
    assert l2c.add_months(D(2026, 3, 15), -3) == D(2025, 12, 15)


def test_term_end_is_last_day_of_the_term():
    assert l2c.term_end(D(2026, 1, 1), 12) == D(2026, 12, 31)
    assert l2c.term_end(D(2026, 3, 15), 1) == D(2026, 4, 14)
    with pytest.raises(ValueError):
        l2c.term_end(D(2026, 1, 1), 0)


def test_period_end_never_after_contract_end():
    assert l2c.period_end(D(2026, 1, 1), "monthly") == D(2026, 1, 31)
    assert l2c.period_end(D(2026, 1, 1), "quarterly") == D(2026, 3, 31)
    assert l2c.period_end(D(2026, 12, 1), "quarterly", D(2026, 12, 31)) == D(2026, 12, 31)
    with pytest.raises(ValueError):
        l2c.period_end(D(2026, 1, 1), "weekly")


def test_due_periods_once_per_period_and_catch_up():
    assert l2c.due_periods(D(2026, 2, 1), D(2026, 1, 31), "monthly") == []
    assert l2c.due_periods(D(2026, 2, 1), D(2026, 2, 1), "monthly") == [D(2026, 2, 1)]
    # a scheduler down for two months catches up with one invoice per period
    assert l2c.due_periods(D(2026, 2, 1), D(2026, 4, 10), "monthly") == [
        D(2026, 2, 1), D(2026, 3, 1), D(2026, 4, 1)]
    # nothing starts after the contract end
    assert l2c.due_periods(D(2026, 12, 1), D(2027, 3, 1), "monthly", D(2026, 12, 31)) == [
        D(2026, 12, 1)]
    assert l2c.due_periods(False, D(2026, 1, 1), "monthly") == []
    assert l2c.next_after(D(2026, 1, 31), "monthly") == D(2026, 2, 28)


def test_task_list_default_and_parsed():
    default = l2c.parse_task_list("")
    assert [name for name, _d in default] == list(l2c.DEFAULT_ONBOARDING_TASKS)
    assert l2c.parse_task_list("Kick-off | 0; Import data|7\n\nTraining") == [
        ("Kick-off", 0), ("Import data", 7), ("Training", 6)]
    with pytest.raises(ValueError):
        l2c.parse_task_list("Kick-off | soon")
    with pytest.raises(ValueError):
        l2c.parse_task_list(" | 3")
    with pytest.raises(ValueError):
        l2c.parse_task_list("Kick-off | -2")


def test_missing_contract_data():
    complete = {
        "is_company": True, "customer_email": "a@b.c", "customer_vat": "BE0477472701",
        "invoice_address": True, "payment_terms": 3, "contract_term": True,
        "recurring_amount": 100.0,
    }
    assert l2c.missing_contract_data(complete) == []
    data = dict(complete, customer_vat="", payment_terms=False, recurring_amount=0.0)
    assert l2c.missing_contract_data(data) == [
        "Customer tax ID (VAT)", "Payment terms", "Recurring amount"]
    # no VAT asked of individuals, nor when the check is off
    assert l2c.missing_contract_data(dict(data, is_company=False)) == [
        "Payment terms", "Recurring amount"]
    assert "Customer tax ID (VAT)" not in l2c.missing_contract_data(data, require_vat=False)


def test_max_discount():
    assert l2c.max_discount([0, 12.5, None, 30]) == 30.0
    assert l2c.max_discount([]) == 0.0
