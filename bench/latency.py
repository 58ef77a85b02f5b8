"""Scenario 1: update → SSE receipt latency, 100 sessions × 2 updates/s, against the
seed-style polling baseline; then the same servers killed with SIGKILL mid-run.

One SSE connection per session (``/api/progress/stream/{id}``), not the
multiplexed stream, on both servers.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import processes
from .load import (
    close_watchers,
    create_sessions,
    drive_updates,
    lost_updates,
    open_watchers,
    settle,
)
from .processes import Server, ServerProcess
from .scenario import Figure, Scenario, ScenarioResult, Settings, percentile

SESSIONS = 100
RATE_PER_SESSION = 2.0
SEND_CONNECTIONS = 8
TARGET_P99_MS = 50.0


@dataclass
class SteadyRun:
    latencies_ms: list[float]
    acknowledged: int
    lost: int
    lag_p99_ms: float
    client_cpu: float  # share of one core
    server_cpu: float
    server_cpu_per_update_ms: float

    def percentiles(self) -> dict[str, float]:
        values = self.latencies_ms
        return {"p50": percentile(values, 0.50), "p90": percentile(values, 0.90),
                "p99": percentile(values, 0.99), "max": max(values, default=float("nan"))}


@dataclass
class RestartRun:
    acknowledged: int
    lost: int
    sessions_kept: int
    unanswered: int  # updates sent while the server was down
    rejected: int  # refused after the restart (the session was forgotten)
    downtime: float


async def steady(server: Server, duration: float) -> SteadyRun:
    server.start()
    try:
        session_ids = await create_sessions(server.port, SESSIONS)
        latencies: list[float] = []
        watchers, tasks = await open_watchers(server.port, session_ids, latencies)
        try:
            cpu0, server_cpu0, wall0 = time.process_time(), server.cpu_seconds(), time.monotonic()
            sending = await drive_updates(server.port, session_ids,
                                          rate_per_session=RATE_PER_SESSION,
                                          duration=duration, connections=SEND_CONNECTIONS)
            await settle(watchers, sending, timeout=2.0)
            wall = time.monotonic() - wall0
            client_cpu = (time.process_time() - cpu0) / wall
            server_cpu = (server.cpu_seconds() - server_cpu0) / wall
        finally:
            await close_watchers(tasks)
    finally:
        server.stop()
    return SteadyRun(latencies, sending.acknowledged_count, lost_updates(watchers, sending),
                     percentile(sending.lag_ms, 0.99), client_cpu, server_cpu,
                     server_cpu * wall * 1000 / max(1, sending.acknowledged_count))


async def across_restart(server: ServerProcess, duration: float) -> RestartRun:
    """Kill -9 halfway, start again on the same port (and data), keep going."""
    server.start()
    downtime = 0.0
    try:
        session_ids = await create_sessions(server.port, SESSIONS)
        watchers, tasks = await open_watchers(server.port, session_ids, [])

        async def crash_and_restart(t0: float) -> None:
            nonlocal downtime
            await asyncio.sleep(max(0.0, t0 + duration / 2 - time.monotonic()))
            began = time.monotonic()
            server.kill()
            await asyncio.to_thread(server.start)
            downtime = time.monotonic() - began

        try:
            sending = await drive_updates(server.port, session_ids,
                                          rate_per_session=RATE_PER_SESSION, duration=duration,
                                          connections=SEND_CONNECTIONS,
                                          during=crash_and_restart)
            await settle(watchers, sending, timeout=5.0)
        finally:
            await close_watchers(tasks)
        kept = sum(1 for w in watchers if not w.gone)
    finally:
        server.stop()
    return RestartRun(sending.acknowledged_count, lost_updates(watchers, sending), kept,
                      sending.failed, sending.rejected, downtime)


async def run(settings: Settings) -> ScenarioResult:
    duration = settings.pick(quick=5, default=30, soak=60)
    restart_duration = settings.pick(quick=4, default=10)
    result = ScenarioResult()
    with tempfile.TemporaryDirectory(prefix="igbridge-bench-") as tmp:
        root = Path(tmp)
        makers: dict[str, Callable[[], ServerProcess]] = {
            "igbridge": lambda: processes.sidecar(root / f"data-{time.monotonic_ns()}"),
            "baseline": lambda: processes.baseline(root),
        }
        runs = {name: await steady(make(), duration) for name, make in makers.items()}
        restarts = {name: await across_restart(make(), restart_duration)
                    for name, make in makers.items()}

    for name, steady_run in runs.items():
        pct = steady_run.percentiles()
        for key in ("p50", "p90", "p99", "max"):
            label = f"{name}: update→frame latency {key}"
            if name == "igbridge" and key == "p99":
                result.figures.append(Figure.at_most(label, pct[key], "ms", TARGET_P99_MS))
            else:
                result.figures.append(Figure.info(label, pct[key], "ms"))
        label, of = f"{name}: intermediate updates lost", f"of {steady_run.acknowledged:,}"
        result.figures.append(
            Figure.equals(label, steady_run.lost, "", 0, note=of) if name == "igbridge"
            else Figure.info(label, steady_run.lost, "", note=of))
        result.figures.append(Figure.info(
            f"{name}: CPU server / client", round(steady_run.server_cpu * 100),
            "% of a core", note=f"client {steady_run.client_cpu:.0%}; server "
            f"{steady_run.server_cpu_per_update_ms:.2f} ms CPU per update; "
            f"send lag p99 {steady_run.lag_p99_ms:.1f} ms"))
    for name, restart in restarts.items():
        note = (f"of {restart.acknowledged:,} acknowledged; {restart.unanswered} sent while "
                f"down, {restart.rejected} refused after; restart took {restart.downtime:.1f} s")
        if name == "igbridge":
            result.figures.append(Figure.equals(
                "igbridge: acknowledged updates lost across kill -9", restart.lost, "", 0,
                note=note))
            result.figures.append(Figure.equals(
                "igbridge: sessions kept across kill -9", restart.sessions_kept,
                f"/ {SESSIONS}", SESSIONS))
        else:
            result.figures.append(Figure.info(
                "baseline: acknowledged updates lost across kill -9", restart.lost, "",
                note=note))
            result.figures.append(Figure.info(
                "baseline: sessions kept across kill -9", restart.sessions_kept,
                f"/ {SESSIONS}"))
    result.series["latency_percentiles"] = {name: r.percentiles() for name, r in runs.items()}
    result.notes.append(
        f"{SESSIONS} sessions × {RATE_PER_SESSION:g} updates/s for {duration:g} s per server, "
        f"one SSE connection per session; updates over {SEND_CONNECTIONS} keep-alive "
        "connections; latency = frame parsed on the client − stamp taken just before the "
        "POST was written (same monotonic clock). Kill -9 runs: "
        f"{restart_duration:g} s, SIGKILL halfway, restart on the same port and data dir, "
        "clients reconnect with Last-Event-ID.")
    return result


SCENARIO = Scenario("latency", "Update → SSE latency vs the polling baseline", run)
