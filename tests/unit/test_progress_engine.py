"""The progress engine on a real SQLite file: what a refused update or a failed commit
leaves behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sidecar.backends.sqlite.events import SqliteEventLog
from sidecar.backends.sqlite.store import Store
from sidecar.errors import StorageError, ValidationFailed
from sidecar.progress.engine import ProgressEngine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[ProgressEngine]:
    store = await Store.open(tmp_path / "db.sqlite3")
    engine = ProgressEngine(SqliteEventLog(store))
    await engine.start()
    yield engine
    await engine.close()
    await store.close()


async def test_a_refused_update_changes_nothing(engine: ProgressEngine) -> None:
    session_id = (await engine.create_session("op", 10))["session_id"]
    engine.update(session_id, step=3, message="three")
    await engine.flush()
    before = await engine.get_snapshot(session_id)
    with pytest.raises(ValidationFailed, match="step 7 is beyond total_steps 2"):
        engine.update(session_id, total=2, step=7, message="refused")
    with pytest.raises(ValidationFailed, match="step must not be negative"):
        engine.update(session_id, total=4, step=-1)
    engine.update(session_id, message="next")
    await engine.flush()
    after = await engine.get_snapshot(session_id)
    assert {k: after[k] for k in ("step", "total_steps", "total", "done", "percentage")} == {
        "step": 3, "total_steps": 10, "total": 10, "done": 3, "percentage": 30.0}
    assert {k: v for k, v in after.items()
            if k not in ("message", "updated_at", "last_event_id", "rate", "eta_seconds")} == {
        k: v for k, v in before.items()
        if k not in ("message", "updated_at", "last_event_id", "rate", "eta_seconds")}


def store_of(engine: ProgressEngine) -> Store:
    assert isinstance(engine.log, SqliteEventLog)
    return engine.log.store


async def refuse_writes(store: Store, refuse: bool) -> None:
    """The real database refusing every write, as a read-only or full disk does."""
    await store.writer.execute(f"PRAGMA query_only={'ON' if refuse else 'OFF'}")


async def test_a_terminal_event_whose_commit_fails_can_be_finished_again(
    engine: ProgressEngine,
) -> None:
    session_id = (await engine.create_session("op", 4))["session_id"]
    engine.update(session_id, step=2, message="two")
    await engine.flush()
    stream = engine.subscribe(frozenset({session_id}))
    await refuse_writes(store_of(engine), True)
    engine.finish(session_id, "complete", "done")
    with pytest.raises(StorageError):
        await engine.flush()
    # Nothing was committed: the session is running, in memory as on disk.
    assert engine.is_live(session_id)
    snapshot = await engine.get_snapshot(session_id)
    assert (snapshot["status"], snapshot["step"], snapshot["message"]) == ("running", 2, "two")
    # A flush with nothing queued returns at once instead of waiting for the lost event.
    await asyncio.wait_for(engine.flush(), timeout=5)
    await refuse_writes(store_of(engine), False)
    final = engine.finish(session_id, "complete", "done")
    await engine.flush()
    assert (await engine.get_snapshot(session_id))["status"] == "complete"
    assert [e.id for e in stream.pending] == [str(final["last_event_id"])]
    assert stream.pending[-1].terminal
