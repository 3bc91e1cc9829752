"""Pure logic of the renewals template (no Odoo import): when a renewal is due,
the churn-risk score and the renewal readiness."""

import datetime
from dataclasses import dataclass

LOW, MEDIUM, HIGH = "low", "medium", "high"


@dataclass(frozen=True)
class RiskWeights:
    """Points added to the risk score per signal (parameters of the template)."""

    overdue_invoice: float = 30.0
    sla_breach: float = 20.0
    escalation: float = 25.0

    def __post_init__(self):
        for name in ("overdue_invoice", "sla_breach", "escalation"):
            if getattr(self, name) < 0:
                raise ValueError(f"Weight {name} cannot be negative")


@dataclass(frozen=True)
class RiskSignals:
    overdue_invoices: int = 0
    sla_breaches: int = 0
    escalations: int = 0


def risk_score(signals, weights):
    """``min(100, overdue × w1 + SLA breaches × w2 + open escalations × w3)``."""
    for name in ("overdue_invoices", "sla_breaches", "escalations"):
        if getattr(signals, name) < 0:
            raise ValueError(f"Signal {name} cannot be negative")
    raw = (
        signals.overdue_invoices * weights.overdue_invoice
        + signals.sla_breaches * weights.sla_breach
        + signals.escalations * weights.escalation
    )
    return round(min(100.0, raw), 2)


def risk_level(score, threshold):
    """high from ``threshold`` up, medium from half of it, low below."""
    if threshold <= 0:
        raise ValueError("The high-risk threshold must be positive")
    if score >= threshold:
        return HIGH
    if score >= threshold / 2.0:
        return MEDIUM
    return LOW


def explain(signals, weights, threshold):
    """The lines shown on the contract form: how the score was obtained."""
    score = risk_score(signals, weights)
    lines = [
        f"Overdue invoices: {signals.overdue_invoices} × {weights.overdue_invoice:g} = "
        f"{signals.overdue_invoices * weights.overdue_invoice:g}",
        f"SLA breaches: {signals.sla_breaches} × {weights.sla_breach:g} = "
        f"{signals.sla_breaches * weights.sla_breach:g}",
        f"Open escalations: {signals.escalations} × {weights.escalation:g} = "
        f"{signals.escalations * weights.escalation:g}",
        f"Score (capped at 100): {score:g} — {risk_level(score, threshold)} risk "
        f"(high from {threshold:g})",
    ]
    return lines


def renewal_due(end_date, today, days_before):
    """The renewal of a contract ending on ``end_date`` starts ``days_before`` days ahead."""
    if not end_date:
        return False
    if days_before < 0:
        raise ValueError("Days before the end cannot be negative")
    return today >= end_date - datetime.timedelta(days=days_before)


def is_ready(task_done, quotation_sent):
    """A renewal is ready when its task is done or a renewal quotation was sent."""
    return bool(task_done or quotation_sent)
