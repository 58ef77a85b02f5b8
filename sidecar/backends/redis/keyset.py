"""Pages of a sorted set by ``(score, member)``: the keyset the SQLite engine orders by
(``created_at, job_id`` for jobs, ``position, source_id`` for items).

Redis orders members of equal score by their bytes, which is the same tie-break as
SQLite's second sort column, so a page is the members strictly past ``after`` in that
order: those sharing its score but past its member, then those past its score.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis


async def page(client: aioredis.Redis, key: str, *, newest_first: bool, limit: int,
               after: tuple[float, str] | None = None,
               below: float | None = None) -> list[str]:
    """Up to ``limit`` members of ``key`` after ``after``; ``below``: only scores less
    than that (newest-first pages only)."""
    if limit <= 0:
        return []
    found: list[str] = []
    bound: Any = "+inf" if newest_first else "-inf"
    if below is not None:
        bound = f"({below!r}"
    if after is not None:
        score, member = after
        ties = await _range(client, key, score, score, newest_first, 0, -1)
        found = [m for m in ties if (m < member if newest_first else m > member)][:limit]
        bound = f"({score!r}"
    rest = limit - len(found)
    if rest:
        end = "-inf" if newest_first else "+inf"
        found += await _range(client, key, bound, end, newest_first, 0, rest)
    return found


async def _range(client: aioredis.Redis, key: str, start: Any, end: Any, newest_first: bool,
                 offset: int, count: int) -> list[str]:
    if newest_first:
        raw = await client.zrevrangebyscore(key, start, end, start=offset, num=count)
    else:
        raw = await client.zrangebyscore(key, start, end, start=offset, num=count)
    return [m.decode() for m in raw]
