"""The job runner on a real SQLite file, with a job kind of the test's own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import httpx
import pytest

from sidecar.backends.sqlite.backend import SqliteBackend
from sidecar.backends.sqlite.store import Store
from sidecar.config import load_config
from sidecar.jobs.context import JobContext, JobKind
from sidecar.jobs.dispatch import MAX_TAKEOVERS, InProcessDispatcher
from sidecar.jobs.runner import JobRunner
from sidecar.progress.engine import ProgressEngine


async def two_items(ctx: JobContext) -> str:
    await ctx.add_items(["a", "b"])
    await ctx.set_item("a", "imported", wp_post_id=1)
    await ctx.set_item("b", "failed", reason="no")
    return "Done"


@pytest.fixture
async def runner(tmp_path: Path) -> AsyncIterator[JobRunner]:
    config = load_config(env={"IGBRIDGE_DATA_DIR": str(tmp_path)})
    backend = await SqliteBackend.open(config.db_path)
    progress = ProgressEngine(backend.events)
    await progress.start()
    async with httpx.AsyncClient() as http:
        kinds = {"two": JobKind("two", two_items, "Two items", ("urls",))}
        runner = JobRunner(config, backend, progress, http, kinds)
        await runner.start()
        yield runner
        await runner.stop()
    await progress.close()
    await backend.close()


def store_of(runner: JobRunner) -> Store:
    """The SQLite file under the runner, to count the statements a call makes."""
    assert isinstance(runner.backend, SqliteBackend)
    return runner.backend.store


async def finished_jobs(runner: JobRunner, count: int) -> list[str]:
    ids = [(await runner.submit("two", {"type": "urls"}))["job_id"] for _ in range(count)]
    async with asyncio.timeout(30):
        while runner.running_job_ids():
            await asyncio.sleep(0.01)
    return ids


async def test_listing_jobs_reads_the_database_a_fixed_number_of_times(
    runner: JobRunner,
) -> None:
    ids = await finished_jobs(runner, 6)
    statements: list[str] = []
    await store_of(runner).reader.set_trace_callback(statements.append)
    jobs = await runner.list_jobs(status=None, limit=50, before=None)
    await store_of(runner).reader.set_trace_callback(None)
    assert [j["job_id"] for j in jobs] == ids[::-1]
    assert [(j["status"], j["counts"], j["progress"]["status"]) for j in jobs] == [
        ("complete", {"pending": 0, "imported": 1, "already_imported": 0, "skipped": 0,
                      "failed": 1, "total": 2}, "complete")] * 6
    unset = {"detail": None, "post_url": None, "thumbnail_url": None,
             "caption_excerpt": None, "taken_at": None}
    assert [j["items"] for j in jobs] == [[
        {"source_id": "a", "state": "imported", "wp_post_id": 1, "reason": None, **unset},
        {"source_id": "b", "state": "failed", "wp_post_id": None, "reason": "no", **unset},
    ]] * 6
    assert len(statements) <= 3, statements


async def test_a_job_that_outlived_too_many_processes_ends_with_why(tmp_path: Path) -> None:
    """SAQ hands a job on each time its process dies; past ``MAX_TAKEOVERS`` the job
    ends ``error`` instead of killing one more (the dispatcher counts, the runner ends)."""
    class Parked(InProcessDispatcher):
        async def dispatch(self, job_ids: Iterable[str]) -> None:
            """Nothing runs by itself: the test hands the job over as SAQ would."""

    config = load_config(env={"IGBRIDGE_DATA_DIR": str(tmp_path)})
    backend = await SqliteBackend.open(config.db_path)
    progress = ProgressEngine(backend.events)
    await progress.start()
    async with httpx.AsyncClient() as http:
        kinds = {"two": JobKind("two", two_items, "Two items", ("urls",))}
        runner = JobRunner(config, backend, progress, http, kinds, dispatcher=Parked())
        await runner.start()
        job_id = (await runner.submit("two", {"type": "urls"}))["job_id"]
        await runner.run_job(job_id, MAX_TAKEOVERS + 1)
        job = await runner.describe(job_id)
        await runner.stop()
    await progress.close()
    await backend.close()
    assert (job["status"], job["error"], job["items"]) == (
        "error", f"the sidecar processes running this job stopped {MAX_TAKEOVERS + 1} times;"
                 " it is not started again", [])
