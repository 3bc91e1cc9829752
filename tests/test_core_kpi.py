"""Pure-Python parts of the operations overview: status colour, trend and display."""

import pytest

from saas_workflow_core.lib import kpi


@pytest.mark.parametrize(
    ("value", "higher", "expected"),
    [
        (99.5, True, "good"), (99.0, True, "good"), (97.0, True, "warning"), (95.0, True, "warning"),
        (94.9, True, "bad"),
        (0.0, False, "good"), (1.0, False, "warning"), (10.0, False, "warning"), (10.5, False, "bad"),
    ],
)
def test_status_against_target_and_threshold(value, higher, expected):
    target, threshold = (99.0, 95.0) if higher else (0.0, 10.0)
    assert kpi.status(value, True, target, threshold, higher) == expected


def test_status_without_value_or_target():
    assert kpi.status(None, True, 1, 2, True) == "none"
    assert kpi.status(5.0, False, 0, 0, True) == "neutral"


@pytest.mark.parametrize(
    ("value", "previous", "expected"),
    [(6.0, 3.0, 100.0), (50.0, 100.0, -50.0), (2.0, -4.0, 150.0), (0.0, 0.0, 0.0), (3.0, 0.0, None),
     (None, 1.0, None), (1.0, None, None)],
)
def test_trend(value, previous, expected):
    assert kpi.trend(value, previous) == expected


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [(1234.0, "count", "1,234"), (0.2, "per_day", "0.2 / day"), (996.3, "per_day", "996 / day"),
     (66.666, "percent", "66.7 %"), (925.4, "ms", "925 ms"), (20.0, "hours", "20.0 h"),
     (7.25, "days", "7.2 d"), (3.0, "unknown", "3.0")],
)
def test_format_value(value, unit, shown):
    assert kpi.format_value(value, unit) == shown


def test_format_trend():
    assert kpi.format_trend(100.0) == "▲ 100 %"
    assert kpi.format_trend(-50.0) == "▼ 50 %"
    assert kpi.format_trend(0.01) == "= 0 %"
