"""Rate and ETA: how fast a session moves, and what that says about the rest."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

RATE_TIME_CONSTANT = 10.0  # seconds; smooths the rate over roughly the last ten seconds
RATE_MIN_INTERVAL = 0.25


@dataclass
class RateMeter:
    """Items per second as an exponential moving average over time, not one step."""

    rate: float | None = None
    last_done: float | None = None
    last_time: float = 0.0

    def observe(self, done: float, at: float) -> float | None:
        if self.last_done is None or done < self.last_done:
            self.last_done, self.last_time = done, at
            return self.rate
        elapsed = at - self.last_time
        if elapsed < RATE_MIN_INTERVAL:
            return self.rate
        instant = (done - self.last_done) / elapsed
        if self.rate is None:
            self.rate = instant
        else:
            weight = 1.0 - math.exp(-elapsed / RATE_TIME_CONSTANT)
            self.rate += weight * (instant - self.rate)
        self.last_done, self.last_time = done, at
        return self.rate


def derive_percentage_and_eta(snap: dict[str, Any]) -> None:
    """Set the snapshot's ``percentage`` and ``eta_seconds`` from its done, total, rate."""
    total, done = snap["total"], snap["done"]
    snap["percentage"] = round(min(100.0, done * 100.0 / total), 1) if total else 0.0
    rate = snap["rate"]
    if snap["status"] == "running" and total and rate and rate > 0:
        snap["eta_seconds"] = round(max(0, total - done) / rate, 1)
    elif snap["status"] == "running":
        snap["eta_seconds"] = None
