import datetime
import decimal
import json

import pytest

from saas_workflow_integrations.lib import body, breaker, schemas


def test_dumps_is_compact_utf8_without_floats():
    data = {"name": "Zoë €", "amount": decimal.Decimal("1234.50"), "ratio": 0.1, "big": 2**60, "n": 7}
    raw = body.dumps(data)
    assert raw == '{"name":"Zoë €","amount":"1234.50","ratio":"0.1","big":"1152921504606846976","n":7}'.encode()
    assert not any(isinstance(v, float) for v in json.loads(raw).values())


def test_envelope_fields_and_timestamp():
    occurred = datetime.datetime(2025, 3, 1, 12, 30, 5, 123456)
    env = body.envelope(
        "evt_1", "sale.confirmed", 2, occurred, {"database": "db", "company_id": 1, "base_url": "https://x"}, {"a": 1}
    )
    assert list(env) == ["id", "type", "version", "timestamp", "source", "data"]
    assert env["timestamp"] == "2025-03-01T12:30:05.123456Z"
    aware = datetime.datetime(2025, 3, 1, 13, 30, 5, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    assert body.format_timestamp(aware) == "2025-03-01T12:30:05.123456Z"


def test_thin_payload_has_only_ids_and_links():
    data = body.thin_data("sale.order", 42, "https://erp.example.com/", "evt_9")
    assert data == {
        "object": {"model": "sale.order", "id": 42},
        "links": {"record": "https://erp.example.com/odoo/sale.order/42"},
        "event_id": "evt_9",
    }


def test_mapping_renames_nested_and_fills_missing():
    data = {"partner": {"name": "Acme", "vat": "BE1"}, "amount_total": "10.00", "extra": 1}
    mapping = [("partner.name", "customerName"), ("amount_total", "total"), ("currency", "cur")]
    assert body.apply_mapping(data, mapping) == {"customerName": "Acme", "total": "10.00", "cur": None}
    kept = body.apply_mapping(data, mapping, keep_unmapped=True)
    assert kept["extra"] == 1 and "amount_total" not in kept


@pytest.mark.parametrize(
    ("stats", "now", "state", "allowed"),
    [
        (breaker.WindowStats(), 0, breaker.CLOSED, True),
        (breaker.WindowStats(total=9, failures=9, last_at=100, last_ok=False), 101, breaker.CLOSED, True),
        (breaker.WindowStats(total=10, failures=6, last_at=100, last_ok=False), 101, breaker.CLOSED, True),
        (breaker.WindowStats(total=10, failures=7, last_at=100, last_ok=False), 101, breaker.OPEN, False),
        (breaker.WindowStats(total=10, failures=7, last_at=100, last_ok=False), 160, breaker.HALF_OPEN, True),
        (breaker.WindowStats(total=20, failures=19, last_at=100, last_ok=True), 101, breaker.CLOSED, True),
    ],
)
def test_breaker_evaluate(stats, now, state, allowed):
    decision = breaker.evaluate(stats, now, breaker.BreakerConfig(cooldown=60))
    assert (decision.state, decision.allowed) == (state, allowed)
    if not allowed:
        assert decision.retry_in == 59


def test_schema_registry_validates_and_reports():
    assert ("record_update", "Record update: model, id, values") in schemas.choices()
    ok = schemas.validate("record_update", {"model": "res.partner", "id": 3, "values": {"ref": "A"}})
    assert ok.id == 3
    with pytest.raises(schemas.SchemaError) as err:
        schemas.validate("record_update", {"model": "res.partner", "id": -1, "values": {"x": [1]}})
    locs = {e["loc"] for e in err.value.errors}
    assert "id" in locs and any(loc.startswith("values.x") for loc in locs)
    with pytest.raises(schemas.SchemaError):
        schemas.validate("event", {"data": {}})
    with pytest.raises(KeyError):
        schemas.get("nope")
