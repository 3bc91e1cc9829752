"""Procurement and spend control: vendor onboarding checks and approval tiers, without Odoo.

A vendor is described by a plain dict of facts (see :func:`vendor_facts_keys`);
:func:`check_vendor` returns what is missing, in a fixed order, so the same
vendor always yields the same message.
"""

CHECKS = (
    # (code, label shown to the purchaser, fact it reads)
    ("vat", "a tax ID (VAT)", "vat"),
    ("email", "an email address", "email"),
    ("country", "a country", "country"),
    ("bank", "a bank account", "bank_count"),
)
CHECK_CODES = tuple(code for code, _label, _fact in CHECKS)
BLOCKED = "blocked"


def vendor_facts_keys():
    """Keys :func:`check_vendor` reads: ``vat``, ``email``, ``country``, ``bank_count``,
    ``blocked`` (bool) and ``blocked_message``."""
    return ("vat", "email", "country", "bank_count", "blocked", "blocked_message")


def check_vendor(facts, required=CHECK_CODES):
    """``[(code, text)]`` of the onboarding checks ``facts`` fail, empty when it passes.

    ``required`` lists the check codes in force (a subset of :data:`CHECK_CODES`);
    a vendor blocked for purchases always fails, whatever ``required`` says.
    """
    unknown = set(required) - set(CHECK_CODES)
    if unknown:
        raise ValueError(f"Unknown vendor checks: {', '.join(sorted(unknown))}")
    failures = []
    if facts.get("blocked"):
        reason = (facts.get("blocked_message") or "").strip()
        text = "the vendor is blocked for purchases"
        failures.append((BLOCKED, f"{text} ({reason})" if reason else text))
    for code, label, fact in CHECKS:
        if code not in required:
            continue
        value = facts.get(fact)
        if isinstance(value, str):
            value = value.strip()
        if not value:
            failures.append((code, f"missing {label}"))
    return failures


def block_message(vendor_name, failures, order_names=()):
    """The error shown when a confirmation is refused, naming everything missing."""
    lines = [f"- {text}" for _code, text in failures]
    orders = f" ({', '.join(order_names)})" if order_names else ""
    return (
        f"The purchase{orders} cannot be confirmed: vendor {vendor_name} has not passed "
        "onboarding checks.\n" + "\n".join(lines) + "\nComplete the vendor's record "
        "(Contacts > the vendor > Sales & Purchase / Accounting tabs), then confirm again."
    )


def checklist(failures):
    """The onboarding checklist (one line per open item) for the procurement activity."""
    return [text[0].upper() + text[1:] for _code, text in failures]


def approval_tiers(amount, auto_limit, manager_limit):
    """Who must approve a purchase of ``amount``, following the spend-control tiers.

    ``<= auto_limit``: nobody (confirmed directly); ``<= manager_limit``: the
    department manager; above: the department manager and the finance director.
    """
    if auto_limit < 0 or manager_limit < auto_limit:
        raise ValueError(
            "The approval limits must satisfy 0 <= auto-approval limit <= manager limit."
        )
    if amount <= auto_limit:
        return ()
    if amount <= manager_limit:
        return ("department_manager",)
    return ("department_manager", "finance_director")


def required_checks(require_vat=True, require_email=True, require_country=True,
                    require_bank=True):
    """Check codes in force from the template's boolean parameters."""
    flags = {"vat": require_vat, "email": require_email, "country": require_country,
             "bank": require_bank}
    return tuple(code for code in CHECK_CODES if flags[code])
