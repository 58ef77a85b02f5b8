"""The contract of the backend ports (``sidecar/backends/base.py``), run against every
engine: the ``backend`` fixture takes one parameter per engine (SQLite, and Redis on
the session's real redis-server, flushed for each test); the ``engine`` fixture runs the
progress engine over each engine's ``EventLog``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from sidecar.backends.base import STALE_CLAIM_SECONDS, Backend, EventLog, SourceStore
from sidecar.backends.redis.backend import RedisBackend
from sidecar.backends.redis.sources import RedisSourceStore
from sidecar.backends.sqlite.backend import SqliteBackend, SqliteSourceStore
from sidecar.errors import BadRequest, Conflict, ValidationFailed
from sidecar.progress.engine import ProgressEngine, Subscription


async def open_sqlite(tmp_path: Path, redis_url: str) -> Backend:
    return await SqliteBackend.open(tmp_path / "db.sqlite3")


async def open_redis(tmp_path: Path, redis_url: str) -> Backend:
    return await RedisBackend.open(redis_url)


# Each engine and how a test opens a fresh, empty one (Redis: ``redis_url`` is flushed).
ENGINES: dict[str, Callable[[Path, str], Awaitable[Backend]]] = {"sqlite": open_sqlite,
                                                                 "redis": open_redis}


@pytest.fixture(params=sorted(ENGINES))
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    engine = await ENGINES[request.param](tmp_path, url)
    yield engine
    await engine.close()


async def test_a_job_is_queued_then_runs_then_ends(backend: Backend) -> None:
    await backend.jobs.add("j1", "j1", "import", {"type": "export", "path": "a.zip"},
                           {"batch": 5}, {})
    job = await backend.jobs.get("j1")
    assert job is not None
    assert {k: job[k] for k in ("job_id", "session_id", "kind", "source", "options", "status",
                                "attempts", "state", "owner", "error", "started_at")} == {
        "job_id": "j1", "session_id": "j1", "kind": "import",
        "source": {"type": "export", "path": "a.zip"}, "options": {"batch": 5},
        "status": "queued", "attempts": 0, "state": {}, "owner": None, "error": None,
        "started_at": None}
    await backend.jobs.start_attempt("j1", 1, "process-a")
    await backend.jobs.save_state("j1", {"posts": [1, 2]})
    running = await backend.jobs.get("j1")
    assert running is not None
    assert (running["status"], running["attempts"], running["owner"], running["state"]) == (
        "running", 1, "process-a", {"posts": [1, 2]})
    assert running["started_at"] is not None
    beat = running["heartbeat_at"]
    await backend.jobs.heartbeat(["j1"])
    alive = await backend.jobs.get("j1")
    assert alive is not None
    assert alive["heartbeat_at"] >= beat
    await backend.jobs.finish("j1", "error", "it broke")
    ended = await backend.jobs.get("j1")
    assert ended is not None
    assert (ended["status"], ended["error"]) == ("error", "it broke")
    assert ended["finished_at"] is not None
    assert await backend.jobs.get("nope") is None


async def test_the_first_end_of_a_job_wins(backend: Backend) -> None:
    """A late cancel does not overwrite ``complete``, nor a late ``complete`` a cancel:
    a job ends once, from a status that had not ended."""
    for job_id in ("done", "stopped"):
        await backend.jobs.add(job_id, job_id, "import", {"type": "urls"}, {}, {})
        await backend.jobs.start_attempt(job_id, 1, "p")
    await backend.jobs.finish("done", "complete", None)
    await backend.jobs.finish("done", "cancelled", "too late")
    await backend.jobs.finish("stopped", "cancelled", "Cancelled")
    await backend.jobs.finish("stopped", "complete", None)
    ends = {}
    for job_id in ("done", "stopped"):
        job = await backend.jobs.get(job_id)
        assert job is not None
        ends[job_id] = (job["status"], job["error"])
    assert ends == {"done": ("complete", None), "stopped": ("cancelled", "Cancelled")}
    assert [j["job_id"] for j in await backend.jobs.find(status="cancelled")] == ["stopped"]
    assert [j["job_id"] for j in await backend.jobs.find(status="complete")] == ["done"]


async def test_jobs_are_found_newest_first_by_status(backend: Backend) -> None:
    for job_id in ("a", "b", "c"):
        await backend.jobs.add(job_id, job_id, "scrape", {"type": "apify"}, {}, {})
    await backend.jobs.start_attempt("b", 1, "p")
    assert [j["job_id"] for j in await backend.jobs.find()] == ["c", "b", "a"]
    assert [j["job_id"] for j in await backend.jobs.find(status="running")] == ["b"]
    assert [j["job_id"] for j in await backend.jobs.find(statuses=["queued"], limit=1)] == ["c"]


async def test_the_ledger_keeps_each_items_order_and_latest_outcome(backend: Backend) -> None:
    await backend.ledger.add_pending("j", [("p1", "Morning light", "2024-03-01T08:00:00+00:00"),
                                           ("p2", None, None)])
    await backend.ledger.add_pending("j", [("p2", "ignored", None), ("p3", None, None)])
    await backend.ledger.record("j", [
        ("p2", "imported", 7, None, {"title": "T"}, "http://wp.test/t/", "http://wp.test/t.jpg"),
        ("late", "skipped", None, "a duplicate", None, None, None)])
    await backend.ledger.record("j", [("p1", "failed", None, "HTTP 500", None, None, None)])
    await backend.ledger.add_pending("other", [("x", None, None)])
    items = await backend.ledger.items_of(["j", "other", "none"])

    def item(source_id: str, state: str, **fields: object) -> dict[str, object]:
        return {"source_id": source_id, "state": state, "wp_post_id": None, "reason": None,
                "detail": None, "post_url": None, "thumbnail_url": None,
                "caption_excerpt": None, "taken_at": None, **fields}

    assert items == {
        "j": [
            item("p1", "failed", reason="HTTP 500", caption_excerpt="Morning light",
                 taken_at="2024-03-01T08:00:00+00:00"),
            item("p2", "imported", wp_post_id=7, detail={"title": "T"},
                 post_url="http://wp.test/t/", thumbnail_url="http://wp.test/t.jpg"),
            item("p3", "pending"),
            item("late", "skipped", reason="a duplicate"),
        ],
        "other": [item("x", "pending")],
        "none": [],
    }
    assert await backend.ledger.counts_of(["j", "none"]) == {
        "j": {"imported": 1, "skipped": 1, "failed": 1, "pending": 1},
        "none": {},
    }


async def test_items_and_jobs_page_by_their_keys(backend: Backend) -> None:
    await backend.ledger.add_pending("j", [(f"p{n}", None, None) for n in range(5)])
    first = await backend.ledger.page("j", limit=2, after=None)
    assert [(i["position"], i["source_id"]) for i in first] == [(0, "p0"), (1, "p1")]
    rest = await backend.ledger.page("j", limit=10, after=(1, "p1"))
    assert [i["source_id"] for i in rest] == ["p2", "p3", "p4"]
    for job_id in ("a", "b", "c"):
        await backend.jobs.add(job_id, job_id, "import", {"type": "export", "path": "a.zip"},
                               {}, {})
    newest = await backend.jobs.page(status=None, limit=2, after=None)
    assert [j["job_id"] for j in newest] == ["c", "b"]
    last = newest[-1]
    older = await backend.jobs.page(status=None, limit=2,
                                    after=(last["created_at"], last["job_id"]))
    assert [j["job_id"] for j in older] == ["a"]
    assert await backend.jobs.page(status="running", limit=5, after=None) == []


async def test_job_ids_are_found_by_prefix_and_by_their_neighbours(backend: Backend) -> None:
    for job_id in ("ab10", "ab20", "ab2_", "ac00", "a%00"):
        await backend.jobs.add(job_id, job_id, "import", {}, {}, {})
    assert [j["job_id"] for j in await backend.jobs.ids_starting_with("ab", 10)] == [
        "ab10", "ab20", "ab2_"]
    assert [j["job_id"] for j in await backend.jobs.ids_starting_with("AB2", 10)] == [
        "ab20", "ab2_"]
    assert [j["job_id"] for j in await backend.jobs.ids_starting_with("ab", 2)] == [
        "ab10", "ab20"]
    # Wildcards of a query language are plain characters.
    assert [j["job_id"] for j in await backend.jobs.ids_starting_with("ab2_", 10)] == ["ab2_"]
    assert [j["job_id"] for j in await backend.jobs.ids_starting_with("a%", 10)] == ["a%00"]
    assert await backend.jobs.ids_starting_with("a_", 10) == []
    assert (await backend.jobs.ids_starting_with("ac", 1))[0]["kind"] == "import"
    assert await backend.jobs.neighbours("ab20") == ("ab10", "ab2_")
    assert await backend.jobs.neighbours("a%00") == (None, "ab10")
    assert await backend.jobs.neighbours("ac00") == ("ab2_", None)
    assert await backend.jobs.neighbours("ab15") == ("ab10", "ab20")  # need not exist


async def test_finished_source_ids_are_those_any_job_imported(backend: Backend) -> None:
    await backend.ledger.add_pending("j1", [("p1", None, None), ("p2", None, None)])
    await backend.ledger.add_pending("j2", [("p2", None, None), ("p3", None, None)])
    await backend.ledger.record("j1", [("p1", "imported", 1, None, None, None, None),
                                       ("p2", "failed", None, "HTTP 500", None, None, None)])
    await backend.ledger.record("j2", [("p2", "imported", 2, None, None, None, None),
                                       ("p3", "already_imported", 3, None, None, None, None)])
    assert await backend.ledger.finished_source_ids(["p1", "p2", "p3", "p4"]) == {"p1", "p2"}
    assert await backend.ledger.finished_source_ids([]) == set()


async def test_the_media_index_finds_files_by_url_and_uploads_by_site(
        backend: Backend) -> None:
    media = backend.media
    assert await media.cached("http://cdn.test/a.jpg") is None
    await media.record_cached([("aa", "/m/aa.jpg", "image/jpeg", 10, "http://cdn.test/a.jpg"),
                               ("bb", "/m/bb.mp4", "video/mp4", 20, None)])
    assert await media.cached("http://cdn.test/a.jpg") == {
        "sha256": "aa", "path": "/m/aa.jpg", "content_type": "image/jpeg", "size": 10}
    # A known sha256 keeps its first row; a URL points at the file it last gave.
    await media.record_cached([("aa", "/other/aa.jpg", "image/jpeg", 10, "http://cdn.test/b"),
                               ("bb", "/m/bb.mp4", "video/mp4", 20, "http://cdn.test/a.jpg")])
    assert await media.cached("http://cdn.test/b") == {
        "sha256": "aa", "path": "/m/aa.jpg", "content_type": "image/jpeg", "size": 10}
    assert await media.cached("http://cdn.test/a.jpg") == {
        "sha256": "bb", "path": "/m/bb.mp4", "content_type": "video/mp4", "size": 20}
    # By hash too (a preview's thumbnail), whatever URL it came from, or none.
    assert [await media.cached_file(h) for h in ("aa", "bb", "cc")] == [
        {"sha256": "aa", "path": "/m/aa.jpg", "content_type": "image/jpeg", "size": 10},
        {"sha256": "bb", "path": "/m/bb.mp4", "content_type": "video/mp4", "size": 20}, None]
    await media.record_cached([])
    assert await media.uploaded("http://wp.test", "aa") is None
    await media.record_uploaded("http://wp.test", "aa", 7, "http://wp.test/aa.jpg")
    await media.record_uploaded("http://other.test", "aa", 9, "http://other.test/aa.jpg")
    assert await media.uploaded("http://wp.test", "aa") == (7, "http://wp.test/aa.jpg")
    await media.record_uploaded("http://wp.test", "aa", 8, "http://wp.test/aa-2.jpg")
    assert await media.uploaded("http://wp.test", "aa") == (8, "http://wp.test/aa-2.jpg")
    assert await media.uploaded("http://other.test", "aa") == (9, "http://other.test/aa.jpg")
    # Repair: attachments gone from a site are forgotten there, by id, nowhere else.
    await media.record_uploaded("http://wp.test", "bb", 10, "http://wp.test/bb.mp4")
    await media.forget_uploaded("http://wp.test", [8, 9])
    await media.forget_uploaded("http://wp.test", [])
    assert await media.uploaded("http://wp.test", "aa") is None
    assert await media.uploaded("http://wp.test", "bb") == (10, "http://wp.test/bb.mp4")
    assert await media.uploaded("http://other.test", "aa") == (9, "http://other.test/aa.jpg")


APIFY = {"type": "apify", "username": "someone", "limit": 20}
MAPPING = {"status": "draft"}


async def test_saved_sources_are_kept_changed_and_deleted(backend: Backend) -> None:
    sources = backend.sources
    await sources.add("s1", APIFY, MAPPING, 60, False, 1000.0)
    await sources.add("s2", {"type": "export", "path": "a.zip"}, {}, None, False, None)
    first = await sources.get("s1")
    assert first is not None
    assert {k: first[k] for k in ("source_id", "spec", "mapping", "every_minutes", "paused",
                                  "next_run_at", "last_sync", "newest_taken_at",
                                  "reachable", "sync_job_id")} == {
        "source_id": "s1", "spec": APIFY, "mapping": MAPPING, "every_minutes": 60,
        "paused": False, "next_run_at": 1000.0, "last_sync": None, "newest_taken_at": None,
        "reachable": False, "sync_job_id": None}
    assert isinstance(first["created_at"], float)
    assert [s["source_id"] for s in await sources.all()] == ["s1", "s2"]
    await sources.update_settings("s1", {**APIFY, "limit": 5}, {"status": "publish"}, 30,
                                  True, None)
    changed = await sources.get("s1")
    assert changed is not None
    assert (changed["spec"]["limit"], changed["mapping"], changed["every_minutes"],
            changed["paused"], changed["next_run_at"]) == (5, {"status": "publish"}, 30,
                                                          True, None)
    await sources.delete("s1")
    assert await sources.get("s1") is None
    assert [s["source_id"] for s in await sources.all()] == ["s2"]
    assert await sources.get("nope") is None


async def test_due_sources_are_the_scheduled_unpaused_ones_whose_time_came(
        backend: Backend) -> None:
    sources = backend.sources
    assert await sources.next_run_at() is None
    await sources.add("late", APIFY, {}, 60, False, 200.0)
    await sources.add("early", APIFY, {}, 60, False, 100.0)
    await sources.add("later", APIFY, {}, 60, False, 900.0)
    await sources.add("paused", APIFY, {}, 60, True, 50.0)
    await sources.add("unscheduled", APIFY, {}, None, False, None)
    assert [s["source_id"] for s in await sources.due(200.0)] == ["early", "late"]
    assert await sources.due(99.0) == []
    assert await sources.next_run_at() == 100.0


async def test_claim_sync_holds_one_sync_per_source(backend: Backend) -> None:
    sources = backend.sources
    await sources.add("s", APIFY, {}, None, False, None)
    assert await sources.claim_sync("s", "j1")
    assert await sources.claim_sync("s", "j1")  # its holder keeps it
    assert not await sources.claim_sync("s", "j2")  # claimed a moment ago, job not added yet
    await backend.jobs.add("j1", "j1", "sync", APIFY, {}, {})
    assert not await sources.claim_sync("s", "j2")  # j1 queued
    await backend.jobs.start_attempt("j1", 1, "p")
    assert not await sources.claim_sync("s", "j2")  # j1 running
    held = await sources.get("s")
    assert held is not None
    assert held["sync_job_id"] == "j1"
    await backend.jobs.finish("j1", "complete", None)
    assert await sources.claim_sync("s", "j2")  # j1 ended
    await sources.release_sync("s", "j1")  # not the holder: nothing changes
    held = await sources.get("s")
    assert held is not None
    assert held["sync_job_id"] == "j2"
    await sources.release_sync("s", "j2")
    released = await sources.get("s")
    assert released is not None
    assert released["sync_job_id"] is None
    assert await sources.claim_sync("s", "j3")
    assert not await sources.claim_sync("nope", "j4")


class Clock:
    """A time that moves only when a test says so."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def sources_on_clock(backend: Backend, clock: Clock) -> SourceStore:
    """The engine's saved sources, stamping and ageing sync claims by ``clock``."""
    if isinstance(backend, SqliteBackend):
        return SqliteSourceStore(backend.store, clock)
    assert isinstance(backend, RedisBackend)
    return RedisSourceStore(backend.conn, clock)


async def test_a_claim_without_a_job_is_free_again_after_the_stale_limit(
        backend: Backend) -> None:
    """A process that died between claiming a sync and adding its job blocks the
    source for ``STALE_CLAIM_SECONDS``, no longer."""
    clock = Clock(1_700_000_000.0)
    sources = sources_on_clock(backend, clock)
    await sources.add("s", APIFY, {}, None, False, None)
    assert await sources.claim_sync("s", "ghost")
    clock.now += 1
    assert not await sources.claim_sync("s", "j2")
    clock.now += STALE_CLAIM_SECONDS - 1  # exactly the limit: not more than it yet
    assert not await sources.claim_sync("s", "j2")
    held = await sources.get("s")
    assert held is not None
    assert (held["sync_job_id"], held["sync_claimed_at"]) == ("ghost", 1_700_000_000.0)
    clock.now += 0.5
    assert await sources.claim_sync("s", "j2")
    taken = await sources.get("s")
    assert taken is not None
    assert (taken["sync_job_id"], taken["sync_claimed_at"]) == ("j2", clock.now)
    # The new claim is fresh in its turn: the next caller waits for it.
    clock.now += 1
    assert not await sources.claim_sync("s", "j3")


async def test_a_claim_whose_job_is_queued_or_running_is_never_stale(
        backend: Backend) -> None:
    clock = Clock(1_700_000_000.0)
    sources = sources_on_clock(backend, clock)
    await sources.add("s", APIFY, {}, None, False, None)
    assert await sources.claim_sync("s", "j1")
    await backend.jobs.add("j1", "j1", "sync", APIFY, {}, {})
    clock.now += 10 * STALE_CLAIM_SECONDS
    assert not await sources.claim_sync("s", "j2")  # queued for a long while
    await backend.jobs.start_attempt("j1", 1, "p")
    clock.now += 10 * STALE_CLAIM_SECONDS
    assert not await sources.claim_sync("s", "j2")  # running for a long while
    held = await sources.get("s")
    assert held is not None
    assert (held["sync_job_id"], held["sync_claimed_at"]) == ("j1", 1_700_000_000.0)
    await backend.jobs.finish("j1", "error", "it broke")
    assert await sources.claim_sync("s", "j2")


async def test_a_holder_claiming_again_renews_its_claim(backend: Backend) -> None:
    """A holder's own claim (a sync job takes it as it starts, ``kinds/sync.py``)
    stamps it anew: its age counts from the last claim."""
    clock = Clock(1_700_000_000.0)
    sources = sources_on_clock(backend, clock)
    await sources.add("s", APIFY, {}, None, False, None)
    assert await sources.claim_sync("s", "j1")
    clock.now += STALE_CLAIM_SECONDS - 1
    assert await sources.claim_sync("s", "j1")
    clock.now += STALE_CLAIM_SECONDS - 1  # past the first stamp's limit, not the second's
    assert not await sources.claim_sync("s", "j2")
    clock.now += 2
    assert await sources.claim_sync("s", "j2")


async def test_claim_due_run_fires_each_due_time_once(backend: Backend) -> None:
    sources = backend.sources
    await sources.add("s", APIFY, {}, 60, False, 100.0)
    assert await sources.claim_due_run("s", 100.0, 3700.0)
    assert not await sources.claim_due_run("s", 100.0, 3700.0)
    moved = await sources.get("s")
    assert moved is not None
    assert moved["next_run_at"] == 3700.0
    await sources.update_settings("s", APIFY, {}, 60, True, 3700.0)
    assert not await sources.claim_due_run("s", 3700.0, 7300.0)  # paused
    assert not await sources.claim_due_run("nope", 100.0, 3700.0)


async def test_record_sync_keeps_the_newest_post_time_and_reachability(
        backend: Backend) -> None:
    sources = backend.sources
    await sources.add("s", APIFY, {}, None, False, None)
    await sources.record_sync("s", {"status": "complete", "job_id": "j1"},
                              newest_taken_at=500.0, reachable=True)
    await sources.record_sync("s", {"status": "error", "job_id": "j2"},
                              newest_taken_at=None, reachable=False)
    await sources.record_sync("s", {"status": "complete", "job_id": "j3"},
                              newest_taken_at=400.0, reachable=False)
    found = await sources.get("s")
    assert found is not None
    assert (found["last_sync"], found["newest_taken_at"], found["reachable"]) == (
        {"status": "complete", "job_id": "j3"}, 500.0, True)


RACES = 20


async def test_of_two_concurrent_sync_claims_exactly_one_wins(backend: Backend) -> None:
    for n in range(RACES):
        await backend.sources.add(f"s{n}", APIFY, {}, None, False, None)
    outcomes = await asyncio.gather(*(
        backend.sources.claim_sync(f"s{n}", f"{n}-{who}")
        for n in range(RACES) for who in ("a", "b")))
    for n in range(RACES):
        won = outcomes[2 * n: 2 * n + 2]
        assert sorted(won) == [False, True]
        found = await backend.sources.get(f"s{n}")
        assert found is not None
        assert found["sync_job_id"] == f"{n}-{'a' if won[0] else 'b'}"


async def test_of_two_concurrent_due_run_claims_exactly_one_wins(backend: Backend) -> None:
    for n in range(RACES):
        await backend.sources.add(f"s{n}", APIFY, {}, 60, False, 100.0)
    outcomes = await asyncio.gather(*(
        backend.sources.claim_due_run(f"s{n}", 100.0, following)
        for n in range(RACES) for following in (3700.0, 3800.0)))
    for n in range(RACES):
        won = outcomes[2 * n: 2 * n + 2]
        assert sorted(won) == [False, True]
        found = await backend.sources.get(f"s{n}")
        assert found is not None
        assert found["next_run_at"] == (3700.0 if won[0] else 3800.0)


# -- the EventLog port, through the progress engine that uses it ------------------------

async def open_sqlite_log(tmp_path: Path, redis_url: str) -> tuple[EventLog, Closer]:
    backend = await SqliteBackend.open(tmp_path / "db.sqlite3")
    return backend.events, backend.close


async def open_redis_log(tmp_path: Path, redis_url: str) -> tuple[EventLog, Closer]:
    backend = await RedisBackend.open(redis_url)
    return backend.events, backend.close


Closer = Callable[[], Awaitable[None]]
# Each engine's event log.
EVENT_LOGS: dict[str, Callable[[Path, str], Awaitable[tuple[EventLog, Closer]]]] = {
    "sqlite": open_sqlite_log, "redis": open_redis_log}


@pytest.fixture(params=sorted(EVENT_LOGS))
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ProgressEngine]:
    # Only the Redis log needs a server: the SQLite run starts none.
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    event_log, close = await EVENT_LOGS[request.param](tmp_path, url)
    progress = ProgressEngine(event_log)
    await progress.start()
    yield progress
    await progress.close()
    await close()


async def wait_for_delivery(progress: ProgressEngine, sub: Subscription, count: int) -> None:
    """Until ``count`` events reached the mailbox (a shared log delivers through its
    follow loop, a moment after the commit)."""
    while len(sub.pending) < count:
        sub.wake.clear()
        await asyncio.wait_for(sub.wake.wait(), 10)


async def test_events_and_snapshots_are_stored_together_in_order(engine: ProgressEngine) -> None:
    log = engine.log
    start = await log.newest()
    sub = engine.subscribe(frozenset({"s1", "s2"}))
    created = await engine.create_session("import", 4, session_id="s1")
    await engine.create_session("scrape", 0, session_id="s2")
    engine.update("s1", step=1, message="one")
    engine.update("s2", message="s2 going")
    engine.publish_job("s1", {"job_id": "s1", "status": "running"})
    engine.update("s1", step=2, message="two")
    answer = await engine.record_update("s1", step=3, message="three")
    await wait_for_delivery(engine, sub, 6)

    events = await log.events_after(start, sessions=None, with_job_events=True, limit=100)
    assert [(e.session_id, e.type) for e in events] == [
        ("s1", "progress"), ("s2", "progress"), ("s1", "progress"), ("s2", "progress"),
        ("s1", "job"), ("s1", "progress"), ("s1", "progress")]
    positions = [e.position for e in events]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)
    assert [log.parse_id(e.id) for e in events] == positions
    assert [log.event_id(p) for p in positions] == [e.id for e in events]
    # Each progress event's JSON carries its own id; the answer the committed one.
    for event in events:
        data = json.loads(event.data)
        if event.type != "job":
            assert str(data["last_event_id"]) == event.id
    assert str(created["last_event_id"]) == events[0].id
    assert str(answer["last_event_id"]) == events[-1].id
    assert answer["step"] == 3
    snapshot = await log.session("s1")
    assert snapshot is not None
    assert (snapshot["step"], snapshot["message"], str(snapshot["last_event_id"])) == (
        3, "three", events[-1].id)
    assert "type" not in snapshot
    assert await log.newest() == positions[-1]
    # What the streams were given is what was stored, in the same order, once each.
    assert [e.id for e in sub.pending] == [e.id for e in events if e.session_id in ("s1", "s2")
                                           and e.type != "job"]


async def test_replay_pages_filter_by_session_and_leave_out_job_events(
        engine: ProgressEngine) -> None:
    log = engine.log
    start = await log.newest()
    for name in ("a", "b"):
        await engine.create_session("op", 10, session_id=name)
    for step in range(1, 6):
        engine.update("a", step=step)
        engine.update("b", step=step)
        engine.publish_job("a", {"job_id": "a", "step": step})
    await engine.flush()
    only_a = await log.events_after(start, sessions=["a"], with_job_events=False, limit=3)
    assert [json.loads(e.data)["step"] for e in only_a] == [0, 1, 2]
    rest = await log.events_after(only_a[-1].position, sessions=["a"], with_job_events=False,
                                  limit=100)
    assert [json.loads(e.data)["step"] for e in rest] == [3, 4, 5]
    everything = await log.events_after(start, sessions=None, with_job_events=True, limit=100)
    assert len(everything) == 2 + 5 * 3
    assert sum(e.type == "job" for e in everything) == 5
    assert await log.events_after(start, sessions=[], with_job_events=True, limit=10) == []
    assert await log.events_after(await log.newest(), sessions=None, with_job_events=True,
                                  limit=10) == []


async def test_sessions_are_listed_newest_first_and_the_active_ones_known(
        engine: ProgressEngine) -> None:
    clock = iter(range(1_700_000_000, 1_700_001_000))
    engine.clock = lambda: float(next(clock))
    for name in ("old", "mid", "new"):
        await engine.create_session("op", 2, session_id=name)
    engine.update("mid", step=1)
    await engine.record_finish("old", "complete", "done")
    log = engine.log
    listed = await log.list_sessions(status=None, limit=10, before=None, only=None)
    assert [s["session_id"] for s in listed] == ["new", "mid", "old"]
    assert [s["session_id"] for s in await log.list_sessions(
        status="complete", limit=10, before=None, only=None)] == ["old"]
    assert [s["session_id"] for s in await log.list_sessions(
        status=None, limit=1, before=None, only=None)] == ["new"]
    mid_created = 1_700_000_001.0
    assert [s["session_id"] for s in await log.list_sessions(
        status=None, limit=10, before=mid_created, only=None)] == ["old"]
    assert [s["session_id"] for s in await log.list_sessions(
        status=None, limit=10, before=None, only=frozenset({"old", "new", "nope"}))] == [
        "new", "old"]
    assert sorted(await log.active_session_ids()) == ["mid", "new"]
    assert set(await log.sessions_by_id(["mid", "nope", "old"])) == {"mid", "old"}
    assert await log.session("nope") is None
    # Compaction counts each finished session once, after its cutoff only.
    assert await log.compact(1_700_000_000.0) == 0
    assert await log.compact(1_800_000_000.0) == 1
    assert await log.compact(1_800_000_000.0) == 0
    assert (await log.session("old") or {})["status"] == "complete"


async def test_an_id_beyond_the_log_is_a_gap_and_one_inside_it_is_not(
        engine: ProgressEngine) -> None:
    await engine.create_session("op", 2, session_id="g")
    await engine.record_update("g", step=1)
    log = engine.log
    newest = await log.newest()
    assert await log.gap_after(newest) is None
    assert await log.gap_after((newest[0], newest[1] - 1) if newest[1] else (newest[0] - 1, 0)
                               ) is None
    beyond = await log.gap_after((newest[0] + 10_000, 0))
    assert beyond is not None
    assert "beyond" in beyond
    with pytest.raises(BadRequest):
        log.parse_id("not an id")
    assert log.parse_id("0") == (0, 0)


async def test_a_refused_update_changes_nothing_on_either_log(engine: ProgressEngine) -> None:
    await engine.create_session("op", 10, session_id="r")
    await engine.record_update("r", step=3, message="three")
    before = await engine.get_snapshot("r")
    with pytest.raises(ValidationFailed, match="step 7 is beyond total_steps 2"):
        await engine.record_update("r", total=2, step=7, message="refused")
    after = await engine.record_update("r", message="next")
    assert (after["step"], after["total"], after["percentage"]) == (3, 10, 30.0)
    assert after["last_event_id"] != before["last_event_id"]
    with pytest.raises(Conflict):
        await engine.create_session("op", 1, session_id="r")
