"""Server-Sent Events: framing, replay and the stream endpoints.

A stream subscribes first, then takes the committed-event mark ``P`` in the same
step of the event loop (no await between), so every event after ``P`` reaches its
mailbox. Its snapshots are taken at ``P`` too (SQLite: this process's memory) or
read from the log afterwards (a shared log: they then cover at least ``P``, and a
mailbox event a snapshot already holds is skipped). With ``Last-Event-ID`` it
replays from the log what came after, then drains the mailbox, skipping what it has
already sent: nothing is lost and nothing is sent twice, across reconnects,
restarts and processes. Ids are compared only as positions of the log; an id the
log cannot replay after (trimmed, beyond it, another epoch) gets ``reset`` frames.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ..backends.base import Position
from ..errors import NotFound
from ..progress.engine import JOB_EVENT_TYPE, TERMINAL, ProgressEngine, Subscription
from .auth import Credential

REPLAY_PAGE = 1000
HEARTBEAT = b": hb\n\n"


def snapshot_frame(snapshot: dict[str, Any], event_id: str | None = None,
                   reset: str | None = None) -> bytes:
    frame = {**snapshot, "type": "snapshot"} if reset is None else {
        **snapshot, "type": "reset", "reason": reset}
    data = json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}data: {data}\n\n".encode()


def last_event_id(header: str | None, query: str | None) -> str | None:
    raw = header if header not in (None, "") else query
    return raw or None


@dataclass
class StreamPlan:
    """Everything decided before the first byte: what to send and when to stop."""

    subscription: Subscription
    snapshots: list[dict[str, Any]]
    mark: Position  # every committed event up to here is in the snapshots or replayable
    resume_after: Position | None  # the client's Last-Event-ID, when it is usable
    reset: str | None  # why the client's Last-Event-ID cannot be resumed from
    replay_sessions: list[str] | None  # None: all (within the credential)
    closes_when_done: bool  # explicit sessions: end once all are terminal
    open_sessions: set[str]
    # A session's events up to here are in its snapshot (read after the mark).
    covered: dict[str, Position] = field(default_factory=dict)


async def plan_stream(
    engine: ProgressEngine,
    credential: Credential,
    sessions: list[str] | None,
    client_id: str | None,
) -> StreamPlan | None:
    """Validate the request and subscribe; None means nothing will ever come (204)."""
    requested = engine.log.parse_id(client_id) if client_id is not None else None
    finished: dict[str, dict[str, Any]] = {}
    if sessions is not None:
        sessions = list(dict.fromkeys(sessions))
        credential.require_read(sessions)
        for session_id in sessions:
            if not engine.is_live(session_id) and not await engine.load(session_id):
                raise NotFound(f"no progress session {session_id}")
        # Non-live sessions are terminal: their snapshots cannot change any more.
        finished = {s: await engine.get_snapshot(s) for s in sessions if not engine.is_live(s)}
        if (
            requested is not None
            and len(finished) == len(sessions)
            and all(_position(engine, snap) <= requested for snap in finished.values())
        ):
            return None
        subscription = engine.subscribe(frozenset(sessions))
    else:
        subscription = engine.subscribe(None, credential.sessions)
    try:
        return await _plan(engine, subscription, sessions, requested, client_id, finished)
    except BaseException:
        engine.unsubscribe(subscription)  # no stream will drain it
        raise


async def _plan(engine: ProgressEngine, subscription: Subscription, sessions: list[str] | None,
                requested: Position | None, client_id: str | None,
                finished: dict[str, dict[str, Any]]) -> StreamPlan:
    """The rest of the plan, once subscribed: the mark, the snapshots, the resume point."""
    log = engine.log
    # Up to the first await: the mark describes one instant of the committed log, and
    # this process's own snapshots (SQLite) that same instant.
    mark = engine.committed
    if sessions is not None:
        snapshots = []
        for session_id in sessions:
            snap = engine.committed_snapshot(session_id) or finished.get(session_id)
            if snap is None or engine.shared:  # a shared log: read after the mark
                snap = await engine.get_snapshot(session_id)
            snapshots.append(snap)
        open_sessions = {s["session_id"] for s in snapshots if s["status"] not in TERMINAL}
        replay_sessions: list[str] | None = sessions
    else:
        allowed = subscription.allowed
        snapshots = await engine.active_snapshots(allowed)
        open_sessions = set()
        replay_sessions = sorted(allowed) if allowed is not None else None
    reset = None
    if client_id is not None and requested is None:
        reset = "the Last-Event-ID is from an earlier run of the event log (it was reset)"
    elif requested is not None:
        if engine.shared:
            reset = await log.gap_after(requested)
        elif requested > mark:
            reset = "the Last-Event-ID is beyond this sidecar's event log"
    covered = {}
    if engine.shared:
        covered = {s["session_id"]: _position(engine, s) for s in snapshots}
    return StreamPlan(
        subscription=subscription,
        snapshots=snapshots,
        mark=mark,
        resume_after=requested if reset is None else None,
        reset=reset,
        replay_sessions=replay_sessions,
        closes_when_done=sessions is not None,
        open_sessions=open_sessions,
        covered=covered,
    )


def _position(engine: ProgressEngine, snapshot: dict[str, Any]) -> Position:
    """Where a snapshot stands in the log (before everything: an id of another epoch)."""
    return engine.log.parse_id(str(snapshot["last_event_id"])) or (0, 0)


async def event_stream(
    engine: ProgressEngine, plan: StreamPlan, *, heartbeat: float, retry_ms: int
) -> AsyncIterator[bytes]:
    sub = plan.subscription
    open_sessions = plan.open_sessions
    mark_id = engine.log.event_id(plan.mark)
    try:
        head = [f"retry: {retry_ms}\n\n".encode()]
        for index, snap in enumerate(plan.snapshots):
            last = index == len(plan.snapshots) - 1
            head.append(snapshot_frame(
                snap, mark_id if last and plan.resume_after is None else None, plan.reset
            ))
        if not plan.snapshots and plan.resume_after is None:
            if plan.reset is not None:
                head.append(snapshot_frame({"session_id": None}, mark_id, plan.reset))
            else:
                head.append(f"id: {mark_id}\n\n".encode())
        yield b"".join(head)
        # Nothing up to the client's own id is sent again, even when this process's
        # follow loop is still behind it (positions compare in log order).
        sent = plan.mark if plan.resume_after is None else max(plan.mark, plan.resume_after)
        covered = plan.covered if plan.resume_after is None else {}
        if plan.resume_after is not None:
            cursor = plan.resume_after
            # A shared log replays all it has (other processes' newest events may not
            # have reached this one's mailbox yet); this process's own log up to the mark.
            while engine.shared or cursor < plan.mark:
                events = await engine.log.events_after(
                    cursor, sessions=plan.replay_sessions, limit=REPLAY_PAGE,
                    # Job lifecycle events are for the all-sessions stream only.
                    with_job_events=not plan.closes_when_done,
                )
                if not engine.shared:
                    events = [e for e in events if e.position <= plan.mark]
                if not events:
                    break
                chunk = []
                for stored in events:
                    chunk.append(f"id: {stored.id}\ndata: {stored.data}\n\n".encode())
                    if stored.type in TERMINAL:
                        open_sessions.discard(stored.session_id)
                yield b"".join(chunk)
                cursor = events[-1].position
                sent = max(sent, cursor)
                if len(events) < REPLAY_PAGE and engine.shared:
                    break
        if plan.closes_when_done and not open_sessions:
            return
        while True:
            if sub.overflowed or sub.closed:
                return
            chunk = []
            while sub.pending:
                event = sub.pending.popleft()
                if event.position <= sent or (
                        covered and event.type != JOB_EVENT_TYPE
                        and event.position <= covered.get(event.session_id, (0, 0))):
                    continue
                sent = event.position
                chunk.append(event.frame)
                if event.terminal:
                    open_sessions.discard(event.session_id)
            if chunk:
                yield b"".join(chunk)
                if plan.closes_when_done and not open_sessions:
                    return
                continue
            sub.wake.clear()
            try:
                await asyncio.wait_for(sub.wake.wait(), heartbeat)
            except TimeoutError:
                yield HEARTBEAT
    finally:
        engine.unsubscribe(sub)
