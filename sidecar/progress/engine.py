"""Progress sessions over an ``EventLog``: the coalescing writer and in-process pub/sub.

``update`` is synchronous and cheap: it validates the transition against the
in-memory state, builds the event and queues it. One writer task appends whatever
piled up while the previous append ran, as one atomic step of the log; only after
that are subscribers woken. An idle system therefore commits each event at once, a
busy one batches by itself, and whatever a client has seen is already stored.

Two kinds of log (``backends/base.py``): one this process alone writes (SQLite),
whose ids the engine numbers before the commit and whose commits it delivers to its
streams itself; and a shared one (Redis), which assigns ids when it appends, refuses
a batch when another process wrote to one of its sessions meanwhile (the engine then
reloads those sessions and applies the same updates again), and whose every commit,
this process's included, reaches the streams through one ``follow`` loop.
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

from ..backends.base import (
    NO_POSITION,
    EventLog,
    LoggedEvent,
    Position,
    SessionState,
    StaleSessions,
)
from ..errors import Conflict, IgbridgeError, NotFound, StorageError, ValidationFailed
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
# A batch refused this many times in a row (other processes writing the same sessions
# each time) is given up with a StorageError.
MAX_STALE_RETRIES = 5
# A shared log's follow loop that failed starts again after this long.
FOLLOW_RESTART_SECONDS = 0.5


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


# An update's (step, total, message, details, phase).
UpdateArgs = tuple[int | None, int | None, str | None, dict[str, Any] | None, str | None]


@dataclass(frozen=True)
class Change:
    """What an update asked for, kept to apply it again on a fresher snapshot when a
    shared log refuses the batch (another process wrote to the session meanwhile)."""

    kind: str  # "create", "update" (args: UpdateArgs) or "finish" (status, message)
    args: tuple[Any, ...] = ()


@dataclass(eq=False, slots=True)
class Event:
    session_id: str
    type: str
    data: str  # the frame's JSON: {"type", ...the session's snapshot at this event}
    terminal: bool
    created: float
    seq: int = 0  # this process's enqueue order: what flush() waits for
    id: str = ""  # the SSE id, once known (before the commit on SQLite, at it on Redis)
    position: Position = NO_POSITION
    change: Change | None = None
    # The committed snapshot, for a caller that waits on this one event (a route).
    answer: asyncio.Future[dict[str, Any]] | None = None
    _frame: bytes | None = None

    @property
    def frame(self) -> bytes:
        """The SSE frame, built once and shared by every subscriber."""
        if self._frame is None:
            self._frame = f"id: {self.id}\ndata: {self.data}\n\n".encode()
        return self._frame

    @classmethod
    def logged(cls, event: LoggedEvent) -> Event:
        return cls(event.session_id, event.type, event.data, event.type in TERMINAL, 0.0,
                   id=event.id, position=event.position)


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
    # The position of the newest committed event of this session (None: not stored yet).
    committed_position: Position | None = None
    meter: RateMeter = field(default_factory=RateMeter)
    started_at: float = 0.0
    # A session whose phases were planned (a job's): one overall bar over them.
    phases: PhaseTracker | None = None


class ProgressEngine:
    def __init__(self, log: EventLog, *, clock: Callable[[], float] = time.time):
        self.log = log
        self.clock = clock
        # A shared log assigns ids itself and tells this process of every commit.
        self.shared = log.shared
        self._numbering = not log.assigns_ids
        self._live: dict[str, _LiveSession] = {}
        # Finished in memory but the terminal event not yet committed: streams still
        # read their committed snapshot from here.
        self._finishing: dict[str, _LiveSession] = {}
        self._queue: list[Event] = []
        self._queued = asyncio.Event()
        self._next_id = 1  # the next id, where this engine numbers events itself
        # The newest position delivered to this process's subscribers: a stream's mark.
        self.committed: Position = NO_POSITION
        self._seq = 0  # events queued so far
        # The newest queued event that is committed or was lost with a failed commit:
        # a flush() never waits for an event that no commit will ever carry.
        self._settled_seq = 0
        self._flush_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._by_session: dict[str, set[Subscription]] = {}
        self._everything: set[Subscription] = set()
        self._writer: asyncio.Task[None] | None = None
        self._follower: asyncio.Task[None] | None = None
        self._follow_failure: str | None = None  # why the follow loop last failed
        self.compactions_done = 0  # retention passes finished since start-up
        self.closing = False

    # -- life cycle -----------------------------------------------------------

    async def start(self) -> None:
        self.committed = await self.log.newest()
        self._next_id = self.committed[0] + 1
        if self.shared:
            # Sessions are loaded when this process is asked about them: the active
            # ones may belong to any process.
            self._follower = asyncio.create_task(self._follow_loop(), name="progress-follow")
        else:
            for session_id in await self.log.active_session_ids():
                await self.load(session_id)
        self._writer = asyncio.create_task(self._write_loop(), name="progress-writer")

    async def close(self) -> None:
        """Commit what is queued, end every stream, stop the writer."""
        self.closing = True
        with contextlib.suppress(StorageError):
            await self.flush()
        for sub in self.all_subscriptions():
            sub.close()
        for task in (self._writer, self._follower):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def load(self, session_id: str) -> bool:
        """Bring a non-terminal session from the log into memory (after a restart, or
        one another process started); False when there is no such session."""
        if session_id in self._live:
            return True
        snapshot = await self.log.session(session_id)
        if snapshot is None:
            return False
        if snapshot["status"] not in TERMINAL and session_id not in self._live:
            self._live[session_id] = self._live_from(snapshot)
        return True

    def _live_from(self, snapshot: dict[str, Any]) -> _LiveSession:
        return _LiveSession(
            snapshot=dict(snapshot), committed=snapshot,
            committed_position=self.log.parse_id(str(snapshot["last_event_id"])),
            started_at=self.clock(), phases=PhaseTracker.from_snapshot(snapshot),
        )

    # -- writing ----------------------------------------------------------------

    async def create_session(
        self, operation: str, total_steps: int = 0, *, session_id: str | None = None,
        message: str = "Starting…",
    ) -> dict[str, Any]:
        session_id = session_id or uuid.uuid4().hex
        known = session_id in self._live or session_id in self._finishing
        if known or await self.log.session(session_id):
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
        self._enqueue(session_id, "progress", snapshot, now, Change("create"))
        return await self._answer_of_last_event()

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
        now = self.clock()
        self._apply_update(live, now, step, total, message, details, phase)
        self._enqueue(session_id, "progress", live.snapshot, now,
                      Change("update", (step, total, message, details, phase))
                      if self.shared else None)
        return dict(live.snapshot)

    async def record_update(
        self, session_id: str, *, step: int | None = None, total: int | None = None,
        message: str | None = None, details: dict[str, Any] | None = None,
        phase: str | None = None,
    ) -> dict[str, Any]:
        """``update`` and wait for its commit: the committed snapshot, with its id."""
        return await self.enqueue_update(session_id, step=step, total=total, message=message,
                                         details=details, phase=phase)

    def enqueue_update(
        self, session_id: str, *, step: int | None = None, total: int | None = None,
        message: str | None = None, details: dict[str, Any] | None = None,
        phase: str | None = None,
    ) -> asyncio.Future[dict[str, Any]]:
        """``update`` whose committed snapshot (or refusal) the future will hold."""
        self.update(session_id, step=step, total=total, message=message, details=details,
                    phase=phase)
        return self._answer_of_last_event()

    def _answer_of_last_event(self) -> asyncio.Future[dict[str, Any]]:
        """A future for the event just queued: no await since, so the writer has not
        taken it yet, and it is the queue's last."""
        event = self._queue[-1]
        event.answer = asyncio.get_running_loop().create_future()
        return event.answer

    def _apply_update(
        self, live: _LiveSession, now: float, step: int | None, total: int | None,
        message: str | None, details: dict[str, Any] | None, phase: str | None,
    ) -> None:
        snap = live.snapshot
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

    def finish(self, session_id: str, status: str, message: str = "") -> dict[str, Any]:
        """Append the terminal event (``complete``, ``error`` or ``cancelled``)."""
        if status not in TERMINAL:
            raise ValidationFailed(f"{status!r} is not a terminal status")
        live = self._require_live(session_id)
        now = self.clock()
        self._apply_finish(live, now, status, message)
        self._enqueue(session_id, TERMINAL_EVENT_TYPE[status], live.snapshot, now,
                      Change("finish", (status, message)) if self.shared else None)
        # Any further update is a 409, decided in memory.
        self._finishing[session_id] = self._live.pop(session_id)
        return dict(live.snapshot)

    async def record_finish(self, session_id: str, status: str,
                            message: str = "") -> dict[str, Any]:
        """``finish`` and wait for its commit: the committed snapshot, with its id."""
        self.finish(session_id, status, message)
        return await self._answer_of_last_event()

    def _apply_finish(self, live: _LiveSession, now: float, status: str, message: str) -> None:
        snap = live.snapshot
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

    def _enqueue(self, session_id: str, type_: str, snap: dict[str, Any], created: float,
                 change: Change | None) -> None:
        # Serialized once, here: the same text is stored, replayed and streamed, and it
        # is the snapshot as of this event (the writer derives the session's row from it).
        # A log that assigns ids adds last_event_id itself, at the end of the text.
        if self._numbering:
            event_id = self._next_id
            self._next_id += 1
            snap["last_event_id"] = event_id
            data = orjson.dumps({"type": type_, **snap}).decode()
            position: Position = (event_id, 0)
            text_id = str(event_id)
        else:
            body = {"type": type_, **snap}
            del body["last_event_id"]
            data = orjson.dumps(body).decode()
            position, text_id = NO_POSITION, ""
        self._seq += 1
        self._queue.append(Event(session_id, type_, data, type_ in TERMINAL, created,
                                 self._seq, text_id, position, change))
        self._queued.set()

    def publish_job(self, session_id: str, job: dict[str, Any]) -> None:
        """A job lifecycle event ``{"type": "job", "job": {...}}`` for the all-sessions
        stream; stored like every event, so it replays after a Last-Event-ID."""
        position, text_id = NO_POSITION, ""
        if self._numbering:
            position, text_id = (self._next_id, 0), str(self._next_id)
            self._next_id += 1
        self._seq += 1
        self._queue.append(Event(
            session_id=session_id, type=JOB_EVENT_TYPE,
            data=orjson.dumps({"type": JOB_EVENT_TYPE, "job": job}).decode(),
            terminal=False, created=self.clock(), seq=self._seq, id=text_id,
            position=position,
        ))
        self._queued.set()

    async def flush(self) -> None:
        """Wait until everything queued so far is committed (raises StorageError)."""
        target = self._seq
        if target <= self._settled_seq:
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
                last_seq = batch[-1].seq
                try:
                    committed = await self._commit(batch)
                except StorageError as exc:
                    log.error("progress batch of %d events lost: %s", len(batch), exc)
                    self._reopen_unfinished(batch)
                    for event in batch:
                        if event.answer is not None and not event.answer.done():
                            event.answer.set_exception(exc)
                    self._settled_seq = last_seq
                    self._fail_waiters(last_seq, exc)
                    continue
                if not self.shared:  # a shared log's follow loop delivers every commit
                    self._deliver(committed)
                self._settle(last_seq)

    async def _commit(self, batch: list[Event]) -> list[Event]:
        """One atomic append for the batch; returns the events it committed (on a shared
        log, those of the batch still valid once their sessions were brought up to date)."""
        for _ in range(MAX_STALE_RETRIES):
            latest: dict[str, int] = {}
            for index, event in enumerate(batch):
                if event.type != JOB_EVENT_TYPE:  # a job event is not the session's state
                    latest[event.session_id] = index
            states = []
            snapshots: dict[str, dict[str, Any]] = {}
            for session_id, index in latest.items():
                event = batch[index]
                snap = orjson.loads(event.data)
                del snap["type"]
                snapshots[session_id] = snap
                states.append(SessionState(
                    session_id=session_id, operation=snap["operation"], status=snap["status"],
                    snapshot=snap, created_at=_epoch(snap["created_at"]),
                    updated_at=event.created,
                    finished_at=event.created if snap["status"] in TERMINAL else None,
                    event_index=index,
                ))
            expected = {s: self._committed_position(s) for s in latest} if self.shared else {}
            try:
                positions = await self.log.append(batch, states, expected)
            except StaleSessions as stale:
                batch = await self._redo(batch, set(stale.session_ids))
                if not batch:
                    return []
                continue
            self._committed(batch, positions, latest, snapshots)
            return batch
        raise StorageError("other processes kept writing to these sessions; updates not saved")

    def _committed_position(self, session_id: str) -> Position | None:
        live = self._live.get(session_id) or self._finishing.get(session_id)
        return live.committed_position if live is not None else None

    def _committed(self, batch: list[Event], positions: list[Position],
                   latest: dict[str, int], snapshots: dict[str, dict[str, Any]]) -> None:
        """What a successful append settles: ids, each session's committed snapshot, the
        answers waited for, the sessions that ended."""
        if not self._numbering:
            for event, position in zip(batch, positions, strict=True):
                event.position = position
                event.id = self.log.event_id(position)
        for session_id, index in latest.items():
            event = batch[index]
            live = self._live.get(session_id) or self._finishing.get(session_id)
            snap = snapshots[session_id]
            if not self._numbering:
                snap["last_event_id"] = event.id
            if live is not None:
                live.committed = snap
                live.committed_position = event.position
                if not self._numbering:
                    live.snapshot["last_event_id"] = event.id
        for event in batch:
            if event.terminal:
                self._finishing.pop(event.session_id, None)
            if event.answer is not None and not event.answer.done():
                answer = orjson.loads(event.data)
                del answer["type"]
                if not self._numbering:
                    answer["last_event_id"] = event.id
                event.answer.set_result(answer)

    async def _redo(self, batch: list[Event], stale: set[str]) -> list[Event]:
        """Another process wrote to the ``stale`` sessions: reload each from the log and
        apply this batch's changes to it again, validation included (a change now
        refused is dropped and its caller told why, as if it had been refused at once)."""
        for session_id in stale:
            fresh = await self.log.session(session_id)
            self._live.pop(session_id, None)
            self._finishing.pop(session_id, None)
            if fresh is not None and fresh["status"] not in TERMINAL:
                self._live[session_id] = self._live_from(fresh)
        kept: list[Event] = []
        for event in batch:
            if event.session_id not in stale or event.type == JOB_EVENT_TYPE:
                kept.append(event)
                continue
            try:
                kept.append(self._replay_change(event))
            except IgbridgeError as exc:
                if event.answer is not None and not event.answer.done():
                    event.answer.set_exception(exc)
        return kept

    def _replay_change(self, event: Event) -> Event:
        change = event.change
        session_id = event.session_id
        if change is None:
            raise Conflict(f"session {session_id} was changed by another process")
        if change.kind == "create":
            raise Conflict(f"session {session_id} already exists")
        live = self._live.get(session_id)
        if live is None:
            raise Conflict(f"session {session_id} was finished by another process")
        if change.kind == "update":
            self._apply_update(live, event.created, *change.args)
        else:
            self._apply_finish(live, event.created, *change.args)
            self._finishing[session_id] = self._live.pop(session_id)
        body = {"type": event.type, **live.snapshot}
        del body["last_event_id"]
        event.data = orjson.dumps(body).decode()
        return event

    def _settle(self, last_seq: int) -> None:
        self._settled_seq = last_seq
        still_waiting = []
        for target, future in self._flush_waiters:
            if target <= last_seq:
                if not future.done():
                    future.set_result(None)
            else:
                still_waiting.append((target, future))
        self._flush_waiters = still_waiting

    def _deliver(self, events: list[Event]) -> None:
        """Wake the streams with committed events, in log order."""
        for event in events:
            if event.type != JOB_EVENT_TYPE:
                for sub in self._by_session.get(event.session_id, ()):
                    sub.push(event)
            for sub in self._everything:
                if sub.wants(event):
                    sub.push(event)
        if events:
            self.committed = events[-1].position

    async def _follow_loop(self) -> None:
        """A shared log: every process's commits, this one's included, reach the streams
        here and only here, so none is delivered twice. Whatever ends the log's follow
        (a fault of igbridge's own, not only Redis away) is logged once per run of
        failures and the follow starts again after the last event delivered; meanwhile
        ``follow_problem`` says so to ``/healthz``."""
        while True:
            try:
                async for logged in self.log.follow(self.committed):
                    self._follow_failure = None
                    self._deliver_followed(logged)
                raise RuntimeError("the event log's follow ended")  # it never should
            except Exception as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # A cancel that redis-py turned into a connection error: still a cancel.
                    raise asyncio.CancelledError from exc
                if self._follow_failure is None and isinstance(exc, StorageError):
                    log.warning("event log: %s; following again every %s s", exc,
                                FOLLOW_RESTART_SECONDS)
                elif self._follow_failure is None:
                    log.exception("event log: the follow loop failed; restarting it")
                self._follow_failure = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(FOLLOW_RESTART_SECONDS)

    def _deliver_followed(self, logged: list[LoggedEvent]) -> None:
        events = [Event.logged(e) for e in logged]
        for event in events:
            # A session another process finished is no longer this one's to update
            # (its own terminal events left the live set when they were queued).
            if event.terminal:
                self._live.pop(event.session_id, None)
        self._deliver(events)

    @property
    def follow_problem(self) -> str | None:
        """Why this process's streams get no new events from a shared log (None: they
        do, or the log is this process's own)."""
        if not self.shared or self.closing:
            return None
        if self._follower is None or self._follower.done():
            return "the event log's follow loop is not running: streams get no new events"
        if self._follow_failure is not None:
            return f"the event log's follow loop failed and is restarting: {self._follow_failure}"
        return None

    def _reopen_unfinished(self, lost: list[Event]) -> None:
        """A session whose terminal event was lost is live again, as it is stored: it
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
        """This process's committed snapshot of a session it runs (never another
        process's: on a shared log ask ``get_snapshot``)."""
        live = self._live.get(session_id) or self._finishing.get(session_id)
        return dict(live.committed) if live else None

    def live_session_ids(self) -> list[str]:
        return list(self._live)

    async def get_snapshot(self, session_id: str) -> dict[str, Any]:
        snap = None if self.shared else self.committed_snapshot(session_id)
        if snap is None:
            snap = await self.log.session(session_id)
        if snap is None:
            raise NotFound(f"no progress session {session_id}")
        return snap

    async def get_snapshots(self, session_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The snapshots of those of ``session_ids`` that exist, with one read of the log."""
        found = {} if self.shared else {
            s: snap for s in session_ids if (snap := self.committed_snapshot(s))}
        found.update(await self.log.sessions_by_id(
            [s for s in session_ids if s not in found]))
        return found

    async def list_sessions(self, *, status: str | None, limit: int, before: float | None,
                            only: frozenset[str] | None) -> list[dict[str, Any]]:
        return await self.log.list_sessions(status=status, limit=limit, before=before,
                                            only=only)

    async def active_snapshots(self, allowed: frozenset[str] | None) -> list[dict[str, Any]]:
        """The running sessions (within ``allowed``): on a shared log, read from it."""
        if not self.shared:
            ids = [s for s in self._live if allowed is None or s in allowed]
            return [s for s in (self.committed_snapshot(i) for i in ids) if s]
        ids = [s for s in await self.log.active_session_ids()
               if allowed is None or s in allowed]
        found = await self.log.sessions_by_id(ids)
        return [found[s] for s in ids if s in found and found[s]["status"] not in TERMINAL]

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
        """Compact finished sessions older than the retention period; returns how many."""
        count = await self.log.compact(self.clock() - older_than_days * 86400)
        self.compactions_done += 1
        return count


def _epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
