"""Each job's item ledger on Redis.

Keys (prefix ``igbridge:``), per job:

- ``ledger:{job}:order``: source ids scored by their position (the order a person
  knows them; equal positions by source id, like the SQLite engine).
- ``ledger:{job}:items``: hash source id → the item as JSON (``detail`` kept as JSON
  text inside it, so Lua never re-encodes data it did not make).
- ``ledger:{job}:counts``: hash state → number of items in it, kept by the same
  scripts that change an item, so a jobs page costs one read per job.

and ``imported``: hash source id → how many jobs hold it ``imported`` (any job's
ledger: what ``finished_source_ids`` reads).

``record`` is one Lua script: every outcome of the call or none, and a link already
known stays when an outcome carries none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from . import keyset
from .connection import RedisConnection, storage_errors

# KEYS: order, items, counts. ARGV: (source id, item JSON) pairs, in order.
_ADD_PENDING = """
for i = 1, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('ZADD', KEYS[1], (i - 1) / 2, ARGV[i])
    redis.call('HINCRBY', KEYS[3], 'pending', 1)
  end
end
return 1
"""

# KEYS: order, items, counts, imported. ARGV: (source id, state, outcome JSON) triples.
_RECORD = """
for i = 1, #ARGV, 3 do
  local sid, state, new = ARGV[i], ARGV[i + 1], cjson.decode(ARGV[i + 2])
  local raw = redis.call('HGET', KEYS[2], sid)
  local item
  if raw then
    item = cjson.decode(raw)
    redis.call('HINCRBY', KEYS[3], item.state, -1)
    if item.state == 'imported' then redis.call('HINCRBY', KEYS[4], sid, -1) end
  else
    item = {post_url = cjson.null, thumbnail_url = cjson.null,
            caption_excerpt = cjson.null, taken_at = cjson.null}
    redis.call('ZADD', KEYS[1], redis.call('ZCARD', KEYS[1]), sid)
  end
  item.state = state
  item.wp_post_id = new.wp_post_id
  item.reason = new.reason
  item.detail = new.detail
  if new.post_url ~= cjson.null then item.post_url = new.post_url end
  if new.thumbnail_url ~= cjson.null then item.thumbnail_url = new.thumbnail_url end
  redis.call('HSET', KEYS[2], sid, cjson.encode(item))
  redis.call('HINCRBY', KEYS[3], state, 1)
  if state == 'imported' then redis.call('HINCRBY', KEYS[4], sid, 1) end
end
return 1
"""

ITEM_FIELDS = ("state", "wp_post_id", "reason", "detail", "post_url", "thumbnail_url",
               "caption_excerpt", "taken_at")


def _item(source_id: str, raw: bytes) -> dict[str, Any]:
    stored = orjson.loads(raw)
    item = {"source_id": source_id, **{name: stored.get(name) for name in ITEM_FIELDS}}
    if item["detail"] is not None:
        item["detail"] = orjson.loads(item["detail"])
    if item["wp_post_id"] is not None:
        item["wp_post_id"] = int(item["wp_post_id"])
    return item


@dataclass(frozen=True)
class RedisLedger:
    conn: RedisConnection

    def _keys(self, job_id: str) -> list[str]:
        return [self.conn.key("ledger", job_id, part) for part in ("order", "items", "counts")]

    @storage_errors
    async def add_pending(self, job_id: str,
                          items: Sequence[tuple[str, str | None, str | None]]) -> None:
        if not items:
            return
        args: list[str] = []
        for source_id, excerpt, taken_at in items:
            args += [source_id, orjson.dumps({
                "state": "pending", "wp_post_id": None, "reason": None, "detail": None,
                "post_url": None, "thumbnail_url": None, "caption_excerpt": excerpt,
                "taken_at": taken_at}).decode()]
        await self.conn.client.eval(_ADD_PENDING, 3, *self._keys(job_id), *args)  # type: ignore[misc]

    @storage_errors
    async def record(self, job_id: str, outcomes: Sequence[tuple[
            str, str, int | None, str | None, Any, str | None, str | None]]) -> None:
        if not outcomes:
            return
        args: list[str] = []
        for source_id, state, wp_post_id, reason, detail, post_url, thumbnail_url in outcomes:
            args += [source_id, state, orjson.dumps({
                "wp_post_id": wp_post_id, "reason": reason,
                "detail": orjson.dumps(detail).decode() if detail is not None else None,
                "post_url": post_url, "thumbnail_url": thumbnail_url}).decode()]
        await self.conn.client.eval(_RECORD, 4, *self._keys(job_id),  # type: ignore[misc]
                                    self.conn.key("imported"), *args)

    @storage_errors
    async def page(self, job_id: str, *, limit: int,
                   after: tuple[int, str] | None) -> list[dict[str, Any]]:
        order, items, _counts = self._keys(job_id)
        ids = await keyset.page(self.conn.client, order, newest_first=False, limit=limit,
                                after=(float(after[0]), after[1]) if after else None)
        if not ids:
            return []
        positions = await self.conn.client.zmscore(order, ids)
        raws = await self.conn.client.hmget(items, ids)  # type: ignore[misc]
        return [{**_item(sid, raw), "position": int(pos or 0)}
                for sid, pos, raw in zip(ids, positions, raws, strict=True) if raw]

    @storage_errors
    async def items_of(self, job_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        async with self.conn.client.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                order, items, _counts = self._keys(job_id)
                pipe.zrange(order, 0, -1)
                pipe.hgetall(items)
            answers = await pipe.execute()
        found: dict[str, list[dict[str, Any]]] = {}
        for index, job_id in enumerate(job_ids):
            order, raw_items = answers[2 * index], answers[2 * index + 1]
            found[job_id] = [_item(sid.decode(), raw_items[sid]) for sid in order
                             if sid in raw_items]
        return found

    @storage_errors
    async def counts_of(self, job_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        async with self.conn.client.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hgetall(self._keys(job_id)[2])
            answers = await pipe.execute()
        return {job_id: {k.decode(): int(v) for k, v in raw.items() if int(v) > 0}
                for job_id, raw in zip(job_ids, answers, strict=True)}

    @storage_errors
    async def finished_source_ids(self, source_ids: Sequence[str]) -> set[str]:
        if not source_ids:
            return set()
        counts = await self.conn.client.hmget(self.conn.key("imported"), list(source_ids))  # type: ignore[misc]
        return {sid for sid, n in zip(source_ids, counts, strict=True) if n and int(n) > 0}
