"""Preview thumbnails on Redis, so that every process serves every one of them.

Key (prefix ``igbridge:``): ``media:thumb:{sha256}`` hash (content_type, data) with a
TTL: the caller's, how long a preview is of use (``jobs/kinds/preview.py``). Memory
stays bounded by it and by the size cap ``media/thumbnails.py`` puts on each image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .connection import RedisConnection, storage_errors


@dataclass(frozen=True)
class RedisThumbnails:
    conn: RedisConnection

    def _key(self, sha256: str) -> str:
        return self.conn.key("media", "thumb", sha256)

    @storage_errors
    async def keep(self, images: Sequence[tuple[str, str, bytes]],
                   ttl_seconds: float) -> None:
        if not images:
            return
        milliseconds = max(1, int(ttl_seconds * 1000))
        async with self.conn.client.pipeline(transaction=True) as pipe:
            for sha256, content_type, data in images:
                pipe.hset(self._key(sha256), mapping={"content_type": content_type,
                                                      "data": data})
                pipe.pexpire(self._key(sha256), milliseconds)
            await pipe.execute()

    @storage_errors
    async def get(self, sha256: str) -> tuple[str, bytes] | None:
        content_type, data = await self.conn.client.hmget(  # type: ignore[misc]
            self._key(sha256), ["content_type", "data"])
        if content_type is None or data is None:
            return None
        return content_type.decode(), bytes(data)
