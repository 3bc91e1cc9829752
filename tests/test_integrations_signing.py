import base64
import time
from datetime import datetime, timezone

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from saas_workflow_integrations.lib import signing

BODY = '{"id":"evt_1","type":"partner.created","data":{"name":"Zoë","amount":"12.50"}}'.encode()


def test_generated_secret_format_and_length():
    secret = signing.generate_secret()
    assert secret.startswith("whsec_")
    raw = base64.b64decode(secret[len("whsec_"):])
    assert len(raw) == 32
    assert signing.parse_secret(secret) == raw
    assert signing.generate_secret() != secret
    with pytest.raises(signing.SecretFormatError):
        signing.generate_secret(8)


def test_reference_library_accepts_our_headers():
    secret = signing.generate_secret()
    headers = signing.build_headers([secret], "evt_abc", BODY, user_agent="x/1")
    payload = Webhook(secret).verify(BODY, headers)
    assert payload["data"]["name"] == "Zoë"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "x/1"


def test_our_verifier_accepts_reference_signature():
    secret = signing.generate_secret()
    ts = int(time.time())
    sig = Webhook(secret).sign("msg_1", datetime.fromtimestamp(ts, tz=timezone.utc), BODY)
    assert signing.sign(secret, "msg_1", ts, BODY) == sig
    headers = {"Webhook-Id": "msg_1", "Webhook-Timestamp": str(ts), "Webhook-Signature": sig}
    assert signing.verify_headers([secret], headers, BODY) == ts


def test_rotation_both_secrets_sign_and_each_verifies():
    old, new = signing.generate_secret(), signing.generate_secret()
    now = time.time()
    secrets = signing.signing_secrets(new, old, previous_valid_until=now + 3600, now=now)
    assert secrets == [new, old]
    headers = signing.build_headers(secrets, "evt_rot", BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    # A receiver still configured with the old secret and one already on the new one.
    Webhook(old).verify(BODY, headers)
    Webhook(new).verify(BODY, headers)
    # After the overlap only the new secret signs.
    after = signing.signing_secrets(new, old, previous_valid_until=now - 1, now=now)
    headers = signing.build_headers(after, "evt_rot", BODY)
    Webhook(new).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(BODY, headers)


def test_tampered_body_and_wrong_secret_rejected():
    secret = signing.generate_secret()
    headers = signing.build_headers([secret], "evt_t", BODY)
    with pytest.raises(signing.BadSignatureError):
        signing.verify_headers([secret], headers, BODY.replace(b"12.50", b"99.50"))
    with pytest.raises(signing.BadSignatureError):
        signing.verify_headers([signing.generate_secret()], headers, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY + b" ", headers)


def test_timestamp_window():
    secret = signing.generate_secret()
    now = 1_700_000_000
    for delta, ok in ((0, True), (299, True), (-299, True), (301, False), (-301, False)):
        headers = signing.build_headers([secret], "evt_w", BODY, timestamp=now + delta)
        if ok:
            signing.verify_headers([secret], headers, BODY, now=now)
        else:
            with pytest.raises(signing.TimestampError):
                signing.verify_headers([secret], headers, BODY, now=now)


def test_missing_and_malformed_headers():
    secret = signing.generate_secret()
    with pytest.raises(signing.MissingHeadersError):
        signing.verify_headers([secret], {"webhook-id": "x"}, BODY)
    headers = signing.build_headers([secret], "evt_m", BODY)
    headers["webhook-timestamp"] = "soon"
    with pytest.raises(signing.TimestampError):
        signing.verify_headers([secret], headers, BODY)


def test_static_header_cannot_override_signature_headers():
    secret = signing.generate_secret()
    headers = signing.build_headers(
        [secret], "evt_s", BODY, extra={"Authorization": "Bearer t", "Webhook-Signature": "v1,bad"}
    )
    assert headers["Authorization"] == "Bearer t"
    Webhook(secret).verify(BODY, headers)
