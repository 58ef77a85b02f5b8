"""Sessions under load: create them, watch each with its own SSE client, update them
on a fixed schedule over keep-alive HTTP, and account for every update.

Each update carries the time it was sent (``details.t``, ``time.monotonic()``, a
clock every process on the machine shares), so a frame's latency is its parse
time minus that stamp, whichever server relayed it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from .processes import AUTH
from .sse_client import HttpConnection, HttpError, SseFrame, SseStream

RECONNECT_PAUSE = 0.05


@dataclass
class Watcher:
    """One SSE client for one session: when each step first appeared, and how late."""

    session_id: str
    latencies_ms: list[float]
    seen_steps: set[int] = field(default_factory=set)
    last_id: str | None = None  # opaque: whatever the server sent
    connects: int = 0
    frames: int = 0
    gone: bool = False  # the server no longer knows the session (404 on reconnect)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def on_frame(self, frame: SseFrame) -> None:
        if frame.id is not None:
            self.last_id = frame.id
        if not frame.data:
            return
        self.frames += 1
        data = json.loads(frame.data)
        step = data.get("step")
        if step is not None and step not in self.seen_steps:
            self.seen_steps.add(step)
            sent = (data.get("details") or {}).get("t")
            if sent is not None:
                self.latencies_ms.append((frame.received - sent) * 1000.0)
        self.ready.set()

    async def watch(self, port: int, path: str) -> None:
        """Follow the stream until cancelled, reconnecting with Last-Event-ID."""
        while True:
            try:
                stream = await SseStream.open(port, path, AUTH, self.last_id)
            except HttpError as exc:
                if exc.status == 404:
                    self.gone = True
                    self.ready.set()
                    return
                await asyncio.sleep(RECONNECT_PAUSE)
                continue
            except OSError:
                await asyncio.sleep(RECONNECT_PAUSE)  # the server is down: retry
                continue
            self.connects += 1
            try:
                async for frames in stream.frames():
                    for frame in frames:
                        self.on_frame(frame)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                stream.close()
            await asyncio.sleep(RECONNECT_PAUSE)


@dataclass
class Sending:
    """What the update driver did."""

    acknowledged: dict[str, list[int]]  # session -> steps answered 200
    failed: int = 0  # no answer (connection refused or cut: the server was down)
    rejected: int = 0  # an error status, e.g. 404 once a restart forgot the session
    lag_ms: list[float] = field(default_factory=list)  # send time minus scheduled time
    sent: int = 0
    unsent: int = 0  # still queued in the client when the schedule ended
    wall: float = 0.0

    @property
    def acknowledged_count(self) -> int:
        return sum(len(v) for v in self.acknowledged.values())


async def create_sessions(port: int, count: int, connections: int = 8) -> list[str]:
    ids: list[str] = []
    pool = [HttpConnection(port, AUTH) for _ in range(min(connections, count))]

    async def create(conn: HttpConnection, how_many: int) -> None:
        for _ in range(how_many):
            body = await conn.json("POST", "/api/progress/sessions",
                                   {"operation": "bench", "total_steps": 1_000_000_000},
                                   expect=201)
            ids.append(body["session_id"])

    shares = [count // len(pool) + (1 if i < count % len(pool) else 0) for i in range(len(pool))]
    try:
        await asyncio.gather(*(create(c, n) for c, n in zip(pool, shares, strict=True)))
    finally:
        for conn in pool:
            conn.close()
    return ids


async def open_watchers(port: int, session_ids: list[str], latencies_ms: list[float],
                        *, batch: int = 100, timeout: float = 120.0,
                        ) -> tuple[list[Watcher], list[asyncio.Task[None]]]:
    """One stream per session, opened ``batch`` at a time; returns once each got a frame."""
    watchers = [Watcher(sid, latencies_ms) for sid in session_ids]
    tasks: list[asyncio.Task[None]] = []
    deadline = time.monotonic() + timeout
    for start in range(0, len(watchers), batch):
        group = watchers[start:start + batch]
        tasks += [asyncio.create_task(w.watch(port, f"/api/progress/stream/{w.session_id}"))
                  for w in group]
        await asyncio.wait_for(asyncio.gather(*(w.ready.wait() for w in group)),
                               max(1.0, deadline - time.monotonic()))
    return watchers, tasks


async def close_watchers(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    # gather, not a loop of suppressed awaits: a cancellation of the caller itself
    # (Ctrl-C) must still propagate.
    await asyncio.gather(*tasks, return_exceptions=True)


async def drive_updates(
    port: int,
    session_ids: list[str],
    *,
    rate_per_session: float,
    duration: float,
    connections: int,
    first_step: int = 1,
    during: Callable[[float], Coroutine[Any, Any, None]] | None = None,
    batch: int = 1,
) -> Sending:
    """Update every session ``rate_per_session`` times a second, spread evenly in time.

    ``during(t0)`` runs alongside (a fault to inject, samples to take). With ``batch``
    above 1 a connection sends whatever is due (up to ``batch`` updates) in one
    ``POST /api/progress/updates``; nothing waits to fill a batch.
    """
    outcome = Sending(acknowledged={sid: [] for sid in session_ids})
    queue: asyncio.Queue[tuple[str, int, float] | None] = asyncio.Queue()
    spacing = 1.0 / (rate_per_session * len(session_ids))

    async def batch_worker() -> None:
        conn = HttpConnection(port, AUTH)
        try:
            while (job := await queue.get()) is not None:
                jobs = [job]
                while len(jobs) < batch and not queue.empty():
                    more = queue.get_nowait()
                    if more is None:
                        queue.put_nowait(None)  # the stop signal stays for this loop
                        break
                    jobs.append(more)

                def body(jobs: list[tuple[str, int, float]] = jobs) -> bytes:
                    now = time.monotonic()
                    outcome.lag_ms.extend((now - due) * 1000.0 for _s, _st, due in jobs)
                    return json.dumps({"updates": [
                        {"session_id": sid, "step": step, "message": f"step {step}",
                         "details": {"t": now}} for sid, step, _due in jobs]}).encode()

                outcome.sent += len(jobs)
                try:
                    status, data = await conn.request("POST", "/api/progress/updates",
                                                      stamp=body)
                except (OSError, asyncio.IncompleteReadError):
                    outcome.failed += len(jobs)
                    conn.close()
                    continue
                if status != 200:
                    outcome.rejected += len(jobs)
                    continue
                for (session_id, step, _due), result in zip(
                        jobs, json.loads(data)["results"], strict=True):
                    if result.get("error"):
                        outcome.rejected += 1
                    else:
                        outcome.acknowledged[session_id].append(step)
        finally:
            conn.close()

    async def worker() -> None:
        conn = HttpConnection(port, AUTH)
        try:
            while (job := await queue.get()) is not None:
                session_id, step, due = job

                def body(step: int = step, due: float = due) -> bytes:
                    now = time.monotonic()
                    outcome.lag_ms.append((now - due) * 1000.0)
                    return json.dumps({"step": step, "message": f"step {step}",
                                       "details": {"t": now}}).encode()

                outcome.sent += 1
                try:
                    status, _ = await conn.request(
                        "POST", f"/api/progress/sessions/{session_id}/updates", stamp=body)
                except (OSError, asyncio.IncompleteReadError):
                    outcome.failed += 1
                    conn.close()
                    continue
                if status == 200:
                    outcome.acknowledged[session_id].append(step)
                else:
                    outcome.rejected += 1
        finally:
            conn.close()

    workers = [asyncio.create_task(batch_worker() if batch > 1 else worker())
               for _ in range(connections)]
    t0 = time.monotonic() + 0.05
    side = asyncio.create_task(during(t0)) if during else None
    total = int(duration * rate_per_session * len(session_ids))
    try:
        index = 0
        while index < total:
            now = time.monotonic()
            while index < total and t0 + index * spacing <= now:
                session = session_ids[index % len(session_ids)]
                step = first_step + index // len(session_ids)
                queue.put_nowait((session, step, t0 + index * spacing))
                index += 1
            if index < total:
                await asyncio.sleep(max(0.0, t0 + index * spacing - time.monotonic()))
        # The schedule is over: what the server has not taken yet is not sent, so a
        # server that cannot keep up shows as a shortfall, not as a longer run.
        while not queue.empty():
            queue.get_nowait()
            outcome.unsent += 1
        for _ in workers:
            queue.put_nowait(None)
        await asyncio.gather(*workers)
        if side is not None:
            await side
    finally:
        for task in [*workers, *([side] if side else [])]:
            task.cancel()
    outcome.wall = duration
    return outcome


async def settle(watchers: list[Watcher], sending: Sending, timeout: float) -> None:
    """Give frames in flight a moment to arrive: until every acknowledged step is seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lost_updates(watchers, sending) == 0:
            return
        await asyncio.sleep(0.05)


def lost_updates(watchers: list[Watcher], sending: Sending) -> int:
    """Acknowledged updates whose step never appeared in any frame of their session."""
    by_id = {w.session_id: w for w in watchers}
    return sum(
        1 for sid, steps in sending.acknowledged.items() for step in steps
        if step not in by_id[sid].seen_steps
    )
