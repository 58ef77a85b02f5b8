"""Scenario 4: durable progress writes, in-process, on a temp SQLite file.

Coalesced: N ``engine.update`` calls in a tight loop, then one ``await
engine.flush()`` (the writer commits in batches). Per-event: ``update`` then
``await flush()`` after every event, i.e. one commit per event. Also the cost of
one ``update`` call on its own.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from sidecar.backends.sqlite.events import SqliteEventLog
from sidecar.backends.sqlite.store import Store
from sidecar.progress.engine import ProgressEngine

from .scenario import Figure, Scenario, ScenarioResult, Settings

TARGET_EVENTS_PER_SECOND = 50_000


async def open_engine(path: Path) -> tuple[Store, ProgressEngine]:
    store = await Store.open(path)
    engine = ProgressEngine(SqliteEventLog(store))
    await engine.start()
    return store, engine


async def coalesced(engine: ProgressEngine, session_id: str,
                    count: int) -> tuple[float, float, float]:
    """Seconds for ``count`` updates plus the flush, for the update calls alone, and the
    CPU seconds of the whole (this process: the loop and SQLite's thread)."""
    cpu = time.process_time()
    began = time.perf_counter()
    for step in range(1, count + 1):
        engine.update(session_id, step=step, message="Importing post", phase="import")
    queued = time.perf_counter()
    await engine.flush()
    return time.perf_counter() - began, queued - began, time.process_time() - cpu


async def one_commit_each(engine: ProgressEngine, session_id: str, count: int) -> float:
    began = time.perf_counter()
    for step in range(1, count + 1):
        engine.update(session_id, step=step, message="Importing post", phase="import")
        await engine.flush()
    return time.perf_counter() - began


async def run(settings: Settings) -> ScenarioResult:
    count = int(settings.pick(quick=20_000, default=200_000))
    single = int(settings.pick(quick=500, default=3_000))
    result = ScenarioResult()
    with tempfile.TemporaryDirectory(prefix="igbridge-bench-") as tmp:
        store, engine = await open_engine(Path(tmp) / "bench.sqlite3")
        try:
            await engine.flush()
            warm = await engine.create_session("bench-warmup", 0)
            await coalesced(engine, warm["session_id"], 1000)  # warm caches and the JIT-less paths
            session = await engine.create_session("bench", 0)
            total, calls, cpu = await coalesced(engine, session["session_id"], count)
            per_event = await engine.create_session("bench-single", 0)
            single_seconds = await one_commit_each(engine, per_event["session_id"], single)
        finally:
            await engine.close()
            await store.close()
    result.figures.append(Figure.at_least(
        "coalesced durable writes", round(count / total), "events/s", TARGET_EVENTS_PER_SECOND,
        note=f"{count:,} updates then one flush, {total:.2f} s wall; "
             f"{count / cpu:,.0f} events per CPU-second"))
    result.figures.append(Figure.info(
        "one commit per event", round(single / single_seconds), "events/s",
        note=f"{single:,} × (update + await flush)"))
    result.figures.append(Figure.info(
        "cost of one update() call", round(calls / count * 1e6, 1), "µs",
        note="validation, snapshot, JSON, queueing; no I/O"))
    result.notes.append(
        "In-process: sidecar.progress.engine.ProgressEngine on "
        "sidecar.backends.sqlite.store.Store (SQLite WAL, synchronous=NORMAL) in a temp dir; "
        "update(step, message, phase) per event.")
    return result


SCENARIO = Scenario("writes", "Durable progress writes (coalescing writer)", run)
