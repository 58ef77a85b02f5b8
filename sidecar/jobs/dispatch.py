"""How a queued job gets to run: the one interface between the job runner and what
carries its jobs.

``InProcessDispatcher`` (the SQLite engine) runs each job as a task of this process;
``SaqDispatcher`` (``jobs/saq_dispatch.py``, the Redis engine) hands it to a SAQ queue
that every sidecar process works from. Either way a job runs through the runner's one
code path (``JobRunner.run_job``: attempts under the retry policy, the item ledger,
resume from saved state); the dispatcher only decides where and when, and how a cancel
reaches it. ``web/app.py`` picks one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Protocol

# The runner's code path for one job: ``run(job_id, takeovers)`` runs it to its end
# here, or raises CancelledError (stopped: cancelled, or this process is shutting
# down). ``takeovers``: how many processes running it died or stopped before.
RunJob = Callable[[str, int], Coroutine[Any, Any, None]]

# A job whose process died (or stopped) more often than this ends ``error``: something
# in it kills the processes that run it.
MAX_TAKEOVERS = 10


class Dispatcher(Protocol):
    async def start(self, run: RunJob) -> None:
        """Begin taking jobs; ``run`` is how each one runs."""
        ...

    async def dispatch(self, job_ids: Iterable[str]) -> None:
        """Queued (or resumed) jobs, to run once each, somewhere."""
        ...

    async def cancel(self, job_id: str) -> None:
        """Ask the job to stop wherever it runs (or never to start); returns at once:
        the runner waits for the job's record to end."""
        ...

    async def cancel_requested(self, job_id: str) -> bool:
        """Whether a stop of this job was a cancel (not a shut-down of this process)."""
        ...

    def running_job_ids(self) -> list[str]:
        """The jobs running in this process."""
        ...

    async def stop(self) -> None:
        """Stop this process's jobs without recording an outcome: they resume later
        (here after a restart, or in another process)."""
        ...


class InProcessDispatcher:
    """Each job a task of this process; a cancel cancels the task."""

    def __init__(self) -> None:
        self._run: RunJob | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cancelling: set[str] = set()

    async def start(self, run: RunJob) -> None:
        self._run = run

    async def dispatch(self, job_ids: Iterable[str]) -> None:
        assert self._run is not None, "dispatch before start"
        for job_id in job_ids:
            task = asyncio.create_task(self._run(job_id, 0), name=f"job-{job_id}")
            self._tasks[job_id] = task
            task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        job_id = task.get_name().removeprefix("job-")
        if self._tasks.get(job_id) is task:
            del self._tasks[job_id]
            self._cancelling.discard(job_id)

    async def cancel(self, job_id: str) -> None:
        task = self._tasks.get(job_id)
        if task is not None and not task.done():
            self._cancelling.add(job_id)
            task.cancel()

    async def cancel_requested(self, job_id: str) -> bool:
        return job_id in self._cancelling

    def running_job_ids(self) -> list[str]:
        return [job_id for job_id, task in self._tasks.items() if not task.done()]

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
