"""How ``igbridge jobs watch`` reads an event stream, byte by byte as a network cuts it.

A real HTTP server stands in for the sidecar and writes each stream in chunks that
split where TCP may split them: a ``\\r\\n`` across two chunks, lines ended by a bare
``\\r`` (both allowed by the SSE specification), ids that are not numbers (SSE ids are
opaque strings: Redis stream ids look like ``1700000000000-0``), and a ``retry:`` the
client must wait before it reconnects with the last id it saw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.http_server import serving

JOB_ID = "5e0c1f9a2b3d4c5e6f708192a3b4c5d6"
SECRET = "stream-test-secret"


def event(**fields: Any) -> bytes:
    snapshot = {"session_id": JOB_ID, "operation": "import", "status": "running",
                "phase": "importing", "done": 1, "total": 2, "percentage": 50.0,
                "rate": 2.0, "rate_unit": "posts/s", "eta_seconds": 1.0,
                "message": "Imported 1 of 2", "type": "progress"}
    snapshot.update(fields)
    return json.dumps(snapshot).encode()


PROGRESS = event()
COMPLETE = event(type="complete", status="complete", done=2, percentage=100.0,
                 eta_seconds=None, message="Imported 2 of 2")
PROGRESS_LINE = " 50% importing 1/2 · 2.0 posts/s · about 1 s left · Imported 1 of 2"
FINAL_LINE = "complete: Imported 2 of 2"

# A script is what one connection receives: bytes are written and flushed as one
# chunk, a float pauses (so the next chunk arrives on its own).
Script = list[bytes | float]


@dataclass
class Connection:
    last_event_id: str | None
    began: float
    ended: float | None = None


@dataclass
class FakeSidecar:
    """Just enough of the sidecar for ``jobs watch``: the job by id, and its stream."""

    scripts: list[Script]
    connections: list[Connection] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def handler_for(fake: FakeSidecar) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if self.headers.get("Authorization") != f"Bearer {SECRET}":
                self._json(401, {"error": {"code": "unauthorized", "message": "wrong secret"}})
            elif self.path == f"/api/jobs/{JOB_ID[:8]}":
                self._json(200, {"job_id": JOB_ID, "short_id": JOB_ID[:8],
                                 "session_id": JOB_ID, "kind": "import", "status": "running"})
            elif self.path == f"/api/progress/stream/{JOB_ID}":
                self._stream()
            else:
                self._json(404, {"error": {"code": "not_found", "message": "no such path"}})

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self) -> None:
            with fake.lock:
                connection = Connection(self.headers.get("Last-Event-ID"), time.monotonic())
                fake.connections.append(connection)
                script = fake.scripts.pop(0) if fake.scripts else None
            if script is None:  # everything was sent: what the sidecar says then
                self.send_response(204)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()  # HTTP/1.0: the body ends when the connection closes
            self.wfile.flush()
            for part in script:
                if isinstance(part, float):
                    time.sleep(part)
                else:
                    self.wfile.write(part)
                    self.wfile.flush()
            connection.ended = time.monotonic()

    return Handler


@pytest.fixture
def fake_sidecar(request: pytest.FixtureRequest) -> Iterator[tuple[FakeSidecar, str]]:
    fake = FakeSidecar(scripts=list(request.param))
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), handler_for(fake))) as address:
        yield fake, f"http://{address}"


def watch(url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IGBRIDGE_")}
    env.update({"IGBRIDGE_URL": url, "IGBRIDGE_SECRET": SECRET, "COLUMNS": "160"})
    return subprocess.run([sys.executable, "-m", "sidecar", "jobs", "watch", JOB_ID[:8]],
                          env=env, capture_output=True, text=True, timeout=20,
                          stdin=subprocess.DEVNULL)


CRLF_SPLIT: Script = [
    b"retry: 100\r\n\r\n",
    b"id: 7\r\ndata: " + PROGRESS + b"\r\n\r", 0.2,
    b"\nid: 8\r\ndata: " + COMPLETE + b"\r", 0.2,
    b"\n\r\n",
]


@pytest.mark.parametrize("fake_sidecar", [[CRLF_SPLIT]], indirect=True)
def test_a_crlf_split_across_chunks_is_one_line_end(fake_sidecar: tuple[FakeSidecar, str]) -> None:
    fake, url = fake_sidecar
    result = watch(url)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [PROGRESS_LINE, FINAL_LINE]
    assert len(fake.connections) == 1  # the terminal event ends the watch: no reconnect


BARE_CR: Script = [
    b"retry: 100\r\r",
    b": a comment\rid: 7\rdata: " + PROGRESS + b"\r\r", 0.2,
    b"id: 8\rdata: " + COMPLETE + b"\r", 0.2, b"\r",
]


@pytest.mark.parametrize("fake_sidecar", [[BARE_CR]], indirect=True)
def test_a_bare_cr_ends_a_line(fake_sidecar: tuple[FakeSidecar, str]) -> None:
    fake, url = fake_sidecar
    result = watch(url)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [PROGRESS_LINE, FINAL_LINE]
    assert len(fake.connections) == 1


OPAQUE_IDS_THEN_CUT: list[Script] = [
    [b"retry: 1500\n\n", b"id: 1700000000000-0\ndata: " + PROGRESS + b"\n\n", 0.1],
    [b"id: 1700000000001-0\ndata: " + COMPLETE + b"\n\n"],
]


@pytest.mark.parametrize("fake_sidecar", [OPAQUE_IDS_THEN_CUT], indirect=True)
def test_opaque_ids_are_resumed_after_the_servers_retry(
    fake_sidecar: tuple[FakeSidecar, str]
) -> None:
    fake, url = fake_sidecar
    result = watch(url)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [PROGRESS_LINE, "connection lost; reconnecting…",
                                          FINAL_LINE]
    first, second = fake.connections
    assert (first.last_event_id, second.last_event_id) == (None, "1700000000000-0")
    assert first.ended is not None
    # The server asked for 1.5 s between a cut and the reconnect; not sooner.
    assert second.began - first.ended >= 1.5
