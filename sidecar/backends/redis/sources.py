"""Saved sources on Redis, with the two claims as Lua compare-and-set steps.

Keys (prefix ``igbridge:``): ``source:{id}`` hash (``spec``, ``mapping``, ``last_sync``
as JSON; numbers as text; a ``None`` field absent), ``sources`` (ids by
``created_at``), ``sources:scheduled`` (the scheduled, unpaused ids by
``next_run_at``: what ``due`` and ``next_run_at`` read).

Each claim is one script, so of two processes claiming at once exactly one sees the
old value and wins. ``claim_sync`` reads the holding job's status from the job's own
hash (``jobs.py``), inside the same script.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from ..base import STALE_CLAIM_SECONDS
from .connection import RedisConnection, storage_errors

# KEYS: the source hash, the holder's job hash (read before: ARGV[4] names that
# holder, "" for none). ARGV: job id, now, stale-before, the holder read. -1: the
# holder changed since it was read.
_CLAIM_SYNC = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local holder = redis.call('HGET', KEYS[1], 'sync_job_id') or ''
if holder ~= ARGV[4] then return -1 end
local free = holder == '' or holder == ARGV[1]
if not free then
  local status = redis.call('HGET', KEYS[2], 'status')
  if status then
    free = status ~= 'queued' and status ~= 'running'
  else
    local claimed = tonumber(redis.call('HGET', KEYS[1], 'sync_claimed_at') or '0')
    free = claimed < tonumber(ARGV[3])
  end
end
if not free then return 0 end
redis.call('HSET', KEYS[1], 'sync_job_id', ARGV[1], 'sync_claimed_at', ARGV[2])
return 1
"""

# KEYS: the source hash. ARGV: job id.
_RELEASE_SYNC = """
if redis.call('HGET', KEYS[1], 'sync_job_id') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'sync_job_id')
end
return 1
"""

# KEYS: the source hash, the scheduled set. ARGV: source id, due at, next run at.
_CLAIM_DUE_RUN = """
if redis.call('HGET', KEYS[1], 'paused') ~= '0' then return 0 end
local current = redis.call('HGET', KEYS[1], 'next_run_at')
if not current or tonumber(current) ~= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'next_run_at', ARGV[3])
if redis.call('HEXISTS', KEYS[1], 'every_minutes') == 1 then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
return 1
"""

# KEYS: the source hash. ARGV: last_sync JSON, newest taken at ('' for none),
# reachable ('1'/'0'), now.
_RECORD_SYNC = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'last_sync', ARGV[1], 'updated_at', ARGV[4])
if ARGV[2] ~= '' then
  local known = redis.call('HGET', KEYS[1], 'newest_taken_at')
  if not known or tonumber(known) < tonumber(ARGV[2]) then
    redis.call('HSET', KEYS[1], 'newest_taken_at', ARGV[2])
  end
end
if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'reachable', '1') end
return 1
"""


def _decode(source_id: str, raw: dict[bytes, bytes]) -> dict[str, Any] | None:
    if not raw:
        return None
    f = {k.decode(): v.decode() for k, v in raw.items()}

    def number(name: str) -> float | None:
        return float(f[name]) if name in f else None

    return {
        "source_id": source_id,
        "spec": orjson.loads(f["spec"]),
        "mapping": orjson.loads(f["mapping"]),
        "every_minutes": int(f["every_minutes"]) if "every_minutes" in f else None,
        "paused": f.get("paused") == "1",
        "next_run_at": number("next_run_at"),
        "last_sync": orjson.loads(f["last_sync"]) if "last_sync" in f else None,
        "newest_taken_at": number("newest_taken_at"),
        "reachable": f.get("reachable") == "1",
        "sync_job_id": f.get("sync_job_id"),
        "sync_claimed_at": number("sync_claimed_at"),
        "created_at": float(f["created_at"]),
        "updated_at": float(f["updated_at"]),
    }


@dataclass(frozen=True)
class RedisSourceStore:
    conn: RedisConnection
    # What sync claims are stamped and aged by (a test moves it past the stale limit).
    clock: Callable[[], float] = time.time

    def _key(self, source_id: str) -> str:
        return self.conn.key("source", source_id)

    @property
    def _scheduled(self) -> str:
        return self.conn.key("sources", "scheduled")

    async def _many(self, ids: list[str]) -> list[dict[str, Any]]:
        async with self.conn.client.pipeline(transaction=False) as pipe:
            for source_id in ids:
                pipe.hgetall(self._key(source_id))
            rows = await pipe.execute()
        return [s for s in (_decode(i, r) for i, r in zip(ids, rows, strict=True)) if s]

    @storage_errors
    async def get(self, source_id: str) -> dict[str, Any] | None:
        return _decode(source_id, await self.conn.client.hgetall(self._key(source_id)))  # type: ignore[misc]

    @storage_errors
    async def all(self) -> list[dict[str, Any]]:
        ids = await self.conn.client.zrange(self.conn.key("sources"), 0, -1)
        return await self._many([i.decode() for i in ids])

    @storage_errors
    async def due(self, moment: float) -> list[dict[str, Any]]:
        ids = await self.conn.client.zrangebyscore(self._scheduled, "-inf", moment)
        return await self._many([i.decode() for i in ids])

    @storage_errors
    async def next_run_at(self) -> float | None:
        first = await self.conn.client.zrange(self._scheduled, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    def _settings(self, spec: dict[str, Any], mapping: dict[str, Any],
                  every_minutes: int | None, paused: bool, next_run_at: float | None,
                  moment: float) -> tuple[dict[str, str], list[str]]:
        fields = {"spec": orjson.dumps(spec).decode(), "mapping": orjson.dumps(mapping).decode(),
                  "paused": "1" if paused else "0", "updated_at": repr(moment)}
        absent = []
        for name, value in (("every_minutes", every_minutes), ("next_run_at", next_run_at)):
            if value is None:
                absent.append(name)
            else:
                fields[name] = str(value) if name == "every_minutes" else repr(float(value))
        return fields, absent

    def _schedule(self, pipe: Any, source_id: str, every_minutes: int | None, paused: bool,
                  next_run_at: float | None) -> None:
        if every_minutes is not None and not paused and next_run_at is not None:
            pipe.zadd(self._scheduled, {source_id: next_run_at})
        else:
            pipe.zrem(self._scheduled, source_id)

    @storage_errors
    async def add(self, source_id: str, spec: dict[str, Any], mapping: dict[str, Any],
                  every_minutes: int | None, paused: bool, next_run_at: float | None) -> None:
        moment = time.time()
        fields, _absent = self._settings(spec, mapping, every_minutes, paused, next_run_at,
                                         moment)
        fields.update({"created_at": repr(moment), "reachable": "0"})
        async with self.conn.client.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(source_id), mapping=fields)
            pipe.zadd(self.conn.key("sources"), {source_id: moment})
            self._schedule(pipe, source_id, every_minutes, paused, next_run_at)
            await pipe.execute()

    @storage_errors
    async def update_settings(self, source_id: str, spec: dict[str, Any],
                              mapping: dict[str, Any], every_minutes: int | None,
                              paused: bool, next_run_at: float | None) -> None:
        if not await self.conn.client.exists(self._key(source_id)):
            return
        fields, absent = self._settings(spec, mapping, every_minutes, paused, next_run_at,
                                        time.time())
        async with self.conn.client.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(source_id), mapping=fields)
            if absent:
                pipe.hdel(self._key(source_id), *absent)
            self._schedule(pipe, source_id, every_minutes, paused, next_run_at)
            await pipe.execute()

    @storage_errors
    async def delete(self, source_id: str) -> None:
        async with self.conn.client.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(source_id))
            pipe.zrem(self.conn.key("sources"), source_id)
            pipe.zrem(self._scheduled, source_id)
            await pipe.execute()

    @storage_errors
    async def claim_sync(self, source_id: str, job_id: str) -> bool:
        # The holder's job hash is a key the script reads, so it is named in KEYS (as
        # Redis Cluster and script caching need): read the holder, then claim only if
        # it is still the one named; another claim in between means a new look.
        key = self._key(source_id)
        while True:
            holder = await self.conn.client.hget(key, "sync_job_id")  # type: ignore[misc]
            holder_id = holder.decode() if holder else ""
            moment = self.clock()
            claimed = int(await self.conn.client.eval(  # type: ignore[misc]
                _CLAIM_SYNC, 2, key, self.conn.key("job", holder_id or job_id), job_id,
                repr(moment), repr(moment - STALE_CLAIM_SECONDS), holder_id))
            if claimed >= 0:
                return bool(claimed)

    @storage_errors
    async def release_sync(self, source_id: str, job_id: str) -> None:
        await self.conn.client.eval(_RELEASE_SYNC, 1, self._key(source_id), job_id)  # type: ignore[misc]

    @storage_errors
    async def claim_due_run(self, source_id: str, due_at: float, next_run_at: float) -> bool:
        return bool(await self.conn.client.eval(  # type: ignore[misc]
            _CLAIM_DUE_RUN, 2, self._key(source_id), self._scheduled, source_id,
            repr(float(due_at)), repr(float(next_run_at))))

    @storage_errors
    async def record_sync(self, source_id: str, last_sync: dict[str, Any], *,
                          newest_taken_at: float | None, reachable: bool) -> None:
        await self.conn.client.eval(  # type: ignore[misc]
            _RECORD_SYNC, 1, self._key(source_id), orjson.dumps(last_sync).decode(),
            "" if newest_taken_at is None else repr(float(newest_taken_at)),
            "1" if reachable else "0", repr(time.time()))
