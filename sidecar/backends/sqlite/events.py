"""The event log on SQLite: one process owns the file, so it numbers events itself
(integer ids, sent as their decimal text) and hears its own commits directly."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ...errors import BadRequest
from ..base import LoggedEvent, NewEvent, Position, SessionState
from . import store as db


@dataclass(frozen=True)
class SqliteEventLog:
    store: db.Store

    assigns_ids = False
    shared = False

    def event_id(self, position: Position) -> str:
        return str(position[0])

    def parse_id(self, text: str) -> Position | None:
        try:
            value = int(text)
        except ValueError:
            raise BadRequest(
                f"Last-Event-ID must be a whole number, got {text[:40]!r}") from None
        if value < 0:
            raise BadRequest("Last-Event-ID must not be negative")
        return (value, 0)

    async def newest(self) -> Position:
        return (await db.max_event_id(self.store.writer), 0)

    async def gap_after(self, position: Position) -> str | None:
        # Compaction keeps each session's terminal event, so nothing a client needs
        # is ever missing below the newest id; only an id beyond it is unknown.
        if position > await self.newest():
            return "the Last-Event-ID is beyond this sidecar's event log"
        return None

    async def append(self, events: Sequence[NewEvent], sessions: Sequence[SessionState],
                     expected: Mapping[str, Position | None]) -> list[Position]:
        # One process writes this file (the data dir's lock): ``expected`` always holds.
        await db.append_events(
            self.store,
            [(e.position[0], e.session_id, e.type, e.data, e.created) for e in events],
            [(s.session_id, s.operation, s.status, orjson.dumps(s.snapshot).decode(),
              s.created_at, s.updated_at, s.finished_at, events[s.event_index].position[0])
             for s in sessions],
        )
        return [e.position for e in events]

    async def events_after(self, after: Position, *, sessions: Sequence[str] | None,
                           with_job_events: bool, limit: int) -> list[LoggedEvent]:
        rows = await db.fetch_events_after(self.store.reader, after[0], sessions, limit,
                                           with_job_events=with_job_events)
        return [LoggedEvent((event_id, 0), str(event_id), session_id, type_, data)
                for event_id, session_id, type_, data in rows]

    async def session(self, session_id: str) -> dict[str, Any] | None:
        return await db.fetch_session(self.store.reader, session_id)

    async def sessions_by_id(self, session_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return await db.fetch_sessions_by_id(self.store.reader, session_ids)

    async def list_sessions(self, *, status: str | None, limit: int, before: float | None,
                            only: frozenset[str] | None) -> list[dict[str, Any]]:
        return await db.fetch_sessions(self.store.reader, status=status, limit=limit,
                                       before=before, only=only)

    async def active_session_ids(self) -> list[str]:
        return await db.fetch_active_session_ids(self.store.reader)

    async def compact(self, cutoff: float) -> int:
        """A few sessions per transaction, so progress writes go on in between; then the
        freed pages go back to the file system and the WAL is truncated again."""
        session_ids = await db.sessions_to_compact(self.store.reader, cutoff)
        for start in range(0, len(session_ids), COMPACTION_CHUNK):
            await db.compact_sessions(self.store, session_ids[start:start + COMPACTION_CHUNK])
        if session_ids:
            await db.reclaim_space(self.store)
        return len(session_ids)

    async def follow(self, after: Position) -> AsyncIterator[list[LoggedEvent]]:
        raise NotImplementedError("the SQLite log is not shared: its engine hears its own "
                                  "commits")
        yield []  # pragma: no cover  (makes this an async generator)

    async def problem(self) -> str | None:
        return None


COMPACTION_CHUNK = 20  # sessions per compaction transaction
