"""A TCP fault proxy: sits between a client and a server and misbehaves on demand.

It runs its own asyncio loop in a background thread, listens on a free
127.0.0.1 port and forwards to one upstream. The mode can be switched at any
time from the test's thread; a new mode applies to connections accepted from
then on (``cut_now`` acts on the open ones, ``add_latency`` on every chunk).

    proxy = FaultProxy("127.0.0.1", 8080, seed=7).start()
    proxy.cut_randomly(0.05, 1.0)      # every connection dies after a random while
    proxy.answer(503)                  # the proxy itself says 503 to every request
    proxy.pass_through()
    proxy.stop()

Modes: pass through; ``refuse`` (cut each new connection at once, RST or FIN);
``cut_now``; ``cut_after_bytes``; ``cut_randomly`` (seeded); ``answer`` (an HTTP
status of its own); ``add_latency``; ``stall`` (accept, read, never forward);
``hang`` (hold new connections for a while, then forward); ``hold_response``
(forward the N-th matching request, then keep its answer from the client).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

Cut = Literal["rst", "fin"]
T = TypeVar("T")

CHUNK = 64 * 1024
REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
           504: "Gateway Timeout", 429: "Too Many Requests"}


@dataclass(frozen=True)
class Mode:
    kind: str = "pass"
    how: Cut = "rst"
    nbytes: int = 0
    min_seconds: float = 0.0
    max_seconds: float = 0.0
    hows: tuple[Cut, ...] = ("rst",)
    status: int = 503
    seconds: float = 0.0
    pattern: re.Pattern[bytes] | None = None
    nth: int = 0


@dataclass(eq=False)
class _Connection:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    forwarded: int = 0
    cut_at_bytes: int | None = None
    cut_how: Cut = "rst"
    holding: bool = False
    stalled: bool = False
    held: bytearray = field(default_factory=bytearray)
    scan_tail: bytes = b""
    closed: bool = False


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int, *, seed: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.rng = random.Random(seed)
        self.stats: Counter[str] = Counter()
        self.response_held = threading.Event()
        self._mode = Mode()
        self._latency = 0.0
        self._connections: set[_Connection] = set()
        self._matches = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy",
                                        daemon=True)
        self.port = 0

    # ---- life cycle (called from the test's thread) ------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        self._server = self._call(lambda: asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for conn in list(self._connections):
                self._cut(conn, "rst")
            await asyncio.sleep(0)
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for conn in list(self._connections):
                self._close(conn)
            await asyncio.sleep(0.05)  # let the transports' close callbacks run

        self._call(shutdown)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _call(self, make: Callable[[], Any]) -> Any:
        """Run ``make()`` (a coroutine function or a plain one) in the proxy's loop."""
        async def run() -> Any:
            result = make()
            if asyncio.iscoroutine(result):
                result = await result
            return result

        future: Future[Any] = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return future.result(10)

    # ---- modes -------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        return self._mode.kind

    def pass_through(self) -> None:
        self._mode = Mode()
        self._latency = 0.0

    def refuse(self, how: Cut = "rst") -> None:
        """Accept and cut at once every new connection (``rst``: reset, ``fin``: close)."""
        self._mode = Mode("refuse", how=how)

    def cut_now(self, how: Cut = "rst") -> int:
        """Cut every open connection now; returns how many were cut."""
        def cut_all() -> int:
            open_now = [c for c in self._connections if not c.closed]
            for conn in open_now:
                self._cut(conn, how)
            return len(open_now)

        return int(self._call(cut_all))

    def cut_after_bytes(self, nbytes: int, how: Cut = "rst") -> None:
        """Each new connection is cut once ``nbytes`` have gone through it (both ways)."""
        if nbytes < 0:
            raise ValueError("nbytes must not be negative")
        self._mode = Mode("cut_after", how=how, nbytes=nbytes)

    def cut_randomly(self, min_seconds: float, max_seconds: float,
                     hows: tuple[Cut, ...] = ("rst", "fin")) -> None:
        """Each new connection is cut after a uniform random while, by a random method,
        both drawn from the proxy's seeded generator in accept order."""
        if not 0 <= min_seconds <= max_seconds:
            raise ValueError("need 0 <= min_seconds <= max_seconds")
        self._mode = Mode("random_cuts", min_seconds=min_seconds, max_seconds=max_seconds,
                          hows=hows)

    def answer(self, status: int) -> None:
        """Answer every new request with ``status`` (502, 503…) without asking upstream."""
        self._mode = Mode("answer", status=status)

    def add_latency(self, seconds: float) -> None:
        """Delay every forwarded chunk, both ways, on every connection."""
        self._latency = seconds

    def stall(self) -> None:
        """Accept new connections and read what they send, but never forward or answer;
        open connections stop forwarding requests too (answers under way still arrive)."""
        self._mode = Mode("stall")

    def hang(self, seconds: float) -> None:
        """Hold new connections for ``seconds`` (reading nothing), then forward them."""
        self._mode = Mode("hang", seconds=seconds)

    def hold_response(self, request_pattern: bytes, nth: int) -> threading.Event:
        """Forward requests, but once the ``nth`` request matching ``request_pattern`` (a
        regex over the raw request bytes, counted from now) has gone upstream, keep every
        byte of the answer on that connection from the client. ``response_held`` is set
        when the first byte of that answer arrived: upstream has done the work."""
        if nth < 1:
            raise ValueError("nth counts from 1")
        self._matches = 0
        self.response_held.clear()
        self._mode = Mode("hold", pattern=re.compile(request_pattern), nth=nth)
        return self.response_held

    # ---- the loop's side ---------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(client=writer)
        self._connections.add(conn)
        mode = self._mode
        self.stats["accepted"] += 1
        try:
            if mode.kind == "refuse":
                self._cut(conn, mode.how)
                if mode.how == "fin":
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(_drain(reader), 5)
                return
            if mode.kind == "answer":
                await self._answer(reader, writer, mode.status)
                return
            if mode.kind == "stall":
                self.stats["stalled"] += 1
                await _drain(reader)
                return
            if mode.kind == "hang":
                self.stats["hung"] += 1
                await asyncio.sleep(mode.seconds)
            if mode.kind == "cut_after":
                conn.cut_at_bytes, conn.cut_how = mode.nbytes, mode.how
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                self.stats["upstream_refused"] += 1
                self._cut(conn, "rst")
                return
            conn.upstream = up_writer
            if mode.kind == "random_cuts":
                delay = self.rng.uniform(mode.min_seconds, mode.max_seconds)
                how = self.rng.choice(mode.hows)
                asyncio.get_running_loop().call_later(delay, self._cut, conn, how)
            await asyncio.gather(
                self._pump(conn, reader, up_writer, mode, requests=True),
                self._pump(conn, up_reader, writer, mode, requests=False),
            )
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            # Only ``stop`` cancels; ending quietly keeps asyncio's stream callback from
            # logging the cancellation as an error.
            pass
        finally:
            self._close(conn)
            self._connections.discard(conn)

    async def _pump(self, conn: _Connection, source: asyncio.StreamReader,
                    target: asyncio.StreamWriter, mode: Mode, *, requests: bool) -> None:
        try:
            while True:
                data = await source.read(CHUNK)
                if not data:
                    break
                if self._latency:
                    await asyncio.sleep(self._latency)
                if conn.closed:
                    continue  # cut with FIN: read and drop until the peer closes too
                if requests and (conn.stalled or self._mode.kind == "stall"):
                    # Stalled from now on: what the client sends goes nowhere.
                    if not conn.stalled:
                        conn.stalled = True
                        self.stats["stalled"] += 1
                    continue
                if requests and mode.kind == "hold" and not conn.holding:
                    self._scan_request(conn, data, mode)
                if not requests and conn.holding:
                    conn.held.extend(data)
                    self.stats["held_bytes"] += len(data)
                    self.response_held.set()
                    continue
                if conn.cut_at_bytes is not None:
                    room = conn.cut_at_bytes - conn.forwarded
                    if len(data) >= room:
                        target.write(data[:room])
                        conn.forwarded += room
                        with contextlib.suppress(ConnectionError):
                            await target.drain()
                        self._cut(conn, conn.cut_how)
                        return
                target.write(data)
                conn.forwarded += len(data)
                await target.drain()
            # Half-close: the other side learns of the end, the opposite direction goes on.
            # A held answer's end is kept from the client too: it hears nothing at all.
            if conn.holding and not requests:
                return
            if not conn.closed and target.can_write_eof() and not target.is_closing():
                target.write_eof()
        except (ConnectionError, OSError):
            self._close(conn)

    def _scan_request(self, conn: _Connection, data: bytes, mode: Mode) -> None:
        assert mode.pattern is not None
        window = conn.scan_tail + data
        found = len(mode.pattern.findall(window))
        # Keep a tail so a request line split across reads is still seen once.
        conn.scan_tail = window[-256:] if found == 0 else b""
        if found:
            self._matches += found
            if self._matches >= mode.nth:
                conn.holding = True
                self.stats["held_connections"] += 1

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      status: int) -> None:
        """Read one request (head and body) and answer ``status`` like a failing gateway."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            return
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        if length:
            with contextlib.suppress(asyncio.IncompleteReadError, TimeoutError):
                await asyncio.wait_for(reader.readexactly(int(length[1])), 10)
        reason = REASONS.get(status, "Error")
        body = (f"<html><head><title>{status} {reason}</title></head><body><center>"
                f"<h1>{status} {reason}</h1></center><hr><center>fault-proxy</center>"
                "</body></html>\n").encode()
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nServer: fault-proxy\r\n"
            f"Content-Type: text/html\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode() + body
        )
        await writer.drain()
        self.stats[f"answered_{status}"] += 1

    def _cut(self, conn: _Connection, how: Cut) -> None:
        if conn.closed:
            return
        self.stats[f"cut_{how}"] += 1
        for writer in (conn.client, conn.upstream):
            if writer is None or writer.is_closing():
                continue
            if how == "rst":
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        struct.pack("ii", 1, 0))
                writer.transport.abort()
            elif writer.can_write_eof():
                # FIN now; the pumps go on reading (and dropping) until the peer closes,
                # since closing with unread bytes would make the kernel send RST instead.
                writer.write_eof()
            else:
                writer.close()
        conn.closed = True

    def _close(self, conn: _Connection) -> None:
        conn.closed = True
        for writer in (conn.client, conn.upstream):
            if writer is not None and not writer.is_closing():
                writer.close()


async def _drain(reader: asyncio.StreamReader) -> None:
    """Read and drop until the peer closes."""
    while await reader.read(CHUNK):
        pass
