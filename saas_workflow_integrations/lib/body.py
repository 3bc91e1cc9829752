"""Webhook bodies: the envelope, canonical JSON bytes, thin payloads, field mappings."""

import datetime
import decimal
import json
import math

MAX_SAFE_INT = 2**53 - 1


def normalize(value):
    """JSON-safe copy of ``value`` without floats.

    Floats and Decimals become strings (exact decimal text), integers beyond the
    IEEE-754 safe range become strings, dates become ISO-8601 strings.
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if -MAX_SAFE_INT <= value <= MAX_SAFE_INT else str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return repr(value) if value != int(value) or abs(value) >= 1e16 else f"{value:.1f}"
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, datetime.datetime):
        return format_timestamp(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): normalize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [normalize(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def format_timestamp(value):
    """ISO-8601 UTC with microseconds and ``Z`` (naive datetimes are UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def dumps(obj):
    """The exact bytes that are signed and sent: compact UTF-8 JSON."""
    return json.dumps(
        normalize(obj), ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def envelope(event_id, event_type, version, occurred_at, source, data):
    """The Standard Webhooks style envelope."""
    return {
        "id": event_id,
        "type": event_type,
        "version": version,
        "timestamp": format_timestamp(occurred_at) if isinstance(occurred_at, datetime.datetime) else occurred_at,
        "source": source,
        "data": data,
    }


def record_url(base_url, model, res_id):
    if not (model and res_id):
        return None
    return f"{(base_url or '').rstrip('/')}/odoo/{model}/{res_id}"


def thin_data(model, res_id, base_url, event_id):
    """Ids and links only: receivers fetch the details through the API."""
    return {
        "object": {"model": model or None, "id": res_id or None},
        "links": {"record": record_url(base_url, model, res_id)},
        "event_id": event_id,
    }


def full_data(model, res_id, base_url, payload):
    data = {"object": {"model": model or None, "id": res_id or None, "url": record_url(base_url, model, res_id)}}
    data.update(payload or {})
    return data


_MISSING = object()


def _get_path(data, path):
    current = data
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        else:
            return _MISSING
    return current


def _set_path(data, path, value):
    parts = path.split(".")
    current = data
    for part in parts[:-1]:
        nxt = current.get(part)
        if not isinstance(nxt, dict):
            nxt = current[part] = {}
        current = nxt
    current[parts[-1]] = value


def apply_mapping(data, mapping, keep_unmapped=False):
    """Rename canonical fields to a receiver's names.

    ``mapping`` is a list of ``(canonical_path, external_path)``; paths use dots
    for nested objects. Canonical fields missing from ``data`` are sent as
    ``null`` so the receiver always sees the same set of names. With
    ``keep_unmapped`` the remaining canonical top-level fields are kept as they are.
    """
    result = {}
    used = set()
    for canonical, external in mapping:
        value = _get_path(data, canonical)
        used.add(canonical.split(".", 1)[0])
        _set_path(result, external or canonical, None if value is _MISSING else value)
    if keep_unmapped:
        for key, value in data.items():
            if key not in used and key not in result:
                result[key] = value
    return result
