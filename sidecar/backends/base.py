"""The ports: what the sidecar needs from a storage and job engine.

The job runner and job kinds talk to a ``Backend`` through these; the SQLite engine
(``backends/sqlite``) implements them today, and a Redis engine adds an
implementation, not callers. ``tests/unit/test_backend_contract.py`` runs the same
contract against every engine. Jobs and items are plain JSON-ready dicts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class JobQueue(Protocol):
    """Jobs: their request, status, attempts, saved state, owner and heartbeat."""

    async def add(self, job_id: str, session_id: str, kind: str, source: dict[str, Any],
                  options: dict[str, Any], state: dict[str, Any]) -> None:
        """A new job, ``queued``."""
        ...

    async def get(self, job_id: str) -> dict[str, Any] | None: ...

    async def find(self, *, status: str | None = None, statuses: Sequence[str] | None = None,
                   limit: int = 50, before: float | None = None) -> list[dict[str, Any]]:
        """Newest first."""
        ...

    async def page(self, *, status: str | None, limit: int,
                   after: tuple[float, str] | None) -> list[dict[str, Any]]:
        """Up to ``limit`` jobs, newest first, after the ``(created_at, job_id)`` of
        ``after``: the keyset the opaque cursors of ``GET /api/jobs`` carry."""
        ...

    async def start_attempt(self, job_id: str, attempt: int, owner: str) -> None:
        """The job is ``running`` its ``attempt``-th attempt in the process ``owner``."""
        ...

    async def finish(self, job_id: str, status: str, error: str | None) -> None: ...

    async def heartbeat(self, job_ids: Sequence[str]) -> None:
        """The running ones of ``job_ids`` are alive."""
        ...

    async def save_state(self, job_id: str, state: dict[str, Any]) -> None: ...


class Ledger(Protocol):
    """Each job's items: one row per source item with its state and outcome."""

    async def add_pending(self, job_id: str,
                          items: Sequence[tuple[str, str | None, str | None]]) -> None:
        """Register items ``(source_id, caption_excerpt, taken_at)`` as ``pending`` in this
        order; existing items stay as they are."""
        ...

    async def record(self, job_id: str, outcomes: Sequence[tuple[
            str, str, int | None, str | None, Any, str | None, str | None]]) -> None:
        """``(source_id, state, wp_post_id, reason, detail, post_url, thumbnail_url)``
        each, all or none; a link already known stays when an outcome carries none."""
        ...

    async def page(self, job_id: str, *, limit: int,
                   after: tuple[int, str] | None) -> list[dict[str, Any]]:
        """Up to ``limit`` of a job's items in ledger order, after ``(position,
        source_id)``; each with its ``position``."""
        ...

    async def items_of(self, job_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Each job's items in ledger order."""
        ...

    async def counts_of(self, job_ids: Sequence[str]) -> dict[str, dict[str, int]]: ...


class Backend(Protocol):
    @property
    def jobs(self) -> JobQueue: ...

    @property
    def events(self) -> EventLog: ...

    @property
    def ledger(self) -> Ledger: ...

    async def close(self) -> None: ...


# -- the progress event log (sessions, events, snapshots, retention) ---------------------

Position = tuple[int, int]
"""Where an event sits in one log; positions compare in log order. An SSE id is the
log's ``event_id(position)``: an opaque string to every client."""

NO_POSITION: Position = (0, 0)  # before the first event


@dataclass(frozen=True)
class NewEvent:
    """An event to append. ``data`` is the frame's JSON; when the log assigns positions
    (``EventLog.assigns_ids``) a progress event's ``data`` ends without
    ``last_event_id``, which the log adds with the id it assigns."""

    session_id: str
    type: str
    data: str
    created: float
    position: Position | None = None  # the caller's, when the log does not assign them


@dataclass(frozen=True)
class SessionState:
    """The snapshot a batch leaves a session in: the batch's ``event_index``-th event's
    (``snapshot`` is that event's data without ``type``)."""

    session_id: str
    operation: str
    status: str
    snapshot: dict[str, Any]
    created_at: float
    updated_at: float
    finished_at: float | None
    event_index: int


@dataclass(frozen=True)
class LoggedEvent:
    position: Position
    id: str
    session_id: str
    type: str
    data: str


class StaleSessions(Exception):
    """An append was refused, nothing written: these sessions' last events are not the
    ones the caller expected (another process wrote to them meanwhile)."""

    def __init__(self, session_ids: Sequence[str]) -> None:
        super().__init__(f"stale sessions: {', '.join(session_ids)}")
        self.session_ids = list(session_ids)


class EventLog(Protocol):
    """Progress sessions and their append-only event log.

    One log per deployment: an SSE id names a position of the whole log, so a
    Last-Event-ID on the all-sessions stream resumes everything. Job lifecycle events
    (type ``job``) are stored beside the progress events; they never change a session.
    """

    @property
    def assigns_ids(self) -> bool:
        """True: ``append`` assigns the positions (Redis, at commit); False: the caller
        numbers events itself, on from ``newest()`` (SQLite, one process)."""
        ...

    @property
    def shared(self) -> bool:
        """True when other processes append too: ``follow`` then hears every commit."""
        ...

    def event_id(self, position: Position) -> str: ...

    def parse_id(self, text: str) -> Position | None:
        """A client's Last-Event-ID; None for an id of another epoch of this log (a
        Redis that was flushed or replaced). Raises ``BadRequest`` for a malformed one."""
        ...

    async def newest(self) -> Position: ...

    async def gap_after(self, position: Position) -> str | None:
        """Why a replay after ``position`` would not be whole (trimmed history, an id
        beyond the log), for the client's ``reset``; None when it would be."""
        ...

    async def append(self, events: Sequence[NewEvent], sessions: Sequence[SessionState],
                     expected: Mapping[str, Position | None]) -> list[Position]:
        """One atomic step: the events and the snapshots they leave. ``expected`` holds
        each session's last position as the caller knows it (None: a new session);
        a shared log refuses the whole batch with ``StaleSessions`` when one differs.
        Raises ``StorageError`` when the store cannot be written."""
        ...

    async def events_after(self, after: Position, *, sessions: Sequence[str] | None,
                           with_job_events: bool, limit: int) -> list[LoggedEvent]:
        """Up to ``limit`` events after ``after``, oldest first; ``sessions`` None: all."""
        ...

    async def session(self, session_id: str) -> dict[str, Any] | None: ...

    async def sessions_by_id(self, session_ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    async def list_sessions(self, *, status: str | None, limit: int, before: float | None,
                            only: frozenset[str] | None) -> list[dict[str, Any]]:
        """Newest first (``GET /api/progress/sessions``)."""
        ...

    async def active_session_ids(self) -> list[str]:
        """Sessions ``starting`` or ``running``, oldest first."""
        ...

    async def compact(self, cutoff: float) -> int:
        """Drop the fine-grained events of sessions finished before ``cutoff`` (their
        final snapshot and terminal event stay); returns how many sessions."""
        ...

    def follow(self, after: Position) -> AsyncIterator[list[LoggedEvent]]:
        """Every event committed after ``after`` by any process, in log order, batch by
        batch, surviving outages of the store (a shared log only)."""
        ...

    async def problem(self) -> str | None:
        """Why the log cannot be used right now (for ``/healthz``); None when it can."""
        ...
