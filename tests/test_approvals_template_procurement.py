import pytest

from saas_workflow_approvals.lib import template_procurement as pr

COMPLETE = {
    "vat": "BE0477472701",
    "email": "ap@vendor.example",
    "country": "BE",
    "bank_count": 1,
    "blocked": False,
    "blocked_message": "",
}


def test_complete_vendor_passes():
    assert pr.check_vendor(COMPLETE) == []


def test_every_missing_item_is_named_in_a_fixed_order():
    facts = dict(COMPLETE, vat="  ", email=None, bank_count=0)
    failures = pr.check_vendor(facts)
    assert [code for code, _text in failures] == ["vat", "email", "bank"]
    message = pr.block_message("Wood Corner", failures, ["P00042"])
    assert "Wood Corner" in message and "P00042" in message
    for text in ("missing a tax ID (VAT)", "missing an email address", "missing a bank account"):
        assert text in message
    assert "country" not in message


def test_blocked_vendor_fails_even_with_no_check_required():
    facts = dict(COMPLETE, blocked=True, blocked_message="Disputed invoices")
    failures = pr.check_vendor(facts, required=())
    assert failures == [("blocked", "the vendor is blocked for purchases (Disputed invoices)")]


def test_only_required_checks_apply():
    facts = dict(COMPLETE, vat="", bank_count=0)
    required = pr.required_checks(require_vat=False, require_bank=True)
    assert [code for code, _t in pr.check_vendor(facts, required)] == ["bank"]


def test_unknown_check_is_refused():
    with pytest.raises(ValueError):
        pr.check_vendor(COMPLETE, required=("vat", "iban"))


def test_checklist_lines():
    failures = pr.check_vendor(dict(COMPLETE, country=False))
    assert pr.checklist(failures) == ["Missing a country"]


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (0, ()),
        (1000, ()),
        (1000.01, ("department_manager",)),
        (10000, ("department_manager",)),
        (10000.5, ("department_manager", "finance_director")),
    ],
)
def test_approval_tiers_of_issue_4(amount, expected):
    assert pr.approval_tiers(amount, 1000, 10000) == expected


def test_approval_tiers_refuse_inconsistent_limits():
    with pytest.raises(ValueError):
        pr.approval_tiers(10, 5000, 1000)
    with pytest.raises(ValueError):
        pr.approval_tiers(10, -1, 1000)
