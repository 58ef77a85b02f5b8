"""The event log on Redis Streams, shared by every sidecar process.

Keys (all ``igbridge:``): ``events``, the stream (fields ``s`` session, ``t`` type,
``d`` the frame's JSON, ``e`` the epoch); ``last``, the newest id; ``snap`` and
``pos``, hashes of each session's snapshot (its last event's JSON) and that event's
id; ``created``, ``active``, ``finished``, sorted sets of session ids by time.

One Lua script appends a batch: it checks every session's last id against the
caller's (compare-and-set: another process may have written meanwhile), assigns the
ids, adds ``last_event_id`` to each progress event's JSON, XADDs with ``MAXLEN ~``
and writes the snapshots, all in one atomic step. Ids are Redis time in
milliseconds and a sequence, as ``XADD *`` makes them, never below the newest one
kept: after a restart that lost the last second of writes they still grow with
time. On the wire an id is ``<epoch>:<ms>-<seq>``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from ...errors import BadRequest, StorageError
from ..base import NO_POSITION, LoggedEvent, NewEvent, Position, SessionState, StaleSessions
from .connection import (
    EPOCH_KEY,
    PREFIX,
    RedisSettings,
    current_epoch,
    require_supported_version,
    unreachable,
)

log = logging.getLogger(__name__)

EVENTS = PREFIX + "events"
LAST = PREFIX + "last"
SNAP = PREFIX + "snap"
POS = PREFIX + "pos"
CREATED = PREFIX + "created"
ACTIVE = PREFIX + "active"
FINISHED = PREFIX + "finished"
KEYS = [EVENTS, LAST, SNAP, POS, CREATED, ACTIVE, FINISHED, EPOCH_KEY]
TERMINAL = ("complete", "error", "cancelled")
FOLLOW_BLOCK_MS = 1000
FOLLOW_COUNT = 1000
RETRY_SECONDS = 0.5  # between tries of the follow loop while Redis is away

APPEND = """
local epoch = redis.call('GET', KEYS[8])
if epoch ~= ARGV[1] then return {'EPOCH'} end
local n = tonumber(ARGV[3])
local base = 4 + 3 * n
local m = tonumber(ARGV[base])
local stale = {}
for j = 0, m - 1 do
  local o = base + 1 + j * 6
  local current = redis.call('HGET', KEYS[4], ARGV[o])
  if (current or '') ~= ARGV[o + 1] then stale[#stale + 1] = ARGV[o] end
end
if #stale > 0 then return {'STALE', unpack(stale)} end
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local seq = 0
local last = redis.call('GET', KEYS[2])
if last then
  local lms, lseq = string.match(last, '^(%d+)-(%d+)$')
  lms = tonumber(lms)
  if ms <= lms then ms = lms; seq = tonumber(lseq) + 1 end
end
local mstext = string.format('%.0f', ms)
local ids, datas = {}, {}
for i = 0, n - 1 do
  local o = 4 + i * 3
  local id = mstext .. '-' .. string.format('%.0f', seq + i)
  local data = ARGV[o + 2]
  if ARGV[o + 1] ~= 'job' then
    data = string.sub(data, 1, -2) .. ',"last_event_id":"' .. epoch .. ':' .. id .. '"}'
  end
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], id,
             's', ARGV[o], 't', ARGV[o + 1], 'd', data, 'e', epoch)
  ids[i + 1] = id
  datas[i + 1] = data
end
for j = 0, m - 1 do
  local o = base + 1 + j * 6
  local sid, index, status = ARGV[o], tonumber(ARGV[o + 2]), ARGV[o + 3]
  redis.call('HSET', KEYS[3], sid, datas[index])
  redis.call('HSET', KEYS[4], sid, ids[index])
  redis.call('ZADD', KEYS[5], 'NX', ARGV[o + 4], sid)
  if ARGV[o + 5] ~= '' then
    redis.call('ZREM', KEYS[6], sid)
    redis.call('ZADD', KEYS[7], ARGV[o + 5], sid)
  else
    redis.call('ZADD', KEYS[6], ARGV[o + 4], sid)
  end
end
redis.call('SET', KEYS[2], ids[n])
return {'OK', mstext, seq}
"""


def _still_cancelled() -> None:
    """redis-py's read under a socket timeout can turn a cancel into a timeout error or
    a plain return; the follow loop must still stop when it was cancelled."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _position(entry_id: str) -> Position:
    ms, _, seq = entry_id.partition("-")
    return (int(ms), int(seq))


def _entry_id(position: Position) -> str:
    return f"{position[0]}-{position[1]}"


def _snapshot(data: str | None) -> dict[str, Any] | None:
    if data is None:
        return None
    snap: dict[str, Any] = orjson.loads(data)
    snap.pop("type", None)
    return snap


@dataclass
class RedisEventLog:
    client: Redis
    blocking: Redis  # the follow loop's own connection: XREAD BLOCK holds it
    settings: RedisSettings
    epoch: str
    _append: Any = field(init=False, repr=False)

    assigns_ids = True
    shared = True

    def __post_init__(self) -> None:
        self._append = self.client.register_script(APPEND)

    @classmethod
    async def open(cls, client: Redis, blocking: Redis, settings: RedisSettings) -> RedisEventLog:
        await require_supported_version(client, settings)
        return cls(client, blocking, settings, await current_epoch(client, settings))

    # -- ids -------------------------------------------------------------------

    def event_id(self, position: Position) -> str:
        return f"{self.epoch}:{_entry_id(position)}"

    def parse_id(self, text: str) -> Position | None:
        if text == "0":  # "from the start", whatever the epoch
            return NO_POSITION
        epoch, _, entry = text.partition(":")
        ms, dash, seq = entry.partition("-")
        if not (epoch and dash and ms.isdigit() and seq.isdigit()):
            raise BadRequest(f"Last-Event-ID is not an id of this event log: {text[:60]!r}")
        if epoch != self.epoch:
            return None
        return (int(ms), int(seq))

    async def newest(self) -> Position:
        last = await self._call(self.client.get(LAST))
        return _position(last) if last else NO_POSITION

    async def gap_after(self, position: Position) -> str | None:
        newest = await self.newest()
        if position > newest:
            return "the Last-Event-ID is beyond the event log (Redis lost its newest events)"
        if position == newest:
            return None
        try:
            info = await self.client.xinfo_stream(EVENTS)
        except ResponseError:  # no stream: nothing was ever kept after the position
            return None
        except RedisError as exc:
            raise unreachable(self.settings, exc) from exc
        # Trimming (MAXLEN) drops the oldest entries: whatever came after the position
        # is whole only while the oldest entry kept is its successor or nothing was
        # dropped. (Redis 7.0 keeps max-deleted-entry-id for XDEL only, not for trims.)
        trimmed = int(info.get("entries-added", 0)) > int(info.get("length", 0))
        first = info.get("recorded-first-entry-id") or (info.get("first-entry") or ["0-0"])[0]
        if trimmed and position < _position(str(first)):
            return (f"the events after the Last-Event-ID are no longer kept (the log keeps"
                    f" the newest {self.settings.maxlen})")
        return None

    # -- writing ---------------------------------------------------------------

    async def append(self, events: Sequence[NewEvent], sessions: Sequence[SessionState],
                     expected: Mapping[str, Position | None]) -> list[Position]:
        args: list[Any] = [self.epoch, self.settings.maxlen, len(events)]
        for event in events:
            args += [event.session_id, event.type, event.data]
        args.append(len(sessions))
        for state in sessions:
            known = expected.get(state.session_id)
            args += [state.session_id, _entry_id(known) if known else "",
                     state.event_index + 1, state.status, repr(state.created_at),
                     repr(state.finished_at) if state.finished_at is not None else ""]
        for _ in range(2):
            reply = await self._call(self._append(keys=KEYS, args=args))
            if reply[0] == "OK":
                ms, seq = int(reply[1]), int(reply[2])
                return [(ms, seq + i) for i in range(len(events))]
            if reply[0] == "STALE":
                raise StaleSessions([str(s) for s in reply[1:]])
            # Another epoch: Redis was flushed or replaced. Ids go on from a new epoch.
            self.epoch = args[0] = await current_epoch(self.client, self.settings)
        raise StorageError(f"Redis at {self.settings.where} keeps changing its epoch")

    async def _call(self, pending: Any) -> Any:
        try:
            return await pending
        except RedisError as exc:
            raise unreachable(self.settings, exc) from exc

    # -- reading ---------------------------------------------------------------

    async def events_after(self, after: Position, *, sessions: Sequence[str] | None,
                           with_job_events: bool, limit: int) -> list[LoggedEvent]:
        wanted = set(sessions) if sessions is not None else None
        if wanted is not None and not wanted:
            return []
        found: list[LoggedEvent] = []
        start = "-" if after == NO_POSITION else "(" + _entry_id(after)
        while len(found) < limit:
            entries = await self._call(self.client.xrange(EVENTS, start, "+",
                                                          count=max(limit, 1000)))
            for entry_id, fields in entries:
                if wanted is not None and fields["s"] not in wanted:
                    continue
                if not with_job_events and fields["t"] == "job":
                    continue
                found.append(self._logged(entry_id, fields))
                if len(found) == limit:
                    break
            if len(entries) < max(limit, 1000):
                break
            start = "(" + entries[-1][0]
        return found

    def _logged(self, entry_id: str, fields: dict[str, str]) -> LoggedEvent:
        epoch = fields.get("e", self.epoch)
        return LoggedEvent(_position(entry_id), f"{epoch}:{entry_id}", fields["s"], fields["t"],
                           fields["d"])

    async def session(self, session_id: str) -> dict[str, Any] | None:
        return _snapshot(await self._call(self.client.hget(SNAP, session_id)))

    async def sessions_by_id(self, session_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not session_ids:
            return {}
        datas = await self._call(self.client.hmget(SNAP, list(session_ids)))
        return {s: snap for s, d in zip(session_ids, datas, strict=True)
                if (snap := _snapshot(d)) is not None}

    async def list_sessions(self, *, status: str | None, limit: int, before: float | None,
                            only: frozenset[str] | None) -> list[dict[str, Any]]:
        def keep(snap: dict[str, Any], created: float) -> bool:
            return (status is None or snap["status"] == status) and (
                before is None or created < before)

        if only is not None:
            found = await self.sessions_by_id(sorted(only))
            scores = await self._call(self.client.zmscore(CREATED, list(found))) if found else []
            rows = [(score or 0.0, s) for s, score in zip(found, scores, strict=True)]
            rows.sort(reverse=True)
            return [found[s] for score, s in rows if keep(found[s], score)][:limit]
        result: list[dict[str, Any]] = []
        top = f"({before!r}" if before is not None else "+inf"
        offset, page = 0, max(limit, 200)
        while len(result) < limit:
            ids = await self._call(self.client.zrevrangebyscore(
                CREATED, top, "-inf", start=offset, num=page, withscores=True))
            if not ids:
                break
            snaps = await self.sessions_by_id([s for s, _ in ids])
            result += [snaps[s] for s, score in ids if s in snaps and keep(snaps[s], score)]
            offset += len(ids)
        return result[:limit]

    async def active_session_ids(self) -> list[str]:
        return [str(s) for s in await self._call(self.client.zrange(ACTIVE, 0, -1))]

    async def compact(self, cutoff: float) -> int:
        """The stream is already bounded (MAXLEN): what a finished session leaves is its
        snapshot, kept; here it is only taken off the list of sessions to compact."""
        ids = await self._call(self.client.zrangebyscore(FINISHED, "-inf", f"({cutoff!r}"))
        if ids:
            await self._call(self.client.zrem(FINISHED, *ids))
        return len(ids)

    async def follow(self, after: Position) -> AsyncIterator[list[LoggedEvent]]:
        last = _entry_id(after)
        while True:
            try:
                reply = await self.blocking.xread({EVENTS: last}, count=FOLLOW_COUNT,
                                                  block=FOLLOW_BLOCK_MS)
            except RedisError as exc:  # away, or silent past the socket timeout
                _still_cancelled()
                log.warning("event log: Redis at %s unreachable, retrying: %s",
                            self.settings.where, exc)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            _still_cancelled()
            if not reply:
                continue
            entries = reply[0][1]
            batch = []
            for entry_id, fields in entries:
                try:
                    batch.append(self._logged(entry_id, fields))
                except KeyError as exc:  # not written by igbridge: skipped, with a warning
                    log.warning("event log: skipping entry %s of %s, missing field %s",
                                entry_id, EVENTS, exc)
            # The log moved to another epoch (flushed): new ids are of that one.
            self.epoch = entries[-1][1].get("e", self.epoch)
            last = entries[-1][0]
            yield batch

    async def _call_ping(self) -> None:
        answer: Any = self.client.ping()  # typed as "awaitable or not" for both clients
        await answer

    async def problem(self) -> str | None:
        try:
            await self._call_ping()
        except RedisError as exc:
            return f"Redis at {self.settings.where} is unreachable: {exc}"
        return None
