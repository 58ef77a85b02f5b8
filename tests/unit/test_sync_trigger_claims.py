"""A sync trigger (``saved_sources.start_sync``) meeting a claim another process holds,
on a real SQLite file: the answer is the running sync, or a conflict, never a 404."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sidecar.backends.sqlite.backend import SqliteBackend
from sidecar.config import load_config
from sidecar.errors import Conflict
from sidecar.jobs import saved_sources
from sidecar.jobs.runner import JobRunner
from sidecar.progress.engine import ProgressEngine


@pytest.fixture
async def runner(tmp_path: Path) -> AsyncIterator[JobRunner]:
    config = load_config(env={"IGBRIDGE_DATA_DIR": str(tmp_path)})
    backend = await SqliteBackend.open(config.db_path)
    progress = ProgressEngine(backend.events)
    await progress.start()
    async with httpx.AsyncClient() as http:
        yield JobRunner(config, backend, progress, http, {})
    await progress.close()
    await backend.close()


async def test_a_fresh_claim_whose_job_is_not_written_is_a_conflict(runner: JobRunner) -> None:
    """Another process claimed the sync a moment ago (or died right after claiming): its
    job is not in the queue, so there is no job to answer with; "try again" is the
    answer, not "no job" for an id the caller never gave."""
    sources = runner.backend.sources
    await sources.add("s", {"type": "apify", "username": "someone", "limit": 20}, {}, None,
                      False, None)
    assert await sources.claim_sync("s", "ghost")
    with pytest.raises(Conflict, match="try again"):
        await saved_sources.start_sync(sources, runner, "s")
    held = await sources.get("s")
    assert held is not None
    assert held["sync_job_id"] == "ghost"


async def test_a_claim_whose_job_is_queued_is_the_answer(runner: JobRunner) -> None:
    sources = runner.backend.sources
    await sources.add("s", {"type": "apify", "username": "someone", "limit": 20}, {}, None,
                      False, None)
    assert await sources.claim_sync("s", "j1")
    await runner.backend.jobs.add("j1", "j1", "sync", {"type": "apify"}, {}, {})
    job, started = await saved_sources.start_sync(sources, runner, "s")
    assert (job["job_id"], job["status"], started) == ("j1", "queued", False)
