"""Where the Redis engine's data lives: the URL, the clients, the key names, the epoch.

``IGBRIDGE_BACKEND=redis://[:password@]host:port/db[?maxlen=N]``. Every key starts
with ``igbridge:``. The epoch is a random word stored in Redis and created when it is
missing: it is part of every event id, so an id handed out by a Redis that was since
flushed or replaced is recognised as not of this log (the client gets a reset).
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qs, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from ...errors import StorageError

PREFIX = "igbridge:"
# Events kept in the stream (trimmed with MAXLEN ~): about eight minutes at 200
# events/s (100 sessions x 2 updates/s), so a client back within minutes replays.
DEFAULT_MAXLEN = 100_000
EPOCH_KEY = PREFIX + "epoch"
# Connections one client of a process may open. A burst (a hundred streams opening at
# once, each reading its snapshot) waits up to POOL_WAIT_SECONDS for a free one instead
# of opening a connection each: Redis's maxclients is shared by every process.
MAX_CONNECTIONS = 16
POOL_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class RedisSettings:
    url: str  # without igbridge's own query parameters
    where: str  # host:port/db, for messages (never the password)
    maxlen: int


def parse_url(url: str) -> RedisSettings:
    """A ``redis://`` URL (``config.py`` has checked it); igbridge's ``maxlen`` taken out
    of it, what is left handed to redis-py."""
    parts = urlsplit(url)
    maxlen = parse_qs(parts.query).get("maxlen", [str(DEFAULT_MAXLEN)])[-1]
    where = f"{parts.hostname}:{parts.port}/{parts.path.lstrip('/') or '0'}"
    return RedisSettings(url=parts._replace(query="").geturl(), where=where,
                         maxlen=int(maxlen))


COMMAND_TIMEOUT_SECONDS = 5.0
# A blocking read (XREAD BLOCK, SAQ's BLMOVE) answers within its block time; this much
# longer without a byte means the host vanished without a reset (a cable, a VM gone):
# the read fails and is tried again on a new connection instead of waiting forever.
BLOCKING_MARGIN_SECONDS = 5.0


def open_client(settings: RedisSettings, *, blocking_seconds: float | None = None) -> Redis:
    """A client (a pool of connections); ``blocking_seconds`` for the one XREAD loop,
    whose reads wait that long for an event before they answer."""
    if blocking_seconds is None:
        return bounded_client(settings, decode_responses=True,
                              socket_timeout=COMMAND_TIMEOUT_SECONDS, health_check_interval=15)
    return bounded_client(
        settings, decode_responses=True, max_connections=2, health_check_interval=0,
        socket_timeout=blocking_seconds + BLOCKING_MARGIN_SECONDS, socket_keepalive=True)


def blocking_client(settings: RedisSettings, *, block_seconds: float,
                    max_connections: int) -> Redis:
    """A client of byte replies for blocking reads of up to ``block_seconds`` (SAQ's
    BLMOVE), with the margin and keepalive that notice a vanished host."""
    return bounded_client(settings, max_connections=max_connections, health_check_interval=15,
                          socket_timeout=block_seconds + BLOCKING_MARGIN_SECONDS,
                          socket_keepalive=True)


def bounded_client(settings: RedisSettings, *, max_connections: int | None = None,
                   **options: Any) -> Redis:
    """A client whose pool opens at most ``max_connections`` (``MAX_CONNECTIONS``) and
    makes a burst wait for one; running out for ``POOL_WAIT_SECONDS`` is a
    ``ConnectionError``, which callers report as Redis being unreachable."""
    pool = BlockingConnectionPool.from_url(
        settings.url, max_connections=max_connections or MAX_CONNECTIONS,
        timeout=POOL_WAIT_SECONDS, socket_connect_timeout=2.0, **options)
    return Redis.from_pool(pool)


def unreachable(settings: RedisSettings, exc: Exception) -> StorageError:
    return StorageError(f"Redis at {settings.where} is unreachable or refused the write: {exc}")


# XINFO STREAM's entries-added (how the event log tells a trimmed id from a kept one)
# came with Redis 7.0; an older server would make every resume look whole.
MIN_REDIS_VERSION = (7, 0)


def version_problem(version: str, where: str) -> str | None:
    """Why this Redis server cannot hold igbridge's data (None: it can)."""
    try:
        found = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return f"Redis at {where} reports a version igbridge cannot read: {version!r}"
    if found < MIN_REDIS_VERSION:
        wanted = ".".join(map(str, MIN_REDIS_VERSION))
        return (f"Redis at {where} is version {version}; igbridge needs Redis {wanted} or"
                f" newer (its event log reads XINFO STREAM entries-added)")
    return None


async def require_supported_version(client: Redis, settings: RedisSettings) -> None:
    try:
        info = await client.info("server")
    except RedisError as exc:
        raise unreachable(settings, exc) from exc
    problem = version_problem(str(info.get("redis_version", "")), settings.where)
    if problem is not None:
        raise StorageError(problem)


async def current_epoch(client: Redis, settings: RedisSettings) -> str:
    """The epoch, created when missing (a new or flushed Redis)."""
    try:
        await client.set(EPOCH_KEY, secrets.token_hex(4), nx=True)
        epoch = await client.get(EPOCH_KEY)
    except RedisError as exc:
        raise unreachable(settings, exc) from exc
    return str(epoch)


# -- the jobs, ledger, media, sources and locks side: byte replies, prefixed keys -------

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class RedisConnection:
    """What the engine's parts besides the event log share: one client (byte replies:
    they decode what they read themselves), the settings, the key prefix."""

    client: Redis
    settings: RedisSettings
    prefix: str = PREFIX

    @classmethod
    def open(cls, settings: RedisSettings) -> RedisConnection:
        return cls(bounded_client(settings, socket_timeout=COMMAND_TIMEOUT_SECONDS,
                                  health_check_interval=15), settings)

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    @property
    def where(self) -> str:
        return self.settings.where

    async def close(self) -> None:
        await self.client.aclose()


def storage_errors(
    method: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """Redis failing becomes the ``StorageError`` every caller already handles."""

    @functools.wraps(method)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except (RedisError, OSError) as exc:
            conn = getattr(args[0], "conn", None) if args else None
            if isinstance(conn, RedisConnection):
                raise unreachable(conn.settings, exc) from exc
            raise StorageError(f"Redis is unreachable or refused the command: {exc}") from exc

    return guarded
