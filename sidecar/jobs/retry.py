"""How long to wait before trying a passing fault again."""

from __future__ import annotations

import random

MAX_BACKOFF_SECONDS = 30.0


def backoff_delay(attempt: int, base: float) -> float:
    """Jittered exponential backoff: base·2^(attempt-1), times 0.5–1.5, capped."""
    return float(min(MAX_BACKOFF_SECONDS, base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5))
