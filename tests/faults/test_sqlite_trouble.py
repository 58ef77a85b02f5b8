"""SQLite trouble under a running sidecar: the database locked by another process for
longer than the busy timeout, and the disk full.

Each time the request that needed a write gets a JSON ``storage_error`` naming the
problem, the sidecar keeps answering, it writes again once the trouble is over, the
database passes ``PRAGMA integrity_check`` and every event a client saw is still stored.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults.resuming_client import ResumingClient, stored_event_ids
from tests.faults.support import integrity_check
from tests.support.sidecar_process import SidecarProcess

BUSY_TIMEOUT_SECONDS = 5  # the sidecar's PRAGMA busy_timeout
LOCK_SECONDS = 8
DISK_BYTES = 4 * 1024 * 1024

LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of DISK_BYTES, unmounted afterwards (needs root and mount permission)."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES},mode=0700", "tmpfs",
         str(mount_point)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def open_followed_session(sidecar: SidecarProcess, api: httpx.Client, operation: str,
                          total_steps: int) -> tuple[str, ResumingClient, threading.Thread]:
    """A new progress session, and a client following its stream from another thread."""
    reply = api.post("/api/progress/sessions",
                     json={"operation": operation, "total_steps": total_steps})
    session_id = str(reply.json()["session_id"])
    client = ResumingClient(f"{sidecar.url}/api/progress/stream/{session_id}",
                            sidecar.headers)
    thread = threading.Thread(target=client.follow, name="sse-client")
    thread.start()
    return session_id, client, thread


def update(api: httpx.Client, session_id: str, step: int, **extra: Any) -> httpx.Response:
    return api.post(f"/api/progress/sessions/{session_id}/updates",
                    json={"step": step, "message": f"step {step}", **extra}, timeout=30)


def assert_storage_error(reply: httpx.Response, words: str) -> None:
    assert reply.status_code == 503, reply.text
    error = reply.json()["error"]
    assert error["code"] == "storage_error"
    assert words in error["message"], error["message"]


def assert_still_answering(sidecar: SidecarProcess, session_id: str) -> None:
    with httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=2) as api:
        assert api.get("/healthz").json()["status"] == "ok"
        assert api.get(f"/api/progress/status/{session_id}").status_code == 200


def finish_and_compare(sidecar: SidecarProcess, api: httpx.Client, session_id: str,
                       client: ResumingClient, reader: threading.Thread) -> None:
    reply = api.post(f"/api/progress/sessions/{session_id}/complete", json={"message": "done"})
    assert reply.status_code == 200, reply.text
    reader.join(30)
    assert client.finished
    stored = stored_event_ids(sidecar.url, session_id, sidecar.headers)
    assert set(client.event_ids) <= set(stored)  # nothing a client saw was lost
    assert client.event_ids == stored


def test_database_locked_longer_than_the_busy_timeout(tmp_path: Path) -> None:
    sidecar = SidecarProcess(tmp_path / "data").start()
    api = httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=30)
    locker: subprocess.Popen[str] | None = None
    clients: list[ResumingClient] = []
    try:
        session_id, client, reader = open_followed_session(sidecar, api, "locked", 100)
        clients.append(client)
        for step in range(1, 6):
            assert update(api, session_id, step).status_code == 200

        locker = subprocess.Popen(
            [sys.executable, "-c", LOCKER, str(sidecar.data_dir / "igbridge.sqlite3"),
             str(LOCK_SECONDS)], stdout=subprocess.PIPE, text=True, start_new_session=True)
        assert locker.stdout is not None
        assert locker.stdout.readline().strip() == "locked"
        blocked: list[httpx.Response] = []
        writer = threading.Thread(target=lambda: blocked.append(update(api, session_id, 6)))
        writer.start()
        # While the write waits out the busy timeout, reads are answered.
        assert_still_answering(sidecar, session_id)
        writer.join(BUSY_TIMEOUT_SECONDS + 10)
        assert_storage_error(blocked[0], "database is locked")
        assert_still_answering(sidecar, session_id)
        job = api.post("/api/jobs", json={"kind": "cache_images",
                                          "source": {"type": "urls", "urls": []}})
        assert job.status_code in (422, 503), job.text  # refused either way, clearly
        locker.wait(LOCK_SECONDS + 5)

        # The lock is gone: writing works again without a restart.
        reply = update(api, session_id, 7)
        assert reply.status_code == 200, reply.text
        finish_and_compare(sidecar, api, session_id, client, reader)
    finally:
        api.close()
        if locker:
            if locker.poll() is None:
                os.killpg(locker.pid, 9)
            locker.wait()
            if locker.stdout:
                locker.stdout.close()
        sidecar.kill()
        if clients:
            clients[0].stopped.set()
    assert integrity_check(sidecar.data_dir / "igbridge.sqlite3") == "ok"


def test_disk_full(small_disk: Path) -> None:
    sidecar = SidecarProcess(small_disk / "data").start()
    filler = small_disk / "filler"
    api = httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=30)
    clients: list[ResumingClient] = []
    try:
        session_id, client, reader = open_followed_session(sidecar, api, "disk full", 10_000)
        clients.append(client)
        assert update(api, session_id, 1).status_code == 200
        # Take all but a little of the disk, then write events until it is full.
        free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        with filler.open("wb") as handle:
            handle.write(b"\0" * max(0, free - 64 * 1024))
        payload = {"blob": "x" * 8000}
        failure: httpx.Response | None = None
        for step in range(2, 200):
            reply = update(api, session_id, step, details=payload)
            if reply.status_code != 200:
                failure = reply
                break
        assert failure is not None, "the disk never filled up"
        assert_storage_error(failure, "full")
        assert_still_answering(sidecar, session_id)

        filler.unlink()
        reply = update(api, session_id, step + 1)
        assert reply.status_code == 200, reply.text
        finish_and_compare(sidecar, api, session_id, client, reader)
    finally:
        api.close()
        sidecar.kill()
        if clients:
            clients[0].stopped.set()
        with contextlib.suppress(FileNotFoundError):
            filler.unlink()
    assert integrity_check(sidecar.data_dir / "igbridge.sqlite3") == "ok"
