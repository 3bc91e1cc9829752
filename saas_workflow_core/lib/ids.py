"""Public identifiers of events."""

import re
import secrets

EVENT_ID_PREFIX = "evt_"
_EVENT_ID_RE = re.compile(r"^evt_[0-9a-f]{32}$")
_CODE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


def new_event_id():
    """Return a fresh public event id: ``evt_`` followed by 32 hex digits (128 random bits)."""
    return EVENT_ID_PREFIX + secrets.token_hex(16)


def is_event_id(value):
    return bool(isinstance(value, str) and _EVENT_ID_RE.match(value))


def is_valid_code(code):
    """Event type codes are dotted lower-case names such as ``account.move.posted``."""
    return bool(isinstance(code, str) and _CODE_RE.match(code))
