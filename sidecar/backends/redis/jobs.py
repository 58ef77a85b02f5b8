"""Jobs on Redis: one hash per job, sorted sets for newest-first pages and id lookups.

Keys (prefix ``igbridge:``):

- ``job:{id}``: hash of the job's fields; text as is, ``source``/``options``/``state`` as
  JSON, times as float text; a field that is ``None`` is absent.
- ``jobs``: every job id scored by ``created_at`` (newest-first pages, ``find``).
- ``jobs:status:{status}``: the same, one set per status; a job is in exactly one.
- ``job-ids``: every job id at score 0, so ``ZRANGEBYLEX`` finds a prefix and an id's
  neighbours (short ids, ``jobs/ids.py``).

A status change moves the job between the status sets and writes its fields in one
Lua script, so no reader sees a job in two statuses or in none.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ...domain.models import FINISHED_JOB_STATUSES, JobStatus
from . import keyset
from .connection import RedisConnection, storage_errors

TEXT_FIELDS = ("job_id", "session_id", "kind", "status", "owner", "error")
JSON_FIELDS = ("source", "options", "state")
TIME_FIELDS = ("created_at", "started_at", "finished_at", "heartbeat_at")
STATUSES = tuple(str(s) for s in JobStatus)

# KEYS: the job hash, the status sets (one per status, in STATUSES order).
# ARGV: job id, new status, "1" to keep an existing started_at, "1" to change only a
# job that has not ended (the first end wins), then field/value pairs to set, then ""
# and the fields to delete.
_SET_STATUS = """
local created = redis.call('HGET', KEYS[1], 'created_at')
if not created then return 0 end
local ended = ENDED
if ARGV[4] == '1' and ended[redis.call('HGET', KEYS[1], 'status')] then return 0 end
for i = 2, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
local target = KEYS[1 + tonumber(ARGV[2])]
redis.call('ZADD', target, created, ARGV[1])
local i = 5
while i <= #ARGV and ARGV[i] ~= '' do
  if not (ARGV[3] == '1' and ARGV[i] == 'started_at'
          and redis.call('HEXISTS', KEYS[1], 'started_at') == 1) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
  i = i + 2
end
for j = i + 1, #ARGV do redis.call('HDEL', KEYS[1], ARGV[j]) end
return 1
""".replace("ENDED", "{" + ", ".join(
    f"['{status}'] = true" for status in sorted(FINISHED_JOB_STATUSES)) + "}")

# KEYS: job hashes. ARGV: the time. Only running jobs get the heartbeat.
_HEARTBEAT = """
for i = 1, #KEYS do
  if redis.call('HGET', KEYS[i], 'status') == 'running' then
    redis.call('HSET', KEYS[i], 'heartbeat_at', ARGV[1])
  end
end
return 1
"""


def _now() -> str:
    return repr(time.time())


def decode_job(raw: dict[bytes, bytes]) -> dict[str, Any] | None:
    if not raw:
        return None
    fields = {k.decode(): v for k, v in raw.items()}
    job: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        job[name] = fields[name].decode() if name in fields else None
    for name in JSON_FIELDS:
        job[name] = orjson.loads(fields[name]) if name in fields else {}
    for name in TIME_FIELDS:
        job[name] = float(fields[name]) if name in fields else None
    job["attempts"] = int(fields.get("attempts", b"0"))
    return job


@dataclass(frozen=True)
class RedisJobQueue:
    conn: RedisConnection

    def _job_key(self, job_id: str) -> str:
        return self.conn.key("job", job_id)

    def _status_keys(self) -> list[str]:
        return [self.conn.key("jobs", "status", s) for s in STATUSES]

    async def _set_status(self, job_id: str, status: str, fields: dict[str, str],
                          delete: Sequence[str] = (), *, keep_started: bool = False,
                          unless_ended: bool = False) -> None:
        args: list[str] = [job_id, str(STATUSES.index(status) + 1), "1" if keep_started else "0",
                           "1" if unless_ended else "0"]
        for name, value in {"status": status, **fields}.items():
            args += [name, value]
        args += ["", *delete]
        await self.conn.client.eval(_SET_STATUS, 1 + len(STATUSES),  # type: ignore[misc]
                                    self._job_key(job_id), *self._status_keys(), *args)

    @storage_errors
    async def add(self, job_id: str, session_id: str, kind: str, source: dict[str, Any],
                  options: dict[str, Any], state: dict[str, Any]) -> None:
        created = time.time()
        fields = {"job_id": job_id, "session_id": session_id, "kind": kind,
                  "status": str(JobStatus.QUEUED), "attempts": "0",
                  "source": orjson.dumps(source).decode(),
                  "options": orjson.dumps(options).decode(),
                  "state": orjson.dumps(state).decode(), "created_at": repr(created)}
        async with self.conn.client.pipeline(transaction=True) as pipe:
            pipe.hset(self._job_key(job_id), mapping=fields)
            pipe.zadd(self.conn.key("jobs"), {job_id: created})
            pipe.zadd(self.conn.key("jobs", "status", str(JobStatus.QUEUED)), {job_id: created})
            pipe.zadd(self.conn.key("job-ids"), {job_id: 0})
            await pipe.execute()

    @storage_errors
    async def get(self, job_id: str) -> dict[str, Any] | None:
        return decode_job(await self.conn.client.hgetall(self._job_key(job_id)))  # type: ignore[misc]

    async def _get_many(self, job_ids: Sequence[str]) -> list[dict[str, Any]]:
        async with self.conn.client.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hgetall(self._job_key(job_id))
            rows = await pipe.execute()
        return [job for job in map(decode_job, rows) if job is not None]

    @storage_errors
    async def find(self, *, status: str | None = None, statuses: Sequence[str] | None = None,
                   limit: int = 50, before: float | None = None) -> list[dict[str, Any]]:
        wanted = [status] if status else list(statuses or [])
        if status and statuses:
            wanted = [s for s in statuses if s == status]
        keys = ([self.conn.key("jobs", "status", s) for s in wanted] if wanted
                else [self.conn.key("jobs")])
        scored: list[tuple[float, str]] = []
        for key in keys:
            ids = await keyset.page(self.conn.client, key, newest_first=True, limit=limit,
                                    below=before)
            scores = await self.conn.client.zmscore(key, ids) if ids else []
            scored += [(float(s or 0), i) for s, i in zip(scores, ids, strict=True)]
        scored.sort(reverse=True)
        return await self._get_many([job_id for _s, job_id in scored[:limit]])

    @storage_errors
    async def page(self, *, status: str | None, limit: int,
                   after: tuple[float, str] | None) -> list[dict[str, Any]]:
        key = self.conn.key("jobs", "status", status) if status else self.conn.key("jobs")
        ids = await keyset.page(self.conn.client, key, newest_first=True, limit=limit,
                                after=after)
        return await self._get_many(ids)

    @storage_errors
    async def start_attempt(self, job_id: str, attempt: int, owner: str) -> None:
        now = _now()
        await self._set_status(job_id, str(JobStatus.RUNNING), {
            "attempts": str(attempt), "owner": owner, "started_at": now, "heartbeat_at": now,
        }, keep_started=True)

    @storage_errors
    async def finish(self, job_id: str, status: str, error: str | None) -> None:
        fields = {"finished_at": _now()}
        if error is not None:
            fields["error"] = error
        # Compare-and-set: a late cancel never overwrites "complete", nor the reverse.
        await self._set_status(job_id, status, fields, () if error is not None else ("error",),
                               unless_ended=True)

    @storage_errors
    async def heartbeat(self, job_ids: Sequence[str]) -> None:
        if job_ids:
            await self.conn.client.eval(  # type: ignore[misc]
                _HEARTBEAT, len(job_ids), *[self._job_key(j) for j in job_ids], _now())

    @storage_errors
    async def save_state(self, job_id: str, state: dict[str, Any]) -> None:
        await self.conn.client.hset(  # type: ignore[misc]
            self._job_key(job_id), "state", orjson.dumps(state).decode())

    # -- job-id lookups (short ids, jobs/ids.py) ------------------------------------------

    @storage_errors
    async def ids_starting_with(self, prefix: str, limit: int) -> list[dict[str, Any]]:
        """Jobs whose id starts with ``prefix``, in id order. Ids are lowercase hex, so
        the lowercase prefix finds what a person typed in capitals."""
        key = self.conn.key("job-ids")
        found: set[str] = set()
        for variant in {prefix.lower(), prefix}:
            raw = await self.conn.client.zrangebylex(key, f"[{variant}", f"({variant}\xff",
                                                     start=0, num=limit)
            found.update(m.decode() for m in raw)
        return await self._get_many(sorted(found)[:limit])

    @storage_errors
    async def neighbours(self, job_id: str) -> tuple[str | None, str | None]:
        """The ids just before and just after ``job_id`` in id order."""
        key = self.conn.key("job-ids")
        before = await self.conn.client.zrevrangebylex(key, f"({job_id}", "-", start=0, num=1)
        after = await self.conn.client.zrangebylex(key, f"({job_id}", "+", start=0, num=1)
        return (before[0].decode() if before else None, after[0].decode() if after else None)
