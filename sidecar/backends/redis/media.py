"""The media index on Redis: cached files by sha256 and URL, uploads by site.

Keys (prefix ``igbridge:``): ``media:file:{sha256}`` hash (path, content_type, size),
``media:url:{url}`` → sha256, ``media:wp:{site}`` hash sha256 → JSON ``[id, url]``.
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


@dataclass(frozen=True)
class RedisMediaIndex:
    conn: RedisConnection

    @storage_errors
    async def cached(self, url: str) -> dict[str, Any] | None:
        sha256 = await self.conn.client.get(self.conn.key("media", "url", url))
        if sha256 is None:
            return None
        raw = await self.conn.client.hgetall(  # type: ignore[misc]
            self.conn.key("media", "file", sha256.decode()))
        if not raw:
            return None
        return {"sha256": sha256.decode(), "path": raw[b"path"].decode(),
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

    @storage_errors
    async def record_uploaded(self, site: str, sha256: str, wp_media_id: int,
                              url: str) -> None:
        await self.conn.client.hset(  # type: ignore[misc]
            self.conn.key("media", "wp", site), sha256, orjson.dumps([wp_media_id, url]).decode())
