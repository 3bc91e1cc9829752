"""Fingerprint of the approval-relevant values of a record.

The fingerprint is a SHA-256 over a canonical JSON rendering of
``{field path: normalized value}``. Floats are rounded to a fixed number of
digits so that harmless float noise does not invalidate an approval.
"""

import datetime
import decimal
import hashlib
import json

FLOAT_DIGITS = 6
_OPERATORS = {"&", "|", "!"}


def normalize(value):
    if value is None or value is False:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float | decimal.Decimal):
        rounded = round(float(value), FLOAT_DIGITS)
        return format(rounded + 0.0, f".{FLOAT_DIGITS}f")
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): normalize(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple | set | frozenset):
        items = [normalize(v) for v in value]
        if isinstance(value, set | frozenset):
            items.sort(key=lambda v: json.dumps(v, sort_keys=True))
        return items
    return str(value)


def compute(values: dict) -> str:
    """Return the hex fingerprint of a mapping of field path -> value."""
    canonical = json.dumps(
        {str(k): normalize(v) for k, v in values.items()},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def domain_field_paths(domain) -> list:
    """Field paths used by the leaves of a domain (list form), in order.

    ``[('amount_total', '>', 10), '|', ('partner_id.country_id', '=', 1), ...]``
    gives ``['amount_total', 'partner_id.country_id']``. Leaves whose left side
    is not a string (e.g. ``(1, '=', 1)``) are ignored.
    """
    paths = []
    for leaf in domain or ():
        if isinstance(leaf, str) and leaf in _OPERATORS:
            continue
        if isinstance(leaf, list | tuple) and len(leaf) == 3 and isinstance(leaf[0], str):
            if leaf[0] not in paths:
                paths.append(leaf[0])
    return paths


def relevant_paths(domain, amount_field=None, currency_field=None, extra=()):
    paths = domain_field_paths(domain)
    for path in (amount_field, currency_field, *extra):
        if path and path not in paths:
            paths.append(path)
    return sorted(paths)
