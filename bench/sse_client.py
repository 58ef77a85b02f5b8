"""A raw asyncio HTTP/1.1 client: SSE streams and keep-alive JSON requests.

httpx costs far more CPU per connection and per frame than the server we are
measuring; with 1,000 streams sharing two cores the client would become the
bottleneck. This speaks just enough HTTP/1.1 (Content-Length and chunked bodies)
and SSE (``id``/``data`` fields, comments ignored) for the benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

HOST = "127.0.0.1"
LIMIT = 1 << 20  # the StreamReader's line limit; a replay chunk can be large


class HttpError(Exception):
    def __init__(self, status: int, body: bytes):
        super().__init__(f"HTTP {status}: {body[:200]!r}")
        self.status = status
        self.body = body


async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionResetError("the server closed the connection")
    status = int(status_line.split(b" ", 2)[1])
    headers: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        key, _, value = line.decode("latin-1").partition(":")
        headers[key.strip().lower()] = value.strip()
    return status, headers


async def iter_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> AsyncIterator[bytes]:
    """The body as it arrives: one item per HTTP chunk (one server write)."""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size_line = await reader.readline()
            if not size_line:
                raise ConnectionResetError("the stream ended mid-body")
            size = int(size_line.split(b";", 1)[0], 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                return
            data = await reader.readexactly(size + 2)
            yield data[:-2]
    elif "content-length" in headers:
        length = int(headers["content-length"])
        if length:
            yield await reader.readexactly(length)
    else:
        while chunk := await reader.read(65536):
            yield chunk


async def read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    return b"".join([part async for part in iter_body(reader, headers)])


def request_bytes(method: str, path: str, port: int, headers: dict[str, str],
                  body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class HttpConnection:
    """One keep-alive connection; requests on it run one at a time."""

    def __init__(self, port: int, headers: dict[str, str] | None = None):
        self.port = port
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, payload: Any = None,
                      *, stamp: Callable[[], bytes] | None = None) -> tuple[int, bytes]:
        """Send and wait for the answer. ``stamp`` builds the body just before the write."""
        for attempt in (1, 2):
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(
                    HOST, self.port, limit=LIMIT)
            assert self._reader is not None
            body = stamp() if stamp else (json.dumps(payload).encode() if payload is not None
                                          else b"")
            try:
                self._writer.write(request_bytes(method, path, self.port, self.headers, body))
                status, head = await read_head(self._reader)
                data = await read_body(self._reader, head)
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt == 2:
                    raise
                continue  # a keep-alive connection the server had closed: once more
            if head.get("connection", "").lower() == "close":
                self.close()
            return status, data
        raise AssertionError("unreachable")

    async def json(self, method: str, path: str, payload: Any = None,
                   expect: int = 200) -> Any:
        status, data = await self.request(method, path, payload)
        if status != expect:
            raise HttpError(status, data)
        return json.loads(data) if data else None

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


@dataclass(slots=True)
class SseFrame:
    id: str | None  # opaque, as every client treats it
    data: str  # "" for a frame that only moves the id
    received: float  # time.monotonic() right after the frame was parsed


class SseParser:
    """Splits a decoded SSE body into frames; keeps an incomplete tail for the next feed."""

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, chunk: bytes) -> list[tuple[int | None, str]]:
        blocks = (self._tail + chunk).replace(b"\r\n", b"\n").split(b"\n\n")
        self._tail = blocks.pop()
        frames = []
        for block in blocks:
            event_id: str | None = None
            data: list[bytes] = []
            for line in block.split(b"\n"):
                if line.startswith(b"data:"):
                    data.append(line[6:] if line[5:6] == b" " else line[5:])
                elif line.startswith(b"id:"):
                    event_id = line[3:].strip().decode()
            if data or event_id is not None:
                frames.append((event_id, b"\n".join(data).decode()))
        return frames

    def count(self, chunk: bytes) -> int:
        """How many data frames the chunk completes, without decoding them."""
        return len([f for f in self.feed(chunk) if f[1]])


class SseStream:
    """One open ``text/event-stream`` response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 status: int, headers: dict[str, str]):
        self.reader = reader
        self.writer = writer
        self.status = status
        self.headers = headers
        self.parser = SseParser()

    @classmethod
    async def open(cls, port: int, path: str, headers: dict[str, str],
                   last_event_id: str | None = None) -> SseStream:
        request_headers = {"Accept": "text/event-stream", **headers}
        if last_event_id is not None:
            request_headers["Last-Event-ID"] = str(last_event_id)
        reader, writer = await asyncio.open_connection(HOST, port, limit=LIMIT)
        try:
            writer.write(request_bytes("GET", path, port, request_headers))
            status, head = await read_head(reader)
        except BaseException:
            writer.close()
            raise
        stream = cls(reader, writer, status, head)
        if status != 200:
            body = b""
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
                body = await asyncio.wait_for(read_body(reader, head), 2.0)
            stream.close()
            raise HttpError(status, body)
        return stream

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in iter_body(self.reader, self.headers):
            yield chunk

    async def frames(self) -> AsyncIterator[list[SseFrame]]:
        """Frames as they arrive, one list per server write."""
        async for chunk in self.chunks():
            parsed = self.parser.feed(chunk)
            if parsed:
                now = time.monotonic()
                yield [SseFrame(event_id, data, now) for event_id, data in parsed]

    def close(self) -> None:
        self.writer.close()
