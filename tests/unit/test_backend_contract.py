"""The contract of the backend ports (``sidecar/backends/base.py``), run against every
engine: the ``backend`` fixture takes one parameter per engine (SQLite, and Redis on a
redis-server of the test session's own)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from sidecar.backends.base import Backend
from sidecar.backends.redis.backend import RedisBackend
from sidecar.backends.sqlite.backend import SqliteBackend
from tests.support.redis_server import RedisServer


async def open_sqlite(tmp_path: Path) -> Backend:
    return await SqliteBackend.open(tmp_path / "db.sqlite3")


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


async def open_redis(tmp_path: Path) -> Backend:
    """A fresh engine on the module's Redis: its own key prefix, so tests never meet."""
    server: RedisServer = _servers["redis"]
    return await RedisBackend.open(server.url, prefix=f"test:{tmp_path.name}:")


_servers: dict[str, RedisServer] = {}

# Each engine and how a test opens a fresh, empty one.
ENGINES: dict[str, Callable[[Path], Awaitable[Backend]]] = {"sqlite": open_sqlite,
                                                            "redis": open_redis}


@pytest.fixture(params=sorted(ENGINES))
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "redis":
        _servers["redis"] = request.getfixturevalue("redis_server")
    engine = await ENGINES[request.param](tmp_path)
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
