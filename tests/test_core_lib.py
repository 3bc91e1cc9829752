"""Pure-Python parts of saas_workflow_core: retry schedules, payloads, ids, schemas."""

import datetime
import decimal
import json
import random

import pydantic
import pytest

from saas_workflow_core.lib import actions, backoff, ids, payload, schemas, templates
from saas_workflow_core.lib.errors import HandlerError, PermanentError, RetryableError


# -- backoff -------------------------------------------------------------
@pytest.mark.parametrize("empty", [None, "", "  ", False])
def test_empty_schedule_gives_the_default(empty):
    assert backoff.parse_schedule(empty) == backoff.DEFAULT_SCHEDULE
    assert backoff.parse_schedule(empty, default=(1, 2)) == (1, 2)


def test_schedule_parsing():
    assert backoff.parse_schedule("0, 5,300") == (0, 5, 300)
    assert backoff.parse_schedule("10;20") == (10, 20)
    with pytest.raises(ValueError, match="whole seconds"):
        backoff.parse_schedule("10, soon")
    with pytest.raises(ValueError, match="negative"):
        backoff.parse_schedule("-1")


def test_next_delay_follows_the_schedule_then_gives_up():
    schedule = (30, 120, 600)
    assert backoff.max_attempts(schedule) == 4
    assert [backoff.next_delay(schedule, n, jitter=0) for n in (1, 2, 3, 4)] == [30, 120, 600, None]
    with pytest.raises(ValueError):
        backoff.next_delay(schedule, 0)


def test_jitter_stays_within_bounds():
    rng = random.Random(7)
    delays = [backoff.next_delay((100,), 1, jitter=0.2, rng=rng) for _i in range(500)]
    assert min(delays) >= 80 and max(delays) <= 120
    assert len(set(delays)) > 400


def test_retry_after_is_honoured_and_capped():
    assert backoff.next_delay((10,), 1, jitter=0, retry_after=90) == 90
    assert backoff.next_delay((100,), 1, jitter=0, retry_after=5) == 100
    assert backoff.next_delay((10,), 1, jitter=0, retry_after=10**9) == backoff.MAX_RETRY_AFTER


def test_exponential_schedule():
    assert backoff.exponential_schedule(base=30, factor=4, retries=4, cap=2000) == (30, 120, 480, 1920)
    assert backoff.exponential_schedule(base=30, factor=4, retries=6, cap=2000)[-1] == 2000


# -- payloads ------------------------------------------------------------
def test_payload_normalisation_has_no_floats():
    value = payload.normalize(
        {
            "amount": 1234.5,
            "tiny": 0.1,
            "dec": decimal.Decimal("10.00"),
            "big": 2**60,
            "when": datetime.datetime(2026, 1, 2, 3, 4, 5),
            "day": datetime.date(2026, 1, 2),
            "tags": {"b", "a"},
            "nested": [(1, 2.0)],
            1: None,
        }
    )
    assert value == {
        "amount": "1234.5",
        "tiny": "0.1",
        "dec": "10.00",
        "big": str(2**60),
        "when": "2026-01-02T03:04:05Z",
        "day": "2026-01-02",
        "tags": ["a", "b"],
        "nested": [[1, "2"]],
        "1": None,
    }
    assert not payload.contains_float(value)
    assert payload.contains_float({"x": [1.5]})


def test_aware_datetimes_become_utc():
    tz = datetime.timezone(datetime.timedelta(hours=2))
    assert payload.normalize(datetime.datetime(2026, 1, 1, 12, 0, tzinfo=tz)) == "2026-01-01T10:00:00Z"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), decimal.Decimal("NaN"), object()])
def test_unrepresentable_values_are_refused(bad):
    with pytest.raises(payload.PayloadError):
        payload.normalize({"x": bad})


def test_too_deep_payload_is_refused():
    deep = {}
    node = deep
    for _i in range(40):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(payload.PayloadError, match="deeply"):
        payload.normalize(deep)


def test_canonical_serialisation():
    text = payload.dumps({"b": 1, "a": "é"})
    assert text == '{"a":"é","b":1}'
    assert json.loads(text) == {"a": "é", "b": 1}


# -- ids -----------------------------------------------------------------
def test_event_ids():
    generated = {ids.new_event_id() for _i in range(1000)}
    assert len(generated) == 1000
    assert all(ids.is_event_id(value) for value in generated)
    assert not ids.is_event_id("evt_XYZ")
    assert not ids.is_event_id(None)


@pytest.mark.parametrize("code", ["account.move.posted", "crm.lead.won", "a.b", "x1.y_2"])
def test_valid_codes(code):
    assert ids.is_valid_code(code)


@pytest.mark.parametrize("code", ["account", "Account.Move", "a..b", ".a.b", "a.b.", "1a.b", "a b.c", None])
def test_invalid_codes(code):
    assert not ids.is_valid_code(code)


# -- schemas -------------------------------------------------------------
def test_schema_registry_validates_payloads():
    @schemas.register("test.lib.thing", version=2)
    class Thing(pydantic.BaseModel):
        name: str
        amount: decimal.Decimal

    assert schemas.get("test.lib.thing", 2) is Thing
    assert schemas.get("test.lib.thing", 1) is None
    assert "test.lib.thing" in [code for code, _v in schemas.registered_codes()]
    assert schemas.json_schema("test.lib.thing", 2)["required"] == ["name", "amount"]
    assert schemas.validate("test.lib.thing", 2, {"name": "a", "amount": "1.50"}) == {
        "name": "a",
        "amount": "1.50",
    }
    with pytest.raises(pydantic.ValidationError):
        schemas.validate("test.lib.thing", 2, {"name": "a"})
    # Codes without a registered model are not checked.
    assert schemas.validate("test.lib.other", 1, {"free": 1}) == {"free": 1}


def test_error_classes():
    exc = RetryableError("busy", retry_after=30)
    assert isinstance(exc, HandlerError) and exc.retry_after == 30
    assert RetryableError("busy").retry_after is None
    assert isinstance(PermanentError("gone"), HandlerError)


def test_template_modules_and_params():
    assert templates.split_modules(" crm, sale_management,,project ") == [
        "crm", "sale_management", "project"
    ]
    assert templates.missing_modules("crm,account,hr", {"crm", "hr"}) == ["account"]
    assert templates.missing_modules("", {"crm"}) == []
    assert templates.param_field("user") == "value_user_id"
    assert templates.param_field("integer") == "value_integer"
    with pytest.raises(ValueError):
        templates.param_field("date")
    assert templates.describe_params({"b": 2, "a": "", "c": False}) == ["a = —", "b = 2", "c = —"]


def test_record_form_action_opens_one_record():
    action = actions.record_form("account.move", 42)
    assert action["res_model"] == "account.move"
    assert action["res_id"] == 42
    assert action["views"] == [(False, "form")]
    assert action["type"] == "ir.actions.act_window"
