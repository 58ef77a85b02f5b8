"""The Redis engine behind the ports of ``backends/base.py``: a thin composition of
one connection and the parts that use it."""

from __future__ import annotations

from dataclasses import dataclass

from .connection import RedisConnection
from .jobs import RedisJobQueue
from .ledger import RedisLedger
from .locks import RedisPostLocks
from .media import RedisMediaIndex
from .sources import RedisSourceStore


@dataclass(frozen=True)
class RedisBackend:
    conn: RedisConnection
    jobs: RedisJobQueue
    ledger: RedisLedger
    media: RedisMediaIndex
    sources: RedisSourceStore
    post_locks: RedisPostLocks

    @classmethod
    async def open(cls, url: str, *, prefix: str | None = None) -> RedisBackend:
        conn = RedisConnection.open(url, **({"prefix": prefix} if prefix else {}))
        return cls(conn, RedisJobQueue(conn), RedisLedger(conn), RedisMediaIndex(conn),
                   RedisSourceStore(conn), RedisPostLocks(conn))

    async def close(self) -> None:
        await self.conn.close()
