"""Following one event stream for the CLI: httpx-sse reads the frames, this reconnects.

Ids are opaque strings (integers on SQLite, stream ids on Redis): kept exactly as
received and sent back as ``Last-Event-ID``. The wait before a reconnect is the
server's ``retry:``, doubled for each failed attempt in a row.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import SSEError, aconnect_sse

DEFAULT_RETRY_SECONDS = 2.0  # until the server says otherwise (the sidecar sends 2000 ms)
MAX_BACKOFF_SECONDS = 30.0
# The sidecar sends a heartbeat every 15 s: a minute of silence is a dead connection.
TIMEOUT = httpx.Timeout(10.0, read=60.0)


@dataclass(frozen=True)
class Event:
    id: str | None
    data: dict[str, Any]


class StreamError(Exception):
    """The stream cannot be followed, and waiting will not change that: the sidecar
    refused it (``status``) or answered something that is not its event stream."""

    def __init__(self, status: int | None, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def error_message(response: httpx.Response) -> str:
    """The sentence of the sidecar's error envelope, or what the answer was."""
    try:
        error = response.json().get("error", {})
        message = error.get("message") if isinstance(error, dict) else None
    except (ValueError, AttributeError):
        message = None
    return str(message) if message else f"HTTP {response.status_code} without an explanation"


async def follow(
    client: httpx.AsyncClient,
    url: str,
    *,
    headers: dict[str, str],
    on_state: Callable[[str], None] | None = None,
) -> AsyncGenerator[Event, None]:
    """Yield the stream's events, reconnecting after a cut, until the server answers
    204 (nothing more will come). The caller stops earlier by leaving the loop."""
    last_id: str | None = None
    retry = DEFAULT_RETRY_SECONDS
    failures = 0
    while True:
        request_headers = dict(headers)
        if last_id is not None:
            request_headers["Last-Event-ID"] = last_id
        try:
            async with aconnect_sse(client, "GET", url, headers=request_headers,
                                    timeout=TIMEOUT) as source:
                response = source.response
                if response.status_code == 204:
                    return
                if 400 <= response.status_code < 500 and response.status_code != 429:
                    await response.aread()
                    raise StreamError(response.status_code, error_message(response))
                response.raise_for_status()
                failures = 0
                if on_state:
                    on_state("live")
                async for sse in source.aiter_sse():
                    if sse.retry is not None:
                        retry = sse.retry / 1000
                    if sse.id:
                        last_id = sse.id
                    if sse.data:
                        yield Event(sse.id or None, _decode(sse.data))
        except SSEError as exc:  # not an event stream at all: a proxy's page, say
            raise StreamError(None, f"{url} did not answer with an event stream: {exc}") from None
        except (httpx.TransportError, httpx.HTTPStatusError):
            failures += 1
        if on_state:
            on_state("reconnecting")
        # A clean end waits the server's retry; failures in a row wait longer each time.
        delay = max(retry, min(MAX_BACKOFF_SECONDS, retry * 2 ** max(failures - 1, 0)))
        await asyncio.sleep(delay * random.uniform(1.0, 1.2))


def _decode(data: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        raise StreamError(None, f"the sidecar sent an event that is not JSON: {data[:80]!r}")\
            from None
    if not isinstance(value, dict):
        raise StreamError(None, f"the sidecar sent an event that is not an object: "
                                f"{data[:80]!r}")
    return value
