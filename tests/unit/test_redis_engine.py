"""What only the Redis engine has: per-post locks shared by processes, and its errors
when Redis is gone. On the test session's redis-server (``tests/redis_server.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from sidecar.backends.redis.backend import RedisBackend
from sidecar.backends.redis.connection import RedisConnection, parse_url
from sidecar.backends.redis.jobs import RedisJobQueue
from sidecar.backends.redis.locks import RedisPostLocks
from sidecar.errors import StorageError
from tests.redis_server import free_port


@pytest.fixture
async def two_processes(redis_url: str) -> AsyncIterator[tuple[RedisBackend, RedisBackend]]:
    """Two engines on one (emptied) Redis, as two sidecar processes have them."""
    first = await RedisBackend.open(redis_url)
    second = await RedisBackend.open(redis_url)
    yield first, second
    await first.close()
    await second.close()


async def set_calls(backend: RedisBackend) -> int:
    stats = await backend.conn.client.info("commandstats")
    return int(stats.get("cmdstat_set", {}).get("calls", 0))


async def test_a_post_held_by_one_process_waits_for_it_in_another(
        two_processes: tuple[RedisBackend, RedisBackend]) -> None:
    first, second = two_processes
    order: list[str] = []

    async def take_later() -> None:
        async with second.post_locks.hold("http://wp.test", ["p2", "p3"]):
            order.append("second holds")

    async with first.post_locks.hold("http://wp.test", ["p1", "p2"]):
        order.append("first holds")
        tries = await set_calls(first)
        waiting = asyncio.create_task(take_later())
        while await set_calls(first) < tries + 2:  # the second tried p2 and was refused
            await asyncio.sleep(0.01)
        assert not waiting.done()
        order.append("first lets go")
    await asyncio.wait_for(waiting, 10)
    assert order == ["first holds", "first lets go", "second holds"]
    # Each released what it held; the other site's posts were never taken.
    keys = await first.conn.client.keys(first.conn.key("post-lock", "*"))
    assert keys == []


async def test_a_holder_whose_lock_lapsed_never_frees_the_next_holders(
        two_processes: tuple[RedisBackend, RedisBackend]) -> None:
    first, _second = two_processes
    key = first.conn.key("post-lock", "http://wp.test", "p1")
    async with first.post_locks.hold("http://wp.test", ["p1"]):
        # The lock lapsed (a process that stalled past the TTL) and another took it.
        await first.conn.client.set(key, "someone-else")
    assert await first.conn.client.get(key) == b"someone-else"


async def test_redis_gone_is_a_storage_error_naming_it() -> None:
    port = free_port()  # nobody listens there
    conn = RedisConnection.open(parse_url(f"redis://127.0.0.1:{port}/0"))
    try:
        with pytest.raises(StorageError, match=f"Redis at 127.0.0.1:{port}/0 is unreachable"):
            await RedisJobQueue(conn).add("j", "j", "import", {}, {}, {})
        with pytest.raises(StorageError, match=f"Redis at 127.0.0.1:{port}/0 is unreachable"):
            async with RedisPostLocks(conn).hold("http://wp.test", ["p1"]):
                pass
    finally:
        await conn.close()
