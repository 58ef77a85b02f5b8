"""The media index on Redis: cached files by sha256 and URL, uploads by site.

Keys (prefix ``igbridge:``): ``media:file:{sha256}`` hash (path, content_type, size),
``media:url:{url}`` → sha256, ``media:wp:{site}`` hash sha256 → JSON ``[id, url]`` and
``media:wp-ids:{site}`` hash id → sha256 (to forget attachments by id: repair); one
script keeps the two in step.
Every process shares the index; the files themselves stay in each process's own data
dir, and the cache checks that a file exists before it trusts a path (a path another
host recorded is downloaded again). What one process uploaded to WordPress no other
uploads again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from .connection import RedisConnection, storage_errors

# KEYS: by sha256, by id. ARGV: sha256, id, the [id, url] JSON.
_RECORD_UPLOADED = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then redis.call('HDEL', KEYS[2], tostring(cjson.decode(old)[1])) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
return 1
"""

# KEYS: by sha256, by id. ARGV: the ids gone from the site.
_FORGET_UPLOADED = """
for i = 1, #ARGV do
  local sha = redis.call('HGET', KEYS[2], ARGV[i])
  if sha then
    local current = redis.call('HGET', KEYS[1], sha)
    if current and tostring(cjson.decode(current)[1]) == ARGV[i] then
      redis.call('HDEL', KEYS[1], sha)
    end
    redis.call('HDEL', KEYS[2], ARGV[i])
  end
end
return 1
"""


@dataclass(frozen=True)
class RedisMediaIndex:
    conn: RedisConnection

    @storage_errors
    async def cached(self, url: str) -> dict[str, Any] | None:
        sha256 = await self.conn.client.get(self.conn.key("media", "url", url))
        if sha256 is None:
            return None
        return await self.cached_file(sha256.decode())

    @storage_errors
    async def cached_file(self, sha256: str) -> dict[str, Any] | None:
        raw = await self.conn.client.hgetall(  # type: ignore[misc]
            self.conn.key("media", "file", sha256))
        if not raw:
            return None
        return {"sha256": sha256, "path": raw[b"path"].decode(),
                "content_type": raw[b"content_type"].decode(), "size": int(raw[b"size"])}

    @storage_errors
    async def record_cached(
            self, files: Sequence[tuple[str, str, str, int, str | None]]) -> None:
        if not files:
            return
        async with self.conn.client.pipeline(transaction=True) as pipe:
            for sha256, path, content_type, size, url in files:
                key = self.conn.key("media", "file", sha256)
                # HSETNX on each field: a sha256 already known keeps its first row.
                pipe.hsetnx(key, "path", path)
                pipe.hsetnx(key, "content_type", content_type)
                pipe.hsetnx(key, "size", str(size))
                if url:
                    pipe.set(self.conn.key("media", "url", url), sha256)
            await pipe.execute()

    @storage_errors
    async def uploaded(self, site: str, sha256: str) -> tuple[int, str] | None:
        raw = await self.conn.client.hget(self.conn.key("media", "wp", site), sha256)  # type: ignore[misc]
        if raw is None:
            return None
        wp_media_id, url = orjson.loads(raw)
        return int(wp_media_id), str(url)

    def _uploads(self, site: str) -> list[str]:
        return [self.conn.key("media", "wp", site), self.conn.key("media", "wp-ids", site)]

    @storage_errors
    async def record_uploaded(self, site: str, sha256: str, wp_media_id: int,
                              url: str) -> None:
        await self.conn.client.eval(  # type: ignore[misc]
            _RECORD_UPLOADED, 2, *self._uploads(site), sha256, str(int(wp_media_id)),
            orjson.dumps([int(wp_media_id), url]).decode())

    @storage_errors
    async def forget_uploaded(self, site: str, wp_media_ids: Sequence[int]) -> None:
        if wp_media_ids:
            await self.conn.client.eval(  # type: ignore[misc]
                _FORGET_UPLOADED, 2, *self._uploads(site), *[str(int(i)) for i in wp_media_ids])
