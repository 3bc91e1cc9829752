"""Retry schedules: when to try a failed delivery again, and when to give up."""

import random

# Exponential by default: 30 s, 2 min, 10 min, 30 min, 2 h, 6 h - seven attempts in all.
DEFAULT_SCHEDULE = (30, 120, 600, 1800, 7200, 21600)
DEFAULT_JITTER = 0.2
MAX_RETRY_AFTER = 24 * 3600


def parse_schedule(text, default=DEFAULT_SCHEDULE):
    """Parse ``"0, 5, 300"`` into ``(0, 5, 300)``.

    Empty text gives ``default``. Raises ``ValueError`` on a negative or
    non-integer entry so a bad configuration is refused when it is saved.
    """
    if not text or not str(text).strip():
        return tuple(default)
    delays = []
    for part in str(text).replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            seconds = int(part)
        except ValueError as exc:
            raise ValueError(f"Retry delays must be whole seconds, got {part!r}") from exc
        if seconds < 0:
            raise ValueError(f"Retry delays cannot be negative, got {seconds}")
        delays.append(seconds)
    return tuple(delays)


def exponential_schedule(base=30, factor=4, retries=6, cap=86400):
    """Build an exponential schedule: ``base * factor**n`` capped at ``cap``."""
    return tuple(min(int(base * factor**n), cap) for n in range(retries))


def max_attempts(schedule):
    """A schedule of N retries allows N + 1 attempts."""
    return len(schedule) + 1


def next_delay(schedule, attempts_done, jitter=DEFAULT_JITTER, retry_after=None, rng=None):
    """Seconds to wait before the next attempt, or ``None`` when no attempt is left.

    ``attempts_done`` counts the attempts made so far (the failed one
    included). The delay for retry *n* is ``schedule[n-1]`` spread by
    ``±jitter`` (a fraction); a receiver's ``retry_after`` is honoured when it
    asks for longer, bounded by :data:`MAX_RETRY_AFTER`.
    """
    if attempts_done < 1:
        raise ValueError("attempts_done starts at 1 (the attempt that just failed)")
    if attempts_done > len(schedule):
        return None
    delay = float(schedule[attempts_done - 1])
    if jitter and delay:
        rng = rng or random
        delay *= 1 + rng.uniform(-jitter, jitter)
    if retry_after is not None:
        delay = max(delay, min(float(retry_after), MAX_RETRY_AFTER))
    return max(delay, 0.0)
