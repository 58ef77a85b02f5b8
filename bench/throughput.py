"""Scenario 3: SSE frames per second out of one sidecar process.

``CLIENTS`` connections on the multiplexed all-sessions stream
(``/api/progress/stream``) while one session is updated as fast as a few
keep-alive connections can POST; every client counts the data frames it receives
inside a fixed window.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import processes
from .load import close_watchers, create_sessions
from .processes import AUTH, Server
from .scenario import Figure, Scenario, ScenarioResult, Settings
from .sse_client import HttpConnection, SseStream

CLIENTS = 100
SEND_CONNECTIONS = 4
WARMUP_SECONDS = 2.0
TARGET_FRAMES_PER_SECOND = 10_000


class Window:
    """The measuring window; frames are counted only while it is open."""

    def __init__(self) -> None:
        self.open = False
        self.frames = 0


async def count_frames(port: int, window: Window, ready: asyncio.Event) -> None:
    stream = await SseStream.open(port, "/api/progress/stream", AUTH)
    try:
        async for chunk in stream.chunks():
            ready.set()
            frames = stream.parser.count(chunk)
            if window.open:
                window.frames += frames
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        stream.close()


async def hammer(port: int, session_id: str, steps: itertools.count[int],
                 acknowledged: list[int]) -> None:
    conn = HttpConnection(port, AUTH)
    path = f"/api/progress/sessions/{session_id}/updates"
    try:
        while True:
            status, _ = await conn.request("POST", path, {"step": next(steps),
                                                          "message": "Importing post"})
            if status == 200:
                acknowledged[0] += 1
    finally:
        conn.close()


@dataclass
class FramesRun:
    frames_per_second: float
    updates_per_second: float
    server_cpu: float  # share of one core, every server process together
    client_cpu: float


async def measure(server: Server, seconds: float) -> FramesRun:
    """``CLIENTS`` streams on ``server`` (already started) while one session is hammered;
    frames counted over ``seconds`` after a warm-up. The caller starts and stops it."""
    window = Window()
    acknowledged = [0]
    readers: list[asyncio.Task[None]] = []
    senders: list[asyncio.Task[None]] = []
    try:
        (session_id,) = await create_sessions(server.port, 1)
        ready = [asyncio.Event() for _ in range(CLIENTS)]
        readers = [asyncio.create_task(count_frames(server.port, window, r)) for r in ready]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 60)
        steps = itertools.count(1)
        senders = [asyncio.create_task(hammer(server.port, session_id, steps, acknowledged))
                   for _ in range(SEND_CONNECTIONS)]
        await asyncio.sleep(WARMUP_SECONDS)
        cpu0, server_cpu0 = time.process_time(), server.cpu_seconds()
        acknowledged_before = acknowledged[0]
        window.open = True
        began = time.monotonic()
        await asyncio.sleep(seconds)
        window.open = False
        elapsed = time.monotonic() - began
        client_cpu = (time.process_time() - cpu0) / elapsed
        server_cpu = (server.cpu_seconds() - server_cpu0) / elapsed
        updates = acknowledged[0] - acknowledged_before
    finally:
        await close_watchers(senders)
        await close_watchers(readers)
    return FramesRun(window.frames / elapsed, updates / elapsed, server_cpu, client_cpu)


async def run(settings: Settings) -> ScenarioResult:
    seconds = settings.pick(quick=3, default=10, soak=30)
    result = ScenarioResult()
    with tempfile.TemporaryDirectory(prefix="igbridge-bench-") as tmp:
        server = processes.sidecar(Path(tmp) / "data")
        server.start()
        try:
            measured = await measure(server, seconds)
        finally:
            with contextlib.suppress(Exception):
                server.stop()

    result.figures.append(Figure.at_least(
        "SSE frames delivered", round(measured.frames_per_second), "frames/s",
        TARGET_FRAMES_PER_SECOND,
        note=f"{CLIENTS} clients × {measured.updates_per_second:,.0f} updates/s over "
             f"{seconds:g} s"))
    result.figures.append(Figure.info(
        "CPU server / client", round(measured.server_cpu * 100), "% of a core",
        note=f"client {measured.client_cpu:.0%}"))
    result.notes.append(
        f"{CLIENTS} clients on the multiplexed all-sessions stream; one session updated by "
        f"{SEND_CONNECTIONS} keep-alive connections POSTing back to back (each answered after "
        f"its commit); frames counted over {seconds:g} s after a {WARMUP_SECONDS:g} s warm-up.")
    return result


SCENARIO = Scenario("throughput", "SSE frames/s from one process", run)
