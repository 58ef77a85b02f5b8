"""The ports: what the sidecar needs from a storage and job engine.

The job runner, job kinds, the media cache and the saved sources talk to a
``Backend`` through these; the SQLite engine (``backends/sqlite``) implements them
today, and a Redis engine adds an implementation, not callers.
``tests/unit/test_backend_contract.py`` runs the same contract against every engine.
Everything crossing a port is engine-neutral: plain JSON-ready dicts and tuples,
timestamps as float seconds since the epoch, no connection objects.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
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

    async def ids_starting_with(self, prefix: str, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` jobs whose id starts with ``prefix``, in id order. Letters
        match in any case (a person types what a screen shows); every other character,
        ``%`` and ``_`` too, stands for itself."""
        ...

    async def neighbours(self, job_id: str) -> tuple[str | None, str | None]:
        """The ids just before and just after ``job_id`` in id order (``job_id`` need not
        exist): the only ones that can share a longer prefix with it."""
        ...


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

    async def finished_source_ids(self, source_ids: Sequence[str]) -> set[str]:
        """Which of ``source_ids`` some job, any job, recorded ``imported``."""
        ...


class MediaIndex(Protocol):
    """The media cache's index (files by sha256, the URLs they came from) and which
    cached file is already in which WordPress site's media library."""

    async def cached(self, url: str) -> dict[str, Any] | None:
        """The file downloaded from ``url``: ``{sha256, path, content_type, size}``."""
        ...

    async def cached_file(self, sha256: str) -> dict[str, Any] | None:
        """The file with this hash: ``{sha256, path, content_type, size}``."""
        ...

    async def record_cached(
            self, files: Sequence[tuple[str, str, str, int, str | None]]) -> None:
        """Cached files ``(sha256, path, content_type, size, source url or None)``, all or
        none. A sha256 already known keeps its first row; a URL points at its latest file."""
        ...

    async def uploaded(self, site: str, sha256: str) -> tuple[int, str] | None:
        """``(wp_media_id, url)`` of the file ``sha256`` in the media library of ``site``."""
        ...

    async def record_uploaded(self, site: str, sha256: str, wp_media_id: int,
                              url: str) -> None:
        """The file ``sha256`` is ``wp_media_id`` at ``site`` (replacing what was known)."""
        ...

    async def forget_uploaded(self, site: str, wp_media_ids: Sequence[int]) -> None:
        """These attachments are gone from ``site``: the next upload of their files makes
        new ones (repair)."""
        ...


# A sync claim whose job never appeared (its process died between the claim and the
# job's ``add``) is free again after this long.
STALE_CLAIM_SECONDS = 60.0


class SourceStore(Protocol):
    """Saved sources (issue 14): settings, schedule, the one sync each may run, and the
    last sync's outcome. A source is ``{source_id, spec, mapping, every_minutes, paused,
    next_run_at, last_sync, newest_taken_at, reachable, sync_job_id, sync_claimed_at,
    created_at, updated_at}``; ``spec``/``mapping`` dicts, ``last_sync`` a dict or None.

    The two claims are compare-and-set steps, atomic against every other process that
    shares the engine: of two concurrent calls on the same source exactly one returns
    True. With them exactly one process starts a given sync or fires a given run."""

    async def get(self, source_id: str) -> dict[str, Any] | None: ...

    async def all(self) -> list[dict[str, Any]]:
        """Every source, oldest first (``created_at``, then ``source_id``)."""
        ...

    async def due(self, moment: float) -> list[dict[str, Any]]:
        """Scheduled (``every_minutes`` set), unpaused sources whose ``next_run_at`` is at
        or before ``moment``, earliest first."""
        ...

    async def next_run_at(self) -> float | None:
        """The earliest ``next_run_at`` of the scheduled, unpaused sources."""
        ...

    async def add(self, source_id: str, spec: dict[str, Any], mapping: dict[str, Any],
                  every_minutes: int | None, paused: bool, next_run_at: float | None) -> None:
        """A new source, never synced, reachable false, no sync claimed."""
        ...

    async def update_settings(self, source_id: str, spec: dict[str, Any],
                              mapping: dict[str, Any], every_minutes: int | None,
                              paused: bool, next_run_at: float | None) -> None:
        """Replace a source's settings; its sync claim and last sync stay."""
        ...

    async def delete(self, source_id: str) -> None: ...

    async def claim_sync(self, source_id: str, job_id: str) -> bool:
        """Atomically: make ``job_id`` the source's ``sync_job_id`` (``sync_claimed_at``
        = now) and return True, if and only if the source exists and its current
        ``sync_job_id`` is none, is ``job_id`` itself (a resumed job keeps its claim),
        names a job of this backend's ``JobQueue`` that is neither ``queued`` nor
        ``running``, or names no job at all and was claimed more than
        ``STALE_CLAIM_SECONDS`` ago. Otherwise change nothing and return False."""
        ...

    async def release_sync(self, source_id: str, job_id: str) -> None:
        """Atomically: clear ``sync_job_id`` only if it is still ``job_id``."""
        ...

    async def claim_due_run(self, source_id: str, due_at: float, next_run_at: float) -> bool:
        """Atomically: set ``next_run_at`` to ``next_run_at`` and return True if and only
        if the source exists, is not paused and its ``next_run_at`` is still exactly
        ``due_at``; otherwise change nothing and return False. The caller that gets
        True fires the run."""
        ...

    async def record_sync(self, source_id: str, last_sync: dict[str, Any], *,
                          newest_taken_at: float | None, reachable: bool) -> None:
        """A sync's outcome: ``last_sync`` replaced; ``newest_taken_at`` and
        ``reachable`` only ever grow (the larger of the stored and the given value)."""
        ...


class PostLocks(Protocol):
    """Locks on posts shared by every process of an engine used by several."""

    def hold(self, site: str, source_ids: Sequence[str]) -> AbstractAsyncContextManager[None]:
        """Hold every one of ``source_ids`` of the WordPress ``site`` at once: no other
        holder, in any process, holds any of them until this one lets go."""
        ...


class SharedThumbnails(Protocol):
    """Preview thumbnails every process of an engine used by several can serve: the media
    cache's files stay on the host that cached them, so the small images a preview shows
    are kept here as well, for a while (``media/thumbnails.py`` bounds their size)."""

    async def keep(self, images: Sequence[tuple[str, str, bytes]],
                   ttl_seconds: float) -> None:
        """Images ``(sha256, content_type, bytes)``, all or none, each readable for
        ``ttl_seconds`` from now (one kept again lives on from then), then gone."""
        ...

    async def get(self, sha256: str) -> tuple[str, bytes] | None:
        """``(content_type, bytes)`` of a kept image; None for one never kept or gone."""
        ...


class Backend(Protocol):
    @property
    def jobs(self) -> JobQueue: ...

    @property
    def events(self) -> EventLog: ...

    @property
    def ledger(self) -> Ledger: ...

    @property
    def media(self) -> MediaIndex: ...

    @property
    def sources(self) -> SourceStore: ...

    @property
    def post_locks(self) -> PostLocks | None:
        """``None`` for an engine only one process uses (its in-process locks do)."""
        ...

    @property
    def thumbnails(self) -> SharedThumbnails | None:
        """``None`` for an engine only one process uses (its media cache serves them)."""
        ...

    async def close(self) -> None: ...


# -- the progress event log (sessions, events, snapshots, retention) ---------------------

Position = tuple[int, int]
"""Where an event sits in one log; positions compare in log order. An SSE id is the
log's ``event_id(position)``: an opaque string to every client."""

NO_POSITION: Position = (0, 0)  # before the first event


class NewEvent(Protocol):
    """An event to append (the progress engine's own event objects: no copy is made
    per event on the hot path). ``data`` is the frame's JSON; when the log assigns
    positions (``EventLog.assigns_ids``) a progress event's ``data`` ends without
    ``last_event_id``, which the log adds with the id it assigns, and ``position`` is
    not read; otherwise ``position`` is the caller's."""

    @property
    def session_id(self) -> str: ...

    @property
    def type(self) -> str: ...

    @property
    def data(self) -> str: ...

    @property
    def created(self) -> float: ...

    @property
    def position(self) -> Position: ...


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
        """Retention for sessions finished before ``cutoff``: their fine-grained events
        go where the log keeps every event (SQLite; a Redis stream is bounded by its
        trimming instead), their final snapshot stays; returns how many sessions."""
        ...

    def follow(self, after: Position) -> AsyncIterator[list[LoggedEvent]]:
        """Every event committed after ``after`` by any process, in log order, batch by
        batch, surviving outages of the store (a shared log only)."""
        ...

    async def problem(self) -> str | None:
        """Why the log cannot be used right now (for ``/healthz``); None when it can."""
        ...
