"""A small SSE client for the CLI: follows a stream, reconnects with Last-Event-ID."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Frame:
    id: int | None
    data: dict[str, Any]


def parse_frames(buffer: str) -> tuple[list[tuple[str | None, str]], str]:
    """Split complete frames off ``buffer``: [(id, data)], rest. Comments are dropped."""
    frames = []
    while "\n\n" in buffer:
        block, buffer = buffer.split("\n\n", 1)
        event_id, data_lines = None, []
        for line in block.split("\n"):
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "id":
                event_id = value
            elif name == "data":
                data_lines.append(value)
        if data_lines or event_id is not None:
            frames.append((event_id, "\n".join(data_lines)))
    return frames, buffer


async def follow(
    client: httpx.AsyncClient,
    url: str,
    *,
    headers: dict[str, str],
    on_state: Any = None,
    max_backoff: float = 10.0,
) -> AsyncIterator[Frame]:
    """Yield frames until the server ends the stream for good (204 or a terminal close)."""
    last_id: int | None = None
    failures = 0
    while True:
        request_headers = dict(headers)
        if last_id is not None:
            request_headers["Last-Event-ID"] = str(last_id)
        try:
            async with client.stream("GET", url, headers=request_headers,
                                     timeout=httpx.Timeout(10.0, read=60.0)) as response:
                if response.status_code == 204:
                    return
                if response.status_code in (401, 403, 404):
                    body = (await response.aread()).decode(errors="replace")
                    raise httpx.HTTPStatusError(body, request=response.request,
                                                response=response)
                response.raise_for_status()
                failures = 0
                if on_state:
                    on_state("live")
                buffer = ""
                async for text in response.aiter_text():
                    buffer += text.replace("\r\n", "\n")
                    frames, buffer = parse_frames(buffer)
                    for raw_id, data in frames:
                        if raw_id:
                            last_id = int(raw_id)
                        if data:
                            yield Frame(int(raw_id) if raw_id else None, json.loads(data))
        except (httpx.TransportError, httpx.HTTPStatusError) as exc:
            if isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code in (
                401, 403, 404
            ):
                raise
            failures += 1
            if on_state:
                on_state("reconnecting")
            await asyncio.sleep(min(max_backoff, 0.5 * 2 ** min(failures, 6))
                                * random.uniform(0.5, 1.0))
