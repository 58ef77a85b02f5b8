"""Retention compaction on a real SQLite file: old events go, the file shrinks, the final
state and the terminal event stay, and running sessions are not touched."""

from __future__ import annotations

import os
import re
from pathlib import Path

from sidecar.backends.sqlite.events import SqliteEventLog
from sidecar.backends.sqlite.store import Store
from sidecar.progress.engine import ProgressEngine


async def test_compaction_frees_the_space_of_old_events(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    store = await Store.open(path)
    engine = ProgressEngine(SqliteEventLog(store))
    await engine.start()
    finished = []
    for _ in range(3):
        session_id = (await engine.create_session("old", 2000))["session_id"]
        for step in range(1, 2001):
            engine.update(session_id, step=step, message="x" * 200)
        engine.finish(session_id, "complete", "done")
        finished.append(session_id)
    running = (await engine.create_session("running", 10))["session_id"]
    engine.update(running, step=1)
    await engine.flush()
    finals = [await engine.get_snapshot(s) for s in finished]

    async def checkpoint() -> int:
        async with store.writer.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cursor:
            await cursor.fetchall()
        return os.path.getsize(path)

    before = await checkpoint()
    assert await engine.compact(0) == 3
    after = await checkpoint()
    assert after < before / 10, (before, after)
    assert [await engine.get_snapshot(s) for s in finished] == finals
    async with store.reader.execute(
        "SELECT session_id, type, COUNT(*) FROM events GROUP BY session_id, type"
    ) as cursor:
        kept = sorted(tuple(r) for r in await cursor.fetchall())
    assert kept == sorted([(s, "complete", 1) for s in finished] + [(running, "progress", 2)])
    assert await engine.compact(0) == 0  # nothing left to do
    await engine.close()
    await store.close()


async def test_reclaiming_space_lets_progress_commits_in_between(tmp_path: Path) -> None:
    """Freeing pages and truncating the WAL take seconds on a large database: done in
    bounded steps, with the write lock free between them and during the checkpoint."""
    store = await Store.open(tmp_path / "db.sqlite3")
    engine = ProgressEngine(SqliteEventLog(store))
    await engine.start()
    for _ in range(2):
        session_id = (await engine.create_session("old", 3000))["session_id"]
        for step in range(1, 3001):
            engine.update(session_id, step=step, message="x" * 300)
        engine.finish(session_id, "complete", "done")
    await engine.flush()
    seen: list[tuple[str, bool]] = []

    def note(statement: str) -> None:
        if statement.upper().startswith("PRAGMA"):
            seen.append((statement, store.write_lock.locked()))

    for connection in (store.writer, store.maintenance):
        await connection.set_trace_callback(note)
    assert await engine.compact(0) == 2
    vacuum = [(s, locked) for s, locked in seen if "incremental_vacuum" in s]
    checkpoint = [(s, locked) for s, locked in seen if "wal_checkpoint" in s]
    assert len(vacuum) > 1, seen  # several steps, not one that frees everything
    assert all(re.fullmatch(r"PRAGMA incremental_vacuum\(\d+\);?", s) for s, _ in vacuum), seen
    assert checkpoint, seen
    assert not any(locked for _s, locked in checkpoint), seen
    await engine.close()
    await store.close()
