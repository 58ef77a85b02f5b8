"""The takeover limit of the Redis engine, on a real sidecar process and the session's
real redis-server: a job SAQ handed out ``MAX_TAKEOVERS + 1`` times already (each
time its process died and the sweep re-queued it) is not run again: it ends ``error``
saying so, its job row and its SSE session both ended. One hand-out fewer, it still
runs.

The job is recorded and enqueued the way submit does (a ``JobRunner`` whose dispatcher
never starts a worker); its SAQ record is given the hand-outs before the last through
SAQ's own ``Job.update``; the last is a worker that takes the job and dies
(tests/support/saq_steps.py), whose job the real sweep must still re-queue (SAQ's
``retries``), not drop. Only then does the sidecar start and take it. No process is
killed and nothing waits on a child's output: every wait is a bounded poll.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from saq import Status

from sidecar.backends.redis.backend import RedisBackend
from sidecar.config import load_config
from sidecar.jobs.dispatch import MAX_TAKEOVERS
from sidecar.jobs.kinds import default_kinds
from sidecar.jobs.runner import JobRunner
from sidecar.jobs.saq_dispatch import HEARTBEAT_SECONDS, SWEEP_SECONDS, SWEPT
from sidecar.progress.engine import ProgressEngine
from sidecar.web.app import saq_dispatcher
from tests.support.saq_steps import taken_by_a_worker, worker_makes_active
from tests.support.sidecar_process import SidecarProcess
from tests.support.sse import iter_frames
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(120)

QUEUE = "igbridge"  # the queue every sidecar works from (web/app.py's open_dispatcher)
SAMPLE_EXPORT = Path(__file__).parents[2] / "sidecar" / "sample" / "instagram-export-sample.zip"
SCRAPE = {"type": "export", "path": str(SAMPLE_EXPORT)}
FINISHED = ("complete", "error", "cancelled")


async def queue_job_handed_out_before(redis_url: str, data_dir: Path, times: int) -> str:
    """A scrape job recorded and enqueued as submit does, that SAQ handed out ``times``
    times before, re-queued by the sweep each time its worker died."""
    backend = await RedisBackend.open(redis_url)
    progress = ProgressEngine(backend.events)
    await progress.start()
    dispatcher = saq_dispatcher(redis_url, name=QUEUE, concurrency=1)
    await dispatcher.queue.connect()
    try:
        config = load_config(env={"IGBRIDGE_DATA_DIR": str(data_dir),
                                  "IGBRIDGE_BACKEND": redis_url})
        async with httpx.AsyncClient() as http:
            runner = JobRunner(config, backend, progress, http, default_kinds(),
                               dispatcher=dispatcher)
            job_id = str((await runner.submit("scrape", SCRAPE))["job_id"])
        queue = dispatcher.queue
        saq_job = await queue.job(job_id)
        assert saq_job is not None
        await saq_job.update(attempts=times - 1, error=SWEPT)
        # The last hand-out: a worker takes the job, runs it, and dies.
        taken = await taken_by_a_worker(dispatcher, job_id)
        await worker_makes_active(taken, touched_ago_ms=(HEARTBEAT_SECONDS + 1) * 1000)
        assert await queue.sweep(SWEEP_SECONDS) == [taken.id]
        swept = await queue.job(job_id)
        assert swept is not None
        assert (swept.status, swept.attempts) == (Status.QUEUED, times)
        return job_id
    finally:
        await dispatcher.queue.disconnect()
        await progress.close()
        await backend.close()



def session_events(process: SidecarProcess, session_id: str) -> list[dict[str, Any]]:
    """The session's whole SSE stream: it ends after the terminal event."""
    with httpx.stream("GET", f"{process.url}/api/progress/stream/{session_id}",
                      params={"last_event_id": 0}, headers=process.headers,
                      timeout=30) as response:
        assert response.status_code == 200
        return [frame.data for frame in iter_frames(response)
                if frame.data and frame.data["type"] != "snapshot"]


@pytest.mark.parametrize(("handed_out_before", "status", "error"), [
    pytest.param(MAX_TAKEOVERS + 1, "error",
                 f"the sidecar processes running this job stopped {MAX_TAKEOVERS + 1} times;"
                 " it is not started again", id="past-the-limit"),
    pytest.param(MAX_TAKEOVERS, "complete", None, id="at-the-limit"),
])
def test_a_job_taken_over_too_often_ends_error_and_one_fewer_still_runs(
        tmp_path: Path, redis_url: str, handed_out_before: int, status: str,
        error: str | None) -> None:
    job_id = asyncio.run(queue_job_handed_out_before(redis_url, tmp_path / "prep",
                                                     handed_out_before))
    sidecar = SidecarProcess(tmp_path / "a", env={"IGBRIDGE_BACKEND": redis_url}).start()
    try:
        with httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=10) as api:
            job = wait_for(f"job {job_id} ended", lambda: (
                found if (found := api.get(f"/api/jobs/{job_id}").json())["status"] in FINISHED
                else None))
            assert (job["status"], job["error"]) == (status, error)
            # Past the limit it never started an attempt; at it, it ran the scrape.
            assert job["attempts"] == (0 if status == "error" else 1)
            assert (job["counts"]["total"] > 0) == (status == "complete")
            snapshot = api.get(f"/api/progress/status/{job['session_id']}").json()
            assert snapshot["status"] == status
            assert snapshot["message"] == (error or job["progress"]["message"])
            assert api.get("/healthz").json()["jobs_running"] == 0
        events = session_events(sidecar, job["session_id"])
        assert (events[-1]["type"], events[-1]["message"]) == (status, snapshot["message"])
    finally:
        sidecar.kill()
