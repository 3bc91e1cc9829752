"""Per-endpoint circuit breaker, derived from the recent attempt log.

The breaker keeps no mutable state of its own: its position is computed from
the attempts made against the endpoint during the last ``window`` seconds, so
several workers delivering to the same endpoint agree without locking a row.

* closed: fewer than ``min_requests`` real calls in the window, a failure
  ratio under ``failure_ratio``, or the latest call succeeded.
* open: the thresholds are met and the latest call failed less than
  ``cooldown`` seconds ago; deliveries are postponed without calling the receiver.
* half-open: the thresholds are met but the latest failure is older than
  ``cooldown``; one probe call goes through. A successful probe closes the
  breaker (latest call succeeded); a failed one re-opens it for another cooldown.
"""

from dataclasses import dataclass

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerConfig:
    window: int = 300
    min_requests: int = 10
    failure_ratio: float = 0.7
    cooldown: int = 60


@dataclass(frozen=True)
class WindowStats:
    """Real calls (not short-circuited ones) in the window."""

    total: int = 0
    failures: int = 0
    last_at: float | None = None  # unix seconds of the latest real call
    last_ok: bool = True


@dataclass(frozen=True)
class Decision:
    state: str
    allowed: bool
    retry_in: int = 0


def evaluate(stats, now, config=None):
    """Return the :class:`Decision` for a new call at ``now`` (unix seconds)."""
    config = config or BreakerConfig()
    tripped = (
        stats.total >= config.min_requests
        and stats.total > 0
        and stats.failures / stats.total >= config.failure_ratio
        and not stats.last_ok
    )
    if not tripped:
        return Decision(CLOSED, True)
    elapsed = now - (stats.last_at if stats.last_at is not None else now - config.cooldown)
    if elapsed >= config.cooldown:
        return Decision(HALF_OPEN, True)
    return Decision(OPEN, False, max(1, int(round(config.cooldown - elapsed))))


def assume_failed(stats, count, now):
    """``stats`` as if ``count`` calls still awaiting their answer had just failed.

    The breaker can only get worse with failures: when it allows a call under
    this assumption, it allows it whatever those answers turn out to be, so a
    caller posting concurrently decides exactly as one posting one at a time.
    """
    if count <= 0:
        return stats
    return WindowStats(
        total=stats.total + count, failures=stats.failures + count, last_at=now, last_ok=False
    )
