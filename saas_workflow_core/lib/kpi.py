"""Status, trend and display of an operations indicator (no Odoo import)."""

UNIT_SUFFIX = {"count": "", "per_day": " / day", "percent": " %", "ms": " ms", "hours": " h",
               "days": " d"}


def status(value, has_target, target, threshold, higher_is_better):
    """Colour of ``value`` against its target and alert threshold.

    ``none`` without value, ``neutral`` without target; otherwise ``good`` at or beyond the
    target, ``warning`` between the target and the threshold (inclusive), ``bad`` beyond it.
    """
    if value is None:
        return "none"
    if not has_target:
        return "neutral"
    if higher_is_better:
        if value >= target:
            return "good"
        return "warning" if value >= threshold else "bad"
    if value <= target:
        return "good"
    return "warning" if value <= threshold else "bad"


def trend(value, previous):
    """Relative change in % from ``previous`` to ``value``; None when it has no meaning
    (a value missing, or a change from zero)."""
    if value is None or previous is None:
        return None
    if not previous:
        return 0.0 if not value else None
    return (value - previous) / abs(previous) * 100.0


def format_value(value, unit):
    """``value`` as a tile shows it: counts and milliseconds whole, small values with one
    decimal, thousands separated, with the unit's suffix."""
    digits = 0 if unit in ("count", "ms") or abs(value) >= 100 else 1
    return f"{value:,.{digits}f}{UNIT_SUFFIX.get(unit, '')}"


def format_trend(change):
    """A trend in % as an arrow and a whole percentage (``=`` when flat)."""
    arrow = "▲" if change > 0.05 else "▼" if change < -0.05 else "="
    return f"{arrow} {abs(change):.0f} %"
