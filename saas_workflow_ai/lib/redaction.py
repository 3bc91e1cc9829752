"""PII redaction applied before any text leaves the database (no Odoo import).

Replaces, in this order: IBANs (checked with the ISO 7064 mod-97 checksum),
payment card numbers (13-19 digits, Luhn-checked), e-mail addresses, phone
numbers (7+ digits, optional +country code and usual separators), then the
names, e-mails and phones of the contacts linked to the record (whole words,
case-insensitive, also each part of a multi-word name of 3+ letters).

``redact(text, names)`` returns a :class:`Redaction` with the text and the
list of (kind, original) findings so that callers can count them without
keeping the originals.
"""

import re
from dataclasses import dataclass, field

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b")
CARD_RE = re.compile(r"(?<![\d])(?:\d[ \-]?){12,18}\d(?![\d])")
PHONE_RE = re.compile(r"(?<![\w+])(?:\+|00)?\d[\d \-./()]{5,}\d(?![\w])")

PLACEHOLDERS = {
    "iban": "[IBAN]",
    "card": "[CARD]",
    "email": "[EMAIL]",
    "phone": "[PHONE]",
    "name": "[NAME]",
}


@dataclass
class Redaction:
    text: str
    findings: list = field(default_factory=list)

    @property
    def count(self):
        return len(self.findings)


def iban_valid(candidate):
    value = re.sub(r"\s+", "", candidate).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", value):
        return False
    moved = value[4:] + value[:4]
    digits = "".join(str(int(ch, 36)) for ch in moved)
    return int(digits) % 97 == 1


def luhn_valid(candidate):
    digits = [int(ch) for ch in candidate if ch.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _sub(pattern, kind, text, findings, check=None):
    def replace(match):
        value = match.group(0)
        if check is not None and not check(value):
            return value
        findings.append((kind, value))
        return PLACEHOLDERS[kind]

    return pattern.sub(replace, text)


DATE_RE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")


def _phone_ok(value):
    if DATE_RE.fullmatch(value.strip()):
        return False
    digits = sum(ch.isdigit() for ch in value)
    return 7 <= digits <= 15


def _name_terms(names):
    terms = set()
    for name in names or ():
        name = str(name or "").strip()
        if len(name) < 3:
            continue
        terms.add(name)
        if "@" in name:
            continue
        for part in re.split(r"[\s,]+", name):
            if len(part) >= 3 and any(ch.isalpha() for ch in part):
                terms.add(part)
    # longest first, so that a full name is replaced before its parts
    return sorted(terms, key=lambda t: (-len(t), t))


def redact(text, names=()):
    """Redact PII in ``text``; ``names`` are contact names/e-mails/phones to hide."""
    findings = []
    if not text:
        return Redaction(text or "", findings)
    out = _sub(IBAN_RE, "iban", text, findings, iban_valid)
    out = _sub(CARD_RE, "card", out, findings, luhn_valid)
    out = _sub(EMAIL_RE, "email", out, findings)
    out = _sub(PHONE_RE, "phone", out, findings, _phone_ok)
    for term in _name_terms(names):
        if term in PLACEHOLDERS.values():
            continue
        pattern = re.compile(r"(?<!\w)%s(?!\w)" % re.escape(term), re.IGNORECASE)
        out = _sub(pattern, "name", out, findings)
    return Redaction(out, findings)
