"""The SQLite engine behind the ports of ``backends/base.py``: one database file, the
statements of ``store.py``."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import sources as saved
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

    async def ids_starting_with(self, prefix: str, limit: int) -> list[dict[str, Any]]:
        return await db.fetch_jobs_starting_with(self.store.reader, prefix, limit)

    async def neighbours(self, job_id: str) -> tuple[str | None, str | None]:
        return await db.fetch_job_id_neighbours(self.store.reader, job_id)


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

    async def finished_source_ids(self, source_ids: Sequence[str]) -> set[str]:
        return await db.fetch_finished_source_ids(self.store.reader, source_ids)


@dataclass(frozen=True)
class SqliteMediaIndex:
    store: db.Store

    async def cached(self, url: str) -> dict[str, Any] | None:
        return await db.fetch_media_by_url(self.store.reader, url)

    async def cached_file(self, sha256: str) -> dict[str, Any] | None:
        return await db.fetch_media_by_sha256(self.store.reader, sha256)

    async def record_cached(
            self, files: Sequence[tuple[str, str, str, int, str | None]]) -> None:
        if files:
            await db.record_media(self.store, files)

    async def uploaded(self, site: str, sha256: str) -> tuple[int, str] | None:
        return await db.fetch_wp_media(self.store.reader, site, sha256)

    async def record_uploaded(self, site: str, sha256: str, wp_media_id: int,
                              url: str) -> None:
        await db.record_wp_media(self.store, site, sha256, wp_media_id, url)

    async def forget_uploaded(self, site: str, wp_media_ids: Sequence[int]) -> None:
        await db.forget_wp_media(self.store, site, wp_media_ids)


@dataclass(frozen=True)
class SqliteSourceStore:
    store: db.Store
    # What sync claims are stamped and aged by (a test moves it past the stale limit).
    clock: Callable[[], float] = time.time

    async def get(self, source_id: str) -> dict[str, Any] | None:
        return await saved.fetch_source(self.store.reader, source_id)

    async def all(self) -> list[dict[str, Any]]:
        return await saved.fetch_sources(self.store.reader)

    async def due(self, moment: float) -> list[dict[str, Any]]:
        return await saved.fetch_due_sources(self.store.reader, moment)

    async def next_run_at(self) -> float | None:
        return await saved.fetch_next_run_at(self.store.reader)

    async def add(self, source_id: str, spec: dict[str, Any], mapping: dict[str, Any],
                  every_minutes: int | None, paused: bool, next_run_at: float | None) -> None:
        await saved.insert_source(self.store, source_id, spec, mapping, every_minutes, paused,
                                  next_run_at)

    async def update_settings(self, source_id: str, spec: dict[str, Any],
                              mapping: dict[str, Any], every_minutes: int | None,
                              paused: bool, next_run_at: float | None) -> None:
        await saved.update_settings(self.store, source_id, spec, mapping, every_minutes,
                                    paused, next_run_at)

    async def delete(self, source_id: str) -> None:
        await saved.delete_source(self.store, source_id)

    async def claim_sync(self, source_id: str, job_id: str) -> bool:
        return await saved.claim_sync(self.store, source_id, job_id, self.clock())

    async def release_sync(self, source_id: str, job_id: str) -> None:
        await saved.release_sync(self.store, source_id, job_id)

    async def claim_due_run(self, source_id: str, due_at: float, next_run_at: float) -> bool:
        return await saved.claim_due_run(self.store, source_id, due_at, next_run_at)

    async def record_sync(self, source_id: str, last_sync: dict[str, Any], *,
                          newest_taken_at: float | None, reachable: bool) -> None:
        await saved.record_sync(self.store, source_id, last_sync,
                                newest_taken_at=newest_taken_at, reachable=reachable)


@dataclass(frozen=True)
class SqliteBackend:
    """The engine; ``store`` is what its parts share."""

    store: db.Store
    jobs: SqliteJobQueue
    ledger: SqliteLedger
    media: SqliteMediaIndex
    sources: SqliteSourceStore
    events: SqliteEventLog
    # One process per data dir: the import's in-process locks are all it needs.
    post_locks: None = None
    # Its media cache serves every thumbnail it cached: nothing to share.
    thumbnails: None = None

    @classmethod
    async def open(cls, path: Path) -> SqliteBackend:
        store = await db.Store.open(path)
        return cls(store, SqliteJobQueue(store), SqliteLedger(store), SqliteMediaIndex(store),
                   SqliteSourceStore(store), SqliteEventLog(store))

    async def close(self) -> None:
        await self.store.close()
