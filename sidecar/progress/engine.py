"""Progress sessions: the event log, the coalescing writer and in-process pub/sub.

``update`` is synchronous and cheap: it validates the transition against the
in-memory state, builds the event (its id assigned here, so ids are strictly
increasing), and queues it. One writer task commits whatever piled up while the
previous commit ran, as one transaction; only after the commit are subscribers
woken. An idle system therefore commits each event at once, a busy one batches
by itself, and whatever a client has seen is already on disk. Nothing polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from ..backends.sqlite import store as db
from ..errors import Conflict, NotFound, StorageError, ValidationFailed
from .phases import PhasePlan, PhaseTracker
from .rate import RateMeter, derive_percentage_and_eta

log = logging.getLogger(__name__)

STATUSES = ("starting", "running", "complete", "error", "cancelled")
TERMINAL = frozenset({"complete", "error", "cancelled"})
TERMINAL_EVENT_TYPE = {"complete": "complete", "error": "error", "cancelled": "cancelled"}
# A job lifecycle event: on the all-sessions stream only, never a session's own state.
JOB_EVENT_TYPE = "job"
MAX_BATCH = 5000
# A subscriber this far behind is cut off; its client reconnects and replays from disk.
MAX_SUBSCRIBER_BACKLOG = 10_000
COMPACTION_CHUNK = 20  # sessions per compaction transaction


_last_iso: tuple[int, str] = (-1, "")


def iso(ts: float | None) -> str | None:
    """ISO 8601 UTC with milliseconds; a hot path, so the last answer is reused."""
    global _last_iso
    if ts is None:
        return None
    millis = int(ts * 1000)
    if millis != _last_iso[0]:
        text = datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="milliseconds")
        _last_iso = (millis, text.replace("+00:00", "Z"))
    return _last_iso[1]


@dataclass(eq=False)
class Event:
    id: int
    session_id: str
    type: str
    data: str  # the frame's JSON: {"type", ...the session's snapshot at this event}
    terminal: bool
    created: float
    _frame: bytes | None = None

    @property
    def frame(self) -> bytes:
        """The SSE frame, built once and shared by every subscriber."""
        if self._frame is None:
            self._frame = f"id: {self.id}\ndata: {self.data}\n\n".encode()
        return self._frame


@dataclass(eq=False)
class Subscription:
    """A stream's mailbox: the engine appends committed events, the stream drains them."""

    sessions: frozenset[str] | None  # None: every session (within ``allowed``)
    allowed: frozenset[str] | None = None  # None: no restriction from the credential
    pending: deque[Event] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed: bool = False
    closed: bool = False

    def wants(self, event: Event) -> bool:
        if self.sessions is not None:
            return event.session_id in self.sessions and event.type != JOB_EVENT_TYPE
        return self.allowed is None or event.session_id in self.allowed

    def push(self, event: Event) -> None:
        if len(self.pending) >= MAX_SUBSCRIBER_BACKLOG:
            self.overflowed = True
        else:
            self.pending.append(event)
        self.wake.set()

    def close(self) -> None:
        self.closed = True
        self.wake.set()


@dataclass
class _LiveSession:
    snapshot: dict[str, Any]
    committed: dict[str, Any]
    meter: RateMeter = field(default_factory=RateMeter)
    started_at: float = 0.0
    # A session whose phases were planned (a job's): one overall bar over them.
    phases: PhaseTracker | None = None


class ProgressEngine:
    def __init__(self, store: db.Store, *, clock: Callable[[], float] = time.time):
        self.store = store
        self.clock = clock
        self._live: dict[str, _LiveSession] = {}
        # Finished in memory but the terminal event not yet committed: streams still
        # read their committed snapshot from here.
        self._finishing: dict[str, _LiveSession] = {}
        self._queue: list[Event] = []
        self._queued = asyncio.Event()
        self._next_id = 1
        self.committed_id = 0
        # The newest event id that is committed or was lost with a failed commit: a
        # flush() never waits for an event that no commit will ever carry.
        self._settled_id = 0
        self._flush_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._by_session: dict[str, set[Subscription]] = {}
        self._everything: set[Subscription] = set()
        self._writer: asyncio.Task[None] | None = None
        self.compactions_done = 0  # retention passes finished since start-up
        self.closing = False

    # -- life cycle -----------------------------------------------------------

    async def start(self) -> None:
        self.committed_id = await db.max_event_id(self.store.writer)
        self._next_id = self.committed_id + 1
        self._settled_id = self.committed_id
        for session_id in await db.fetch_active_session_ids(self.store.reader):
            await self.load(session_id)
        self._writer = asyncio.create_task(self._write_loop(), name="progress-writer")

    async def close(self) -> None:
        """Commit what is queued, end every stream, stop the writer."""
        self.closing = True
        with contextlib.suppress(StorageError):
            await self.flush()
        for sub in self.all_subscriptions():
            sub.close()
        if self._writer:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    async def load(self, session_id: str) -> bool:
        """Bring a non-terminal session from disk into memory (after a restart)."""
        if session_id in self._live:
            return True
        snapshot = await db.fetch_session(self.store.reader, session_id)
        if snapshot is None:
            return False
        if snapshot["status"] not in TERMINAL and session_id not in self._live:
            self._live[session_id] = _LiveSession(
                snapshot=dict(snapshot), committed=snapshot, started_at=self.clock(),
                phases=PhaseTracker.from_snapshot(snapshot),
            )
        return True

    # -- writing ----------------------------------------------------------------

    async def create_session(
        self, operation: str, total_steps: int = 0, *, session_id: str | None = None,
        message: str = "Starting…",
    ) -> dict[str, Any]:
        session_id = session_id or uuid.uuid4().hex
        known = session_id in self._live or session_id in self._finishing
        if known or await db.fetch_session(self.store.reader, session_id):
            raise Conflict(f"session {session_id} already exists")
        now = self.clock()
        snapshot: dict[str, Any] = {
            "session_id": session_id,
            "operation": operation,
            "status": "starting",
            "step": 0,
            "total_steps": total_steps,
            "percentage": 0.0,
            "message": message,
            "details": {},
            "phase": None,
            "done": 0,
            "total": total_steps,
            "eta_seconds": None,
            "rate": None,
            "rate_unit": None,
            "phases": [],
            "created_at": iso(now),
            "updated_at": iso(now),
            "finished_at": None,
            "last_event_id": 0,
        }
        self._live[session_id] = _LiveSession(
            snapshot=snapshot, committed=dict(snapshot), started_at=now
        )
        self._live[session_id].meter.observe(0, now)
        event = self._enqueue(session_id, "progress", snapshot, created=now)
        await self.flush()
        return self._public(event, snapshot)

    def update(
        self,
        session_id: str,
        *,
        step: int | None = None,
        total: int | None = None,
        message: str | None = None,
        details: dict[str, Any] | None = None,
        phase: str | None = None,
    ) -> dict[str, Any]:
        """Append a progress event. Microseconds: the commit happens in the writer."""
        live = self._require_live(session_id)
        snap = live.snapshot
        now = self.clock()
        # Everything is checked before anything changes: a refused update leaves no trace.
        new_total = snap["total"] if total is None else total
        if total is not None and total < 0:
            raise ValidationFailed("total must not be negative")
        if step is not None:
            if step < 0:
                raise ValidationFailed("step must not be negative")
            if new_total and step > new_total:
                raise ValidationFailed(f"step {step} is beyond total_steps {new_total}")
        if total is not None:
            snap["total"] = snap["total_steps"] = total
        if step is not None:
            snap["step"] = snap["done"] = step
        if message is not None:
            snap["message"] = message
        if details is not None:
            snap["details"] = details
        if phase is not None:
            snap["phase"] = phase
        snap["status"] = "running"
        if live.phases is not None:
            live.phases.observe(snap["phase"], snap["done"], snap["total"], now)
            self._derive_over_phases(snap, live.phases)
        else:
            rate = live.meter.observe(snap["done"], now)
            snap["rate"] = round(rate, 3) if rate is not None else None
            derive_percentage_and_eta(snap)
        snap["updated_at"] = iso(now)
        event = self._enqueue(session_id, "progress", snap, created=now)
        return self._public(event, snap)

    def finish(self, session_id: str, status: str, message: str = "") -> dict[str, Any]:
        """Append the terminal event (``complete``, ``error`` or ``cancelled``)."""
        if status not in TERMINAL:
            raise ValidationFailed(f"{status!r} is not a terminal status")
        live = self._require_live(session_id)
        snap = live.snapshot
        now = self.clock()
        snap["status"] = status
        if message:
            snap["message"] = message
        if status == "complete" and snap["total"]:
            snap["done"] = snap["step"] = max(snap["done"], snap["total"])
        snap["eta_seconds"] = 0 if status == "complete" else None
        if live.phases is not None:
            live.phases.finish(now)
            snap["phases"] = live.phases.to_json()
            snap["rate"] = snap["rate_unit"] = None
        else:
            derive_percentage_and_eta(snap)
        if status == "complete":
            snap["percentage"] = 100.0
        snap["updated_at"] = snap["finished_at"] = iso(now)
        event = self._enqueue(session_id, TERMINAL_EVENT_TYPE[status], snap, created=now)
        # Any further update is a 409, decided in memory.
        self._finishing[session_id] = self._live.pop(session_id)
        return self._public(event, snap)

    def plan(self, session_id: str, phases: list[PhasePlan]) -> None:
        """Declare a session's phases: from now on its ``percentage`` is one bar over all
        of them (see phases.py), its rate and ETA the current phase's own."""
        live = self._require_live(session_id)
        if live.phases is None:
            live.phases = PhaseTracker(shown_percent=float(live.snapshot["percentage"]))
        live.phases.plan(phases)
        live.snapshot["phases"] = live.phases.to_json()

    @staticmethod
    def _derive_over_phases(snap: dict[str, Any], phases: PhaseTracker) -> None:
        snap["percentage"] = phases.percentage()
        snap["eta_seconds"] = phases.eta_seconds()
        snap["rate"] = phases.rate()
        snap["rate_unit"] = phases.rate_unit() if snap["rate"] is not None else None
        snap["phases"] = phases.to_json()

    def _require_live(self, session_id: str) -> _LiveSession:
        # A failed commit does not block later updates: the next batch is tried, and
        # flush() reports a fresh error while the problem lasts.
        live = self._live.get(session_id)
        if live is None:
            raise NotFound(f"no running session {session_id}")
        return live

    def _enqueue(
        self, session_id: str, type_: str, snap: dict[str, Any], *, created: float
    ) -> Event:
        event_id = self._next_id
        self._next_id += 1
        snap["last_event_id"] = event_id
        # Serialized once, here: the same text is stored, replayed and streamed, and it
        # is the snapshot as of this event (the writer derives the sessions row from it).
        event = Event(
            id=event_id,
            session_id=session_id,
            type=type_,
            data=orjson.dumps({"type": type_, **snap}).decode(),
            terminal=type_ in TERMINAL,
            created=created,
        )
        self._queue.append(event)
        self._queued.set()
        return event

    def publish_job(self, session_id: str, job: dict[str, Any]) -> None:
        """A job lifecycle event ``{"type": "job", "job": {...}}`` for the all-sessions
        stream; stored like every event, so it replays after a Last-Event-ID."""
        event_id = self._next_id
        self._next_id += 1
        self._queue.append(Event(
            id=event_id, session_id=session_id, type=JOB_EVENT_TYPE,
            data=orjson.dumps({"type": JOB_EVENT_TYPE, "job": job}).decode(),
            terminal=False, created=self.clock(),
        ))
        self._queued.set()

    @staticmethod
    def _public(event: Event, snap: dict[str, Any]) -> dict[str, Any]:
        return {**snap, "last_event_id": event.id}

    async def flush(self) -> None:
        """Wait until everything queued so far is committed (raises StorageError)."""
        target = self._next_id - 1
        if target <= self._settled_id:
            return
        if self._writer is None or self._writer.done():
            raise StorageError("the progress writer is not running")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._flush_waiters.append((target, future))
        await future

    async def _write_loop(self) -> None:
        while True:
            await self._queued.wait()
            self._queued.clear()
            while self._queue:
                batch = self._queue[:MAX_BATCH]
                del self._queue[:MAX_BATCH]
                try:
                    snapshots = await self._commit(batch)
                except StorageError as exc:
                    log.error("progress batch of %d events lost: %s", len(batch), exc)
                    self._reopen_unfinished(batch)
                    self._settled_id = batch[-1].id
                    self._fail_waiters(batch[-1].id, exc)
                    continue
                self._publish(batch, snapshots)

    async def _commit(self, batch: list[Event]) -> dict[str, dict[str, Any]]:
        """One transaction for the batch; returns each session's newest snapshot."""
        latest: dict[str, Event] = {}
        for event in batch:
            if event.type != JOB_EVENT_TYPE:  # a job event is not the session's state
                latest[event.session_id] = event
        event_rows = [(e.id, e.session_id, e.type, e.data, e.created) for e in batch]
        snapshots: dict[str, dict[str, Any]] = {}
        session_rows = []
        for session_id, event in latest.items():
            snap = orjson.loads(event.data)
            del snap["type"]
            snapshots[session_id] = snap
            session_rows.append((
                session_id,
                snap["operation"],
                snap["status"],
                orjson.dumps(snap).decode(),
                _epoch(snap["created_at"]),
                event.created,
                event.created if snap["status"] in TERMINAL else None,
                event.id,
            ))
        await db.append_events(self.store, event_rows, session_rows)
        return snapshots

    def _publish(self, batch: list[Event], snapshots: dict[str, dict[str, Any]]) -> None:
        for session_id, snap in snapshots.items():
            live = self._live.get(session_id)
            if live is not None:
                live.committed = snap
        for event in batch:
            if event.terminal:
                self._finishing.pop(event.session_id, None)
            if event.type != JOB_EVENT_TYPE:
                for sub in self._by_session.get(event.session_id, ()):
                    sub.push(event)
            for sub in self._everything:
                if sub.wants(event):
                    sub.push(event)
        self.committed_id = self._settled_id = batch[-1].id
        still_waiting = []
        for target, future in self._flush_waiters:
            if target <= self.committed_id:
                if not future.done():
                    future.set_result(None)
            else:
                still_waiting.append((target, future))
        self._flush_waiters = still_waiting

    def _reopen_unfinished(self, lost: list[Event]) -> None:
        """A session whose terminal event was lost is live again, as it is on disk: it
        can be finished again, and its streams wait for that instead of for nothing."""
        for event in lost:
            live = self._finishing.pop(event.session_id, None) if event.terminal else None
            if live is not None:
                live.snapshot = dict(live.committed)
                self._live[event.session_id] = live

    def _fail_waiters(self, upto: int, exc: StorageError) -> None:
        still_waiting = []
        for target, future in self._flush_waiters:
            if target <= upto or not self._queue:
                if not future.done():
                    future.set_exception(exc)
            else:
                still_waiting.append((target, future))
        self._flush_waiters = still_waiting

    # -- reading ----------------------------------------------------------------

    def committed_snapshot(self, session_id: str) -> dict[str, Any] | None:
        live = self._live.get(session_id) or self._finishing.get(session_id)
        return dict(live.committed) if live else None

    def live_session_ids(self) -> list[str]:
        return list(self._live)

    async def get_snapshot(self, session_id: str) -> dict[str, Any]:
        snap = self.committed_snapshot(session_id)
        if snap is None:
            snap = await db.fetch_session(self.store.reader, session_id)
        if snap is None:
            raise NotFound(f"no progress session {session_id}")
        return snap

    async def get_snapshots(self, session_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The snapshots of those of ``session_ids`` that exist, with one read of the disk."""
        found = {s: snap for s in session_ids if (snap := self.committed_snapshot(s))}
        found.update(await db.fetch_sessions_by_id(
            self.store.reader, [s for s in session_ids if s not in found]))
        return found

    def is_live(self, session_id: str) -> bool:
        return session_id in self._live

    def subscribe(
        self, sessions: frozenset[str] | None, allowed: frozenset[str] | None = None
    ) -> Subscription:
        sub = Subscription(sessions=sessions, allowed=allowed)
        if sessions is None:
            self._everything.add(sub)
        else:
            for session_id in sessions:
                self._by_session.setdefault(session_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._everything.discard(sub)
        for session_id in sub.sessions or ():
            subs = self._by_session.get(session_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._by_session[session_id]

    def all_subscriptions(self) -> list[Subscription]:
        unique = {id(s): s for subs in self._by_session.values() for s in subs}
        unique.update({id(s): s for s in self._everything})
        return list(unique.values())

    @property
    def subscriber_count(self) -> int:
        return len(self._everything) + len(
            {id(s) for subs in self._by_session.values() for s in subs}
        )

    async def compact(self, older_than_days: float) -> int:
        """Compact finished sessions older than the retention period; returns how many.

        A few sessions per transaction, so progress writes go on in between; then the
        freed pages go back to the file system and the WAL is truncated again.
        """
        cutoff = self.clock() - older_than_days * 86400
        session_ids = await db.sessions_to_compact(self.store.reader, cutoff)
        for start in range(0, len(session_ids), COMPACTION_CHUNK):
            await db.compact_sessions(self.store, session_ids[start:start + COMPACTION_CHUNK])
        if session_ids:
            await db.reclaim_space(self.store)
        self.compactions_done += 1
        return len(session_ids)


def _epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
