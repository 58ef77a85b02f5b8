"""Server-Sent Events: framing, replay and the stream endpoints.

A stream subscribes first, then takes its snapshots and the committed-event
mark ``P`` in the same step of the event loop (no await between), so every
event after ``P`` reaches its mailbox and every event up to ``P`` is in the
snapshots or on disk. With ``Last-Event-ID`` it replays from disk what came
after, then drains the mailbox, skipping ids it has already sent: nothing is
lost and nothing is sent twice, across reconnects and restarts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from ..backends.sqlite import store as db
from ..errors import BadRequest, NotFound
from ..progress.engine import TERMINAL, ProgressEngine, Subscription
from .auth import Credential

REPLAY_PAGE = 1000
HEARTBEAT = b": hb\n\n"


def snapshot_frame(snapshot: dict[str, Any], event_id: int | None = None) -> bytes:
    data = json.dumps({**snapshot, "type": "snapshot"}, ensure_ascii=False,
                      separators=(",", ":"))
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}data: {data}\n\n".encode()


def parse_last_event_id(header: str | None, query: str | None) -> int | None:
    raw = header if header not in (None, "") else query
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"Last-Event-ID must be a whole number, got {raw[:40]!r}") from None
    if value < 0:
        raise BadRequest("Last-Event-ID must not be negative")
    return value


@dataclass
class StreamPlan:
    """Everything decided before the first byte: what to send and when to stop."""

    subscription: Subscription
    snapshots: list[dict[str, Any]]
    mark: int  # every committed event up to here is in the snapshots or replayable
    resume_after: int | None  # the client's Last-Event-ID, when it is usable
    replay_sessions: list[str] | None  # None: all (within the credential)
    closes_when_done: bool  # explicit sessions: end once all are terminal
    open_sessions: set[str]


async def plan_stream(
    engine: ProgressEngine,
    credential: Credential,
    sessions: list[str] | None,
    last_event_id: int | None,
) -> StreamPlan | None:
    """Validate the request and subscribe; None means nothing will ever come (204)."""
    if sessions is not None:
        sessions = list(dict.fromkeys(sessions))
        credential.require_read(sessions)
        for session_id in sessions:
            if not engine.is_live(session_id) and not await engine.load(session_id):
                raise NotFound(f"no progress session {session_id}")
        # Non-live sessions are terminal: their snapshots cannot change any more.
        finished = {s: await engine.get_snapshot(s) for s in sessions if not engine.is_live(s)}
        if (
            last_event_id is not None
            and len(finished) == len(sessions)
            and all(last_event_id >= snap["last_event_id"] for snap in finished.values())
        ):
            return None
        subscription = engine.subscribe(frozenset(sessions))
        # From here to the end of this block: no await, so the snapshots and the
        # mark describe one instant of the committed log.
        mark = engine.committed_id
        snapshots = []
        for session_id in sessions:
            snap = engine.committed_snapshot(session_id) or finished.get(session_id)
            if snap is None:  # finished between the two steps above
                snap = await engine.get_snapshot(session_id)
            snapshots.append(snap)
        open_sessions = {s["session_id"] for s in snapshots if s["status"] not in TERMINAL}
        replay_sessions: list[str] | None = sessions
    else:
        allowed = credential.sessions
        subscription = engine.subscribe(None, allowed)
        mark = engine.committed_id
        live_ids = [s for s in engine.live_session_ids() if allowed is None or s in allowed]
        snapshots = [s for s in (engine.committed_snapshot(i) for i in live_ids) if s]
        open_sessions = set()
        replay_sessions = sorted(allowed) if allowed is not None else None
    resume_after = last_event_id if last_event_id is not None and last_event_id <= mark else None
    return StreamPlan(
        subscription=subscription,
        snapshots=snapshots,
        mark=mark,
        resume_after=resume_after,
        replay_sessions=replay_sessions,
        closes_when_done=sessions is not None,
        open_sessions=open_sessions,
    )


async def event_stream(
    engine: ProgressEngine, plan: StreamPlan, *, heartbeat: float, retry_ms: int
) -> AsyncIterator[bytes]:
    sub = plan.subscription
    open_sessions = plan.open_sessions
    try:
        head = [f"retry: {retry_ms}\n\n".encode()]
        for index, snap in enumerate(plan.snapshots):
            last = index == len(plan.snapshots) - 1
            head.append(snapshot_frame(
                snap, plan.mark if last and plan.resume_after is None else None
            ))
        if not plan.snapshots and plan.resume_after is None:
            head.append(f"id: {plan.mark}\n\n".encode())
        yield b"".join(head)
        sent = plan.mark
        if plan.resume_after is not None:
            cursor = plan.resume_after
            while cursor < plan.mark:
                rows = await db.fetch_events_after(
                    engine.store.reader, cursor, plan.replay_sessions, REPLAY_PAGE,
                    # Job lifecycle events are for the all-sessions stream only.
                    with_job_events=not plan.closes_when_done,
                )
                rows = [r for r in rows if r[0] <= plan.mark]
                if not rows:
                    break
                chunk = []
                for event_id, session_id, type_, data in rows:
                    chunk.append(f"id: {event_id}\ndata: {data}\n\n".encode())
                    if type_ in TERMINAL:
                        open_sessions.discard(session_id)
                yield b"".join(chunk)
                cursor = rows[-1][0]
        if plan.closes_when_done and not open_sessions:
            return
        while True:
            if sub.overflowed or sub.closed:
                return
            chunk = []
            while sub.pending:
                event = sub.pending.popleft()
                if event.id <= sent:
                    continue
                sent = event.id
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

