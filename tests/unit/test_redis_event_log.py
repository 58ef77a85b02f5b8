"""The Redis event log where it differs from SQLite's: several processes (here, several
engines, each with its own clients) on one real redis-server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis

from sidecar.backends.redis.backend import RedisBackend
from sidecar.backends.redis.connection import MAX_CONNECTIONS
from sidecar.errors import Conflict, NotFound, StorageError, ValidationFailed
from sidecar.progress.engine import Event, ProgressEngine, Subscription
from tests.redis_server import RedisServer

Opener = Callable[..., Awaitable[ProgressEngine]]


@pytest.fixture
async def open_engine(redis_url: str) -> AsyncIterator[Opener]:
    """Opens engines as separate processes would: own clients, own memory."""
    opened: list[tuple[ProgressEngine, RedisBackend]] = []

    async def open_one(url: str = redis_url) -> ProgressEngine:
        backend = await RedisBackend.open(url)
        engine = ProgressEngine(backend.events)
        await engine.start()
        opened.append((engine, backend))
        return engine

    yield open_one
    for engine, backend in opened:
        await engine.close()
        await backend.close()


async def until(sub: Subscription, condition: Callable[[list[Event]], bool]) -> list[Event]:
    """Wait (on the mailbox, never a sleep) until its events satisfy ``condition``."""
    while not condition(list(sub.pending)):
        sub.wake.clear()
        await asyncio.wait_for(sub.wake.wait(), 10)
    return list(sub.pending)


async def test_a_stream_on_one_process_sees_what_another_committed_once(
        open_engine: Opener) -> None:
    a, b = await open_engine(), await open_engine()
    on_a = a.subscribe(None)
    on_b = b.subscribe(None)
    await a.create_session("op", 3, session_id="s")
    for step in (1, 2, 3):
        await a.record_update("s", step=step)
    await b.load("s")
    await b.record_finish("s", "complete", "done on b")
    for sub in (on_a, on_b):
        events = await until(sub, lambda got: any(e.terminal for e in got))
        assert [json.loads(e.data)["step"] for e in events] == [0, 1, 2, 3, 3]
        assert len({e.id for e in events}) == 5
        assert [e.position for e in events] == sorted(e.position for e in events)
    assert [e.id for e in on_a.pending] == [e.id for e in on_b.pending]
    assert a.committed == b.committed


async def test_an_update_on_a_stale_process_is_applied_to_the_stored_snapshot(
        open_engine: Opener) -> None:
    a, b = await open_engine(), await open_engine()
    await a.create_session("op", 10, session_id="s")
    await a.record_update("s", step=2, message="on a")
    assert await b.load("s")
    await b.record_update("s", step=5, details={"by": "b"})
    # a's copy is stale (step 2): its append is refused, it reloads and applies again.
    after = await a.record_update("s", message="on a again")
    assert (after["step"], after["details"], after["message"]) == (5, {"by": "b"}, "on a again")
    assert (await b.get_snapshot("s"))["last_event_id"] == after["last_event_id"]


async def test_an_update_refused_after_reloading_changes_nothing(open_engine: Opener) -> None:
    a, b = await open_engine(), await open_engine()
    await a.create_session("op", 10, session_id="s")
    await a.record_update("s", step=1)
    assert await b.load("s")
    await b.record_update("s", total=4, step=4, message="four of four")
    before = await a.get_snapshot("s")
    # Valid against a's stale copy (total 10), not against what b stored.
    with pytest.raises(ValidationFailed, match="step 7 is beyond total_steps 4"):
        await a.record_update("s", step=7, message="refused")
    assert await a.get_snapshot("s") == before
    assert (before["step"], before["total"], before["message"]) == (4, 4, "four of four")
    # Finished elsewhere: the next update here is refused, never a silent write: a
    # conflict at the append, or "no running session" once a heard the terminal event.
    await b.record_finish("s", "complete", "done")
    with pytest.raises((Conflict, NotFound)):
        await a.record_update("s", message="too late")
    assert (await a.get_snapshot("s"))["status"] == "complete"


async def test_two_processes_creating_one_session_id_give_one_conflict(
        open_engine: Opener) -> None:
    a, b = await open_engine(), await open_engine()
    results = await asyncio.gather(a.create_session("op", 1, session_id="same"),
                                   b.create_session("op", 1, session_id="same"),
                                   return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "dict"]


async def test_trimmed_history_and_a_flushed_redis_are_gaps(
        open_engine: Opener, redis_server: RedisServer, redis_url: str) -> None:
    engine = await open_engine(redis_url.replace("/0", "/0?maxlen=100"))
    log = engine.log
    await engine.create_session("op", 0, session_id="t")
    first = await log.newest()
    for n in range(600):
        engine.update("t", message=f"update {n}")
    await engine.flush()
    trimmed = await log.gap_after(first)
    assert trimmed is not None
    assert "no longer kept" in trimmed
    kept = await log.events_after((0, 0), sessions=None, with_job_events=True, limit=10_000)
    assert 100 <= len(kept) < 601
    assert await log.gap_after(kept[0].position) is None
    old_id = log.event_id(await log.newest())

    redis_server.flush()
    await engine.create_session("op", 0, session_id="after-flush")
    assert log.parse_id(old_id) is None  # another epoch: the stream answers with a reset
    new_id = log.event_id(await log.newest())
    assert new_id.split(":")[0] != old_id.split(":")[0]
    # Ids still grow with time across the flush: positions compare in one order.
    assert await log.newest() > kept[-1].position


async def test_redis_away_is_a_storage_error_naming_it_and_nothing_stored_is_lost(
        tmp_path: Path) -> None:
    server = RedisServer.start(tmp_path / "redis")
    backend = await RedisBackend.open(server.url)
    engine = ProgressEngine(backend.events)
    await engine.start()
    try:
        sub = engine.subscribe(None)
        await engine.create_session("op", 5, session_id="s")
        await engine.record_update("s", step=1)
        server.stop()
        with pytest.raises(StorageError, match=r"Redis at 127\.0\.0\.1"):
            await engine.record_update("s", step=2)
        problem = await backend.events.problem()
        assert problem is not None
        assert "unreachable" in problem
        server.start_again()
        assert await backend.events.problem() is None
        answer = await engine.record_update("s", step=3, message="back")
        snapshot = await engine.get_snapshot("s")
        assert (snapshot["step"], snapshot["message"]) == (3, "back")
        assert snapshot["last_event_id"] == answer["last_event_id"]
        # The follow loop found Redis again: the stream goes on without a gap or a repeat.
        events = await until(sub, lambda got: any(e.id == answer["last_event_id"] for e in got))
        assert [json.loads(e.data)["step"] for e in events] == [0, 1, 3]
    finally:
        await engine.close()
        await backend.close()
        server.stop()


async def test_a_burst_of_reads_shares_a_bounded_pool(
        open_engine: Opener, redis_server: RedisServer) -> None:
    """A hundred streams opening at once each read a snapshot: the process waits for a
    pooled connection instead of opening a hundred (Redis's maxclients is shared)."""
    engine = await open_engine()
    await engine.create_session("op", 1, session_id="s")
    snapshots = await asyncio.gather(*(engine.log.session("s") for _ in range(100)))
    assert all(snap is not None and snap["session_id"] == "s" for snap in snapshots)
    admin = redis.Redis.from_url(redis_server.url)
    try:
        clients = admin.client_list()
    finally:
        admin.close()
    # This process's clients: the event log's pool, the XREAD loop's and the other
    # parts' pool, each bounded; the admin connection itself is one more.
    assert len(clients) <= 2 * MAX_CONNECTIONS + 2 + 1
