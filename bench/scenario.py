"""What a scenario is, what it returns, and the registry ``python -m bench`` runs.

A new scenario (say, import throughput into WordPress) is one module that defines
``SCENARIO = Scenario(...)`` plus its name in ``SCENARIO_MODULES``.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Mode = Literal["quick", "default", "soak"]


@dataclass(frozen=True)
class Settings:
    mode: Mode

    def pick(self, quick: float, default: float, soak: float | None = None) -> float:
        """The value of a knob for this run's mode (soak falls back to the default)."""
        if self.mode == "quick":
            return quick
        if self.mode == "soak" and soak is not None:
            return soak
        return default


@dataclass
class Figure:
    """One measured number, with its target when the project set one."""

    name: str
    value: float | None
    unit: str
    target: str = ""
    passed: bool | None = None  # None: no target, informative only
    note: str = ""

    @classmethod
    def at_most(cls, name: str, value: float | None, unit: str, limit: float,
                note: str = "") -> Figure:
        ok = value is not None and not math.isnan(value) and value <= limit
        return cls(name, value, unit, f"≤ {_number(limit)} {unit}".strip(), ok, note)

    @classmethod
    def at_least(cls, name: str, value: float | None, unit: str, limit: float,
                 note: str = "") -> Figure:
        ok = value is not None and not math.isnan(value) and value >= limit
        return cls(name, value, unit, f"≥ {_number(limit)} {unit}".strip(), ok, note)

    @classmethod
    def equals(cls, name: str, value: float | None, unit: str, expected: float,
               note: str = "") -> Figure:
        return cls(name, value, unit, f"= {_number(expected)}", value == expected, note)

    @classmethod
    def info(cls, name: str, value: float | None, unit: str = "", note: str = "") -> Figure:
        return cls(name, value, unit, "", None, note)

    @property
    def verdict(self) -> str:
        if self.passed is None:
            return ""
        return "PASS" if self.passed else "MISS"

    @property
    def shown(self) -> str:
        if self.value is None:
            return "n/a"
        return f"{_number(self.value)} {self.unit}".strip()


@dataclass
class ScenarioResult:
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Raw series for the chart, keyed by what report.py knows how to draw.
    series: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    run: Callable[[Settings], Awaitable[ScenarioResult]]


SCENARIO_MODULES: Sequence[str] = ("latency", "streams", "throughput", "writes", "imports",
                                     "large_site", "large_export", "eta", "browser", "sync",
                                     "scale", "soak")


def load_scenarios() -> list[Scenario]:
    scenarios = []
    for module_name in SCENARIO_MODULES:
        module = importlib.import_module(f"bench.{module_name}")
        scenarios.append(module.SCENARIO)
    return scenarios


def _number(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]
