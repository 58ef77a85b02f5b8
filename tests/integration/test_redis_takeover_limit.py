"""A job whose processes keep dying, through SAQ on a real Redis: each "process" is a
SAQ worker of its own (a child process) that takes the job and is killed with
``kill -9``; SAQ's sweep hands the job on each time. Past ``MAX_TAKEOVERS`` the job
ends ``error`` saying so, in igbridge's own record, instead of SAQ's sweep dropping
it while igbridge's row waits forever."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sidecar.backends.redis.backend import RedisBackend
from sidecar.config import load_config
from sidecar.jobs import saq_dispatch
from sidecar.jobs.context import JobContext, JobKind
from sidecar.jobs.dispatch import MAX_TAKEOVERS
from sidecar.jobs.runner import JobRunner
from sidecar.progress.engine import ProgressEngine
from sidecar.web.app import saq_dispatcher

QUEUE = "igbridge"
REPO = Path(__file__).parents[2]

# A SAQ worker of the real dispatcher whose job never ends: it says which takeover it
# runs, then waits to be killed.
DOOMED_WORKER = """
import asyncio, sys
from sidecar.web.app import saq_dispatcher

async def main() -> None:
    dispatcher = saq_dispatcher(sys.argv[1], name=sys.argv[2], concurrency=1)
    async def run(job_id: str, takeovers: int) -> None:
        print(f"running {job_id} {takeovers}", flush=True)
        await asyncio.Event().wait()
    await dispatcher.start(run)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def finishes(ctx: JobContext) -> str:
    return "Done"


@pytest.fixture
async def backend(redis_url: str) -> AsyncIterator[RedisBackend]:
    opened = await RedisBackend.open(redis_url)
    yield opened
    await opened.close()


def doomed_worker_takes_the_job(redis_url: str) -> int:
    """Start a worker, wait for it to run the job, kill -9 it; its takeover number."""
    worker = subprocess.Popen(
        [sys.executable, "-c", DOOMED_WORKER, redis_url, QUEUE], cwd=REPO,
        stdout=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert worker.stdout is not None
        line = worker.stdout.readline()  # blocks until the worker runs the job
        assert line.startswith("running "), line
        return int(line.split()[2])
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        if worker.stdout is not None:
            worker.stdout.close()


async def test_a_job_taken_over_too_often_ends_error_saying_so(
        tmp_path: Path, redis_url: str, backend: RedisBackend,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A dead worker's job is swept after a second untouched, not eight: the same path.
    monkeypatch.setattr(saq_dispatch, "HEARTBEAT_SECONDS", 1)
    config = load_config(env={"IGBRIDGE_DATA_DIR": str(tmp_path), "IGBRIDGE_BACKEND": redis_url})
    progress = ProgressEngine(backend.events)
    await progress.start()
    kinds = {"quick": JobKind("quick", finishes, "Quick", ("urls",))}
    async with httpx.AsyncClient() as http:
        # The job is recorded and queued the way submit does, by a runner that stops
        # before any worker of its own could take it.
        first = JobRunner(config, backend, progress, http, kinds,
                          dispatcher=saq_dispatcher(redis_url, name=QUEUE, concurrency=1))
        await first.dispatcher.queue.connect()  # type: ignore[attr-defined]
        job_id = (await first.submit("quick", {"type": "urls"}))["job_id"]
        await first.dispatcher.queue.disconnect()  # type: ignore[attr-defined]
        takeovers = [await asyncio.to_thread(doomed_worker_takes_the_job, redis_url)
                     for _ in range(MAX_TAKEOVERS + 1)]
        assert takeovers == list(range(MAX_TAKEOVERS + 1))
        # The next process's worker sweeps the last dead one and is handed the job once more.
        last = JobRunner(config, backend, progress, http, kinds,
                         dispatcher=saq_dispatcher(redis_url, name=QUEUE, concurrency=1))
        await last.start()
        try:
            async with asyncio.timeout(60):
                while (job := await backend.jobs.get(job_id)) is None or job["status"] in (
                        "queued", "running"):
                    await asyncio.sleep(0.05)
        finally:
            await last.stop()
    await progress.close()
    assert (job["status"], job["error"]) == (
        "error", f"the sidecar processes running this job stopped {MAX_TAKEOVERS + 1} times;"
                 " it is not started again")
