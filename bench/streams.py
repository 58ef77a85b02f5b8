"""Scenario 2: 1,000 open SSE streams on one sidecar process, each session updated
once a second (spread evenly), with the server's memory and fds sampled every second.

Clients: one raw asyncio connection per session (``/api/progress/stream/{id}``),
all in this process, plus a few keep-alive connections for the updates. Client
and server share the machine's cores, so the client's CPU is reported too.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import statistics
import tempfile
import time
from dataclasses import dataclass, field
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
from .processes import ServerProcess
from .scenario import Figure, Scenario, ScenarioResult, Settings, percentile

TARGET_P99_MS = 100.0
TARGET_BYTES_PER_STREAM = 40 * 1024
SEND_CONNECTIONS = 4
# Updates due at the same moment go in one POST /api/progress/updates (one commit):
# 1,000 separate requests a second would measure Quart's per-request cost, not streams.
SEND_BATCH = 50


@dataclass
class Samples:
    """Once a second: seconds since the streams started opening, RSS (KiB), open fds."""

    times: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)  # phase name -> time

    def take(self, server: ServerProcess, origin: float) -> None:
        self.times.append(time.monotonic() - origin)
        self.rss_kb.append(server.rss_kb())
        self.fds.append(server.fd_count())


async def sample_every_second(server: ServerProcess, samples: Samples, origin: float,
                              stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.take(server, origin)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def steady_rss(server: ServerProcess, seconds: float = 3.0) -> int:
    """Median of a few samples once the process has settled."""
    values = []
    for _ in range(int(seconds * 2)):
        await asyncio.sleep(0.5)
        values.append(server.rss_kb())
    return int(statistics.median(values))


async def run(settings: Settings) -> ScenarioResult:
    streams = int(settings.pick(quick=200, default=1000))
    # The ten-minute run (with imports alongside) is the soak scenario's (bench/soak.py).
    duration = settings.pick(quick=5, default=60)
    result = ScenarioResult()
    samples = Samples()
    with tempfile.TemporaryDirectory(prefix="igbridge-bench-") as tmp:
        server = processes.sidecar(Path(tmp) / "data")
        server.start()
        stop_sampling = asyncio.Event()
        sampler: asyncio.Task[None] | None = None
        tasks: list[asyncio.Task[None]] = []
        try:
            session_ids = await create_sessions(server.port, streams, connections=16)
            rss_before = await steady_rss(server)
            fds_before = server.fd_count()
            origin = time.monotonic()
            sampler = asyncio.create_task(
                sample_every_second(server, samples, origin, stop_sampling))
            latencies: list[float] = []
            opened_at = time.monotonic()
            watchers, tasks = await open_watchers(server.port, session_ids, latencies)
            open_seconds = time.monotonic() - opened_at
            samples.marks["streams open"] = time.monotonic() - origin
            gc.collect()
            rss_idle = await steady_rss(server)
            fds_idle = server.fd_count()
            samples.marks["updates start"] = time.monotonic() - origin
            cpu0, server_cpu0, wall0 = time.process_time(), server.cpu_seconds(), time.monotonic()
            sending = await drive_updates(server.port, session_ids, rate_per_session=1.0,
                                          duration=duration, connections=SEND_CONNECTIONS,
                                          batch=SEND_BATCH)
            await settle(watchers, sending, timeout=2.0)
            wall = time.monotonic() - wall0
            client_cpu = (time.process_time() - cpu0) / wall
            server_cpu = (server.cpu_seconds() - server_cpu0) / wall
            samples.marks["updates end"] = time.monotonic() - origin
            lost = lost_updates(watchers, sending)
        finally:
            stop_sampling.set()
            if sampler is not None:
                await sampler
            await close_watchers(tasks)
            server.stop()

    per_stream = (rss_idle - rss_before) * 1024 / streams
    result.figures.append(Figure.info(
        "update→frame latency p50", percentile(latencies, 0.5), "ms"))
    result.figures.append(Figure.at_most(
        "update→frame latency p99", percentile(latencies, 0.99), "ms", TARGET_P99_MS,
        note=f"max {max(latencies, default=float('nan')):.0f} ms; "
             f"send lag p99 {percentile(sending.lag_ms, 0.99):.1f} ms"))
    rate = sending.acknowledged_count / sending.wall
    result.figures.append(Figure.at_least(
        "update rate sustained", round(rate), "/s", streams,
        note=f"scheduled {streams:,}/s; {sending.unsent:,} still queued in the client at the "
             f"end; {sending.failed + sending.rejected} failed; {lost} acknowledged but never "
             "seen"))
    result.figures.append(Figure.info(
        "server CPU per update", round(server_cpu * wall / max(1, sending.acknowledged_count)
                                       * 1000, 2), "ms",
        note=f"its share of a batched POST (≤ {SEND_BATCH}, one commit), plus its frame "
             "to one stream"))
    result.figures.append(Figure.at_most(
        "memory per open stream", round(per_stream / 1024, 1), "KB",
        TARGET_BYTES_PER_STREAM / 1024,
        note=f"RSS {rss_before / 1024:.0f} → {rss_idle / 1024:.0f} MB with {streams:,} idle "
             f"streams (opened in {open_seconds:.1f} s)"))
    result.figures.append(Figure.info(
        "server RSS under load (peak)", round(max(samples.rss_kb) / 1024, 1), "MB"))
    result.figures.append(Figure.info(
        "open fds (idle streams / peak)", fds_idle, "",
        note=f"{fds_before} before the streams; peak {max(samples.fds)}"))
    result.figures.append(Figure.info(
        "CPU server / client", round(server_cpu * 100), "% of a core",
        note=f"client (all {streams:,} streams + the sender) {client_cpu:.0%}"))
    result.series["rss"] = {"times": samples.times, "rss_kb": samples.rss_kb,
                            "marks": samples.marks, "streams": streams}
    result.notes.append(
        f"{streams:,} sessions, one SSE connection each, every session updated once a second "
        f"(evenly spread) for {duration:g} s over {SEND_CONNECTIONS} keep-alive connections, "
        f"whatever is due sent together (at most {SEND_BATCH}) to POST /api/progress/updates. "
        "RSS = VmRSS of /proc/PID/status, sampled every second; memory per stream = (median "
        "RSS with the streams open and idle − median RSS before) / streams.")
    return result


SCENARIO = Scenario("streams", "1,000 open streams × 1 event/s on one process", run)
