"""One job's progress over its phases: one overall percentage, the current phase's rate
in its own unit, and an ETA made of each phase's own cost.

A job kind declares its phases up front (``PhasePlan``: a name, the unit it counts, a
first guess of the seconds one unit takes). As the job runs, each phase measures its
own seconds per unit; a phase's expected duration is its units times that cost (the
guess until the phase has been measured, its actual time once it has ended). The
overall percentage weights each phase's own fraction by its share of the expected
total time, and is never allowed below what was shown before: estimates change as
measurements come in, the bar does not go back. Everything is kept as plain JSON in
the session's snapshot, so a restarted sidecar continues from the same numbers.

The ETA is the current phase's remaining units at its *own* measured cost, plus each
later phase's units at *its* cost: one phase's speed is never applied to another.
Until the job is ``ETA_AFTER_PERCENT`` done and the current phase has been measured
for a while it is ``None`` ("estimating…").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .rate import RateMeter

ETA_AFTER_PERCENT = 10.0
# A phase's own cost is trusted once it has been timed this long over at least a unit.
MEASURED_AFTER_SECONDS = 1.0
# Short of "complete", the bar stops here: 100 % is the job's end, not a phase's.
MAX_RUNNING_PERCENT = 99.9
# The unit of a phase that reports no count of its own (an Apify run, reading a ZIP):
# one step, with no rate.
UNCOUNTED = "steps"


@dataclass(frozen=True)
class PhasePlan:
    """What a job kind expects of one phase before it has measured anything."""

    name: str
    unit: str  # what ``done``/``total`` count: "posts", "files", "MB"; or UNCOUNTED
    seconds_per_unit: float  # the first guess, replaced by the phase's own measurement
    total: float = 0.0  # 0 while unknown; a phase that counts nothing is one step


@dataclass
class PhaseState:
    """A phase as measured; stored as JSON in the snapshot's ``phases``."""

    name: str
    unit: str
    cost: float  # expected seconds per unit (the plan's guess)
    total: float = 0.0
    done: float = 0.0
    seconds: float = 0.0  # time spent in this phase, over every attempt and restart
    # The phase's pace: units done and the time they took, counted from the first unit
    # each run finished (a pipeline's lead time and a resumed run's jump excluded).
    timed: float = 0.0
    timed_seconds: float = 0.0
    finished: bool = False

    def own_cost(self) -> float | None:
        if self.timed > 0 and self.timed_seconds >= MEASURED_AFTER_SECONDS:
            return self.timed_seconds / self.timed
        return None

    def cost_now(self) -> float:
        own = self.own_cost()
        return own if own is not None else self.cost

    def units(self) -> float:
        return self.total if self.total > 0 else 1.0  # a phase without counts: one step

    def expected_seconds(self) -> float:
        if self.finished:
            return self.seconds
        return max(self.seconds, self.units() * self.cost_now())

    def fraction(self) -> float:
        if self.finished:
            return 1.0
        if self.total <= 0:
            return 0.0
        return min(1.0, self.done / self.total)

    def remaining_seconds(self) -> float:
        if self.finished:
            return 0.0
        return max(0.0, self.units() - self.done) * self.cost_now()


@dataclass
class PhaseTracker:
    """The phases of one session; ``observe`` it on every update, read the figures."""

    phases: list[PhaseState] = field(default_factory=list)
    current: str | None = None
    shown_percent: float = 0.0
    # This process only: where the last observation was, so time and units are
    # measured between observations and never across a restart.
    _last_at: float | None = None
    _last_done: float | None = None
    _pacing: bool = False
    _meter: RateMeter = field(default_factory=RateMeter)

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any]) -> PhaseTracker | None:
        stored = snapshot.get("phases")
        if not stored:
            return None
        phases = [PhaseState(**p) for p in stored]
        current = snapshot.get("phase")
        return cls(phases=phases, current=current if any(p.name == current for p in phases)
                   else None, shown_percent=float(snapshot.get("percentage") or 0.0))

    def to_json(self) -> list[dict[str, Any]]:
        return [{k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(p).items()}
                for p in self.phases]

    def plan(self, plans: Sequence[PhasePlan]) -> None:
        """Declare (or update) the phases; what a phase has measured is kept."""
        known = {p.name: p for p in self.phases}
        ordered = []
        for plan in plans:
            phase = known.pop(plan.name, None)
            if phase is None:
                phase = PhaseState(name=plan.name, unit=plan.unit, cost=plan.seconds_per_unit)
            phase.unit, phase.cost = plan.unit, plan.seconds_per_unit
            if plan.total > 0:
                phase.total = plan.total
            ordered.append(phase)
        # Phases reported but not planned keep their place after the planned ones.
        self.phases = ordered + list(known.values())

    def observe(self, phase: str | None, done: float, total: float, at: float) -> None:
        """A progress update: ``done`` of ``total`` units of ``phase`` at time ``at``."""
        name = phase or self.current
        if name is None:
            return
        if name != self.current:
            self._enter(name, at)
        state = self._state(name)
        if self._last_at is not None:
            elapsed = max(0.0, at - self._last_at)
            state.seconds += elapsed
            if self._last_done is not None and done >= self._last_done:
                if self._pacing:
                    state.timed += done - self._last_done
                    state.timed_seconds += elapsed
                elif done > self._last_done:
                    # The first unit of this run: its pace (and its shown rate) start here.
                    self._pacing = True
                    self._meter = RateMeter()
        state.done, state.total = done, total if total > 0 else state.total
        self._last_at, self._last_done = at, done
        self._meter.observe(done, at)

    def finish(self, at: float) -> None:
        """The job ended: the current phase's last stretch is its own time."""
        if self.current is not None and self._last_at is not None:
            self._state(self.current).seconds += max(0.0, at - self._last_at)
        self._last_at = None

    def _enter(self, name: str, at: float) -> None:
        state = self._state(name)
        if self.current is not None and self._last_at is not None:
            self._state(self.current).seconds += max(0.0, at - self._last_at)
        # Every phase before this one is done (one passed over had nothing to do); a
        # later one entered before (a resumed job goes back a phase) is not.
        position = self.phases.index(state)
        for index, phase in enumerate(self.phases):
            if index != position:
                phase.finished = index < position
        self.current = name
        state.finished = False
        # A phase entered (again) starts timing here: done may jump to what an earlier
        # attempt finished, and that jump is not this phase's speed.
        self._last_at, self._last_done = at, None
        self._pacing = False
        self._meter = RateMeter()

    def _state(self, name: str) -> PhaseState:
        for phase in self.phases:
            if phase.name == name:
                return phase
        # A phase nobody planned: it counts, with no guess of its cost beyond its time.
        phase = PhaseState(name=name, unit=UNCOUNTED, cost=1.0)
        self.phases.append(phase)
        return phase

    # -- the figures ----------------------------------------------------------------

    def percentage(self) -> float:
        """The overall percentage over every phase; never below what was shown."""
        expected = [p.expected_seconds() for p in self.phases]
        whole = sum(expected)
        if whole <= 0:
            return self.shown_percent
        computed = 100.0 * sum(p.fraction() * e for p, e in
                               zip(self.phases, expected, strict=True)) / whole
        self.shown_percent = max(self.shown_percent, min(MAX_RUNNING_PERCENT, computed))
        return round(self.shown_percent, 1)

    def eta_seconds(self) -> float | None:
        """Seconds left, or None while estimating."""
        # Compared as shown (one decimal): a bar that says 10.0 % says the ETA too.
        if self.current is None or round(self.shown_percent, 1) < ETA_AFTER_PERCENT:
            return None
        current = self._state(self.current)
        pace = self._current_pace(current)
        if pace is None:
            return None
        left = max(0.0, current.units() - current.done) * pace
        later = self.phases[self.phases.index(current) + 1:]
        return round(left + sum(p.remaining_seconds() for p in later), 1)

    def _current_pace(self, current: PhaseState) -> float | None:
        """Seconds per unit of the current phase as it goes now: its smoothed rate (it
        follows a phase that slows down or speeds up), else its own average so far."""
        rate = self._meter.rate
        if current.unit != UNCOUNTED and rate is not None and rate > 0:
            return 1.0 / rate
        own = current.own_cost()
        if own is not None:
            return own
        if current.done > 0 and current.seconds >= MEASURED_AFTER_SECONDS:
            return current.seconds / current.done  # lead time included: rough, but its own
        return None

    def rate(self) -> float | None:
        """The current phase's units per second; None for a phase that counts nothing."""
        if self.current is None or self._state(self.current).unit == UNCOUNTED:
            return None
        rate = self._meter.rate
        return round(rate, 3) if rate is not None else None

    def rate_unit(self) -> str | None:
        if self.current is None:
            return None
        return f"{self._state(self.current).unit}/s"
