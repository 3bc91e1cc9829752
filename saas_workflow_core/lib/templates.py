"""Pure helpers of the workflow template catalog (no Odoo import)."""

VALUE_TYPES = ("integer", "float", "char", "boolean", "user")


def split_modules(required):
    """``"crm, sale_management,,project"`` -> ``["crm", "sale_management", "project"]``."""
    return [name.strip() for name in (required or "").split(",") if name.strip()]


def missing_modules(required, installed):
    """Required technical names that are not in ``installed``, in the order given."""
    installed = set(installed)
    return [name for name in split_modules(required) if name not in installed]


def param_field(value_type):
    """Name of the field holding a parameter of ``value_type``."""
    if value_type not in VALUE_TYPES:
        raise ValueError(f"Unknown parameter type {value_type!r}")
    return "value_user_id" if value_type == "user" else f"value_{value_type}"


def describe_params(params):
    """One line per parameter for the audit message: ``key = value``, sorted by key."""
    lines = []
    for key in sorted(params):
        value = params[key]
        shown = getattr(value, "display_name", value)
        lines.append(f"{key} = {shown if shown not in (None, False, '') else '—'}")
    return lines
