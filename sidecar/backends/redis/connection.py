"""One Redis for the engine: the URL parsed, the asyncio client opened, keys prefixed.

Every key the engine writes starts with ``igbridge:`` so a Redis shared with other
software (or several igbridge installs, each with its own prefix) stays readable.
A Redis that cannot be reached is a ``StorageError`` (503) naming Redis, never a
stack trace.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ...errors import ConfigError, StorageError

KEY_PREFIX = "igbridge:"
# A command waits this long for Redis before the request fails with a 503.
SOCKET_TIMEOUT_SECONDS = 5.0

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class RedisConnection:
    client: aioredis.Redis
    url: str
    prefix: str = KEY_PREFIX

    @classmethod
    def open(cls, url: str, *, prefix: str = KEY_PREFIX) -> RedisConnection:
        """A client for ``redis://host:port/db`` (connections are made on first use)."""
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ConfigError(f"IGBRIDGE_BACKEND={url!r} must look like redis://host:port/db")
        client = aioredis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT_SECONDS,
                                         socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
                                         health_check_interval=30)
        return cls(client, url, prefix)

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    @property
    def where(self) -> str:
        """The Redis server as a person names it (no password)."""
        parts = urlsplit(self.url)
        return f"{parts.hostname}:{parts.port or 6379}"

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
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            where = _where(args)
            raise StorageError(f"Redis{where} is unreachable: {exc}") from exc
        except RedisError as exc:
            raise StorageError(f"Redis{_where(args)} refused the command: {exc}") from exc

    return guarded


def _where(args: Any) -> str:
    conn = getattr(args[0], "conn", None) if args else None
    return f" at {conn.where}" if isinstance(conn, RedisConnection) else ""
