"""Uploaded exports with several real sidecar processes on one real Redis (the session's
redis-server, emptied for each test) and one ``IGBRIDGE_UPLOADS_DIR``, as nginx spreads
them: chunks sent to either process make the file, the same chunk sent to both at once
is committed once, and a job naming the upload reads it on a process that never saw a
byte of it. Without the setting, every process says its uploads are its own.
(The real import through nginx and WordPress: tests/e2e/test_dev_stack_scaled.py.)"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.integration.test_redis_jobs import finished_job
from tests.integration.test_uploads_http import big_export, chunk
from tests.support.sidecar_process import SidecarProcess

pytestmark = pytest.mark.timeout(180)

SAMPLE_EXPORT = Path(__file__).parents[2] / "sidecar" / "sample" / "instagram-export-sample.zip"
CHUNK = 64 * 1024
CLIENT_TIMEOUT = 30.0


@pytest.fixture
def processes(tmp_path: Path,
              processes: Callable[..., SidecarProcess]) -> Callable[..., SidecarProcess]:
    """``start("a")``: the shared ``processes`` with the shared uploads dir
    (``shared=False``: none, its data dir's own)."""
    def start(name: str, *, shared: bool = True) -> SidecarProcess:
        return processes(name, env={"IGBRIDGE_UPLOADS_DIR": str(tmp_path / "uploads")}
                         if shared else None)

    return start


def create(api: httpx.Client, data: bytes, last_modified: int = 7) -> str:
    made = api.post("/api/uploads", json={"name": "export.zip", "size": len(data),
                                          "last_modified": last_modified})
    assert made.status_code in (200, 201), made.text
    return str(made.json()["upload_id"])


def stored(uploads_dir: Path) -> bytes:
    [path] = uploads_dir.glob("*/export.zip")
    return path.read_bytes()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_chunks_sent_to_either_process_in_turn_make_the_file(
        processes: Callable[..., SidecarProcess], tmp_path: Path) -> None:
    a, b = processes("a"), processes("b")
    data = big_export(tmp_path, 700 * 1024)
    with a.client(CLIENT_TIMEOUT) as on_a, b.client(CLIENT_TIMEOUT) as on_b:
        for process in (a, b):
            health = httpx.get(f"{process.url}/healthz", timeout=10).json()
            assert (health["uploads_shared"], health["uploads_warning"]) == (True, None)
        upload_id = create(on_a, data)
        # The same file chosen again on the other process resumes the same upload.
        assert create(on_b, data) == upload_id
        turns = [on_a, on_b]
        for index, at in enumerate(range(0, len(data), CHUNK)):
            sent = chunk(turns[index % 2], upload_id, at, data[at:at + CHUNK])
            assert sent.status_code == 200, sent.text
            assert sent.json()["offset"] == min(at + CHUNK, len(data))
        assert on_a.get(f"/api/uploads/{upload_id}").json() == on_b.get(
            f"/api/uploads/{upload_id}").json()
        assert on_b.get(f"/api/uploads/{upload_id}").json()["complete"] is True
    assert sha256(stored(tmp_path / "uploads")) == sha256(data)
    assert not any((tmp_path / name / "uploads").exists() for name in ("a", "b"))


def test_the_same_chunk_sent_to_both_processes_at_once_is_committed_once(
        processes: Callable[..., SidecarProcess], tmp_path: Path) -> None:
    a, b = processes("a"), processes("b")
    data = big_export(tmp_path, 600 * 1024)
    with a.client(CLIENT_TIMEOUT) as on_a, b.client(CLIENT_TIMEOUT) as on_b:
        upload_id = create(on_a, data)
        for at in range(0, len(data), CHUNK):
            piece = data[at:at + CHUNK]
            barrier = threading.Barrier(2)
            answers: dict[str, httpx.Response] = {}

            def send(name: str, api: httpx.Client, piece: bytes = piece, at: int = at,
                     barrier: threading.Barrier = barrier,
                     answers: dict[str, httpx.Response] = answers) -> None:
                barrier.wait()
                answers[name] = chunk(api, upload_id, at, piece)

            threads = [threading.Thread(target=send, args=("a", on_a)),
                       threading.Thread(target=send, args=("b", on_b))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            statuses = sorted(r.status_code for r in answers.values())
            assert statuses == [200, 409], {n: r.text for n, r in answers.items()}
            [refused] = [r for r in answers.values() if r.status_code == 409]
            assert refused.json()["error"]["code"] in (
                "upload_offset_mismatch", "upload_complete"), refused.text
            [accepted] = [r for r in answers.values() if r.status_code == 200]
            assert accepted.json()["offset"] == min(at + CHUNK, len(data))
        final = on_b.get(f"/api/uploads/{upload_id}").json()
        assert (final["offset"], final["complete"]) == (len(data), True)
    assert sha256(stored(tmp_path / "uploads")) == sha256(data)


def test_a_job_naming_the_upload_reads_it_on_a_process_that_received_none_of_it(
        processes: Callable[..., SidecarProcess], tmp_path: Path) -> None:
    a = processes("a")
    data = SAMPLE_EXPORT.read_bytes()
    with a.client(CLIENT_TIMEOUT) as on_a:
        upload_id = create(on_a, data)
        for at in range(0, len(data), CHUNK):
            assert chunk(on_a, upload_id, at, data[at:at + CHUNK]).status_code == 200
    a.kill()  # B is now the only worker: the job can run nowhere else
    b = processes("b")
    with b.client(CLIENT_TIMEOUT) as on_b:
        reply = on_b.post("/api/jobs", json={"kind": "scrape", "source": {
            "type": "export", "upload_ids": [upload_id]}})
        assert reply.status_code == 202, reply.text
        job = finished_job(on_b, reply.json()["job_id"])
        assert job["source"]["names"] == ["export.zip"]
        assert (job["status"], job["error"]) == ("complete", None), job
        assert job["counts"]["total"] == 8  # the sample export's posts
        assert job["counts"]["failed"] == 0
        assert str(tmp_path) not in str(job)  # no file name of the uploads dir is shown


def test_without_a_shared_uploads_dir_each_process_says_its_uploads_are_its_own(
        processes: Callable[..., SidecarProcess], tmp_path: Path) -> None:
    a, b = processes("a", shared=False), processes("b", shared=False)
    data = big_export(tmp_path, 1000)
    health = httpx.get(f"{b.url}/healthz", timeout=10).json()
    assert health["uploads_shared"] is False
    assert "IGBRIDGE_UPLOADS_DIR" in health["uploads_warning"]
    with a.client(CLIENT_TIMEOUT) as on_a, b.client(CLIENT_TIMEOUT) as on_b:
        upload_id = create(on_a, data)
        lost = chunk(on_b, upload_id, 0, data)
        assert lost.status_code == 404
        assert "IGBRIDGE_UPLOADS_DIR" in lost.json()["error"]["message"]
        refused = on_b.post("/api/jobs", json={"kind": "scrape", "source": {
            "type": "export", "upload_ids": [upload_id]}})
        assert (refused.status_code, refused.json()["error"]["code"]) == (422, "unknown_upload")
        assert "IGBRIDGE_UPLOADS_DIR" in refused.json()["error"]["message"]
    assert "IGBRIDGE_UPLOADS_DIR is not set" in a.log_path.read_text()
