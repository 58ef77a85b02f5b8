"""Per-post locks shared by every process: two processes never create the same post.

``SET NX PX`` per key with a token of this holder; the TTL is refreshed while held,
so a process that died frees its posts within ``LOCK_TTL_MS`` and a slow WordPress
answer never lets the lock lapse under a living holder. Release deletes only keys
that still hold this holder's token. Keys: ``igbridge:post-lock:{site}:{source_id}``.
The plugin's unique index on the source id stays the last line behind them.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.exceptions import RedisError

from .connection import RedisConnection, unreachable

LOCK_TTL_MS = 10_000
REFRESH_SECONDS = LOCK_TTL_MS / 1000 / 3
WAIT_SECONDS = 0.05  # between tries of a key another holder has

# KEYS: the held keys. ARGV: token, then the new TTL in ms ("0": delete instead).
_REFRESH_OR_RELEASE = """
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    if ARGV[2] == '0' then redis.call('DEL', KEYS[i])
    else redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
  end
end
return 1
"""


@dataclass(frozen=True)
class RedisPostLocks:
    conn: RedisConnection

    @asynccontextmanager
    async def hold(self, site: str, source_ids: Sequence[str]) -> AsyncIterator[None]:
        """Every one of ``source_ids`` of ``site``, taken in sorted order (two holders of
        overlapping sets never wait on each other in a circle)."""
        token = uuid.uuid4().hex
        keys = [self.conn.key("post-lock", site, sid) for sid in sorted(set(source_ids))]
        held: list[str] = []
        refresher = asyncio.create_task(self._refresh(held, token), name="post-lock-refresh")
        try:
            for key in keys:
                # The holder may be another process: nothing here to wait on but Redis.
                while not await self._take(key, token):  # noqa: ASYNC110
                    await asyncio.sleep(WAIT_SECONDS)
                held.append(key)
            yield
        finally:
            refresher.cancel()
            with contextlib.suppress(RedisError, OSError):  # they lapse by themselves
                if held:
                    await self._script(held, token, 0)

    async def _take(self, key: str, token: str) -> bool:
        try:
            return bool(await self.conn.client.set(key, token, nx=True, px=LOCK_TTL_MS))
        except (RedisError, OSError) as exc:
            raise unreachable(self.conn.settings, exc) from exc

    async def _refresh(self, held: list[str], token: str) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            if held:
                with contextlib.suppress(RedisError, OSError):
                    await self._script(list(held), token, LOCK_TTL_MS)

    async def _script(self, keys: list[str], token: str, ttl_ms: int) -> None:
        await self.conn.client.eval(  # type: ignore[misc]
            _REFRESH_OR_RELEASE, len(keys), *keys, token, str(ttl_ms))
