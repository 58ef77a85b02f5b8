"""What a SAQ worker does with a job, one step at a time (SAQ 0.26.4's ``Worker.process``),
for tests that must set the order of a worker and the sweep, or leave a job as a
worker killed at some step would: taken (BLMOVE'd to the active list, still QUEUED),
then made ACTIVE, then touched."""

from __future__ import annotations

from saq import Job, Status
from saq.queue.redis import RedisQueue
from saq.utils import now

from sidecar.jobs.saq_dispatch import SaqDispatcher


async def taken_by_a_worker(dispatcher: SaqDispatcher, job_id: str) -> Job:
    """The job enqueued (if it is not yet) and taken as a worker slot takes it: moved to
    the active list by SAQ's own dequeue, still QUEUED (the worker writes ACTIVE next)."""
    await dispatcher.dispatch([job_id])
    job = await dispatcher.queue.dequeue(timeout=1)
    assert job is not None
    assert (job.key, job.status) == (job_id, Status.QUEUED)
    return job


async def worker_makes_active(job: Job, *, touched_ago_ms: int = 0) -> None:
    """The worker's next step: the job ACTIVE, attempted once more, this worker's;
    ``touched_ago_ms``: its last touch that long ago (a worker that died since)."""
    job.started = now()
    job.attempts += 1
    job.worker_id = "test-worker"
    await job.update(status=Status.ACTIVE)
    if touched_ago_ms:
        job.touched = now() - touched_ago_ms
        queue = job.get_queue()
        assert isinstance(queue, RedisQueue)
        await queue.redis.set(job.id, queue.serialize(job))
