"""Where a job's wall time goes: waiting on WordPress, on downloads, on Apify, or on
nothing but the sidecar itself.

Every call a job makes to the outside runs inside ``waiting_on(kind)``. The job's
clock keeps, per kind and for all kinds together, the length of the union of those
calls' intervals: the time at least one was under way. With several posts in flight
the calls overlap; the union counts each moment once. What is left of the wall time
is the job's own: reading the export, hashing, the ledger, building content, and any
moment the job had no outside call under way.

The HTTP client's own work for a call (building the request, parsing the answer)
falls inside that call's interval; the sidecar's CPU time is measured beside this by
``bench/imports.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

KINDS = ("wordpress", "downloads", "apify")


@dataclass
class _Union:
    """The total length of intervals that may overlap, kept as they open and close."""

    under_way: int = 0
    since: float = 0.0
    total: float = 0.0

    def open(self, now: float) -> None:
        if self.under_way == 0:
            self.since = now
        self.under_way += 1

    def close(self, now: float) -> None:
        self.under_way -= 1
        if self.under_way == 0:
            self.total += now - self.since

    def seconds(self, now: float) -> float:
        return self.total + (now - self.since if self.under_way else 0.0)


@dataclass
class JobClock:
    """One job attempt's clock, started when the attempt starts."""

    started: float = field(default_factory=lambda: time.monotonic())
    _outside: _Union = field(default_factory=_Union)
    _kinds: dict[str, _Union] = field(default_factory=lambda: {k: _Union() for k in KINDS})

    @contextmanager
    def waiting_on(self, kind: str) -> Iterator[None]:
        union = self._kinds[kind]
        now = time.monotonic()
        self._outside.open(now)
        union.open(now)
        try:
            yield
        finally:
            now = time.monotonic()
            union.close(now)
            self._outside.close(now)

    def summary(self) -> dict[str, float]:
        """Seconds: ``wall``, ``own`` (waiting on nothing outside), and one per kind."""
        now = time.monotonic()
        wall = now - self.started
        seconds = {"wall": wall, "own": wall - self._outside.seconds(now)}
        seconds.update({kind: union.seconds(now) for kind, union in self._kinds.items()})
        return {name: round(value, 3) for name, value in seconds.items()}


_current: ContextVar[JobClock | None] = ContextVar("igbridge_job_clock", default=None)


def start_clock() -> JobClock:
    """A new clock for the running task and the tasks it starts from now on."""
    clock = JobClock()
    _current.set(clock)
    return clock


@contextmanager
def waiting_on(kind: str) -> Iterator[None]:
    """Count the enclosed call as the job waiting on ``kind`` (outside a job: nothing)."""
    clock = _current.get()
    if clock is None:
        yield
        return
    with clock.waiting_on(kind):
        yield
