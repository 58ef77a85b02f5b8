"""Short job ids: a person names a job by the first characters the dashboard shows.

A job id is 32 hex digits. Any unique prefix names the job; a prefix shared by several
jobs is refused with the candidates, never guessed. A job's short id is its first
``SHORT_ID_LENGTH`` characters, longer only where another job shares them.
"""

from __future__ import annotations

from ..backends.base import JobQueue
from ..errors import Conflict, NotFound
from ..progress.engine import iso

SHORT_ID_LENGTH = 8  # what the dashboard shows
MAX_CANDIDATES = 10


def shortest_unique_prefix(job_id: str, neighbours: tuple[str | None, str | None]) -> str:
    """The short id of ``job_id`` given its neighbours in id order (sharing a prefix with
    any other id means sharing it with a neighbour)."""
    shared = max((_common_length(job_id, other) for other in neighbours if other is not None),
                 default=0)
    return job_id[: max(SHORT_ID_LENGTH, shared + 1)]


def _common_length(a: str, b: str) -> int:
    length = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        length += 1
    return length


async def short_id(jobs: JobQueue, job_id: str) -> str:
    return shortest_unique_prefix(job_id, await jobs.neighbours(job_id))


async def resolve(jobs: JobQueue, ref: str) -> str:
    """The id of the one job whose id is ``ref`` or starts with it."""
    if await jobs.get(ref) is not None:
        return ref
    found = await jobs.ids_starting_with(ref, MAX_CANDIDATES + 1)
    if not found:
        raise NotFound(f"no job starts with {ref}")
    if len(found) == 1:
        return str(found[0]["job_id"])
    how_many = (f"more than {MAX_CANDIDATES} jobs, among them" if len(found) > MAX_CANDIDATES
                else f"{len(found)} jobs")
    described = [
        f"{await short_id(jobs, job['job_id'])} ({job['kind']}, {job['status']}, "
        f"created {iso(job['created_at'])})"
        for job in found[:MAX_CANDIDATES]
    ]
    raise Conflict(f"job id {ref} is ambiguous: it starts {how_many}: "
                   f"{', '.join(described)}. Give more of its characters.",
                   code="ambiguous_job_id")
