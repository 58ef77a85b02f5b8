"""The Redis engine behind the ports of ``backends/base.py``: a thin composition of
its parts, each opened on the same clients."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from .connection import RedisSettings, open_client, parse_url
from .events import RedisEventLog


@dataclass(frozen=True)
class RedisBackend:
    settings: RedisSettings
    client: Redis
    blocking: Redis  # the event log's XREAD loop
    events: RedisEventLog

    @classmethod
    async def open(cls, url: str) -> RedisBackend:
        settings = parse_url(url)
        client = open_client(settings)
        blocking = open_client(settings, blocking=True)
        try:
            events = await RedisEventLog.open(client, blocking, settings)
        except BaseException:
            await client.aclose()
            await blocking.aclose()
            raise
        return cls(settings, client, blocking, events)

    async def close(self) -> None:
        await self.blocking.aclose()
        await self.client.aclose()
