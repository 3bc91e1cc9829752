"""Standard Webhooks signing and verification.

Wire format (https://www.standardwebhooks.com):

* ``webhook-id``: unique message id, identical on every retry
* ``webhook-timestamp``: unix seconds of this attempt
* ``webhook-signature``: ``v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>``;
  several space-separated signatures while a secret is being rotated.

Secrets are shown to users as ``whsec_`` + base64 of the raw key bytes.
"""

import base64
import binascii
import hashlib
import hmac
import secrets as _secrets
import time
from collections.abc import Iterable, Mapping

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
DEFAULT_SECRET_BYTES = 32
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
DEFAULT_TOLERANCE = 300


class SignatureError(ValueError):
    """Base class: the request cannot be trusted. ``code`` is a stable machine name."""

    code = "invalid_signature"


class MissingHeadersError(SignatureError):
    code = "missing_headers"


class TimestampError(SignatureError):
    code = "stale_timestamp"


class BadSignatureError(SignatureError):
    code = "invalid_signature"


class SecretFormatError(ValueError):
    pass


def generate_secret(nbytes=DEFAULT_SECRET_BYTES):
    """Return a new random secret formatted as ``whsec_<base64>``."""
    if not MIN_SECRET_BYTES <= nbytes <= MAX_SECRET_BYTES:
        raise SecretFormatError(
            f"secret length must be {MIN_SECRET_BYTES}-{MAX_SECRET_BYTES} bytes"
        )
    return format_secret(_secrets.token_bytes(nbytes))


def format_secret(raw):
    return SECRET_PREFIX + base64.b64encode(raw).decode("ascii")


def parse_secret(secret, min_bytes=1):
    """Return the key bytes of a ``whsec_`` secret (prefix optional) or of raw bytes."""
    if isinstance(secret, (bytes, bytearray)):
        raw = bytes(secret)
    else:
        text = (secret or "").strip()
        if text.startswith(SECRET_PREFIX):
            text = text[len(SECRET_PREFIX):]
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SecretFormatError("secret is not valid base64") from exc
    if len(raw) < max(min_bytes, 1):
        raise SecretFormatError(f"secret must hold at least {max(min_bytes, 1)} bytes")
    return raw


def _as_bytes(body):
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    raise TypeError("body must be bytes or str")


def sign(secret, msg_id, timestamp, body):
    """Return one ``v1,<base64>`` signature of ``body``."""
    key = parse_secret(secret)
    to_sign = f"{msg_id}.{int(timestamp)}.".encode() + _as_bytes(body)
    digest = hmac.new(key, to_sign, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_header(secrets, msg_id, timestamp, body):
    """Space-separated signatures, one per secret (current first)."""
    secrets = [s for s in secrets if s]
    if not secrets:
        raise SecretFormatError("no signing secret")
    return " ".join(sign(s, msg_id, timestamp, body) for s in secrets)


def build_headers(secrets, msg_id, body, timestamp=None, user_agent=None, extra=None):
    """All Standard Webhooks headers for one attempt."""
    ts = int(time.time() if timestamp is None else timestamp)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": signature_header(secrets, msg_id, ts, body),
        "Content-Type": "application/json",
    }
    if user_agent:
        headers["User-Agent"] = user_agent
    if extra:
        for name, value in extra.items():
            if name.lower() not in {h.lower() for h in headers}:
                headers[name] = value
    return headers


def verify(secrets, msg_id, timestamp, signature, body, now=None, tolerance=DEFAULT_TOLERANCE):
    """Check a signed request; raise a :class:`SignatureError` subclass when it fails.

    ``secrets`` is an iterable of acceptable secrets (current and, during rotation,
    previous). ``timestamp`` must be within ``tolerance`` seconds of ``now``.
    """
    if not (msg_id and timestamp and signature):
        raise MissingHeadersError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        ts = int(str(timestamp).strip())
    except ValueError as exc:
        raise TimestampError("webhook-timestamp is not an integer") from exc
    now = time.time() if now is None else now
    if abs(now - ts) > tolerance:
        raise TimestampError("webhook-timestamp outside the accepted window")
    offered = [part.strip() for part in str(signature).split(" ") if part.strip()]
    for secret in secrets:
        if not secret:
            continue
        expected = sign(secret, msg_id, ts, body).encode()
        for candidate in offered:
            if hmac.compare_digest(expected, candidate.encode()):
                return ts
    raise BadSignatureError("no matching signature")


def verify_headers(secrets, headers, body, now=None, tolerance=DEFAULT_TOLERANCE):
    """:func:`verify` reading the three headers from a (case-insensitive) mapping."""
    lowered = _lower(headers)
    return verify(
        secrets,
        lowered.get("webhook-id"),
        lowered.get("webhook-timestamp"),
        lowered.get("webhook-signature"),
        body,
        now=now,
        tolerance=tolerance,
    )


def _lower(headers):
    if isinstance(headers, Mapping):
        items = headers.items()
    elif isinstance(headers, Iterable):
        items = headers
    else:
        items = ()
    return {str(k).lower(): v for k, v in items}


def signing_secrets(current, previous=None, previous_valid_until=None, now=None):
    """Secrets to sign with: current, plus previous while its overlap lasts."""
    now = time.time() if now is None else now
    result = [current] if current else []
    if previous and previous_valid_until is not None and now < previous_valid_until:
        result.append(previous)
    return result
