"""The Redis engine behind the ports of ``backends/base.py``: a thin composition of
its parts, each opened on the same clients."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from .connection import RedisConnection, RedisSettings, open_client, parse_url
from .events import FOLLOW_BLOCK_MS, RedisEventLog
from .jobs import RedisJobQueue
from .ledger import RedisLedger
from .locks import RedisPostLocks
from .media import RedisMediaIndex
from .sources import RedisSourceStore
from .thumbnails import RedisThumbnails


@dataclass(frozen=True)
class RedisBackend:
    settings: RedisSettings
    client: Redis
    blocking: Redis  # the event log's XREAD loop
    conn: RedisConnection  # jobs, ledger, media, sources, locks
    events: RedisEventLog
    jobs: RedisJobQueue
    ledger: RedisLedger
    media: RedisMediaIndex
    sources: RedisSourceStore
    post_locks: RedisPostLocks
    thumbnails: RedisThumbnails

    @classmethod
    async def open(cls, url: str) -> RedisBackend:
        settings = parse_url(url)
        client = open_client(settings)
        blocking = open_client(settings, blocking_seconds=FOLLOW_BLOCK_MS / 1000)
        conn = RedisConnection.open(settings)
        try:
            events = await RedisEventLog.open(client, blocking, settings)
        except BaseException:
            await client.aclose()
            await blocking.aclose()
            await conn.close()
            raise
        return cls(settings, client, blocking, conn, events, RedisJobQueue(conn),
                   RedisLedger(conn), RedisMediaIndex(conn), RedisSourceStore(conn),
                   RedisPostLocks(conn), RedisThumbnails(conn))

    async def close(self) -> None:
        await self.blocking.aclose()
        await self.client.aclose()
        await self.conn.close()
