"""Redis restarted under a running job: the job waits for it, then resumes from its
ledger and ends ``complete``, with every item once; nothing it recorded is lost.

Each job runs in a real sidecar process on its own real redis-server (AOF, fsync
always). The moment that matters is held until Redis is down: half a ``cache_images``
job's images, or WordPress's answer to an import's first batch of new posts (the real
WordPress, through a fault proxy), so the job meets the store gone just as it has
something to record.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from dev.stack import Stack
from tests.fakes.media_files import png
from tests.faults.exports import build_export
from tests.faults.fault_proxy import FaultProxy
from tests.faults.support import copies_in_wordpress, submit_import, wait_job, wordpress_sidecar
from tests.redis_server import RedisServer
from tests.support.media_server import MediaServer
from tests.support.sidecar_process import SidecarProcess
from tests.support.sse import iter_frames
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(180)

WAITING_SAID = "waiting for the store to answer again"
RESUMED_SAID = "the store answers again; the job goes on"
BATCH = rb"POST /wp-json/batch/v1 HTTP/1\.1"



def test_a_job_waits_out_a_redis_restart_and_resumes_from_its_ledger(tmp_path: Path) -> None:
    server = RedisServer.start(tmp_path / "redis")
    media = MediaServer().start()
    quick = [media.add(f"/quick/{n}.png", png(8 + n, 8)) for n in range(3)]
    held = [media.add(f"/held/{n}.png", png(8, 8 + n), delay=600) for n in range(3)]
    sidecar = SidecarProcess(tmp_path / "a", env={"IGBRIDGE_BACKEND": server.url}).start()
    try:
        with httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=10) as api:
            reply = api.post("/api/jobs", json={
                "kind": "cache_images", "source": {"type": "urls", "urls": quick + held}})
            assert reply.status_code == 202, reply.text
            job_id = reply.json()["job_id"]
            wait_for("the quick images recorded", lambda: api.get(
                f"/api/jobs/{job_id}").json()["counts"]["imported"] == len(quick))
            wait_for("the held images asked for",
                     lambda: all(media.hits.get(f"/held/{n}.png") for n in range(3)))

            server.stop()
            media.release.set()  # the held images arrive while Redis is away
            wait_for("the job noticed the store is gone",
                     lambda: WAITING_SAID in sidecar.log_path.read_text())
            server.start_again()

            def ended() -> dict[str, Any] | None:
                job: dict[str, Any] = api.get(f"/api/jobs/{job_id}").json()
                return job if job["status"] in ("complete", "error", "cancelled") else None

            job = wait_for("the job ended", ended)
            assert (job["status"], job["error"]) == ("complete", None), job
            # Resumed in place, not taken over after a heartbeat went stale: the outage
            # spent none of the retry policy's attempts.
            assert job["attempts"] == 1
            assert RESUMED_SAID in sidecar.log_path.read_text()
            by_url = {item["source_id"]: item["state"] for item in job["items"]}
            assert set(by_url) == set(quick + held)
            assert all(by_url[url] == "imported" for url in quick)  # kept across the outage
            assert all(by_url[url] in ("imported", "skipped") for url in held)
            assert job["counts"]["failed"] == job["counts"]["pending"] == 0

            # The session's stream replays to one terminal event, ids only increasing.
            with httpx.stream("GET", f"{sidecar.url}/api/progress/stream/{job['session_id']}",
                              headers={**sidecar.headers, "Last-Event-ID": "0"},
                              timeout=httpx.Timeout(10, read=30)) as response:
                frames = [f for f in iter_frames(response) if f.data]
            ends = [f.data["type"] for f in frames if f.data["type"] in (
                "complete", "error", "cancelled")]
            assert ends == ["complete"]
            ids = [f.id for f in frames if f.id is not None]
            assert ids == sorted(ids)
            assert len(set(ids)) == len(ids)
    finally:
        sidecar.kill()
        media.stop()
        server.stop()


def test_an_import_waits_out_a_redis_restart_and_makes_each_post_once(
    stack: Stack, tmp_path: Path,
) -> None:
    server = RedisServer.start(tmp_path / "redis")
    tag = f"redis-restart-{time.time_ns()}"
    export = build_export(tmp_path / f"{tag}.zip", tag, 6, seed=5)
    proxy = FaultProxy("127.0.0.1", stack.wp_port, seed=5).start()
    sidecar = wordpress_sidecar(stack, tmp_path / "a", wp_url=proxy.url, env={
        "IGBRIDGE_BACKEND": server.url, "IGBRIDGE_IMPORT_CONCURRENCY": "1",
        "IGBRIDGE_IMPORT_BATCH": "3"})
    try:
        sidecar.start()
        held = proxy.hold_response(BATCH, nth=1)  # the first wave's drafts
        with httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=10) as api:
            job_id = submit_import(api, {"type": "export", "path": str(export)})
            assert held.wait(60), "the sidecar never created the posts"
            # WordPress made three drafts; the sidecar hears of them only once Redis is
            # down: the answer is cut, so it looks them up, and has them to record.
            server.stop()
            proxy.cut_now()
            proxy.pass_through()
            wait_for("the job noticed the store is gone",
                     lambda: WAITING_SAID in sidecar.log_path.read_text())
            server.start_again()
            job = wait_job(api, job_id, timeout=120)
        assert (job["status"], job["error"]) == ("complete", None), job
        assert job["attempts"] == 1
        assert Counter(i["state"] for i in job["items"]) == {"imported": 6}, job["items"]
        ids = [i["source_id"] for i in job["items"]]
        assert copies_in_wordpress(stack, ids) == dict.fromkeys(ids, 1)
        assert len({i["wp_post_id"] for i in job["items"]}) == 6
    finally:
        sidecar.kill()
        proxy.stop()
        server.stop()
