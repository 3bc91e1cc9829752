"""Robust outlier score of an amount against its history (no Odoo import).

The score is the robust z-score ``0.6745 * (x - median) / MAD`` (Iglewicz and
Hoaglin): unlike a mean/standard-deviation z-score it is not dragged by the
outliers it looks for.  When the history has no spread (MAD = 0) the mean
absolute deviation is used, and when every earlier value is equal any other
value is flagged if it is at least ``threshold / 2`` times away in ratio.
"""

from dataclasses import dataclass
from statistics import median


@dataclass(frozen=True)
class AnomalyScore:
    score: float
    explanation: str
    flagged: bool
    median: float
    ratio: float | None


def _fmt(value):
    return ("%.2f" % value).rstrip("0").rstrip(".") if value % 1 else "%d" % value


def score(history, value, threshold=3.5, noun="documents"):
    """Score ``value`` against ``history`` (earlier amounts, most recent first)."""
    values = [float(v) for v in history]
    value = float(value)
    if not values:
        return AnomalyScore(0.0, "", False, 0.0, None)
    med = median(values)
    deviations = [abs(v - med) for v in values]
    mad = median(deviations)
    if mad > 0:
        z = 0.6745 * (value - med) / mad
    else:
        mean_ad = sum(deviations) / len(deviations)
        if mean_ad > 0:
            z = (value - med) / (1.2533 * mean_ad)
        elif value == med:
            z = 0.0
        else:
            base = abs(med) or 1.0
            z = (abs(value - med) / base) * threshold * 2 * (1 if value > med else -1)
    ratio = value / med if med else None
    flagged = abs(z) >= threshold
    n = len(values)
    if ratio is not None and ratio >= 1:
        how = "%s× the median" % _fmt(round(ratio, 1))
    elif ratio is not None and ratio > 0:
        how = "%s× below the median" % _fmt(round(1 / ratio, 1))
    else:
        how = "%s away from the median" % _fmt(round(value - med, 2))
    explanation = "%s is %s (%s) of the last %d %s (robust z-score %.1f, threshold %s)." % (
        _fmt(round(value, 2)),
        how,
        _fmt(round(med, 2)),
        n,
        noun,
        z,
        _fmt(threshold),
    )
    return AnomalyScore(float(z), explanation, flagged, float(med), ratio)
