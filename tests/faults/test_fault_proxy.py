"""The fault proxy itself, each mode against a real local HTTP server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.faults.fault_proxy import FaultProxy
from tests.support.media_server import MediaServer, wait_for

BODY = bytes(range(256)) * 64  # 16 KiB


@pytest.fixture
def upstream() -> Iterator[MediaServer]:
    server = MediaServer().start()
    server.add("/file", BODY, content_type="application/octet-stream")
    server.add("/slow", b"late", content_type="text/plain", delay=30)
    yield server
    server.stop()


@pytest.fixture
def proxy(upstream: MediaServer) -> Iterator[FaultProxy]:
    assert upstream.server is not None
    running = FaultProxy("127.0.0.1", upstream.server.server_address[1], seed=1).start()
    yield running
    running.stop()


def get(proxy: FaultProxy, path: str, timeout: float = 5.0) -> httpx.Response:
    return httpx.get(proxy.url + path, timeout=timeout)


def test_pass_through_forwards_both_ways(proxy: FaultProxy, upstream: MediaServer) -> None:
    for _ in range(3):
        reply = get(proxy, "/file")
        assert (reply.status_code, reply.content) == (200, BODY)
    assert upstream.hits["/file"] == 3
    assert proxy.stats["accepted"] == 3


@pytest.mark.parametrize("status", [502, 503])
def test_answer_replies_itself(proxy: FaultProxy, upstream: MediaServer, status: int) -> None:
    proxy.answer(status)
    reply = httpx.post(proxy.url + "/file", content=b"x" * 5000, timeout=5)
    assert reply.status_code == status
    assert reply.headers["server"] == "fault-proxy"
    assert f"{status} " in reply.text
    assert upstream.hits.get("/file", 0) == 0
    proxy.pass_through()
    assert get(proxy, "/file").status_code == 200


@pytest.mark.parametrize(("how", "error"), [
    ("rst", (httpx.ConnectError, httpx.ReadError)), ("fin", httpx.RemoteProtocolError),
])
def test_refuse_cuts_new_connections(proxy: FaultProxy, how: str,
                                     error: type[Exception] | tuple[type[Exception], ...]) -> None:
    proxy.refuse(how)  # type: ignore[arg-type]
    with pytest.raises(error):
        get(proxy, "/file")
    assert proxy.stats[f"cut_{how}"] == 1


def test_cut_after_bytes_delivers_exactly_that_many(proxy: FaultProxy) -> None:
    proxy.cut_after_bytes(3000, "fin")
    received = bytearray()

    def read_all() -> None:
        with httpx.stream("GET", proxy.url + "/file", timeout=5) as reply:
            for chunk in reply.iter_raw():
                received.extend(chunk)

    with pytest.raises(httpx.RemoteProtocolError):
        read_all()
    # The request went up whole (well under 3000 bytes); the rest of the budget is answer.
    assert 0 < len(received) < len(BODY)
    assert bytes(received) == BODY[: len(received)]


def test_cut_now_cuts_open_connections(proxy: FaultProxy) -> None:
    failure: list[BaseException] = []

    def slow_request() -> None:
        try:
            get(proxy, "/slow", timeout=20)
        except httpx.HTTPError as exc:
            failure.append(exc)

    worker = threading.Thread(target=slow_request)
    worker.start()
    wait_for(lambda: proxy.stats["accepted"] == 1)
    time.sleep(0.1)  # let the request reach the upstream
    assert proxy.cut_now("rst") == 1
    worker.join(5)
    assert len(failure) == 1
    assert isinstance(failure[0], httpx.ReadError)


def test_cut_randomly_is_seeded(upstream: MediaServer) -> None:
    assert upstream.server is not None
    port = upstream.server.server_address[1]
    draws = []
    for _ in range(2):
        with FaultProxy("127.0.0.1", port, seed=42) as proxy:
            proxy.cut_randomly(0.01, 0.2)
            for _ in range(4):
                with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
                    get(proxy, "/slow")
            draws.append((proxy.stats["cut_rst"], proxy.stats["cut_fin"], proxy.rng.random()))
    assert draws[0] == draws[1]
    assert draws[0][0] + draws[0][1] == 4


def test_latency_delays_but_delivers(proxy: FaultProxy) -> None:
    proxy.add_latency(0.2)
    began = time.monotonic()
    reply = get(proxy, "/file")
    assert reply.content == BODY
    # A functional lower bound (at least one delayed chunk each way), not a benchmark.
    assert time.monotonic() - began >= 0.4


def test_stall_never_forwards(proxy: FaultProxy, upstream: MediaServer) -> None:
    proxy.stall()
    with pytest.raises(httpx.ReadTimeout):
        get(proxy, "/file", timeout=0.5)
    assert upstream.hits.get("/file", 0) == 0
    assert proxy.stats["stalled"] == 1
    proxy.pass_through()
    assert get(proxy, "/file").content == BODY


def test_hang_holds_then_forwards(proxy: FaultProxy, upstream: MediaServer) -> None:
    proxy.hang(0.3)
    assert get(proxy, "/file").content == BODY
    assert proxy.stats["hung"] == 1


def test_hold_response_forwards_the_request_but_keeps_the_answer(
    proxy: FaultProxy, upstream: MediaServer
) -> None:
    held = proxy.hold_response(rb"GET /file HTTP/1\.1", nth=2)
    assert get(proxy, "/file").content == BODY  # the first match passes
    with httpx.Client(timeout=1.0) as client, pytest.raises(httpx.ReadTimeout):
        client.get(proxy.url + "/file")
    assert held.is_set()
    assert upstream.hits["/file"] == 2  # upstream did the work
    assert proxy.stats["held_bytes"] >= len(BODY)
