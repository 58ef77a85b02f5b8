"""Saved sources (issue 14): their settings, schedule and last sync, in SQLite.

Reads take the connection first, writes the store, as in ``store.py``. The two
claims (``claim_sync``, ``claim_due_run``) are single conditional UPDATEs: whoever's
UPDATE changed the row holds the claim. A shared store (the Redis engine) needs the
same two compare-and-set steps, and with them exactly one process fires a schedule.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import aiosqlite

from ..base import STALE_CLAIM_SECONDS
from .store import Store, all_rows, dumps, first_row, now

COLUMNS = (
    "source_id, spec, mapping, every_minutes, paused, next_run_at, last_sync,"
    " newest_taken_at, reachable, sync_job_id, sync_claimed_at, created_at, updated_at"
)


def _from_row(row: Any) -> dict[str, Any]:
    found = dict(row)
    found["spec"] = json.loads(found["spec"])
    found["mapping"] = json.loads(found["mapping"])
    found["last_sync"] = json.loads(found["last_sync"]) if found["last_sync"] else None
    found["paused"] = bool(found["paused"])
    found["reachable"] = bool(found["reachable"])
    return found


async def fetch_source(conn: aiosqlite.Connection, source_id: str) -> dict[str, Any] | None:
    row = await first_row(conn, f"SELECT {COLUMNS} FROM sources WHERE source_id = ?",
                          (source_id,))
    return _from_row(row) if row else None


async def fetch_sources(conn: aiosqlite.Connection) -> list[dict[str, Any]]:
    rows = await all_rows(conn, f"SELECT {COLUMNS} FROM sources ORDER BY created_at, source_id")
    return [_from_row(r) for r in rows]


async def fetch_due_sources(conn: aiosqlite.Connection, moment: float) -> list[dict[str, Any]]:
    """Scheduled, unpaused sources whose next run is at or before ``moment``."""
    rows = await all_rows(
        conn, f"SELECT {COLUMNS} FROM sources WHERE every_minutes IS NOT NULL AND paused = 0"
        " AND next_run_at IS NOT NULL AND next_run_at <= ? ORDER BY next_run_at", (moment,))
    return [_from_row(r) for r in rows]


async def fetch_next_run_at(conn: aiosqlite.Connection) -> float | None:
    row = await first_row(conn, "SELECT MIN(next_run_at) FROM sources WHERE every_minutes"
                          " IS NOT NULL AND paused = 0")
    return float(row[0]) if row and row[0] is not None else None


async def insert_source(
    store: Store, source_id: str, spec: dict[str, Any], mapping: dict[str, Any],
    every_minutes: int | None, paused: bool, next_run_at: float | None,
) -> None:
    moment = now()
    await store.write([(
        "INSERT INTO sources (source_id, spec, mapping, every_minutes, paused, next_run_at,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (source_id, dumps(spec), dumps(mapping), every_minutes, int(paused), next_run_at,
         moment, moment),
    )])


async def update_settings(
    store: Store, source_id: str, spec: dict[str, Any], mapping: dict[str, Any],
    every_minutes: int | None, paused: bool, next_run_at: float | None,
) -> None:
    await store.write([(
        "UPDATE sources SET spec = ?, mapping = ?, every_minutes = ?, paused = ?,"
        " next_run_at = ?, updated_at = ? WHERE source_id = ?",
        (dumps(spec), dumps(mapping), every_minutes, int(paused), next_run_at, now(),
         source_id),
    )])


async def delete_source(store: Store, source_id: str) -> None:
    await store.write([("DELETE FROM sources WHERE source_id = ?", (source_id,))])


async def _changed_rows(store: Store, sql: str, params: Sequence[Any]) -> int:
    """One statement in its own transaction; how many rows it changed."""
    async with store.write_lock:
        cursor = await store.writer.execute(sql, params)
        count = cursor.rowcount
        await cursor.close()
        return int(count)


async def claim_sync(store: Store, source_id: str, job_id: str, moment: float) -> bool:
    """Make ``job_id`` the source's one sync at ``moment``, unless another sync holds it:
    a sync whose job is queued or running (however old its claim), or a claim no older
    than ``STALE_CLAIM_SECONDS`` whose job row is not written yet. A job that holds the
    claim already (resumed, or its own start) keeps it."""
    return await _changed_rows(store, (
        "UPDATE sources SET sync_job_id = ?, sync_claimed_at = ? WHERE source_id = ? AND ("
        " sync_job_id IS NULL OR sync_job_id = ?"
        " OR EXISTS (SELECT 1 FROM jobs WHERE job_id = sources.sync_job_id"
        "            AND status NOT IN ('queued', 'running'))"
        " OR (NOT EXISTS (SELECT 1 FROM jobs WHERE job_id = sources.sync_job_id)"
        "     AND sync_claimed_at < ?))"
    ), (job_id, moment, source_id, job_id, moment - STALE_CLAIM_SECONDS)) == 1


async def release_sync(store: Store, source_id: str, job_id: str) -> None:
    await store.write([(
        "UPDATE sources SET sync_job_id = NULL WHERE source_id = ? AND sync_job_id = ?",
        (source_id, job_id),
    )])


async def claim_due_run(store: Store, source_id: str, due_at: float, next_run_at: float) -> bool:
    """Move a due run's time on from ``due_at`` to ``next_run_at``; only the caller whose
    update found ``due_at`` still there fires it."""
    return await _changed_rows(
        store, "UPDATE sources SET next_run_at = ? WHERE source_id = ? AND next_run_at = ?"
        " AND paused = 0", (next_run_at, source_id, due_at)) == 1


async def record_sync(
    store: Store, source_id: str, last_sync: dict[str, Any], *,
    newest_taken_at: float | None, reachable: bool,
) -> None:
    """A sync's outcome; the newest post time and reachability only ever grow."""
    await store.write([(
        "UPDATE sources SET last_sync = ?, newest_taken_at = MAX(COALESCE(newest_taken_at, 0),"
        " COALESCE(?, 0)), reachable = MAX(reachable, ?), updated_at = ? WHERE source_id = ?",
        (dumps(last_sync), newest_taken_at, int(reachable), now(), source_id),
    )])
