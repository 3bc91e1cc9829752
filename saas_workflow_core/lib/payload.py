"""Canonical event payloads: JSON-safe, no floats, stable serialization.

Amounts and big integers travel as strings so that no consumer loses
precision (JavaScript numbers stop being exact past 2**53, and binary floats
cannot hold most decimal amounts).
"""

import datetime
import decimal
import json
import math

SAFE_INT = 2**53 - 1


class PayloadError(ValueError):
    """The payload cannot be represented as a canonical event payload."""


def _float_to_str(value):
    if math.isnan(value) or math.isinf(value):
        raise PayloadError(f"{value!r} is not a valid amount")
    text = format(decimal.Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def normalize(value, _depth=0):
    """Return a JSON-safe copy of ``value`` with floats and big integers as strings.

    Dates become ISO-8601 strings (datetimes are taken as UTC, as Odoo stores
    them), Decimals and floats become plain decimal strings, tuples and sets
    become lists. Anything else that JSON cannot hold is refused.
    """
    if _depth > 32:
        raise PayloadError("payload is nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if -SAFE_INT <= value <= SAFE_INT else str(value)
    if isinstance(value, float):
        return _float_to_str(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise PayloadError(f"{value!r} is not a valid amount")
        return format(value, "f")
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return value.isoformat(timespec="seconds") + "Z"
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                key = str(key)
            out[key] = normalize(item, _depth + 1)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [normalize(item, _depth + 1) for item in items]
    raise PayloadError(f"cannot put a {type(value).__name__} in an event payload")


def dumps(value):
    """Compact UTF-8 JSON with sorted keys: the canonical serialization."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def contains_float(value):
    """True when a float hides anywhere in ``value`` (used to check stored payloads)."""
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(contains_float(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(contains_float(v) for v in value)
    return False
