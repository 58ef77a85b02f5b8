"""How long to wait before trying a passing fault again."""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime

MAX_BACKOFF_SECONDS = 30.0


def backoff_delay(attempt: int, base: float) -> float:
    """Jittered exponential backoff: base·2^(attempt-1), times 0.5–1.5, capped."""
    return float(min(MAX_BACKOFF_SECONDS, base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5))


def retry_after_seconds(retry_after: str | None, date: str | None) -> float | None:
    """A server's ``Retry-After`` (seconds, or an HTTP date read against its ``Date``)
    in seconds; None when either header is missing, malformed or without a time zone:
    a hint that cannot be read is ignored, never an error of the job."""
    if not retry_after:
        return None
    try:
        return max(0.0, float(retry_after))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(retry_after)
        now = parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        return None
    if now is None or when.tzinfo is None or now.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())
