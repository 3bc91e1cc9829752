"""Pure logic of the lead-to-cash template (no Odoo import).

Billing periods, contract terms, the onboarding task list and the contract
data check used when a recurring order is confirmed.
"""

import calendar
import datetime

BILLING_MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}

DEFAULT_ONBOARDING_TASKS = (
    "Kick-off call",
    "Workspace and user accounts",
    "Data import",
    "Admin training",
    "Go-live review",
)

# key -> label of the contract data a recurring order must carry
CONTRACT_CHECKS = (
    ("customer_email", "Customer email"),
    ("customer_vat", "Customer tax ID (VAT)"),
    ("invoice_address", "Invoice address (street, city, country)"),
    ("payment_terms", "Payment terms"),
    ("contract_term", "Contract term (start and end date)"),
    ("recurring_amount", "Recurring amount"),
)


def add_months(day, months):
    """``day`` moved by ``months`` calendar months, clamped to the month's last day."""
    month_index = day.month - 1 + months
    year = day.year + month_index // 12
    month = month_index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return datetime.date(year, month, min(day.day, last))


def period_months(billing_period):
    if billing_period not in BILLING_MONTHS:
        raise ValueError(f"Unknown billing period {billing_period!r}")
    return BILLING_MONTHS[billing_period]


def term_end(start, term_months):
    """Last day of a contract of ``term_months`` starting on ``start``."""
    if term_months <= 0:
        raise ValueError("The contract term must be at least one month")
    return add_months(start, term_months) - datetime.timedelta(days=1)


def period_end(period_start, billing_period, contract_end=None):
    """Last day of the billing period starting on ``period_start`` (never after the contract end)."""
    end = add_months(period_start, period_months(billing_period)) - datetime.timedelta(days=1)
    if contract_end and end > contract_end:
        end = contract_end
    return end


def due_periods(next_invoice_date, today, billing_period, contract_end=None, limit=24):
    """Start dates of the periods to invoice on ``today``, oldest first.

    A period is due once its start date is reached; periods starting after
    ``contract_end`` are never due. A scheduler that missed some days catches
    up with one entry per period, never two for the same period.
    """
    if not next_invoice_date:
        return []
    months = period_months(billing_period)
    due = []
    start = next_invoice_date
    while start <= today and len(due) < limit:
        if contract_end and start > contract_end:
            break
        due.append(start)
        start = add_months(start, months)
    return due


def next_after(period_start, billing_period):
    return add_months(period_start, period_months(billing_period))


def parse_task_list(text):
    """Onboarding tasks from a parameter: one per line or separated by ``;``.

    Each entry may name a day offset after the deal: ``Data import | 7``.
    Returns ``[(name, offset_days)]``; the default list when ``text`` is empty.
    """
    if not (text or "").strip():
        return [(name, index * 3) for index, name in enumerate(DEFAULT_ONBOARDING_TASKS)]
    tasks = []
    for raw in text.replace(";", "\n").splitlines():
        entry = raw.strip()
        if not entry:
            continue
        name, _sep, offset = entry.partition("|")
        name = name.strip()
        if not name:
            raise ValueError(f"Onboarding task without a name: {raw!r}")
        offset = offset.strip()
        if offset and not offset.lstrip("-").isdigit():
            raise ValueError(f"Day offset of {name!r} must be a whole number, got {offset!r}")
        days = int(offset) if offset else len(tasks) * 3
        if days < 0:
            raise ValueError(f"Day offset of {name!r} cannot be negative")
        tasks.append((name, days))
    return tasks


def missing_contract_data(data, require_vat=True):
    """Labels of the contract data that is missing, in a stable order.

    ``data`` maps the keys of :data:`CONTRACT_CHECKS` to the values found on
    the order and the customer; a falsy value is missing. The VAT check only
    applies to company customers when ``require_vat`` is set.
    """
    missing = []
    for key, label in CONTRACT_CHECKS:
        if key == "customer_vat" and (not require_vat or not data.get("is_company", True)):
            continue
        if not data.get(key):
            missing.append(label)
    return missing


def max_discount(discounts):
    return max((float(d or 0.0) for d in discounts), default=0.0)
