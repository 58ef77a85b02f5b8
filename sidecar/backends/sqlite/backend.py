"""The SQLite engine behind the ports of ``backends/base.py``: one database file, the
statements of ``store.py``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import store as db
from .events import SqliteEventLog


@dataclass(frozen=True)
class SqliteJobQueue:
    store: db.Store

    async def add(self, job_id: str, session_id: str, kind: str, source: dict[str, Any],
                  options: dict[str, Any], state: dict[str, Any]) -> None:
        await db.insert_job(self.store, job_id, session_id, kind, source, options, state)

    async def get(self, job_id: str) -> dict[str, Any] | None:
        return await db.fetch_job(self.store.reader, job_id)

    async def find(self, *, status: str | None = None, statuses: Sequence[str] | None = None,
                   limit: int = 50, before: float | None = None) -> list[dict[str, Any]]:
        return await db.fetch_jobs(self.store.reader, status=status, statuses=statuses,
                                   limit=limit, before=before)

    async def page(self, *, status: str | None, limit: int,
                   after: tuple[float, str] | None) -> list[dict[str, Any]]:
        return await db.fetch_jobs_page(self.store.reader, status=status, limit=limit,
                                        after=after)

    async def start_attempt(self, job_id: str, attempt: int, owner: str) -> None:
        await db.start_attempt(self.store, job_id, attempt, owner)

    async def finish(self, job_id: str, status: str, error: str | None) -> None:
        await db.record_job_end(self.store, job_id, status, error)

    async def heartbeat(self, job_ids: Sequence[str]) -> None:
        if job_ids:
            await db.record_heartbeat(self.store, job_ids)

    async def save_state(self, job_id: str, state: dict[str, Any]) -> None:
        await db.save_job_state(self.store, job_id, state)


@dataclass(frozen=True)
class SqliteLedger:
    store: db.Store

    async def add_pending(self, job_id: str,
                          items: Sequence[tuple[str, str | None, str | None]]) -> None:
        await db.add_pending_items(self.store, job_id, items)

    async def record(self, job_id: str, outcomes: Sequence[tuple[
            str, str, int | None, str | None, Any, str | None, str | None]]) -> None:
        if outcomes:
            await db.record_items(self.store, job_id, outcomes)

    async def page(self, job_id: str, *, limit: int,
                   after: tuple[int, str] | None) -> list[dict[str, Any]]:
        return await db.fetch_items_page(self.store.reader, job_id, limit=limit, after=after)

    async def items_of(self, job_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        return await db.fetch_items_of_jobs(self.store.reader, job_ids)

    async def counts_of(self, job_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        return await db.fetch_item_counts(self.store.reader, job_ids)


@dataclass(frozen=True)
class SqliteBackend:
    """The engine; ``store`` is also what the media cache uses directly."""

    store: db.Store
    jobs: SqliteJobQueue
    ledger: SqliteLedger
    events: SqliteEventLog

    @classmethod
    async def open(cls, path: Path) -> SqliteBackend:
        store = await db.Store.open(path)
        return cls(store, SqliteJobQueue(store), SqliteLedger(store), SqliteEventLog(store))

    async def close(self) -> None:
        await self.store.close()
