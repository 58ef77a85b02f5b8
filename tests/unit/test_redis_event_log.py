"""The Redis event log where it differs from SQLite's: several processes (here, several
engines, each with its own clients) on one real redis-server."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis

from sidecar.backends.redis.backend import RedisBackend
from sidecar.backends.redis.connection import MAX_CONNECTIONS, version_problem
from sidecar.backends.redis.events import EVENTS
from sidecar.errors import Conflict, NotFound, StorageError, ValidationFailed
from sidecar.progress.engine import Event, ProgressEngine, Subscription
from sidecar.web import sse
from sidecar.web.auth import Credential
from tests.faults.fault_proxy import FaultProxy
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


async def test_a_client_resuming_on_a_process_behind_its_id_gets_nothing_twice(
        open_engine: Opener) -> None:
    """B's follow loop is behind the client's Last-Event-ID and the replay after it is
    empty: once B catches up, the events up to that id are not sent again."""
    a, b = await open_engine(), await open_engine()
    watching_b = b.subscribe(None)
    await a.create_session("op", 10, session_id="s")
    await a.record_update("s", step=1)
    await until(watching_b, lambda got: len(got) == 2)
    b.unsubscribe(watching_b)
    assert b._follower is not None
    b._follower.cancel()  # B's follow loop lags from here on
    with contextlib.suppress(asyncio.CancelledError):
        await b._follower
    for step in (2, 3, 4):
        last = await a.record_update("s", step=step)
    plan = await sse.plan_stream(b, Credential("secret", None), ["s"],
                                 str(last["last_event_id"]))
    assert plan is not None
    assert plan.resume_after is not None
    b._follower = asyncio.create_task(b._follow_loop())  # B catches up
    # A heartbeat says the (empty) replay is over: only then does A write again.
    stream = sse.event_stream(b, plan, heartbeat=0.05, retry_ms=100)
    steps: list[int] = []
    wrote = False
    async with asyncio.timeout(30):
        async for chunk in stream:
            for frame in chunk.decode().split("\n\n"):
                data = [line[6:] for line in frame.split("\n") if line.startswith("data: ")]
                if data and json.loads(data[0]).get("type") != "snapshot":
                    steps.append(json.loads(data[0])["step"])
            if 5 in steps:
                break
            if chunk == sse.HEARTBEAT and not wrote:
                wrote = True
                await a.record_update("s", step=5)
    await stream.aclose()
    assert steps == [5], (steps, b._follower)


async def test_a_redis_older_than_7_is_refused_naming_its_version(redis_url: str) -> None:
    """The trim check reads XINFO STREAM's entries-added (Redis 7.0): an older server
    would make every resume look whole, so it is refused at open."""
    problem = version_problem("6.2.14", "db:6379/0")
    assert problem is not None
    assert "Redis at db:6379/0 is version 6.2.14" in problem
    assert "7.0 or newer" in problem
    assert version_problem("7.0.15", "db:6379/0") is None
    assert version_problem("10.1.0", "db:6379/0") is None
    assert "cannot read" in (version_problem("unstable", "db:6379/0") or "")
    backend = await RedisBackend.open(redis_url)  # this machine's 7.x: accepted
    await backend.close()


async def test_an_entry_the_follow_loop_cannot_read_does_not_stop_it(
        open_engine: Opener, redis_url: str) -> None:
    """Anything but Redis away used to end the follow loop silently: every stream of
    the process went quiet. A foreign entry is skipped; the loop goes on."""
    engine = await open_engine()
    sub = engine.subscribe(None)
    writer = redis.Redis.from_url(redis_url)
    try:
        writer.xadd(EVENTS, {"not": "igbridge's"})
    finally:
        writer.close()
    await engine.create_session("op", 2, session_id="after")
    await engine.record_update("after", step=1)
    events = await until(sub, lambda got: len(got) == 2)
    assert [e.session_id for e in events] == ["after", "after"]
    assert engine.follow_problem is None


async def test_a_follow_loop_that_is_not_running_is_a_problem_named_for_healthz(
        open_engine: Opener) -> None:
    engine = await open_engine()
    assert engine.follow_problem is None
    assert engine._follower is not None
    engine._follower.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await engine._follower
    assert engine.follow_problem == (
        "the event log's follow loop is not running: streams get no new events")


async def test_a_redis_that_goes_silent_without_a_reset_is_noticed_and_streams_resume(
        open_engine: Opener, redis_server: RedisServer, redis_url: str) -> None:
    """A proxy of the test's own between the engine and Redis stops forwarding without
    closing anything (a host that vanished): the follow loop's read times out instead
    of waiting forever, ``/healthz``'s check says so, and once forwarding resumes the
    streams get every event again."""
    proxy = FaultProxy("127.0.0.1", redis_server.port).start()
    try:
        engine = await open_engine(f"redis://127.0.0.1:{proxy.port}/0")
        writer = await open_engine(redis_url)  # another process, with a working network
        sub = engine.subscribe(None)
        await writer.create_session("op", 3, session_id="s")
        await until(sub, lambda got: len(got) == 1)
        proxy.stall()
        await writer.record_update("s", step=1)
        problem = await engine.log.problem()  # what /healthz reports
        assert problem is not None
        assert "unreachable" in problem
        proxy.pass_through()
        await writer.record_update("s", step=2)
        events = await until(sub, lambda got: len(got) == 3)
        assert [json.loads(e.data)["step"] for e in events] == [0, 1, 2]
        assert await engine.log.problem() is None
        assert engine.follow_problem is None
    finally:
        proxy.stop()
