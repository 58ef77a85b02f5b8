"""Short job ids on a real SQLite file: a unique prefix names its job, a shared one is
refused with the candidates, and a short id grows past 8 characters only where another
job shares them. Ids are chosen here so that those cases happen (random ids share 8
characters about once in 4 billion pairs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sidecar.backends.base import JobQueue
from sidecar.backends.sqlite.backend import SqliteBackend
from sidecar.errors import Conflict, NotFound
from sidecar.jobs import ids as job_ids

TWINS = ("0123456789aa0000000000000000000a", "0123456789ab0000000000000000000b")
LONER = "f00dfeed000000000000000000000000"
UNDERSCORE_LOOKALIKE = "01x3456789cc000000000000000000cc"


@pytest.fixture
async def jobs(tmp_path: Path) -> AsyncIterator[JobQueue]:
    backend = await SqliteBackend.open(tmp_path / "db.sqlite3")
    # Written directly: the candidates' message shows each job's status and creation time.
    await backend.store.write([(
        "INSERT INTO jobs (job_id, session_id, kind, source, options, status, state,"
        " created_at) VALUES (?, ?, 'import', '{}', '{}', 'complete', '{}', ?)",
        (job_id, job_id, 1_764_640_000.0 + n),
    ) for n, job_id in enumerate((*TWINS, LONER, UNDERSCORE_LOOKALIKE))])
    yield backend.jobs
    await backend.close()


async def test_a_unique_prefix_or_the_whole_id_names_the_job(jobs: JobQueue) -> None:
    assert await job_ids.resolve(jobs, "f00d") == LONER
    assert await job_ids.resolve(jobs, "F00DFEED") == LONER  # as typed from a screen
    assert await job_ids.resolve(jobs, LONER) == LONER
    assert await job_ids.resolve(jobs, "0123456789ab") == TWINS[1]


async def test_a_shared_prefix_lists_every_candidate(jobs: JobQueue) -> None:
    with pytest.raises(Conflict) as caught:
        await job_ids.resolve(jobs, "0123")
    assert caught.value.code == "ambiguous_job_id"
    assert caught.value.message == (
        "job id 0123 is ambiguous: it starts 2 jobs: "
        "0123456789aa (import, complete, created 2025-12-02T01:46:40.000Z), "
        "0123456789ab (import, complete, created 2025-12-02T01:46:41.000Z). "
        "Give more of its characters.")


async def test_like_wildcards_in_a_prefix_match_only_themselves(jobs: JobQueue) -> None:
    for ref in ("%", "01_3", "0\\"):
        with pytest.raises(NotFound) as caught:
            await job_ids.resolve(jobs, ref)
        assert caught.value.message == f"no job starts with {ref}"


async def test_short_ids_are_8_characters_unless_another_job_shares_them(jobs: JobQueue) -> None:
    assert await job_ids.short_id(jobs, LONER) == "f00dfeed"
    assert await job_ids.short_id(jobs, TWINS[0]) == "0123456789aa"
    assert await job_ids.short_id(jobs, TWINS[1]) == "0123456789ab"
    assert await job_ids.short_id(jobs, UNDERSCORE_LOOKALIKE) == "01x34567"
