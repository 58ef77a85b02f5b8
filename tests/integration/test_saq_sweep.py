"""The sweep of the Redis engine (``_Queue.sweep`` in jobs/saq_dispatch.py) on the real
SAQ queue and the session's real redis-server: a job a worker has just moved to the
active list, not yet written ACTIVE, is left to that worker (SAQ #124, #277); one
whose worker died there is re-queued after the grace; the stuck jobs of a dead
process are aborted together, not one abort wait after another.

Jobs are enqueued by the dispatcher's own ``dispatch`` and taken by SAQ's own
``dequeue`` (BLMOVE to the active list, as a worker slot does); what a worker does
next (write the job ACTIVE) is done step by step (tests/support/saq_steps.py), so
each test sets the order of the sweep and the worker, not a race.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from saq import Status
from saq.job import ABORT_ID_PREFIX

from sidecar.config import Config
from sidecar.jobs.saq_dispatch import HEARTBEAT_SECONDS, SWEEP_SECONDS, SWEPT, SaqDispatcher
from sidecar.web.app import saq_dispatcher
from tests.support.saq_steps import taken_by_a_worker, worker_makes_active

pytestmark = pytest.mark.timeout(120)

QUEUE = "sweep-test"
SWEEP_LOCK = SWEEP_SECONDS  # the lock the worker's sweep timer passes
DEFAULT_MAX_JOBS = Config.model_fields["max_jobs"].default


@pytest.fixture
async def dispatcher(redis_url: str) -> AsyncIterator[SaqDispatcher]:
    """The real dispatcher's queue on its real client, with no worker of its own."""
    found = saq_dispatcher(redis_url, name=QUEUE, concurrency=1)
    await found.queue.connect()
    yield found
    await found.queue.disconnect()


async def until(what: str, check: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    """A condition in Redis, polled: not a sleep that hopes."""
    try:
        async with asyncio.timeout(timeout):
            while not await check():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"{what}: not within {timeout} s") from None


async def lists(dispatcher: SaqDispatcher) -> tuple[list[bytes], list[bytes]]:
    redis = dispatcher.queue.redis
    queue = dispatcher.queue
    return (await redis.lrange(queue.namespace("queued"), 0, -1),
            await redis.lrange(queue.namespace("active"), 0, -1))


async def test_a_job_its_worker_makes_active_during_the_grace_is_not_swept(
        dispatcher: SaqDispatcher) -> None:
    queue = dispatcher.queue
    # Long enough that the worker's write below surely falls within it; the sweep
    # stops waiting as soon as it sees the job ACTIVE.
    queue.sweep_grace_seconds = 60
    job = await taken_by_a_worker(dispatcher, "just-taken")
    sweeping = asyncio.create_task(queue.sweep(SWEEP_LOCK))
    # The sweep's lock is set by the same script that reads the active list: once it
    # is there, the sweep has read the job QUEUED in the active list (SAQ's own sweep
    # would now abort and re-queue it).
    await until("the sweep read the active list",
                lambda: queue.redis.exists(queue.namespace("sweep")))
    await worker_makes_active(job)
    assert await sweeping == []
    stored = await queue.job("just-taken")
    assert stored is not None
    assert (stored.status, stored.error, stored.attempts) == (Status.ACTIVE, None, 1)
    assert await lists(dispatcher) == ([], [job.id.encode()])
    assert await queue.redis.get(ABORT_ID_PREFIX + "just-taken") is None
    assert await queue.dequeue(timeout=1) is None  # not re-queued for another worker


async def test_a_job_whose_worker_died_before_making_it_active_is_swept_after_the_grace(
        dispatcher: SaqDispatcher) -> None:
    queue = dispatcher.queue
    job = await taken_by_a_worker(dispatcher, "orphan")  # and its worker dies here
    assert await queue.sweep(SWEEP_LOCK) == [job.id]
    stored = await queue.job("orphan")
    assert stored is not None
    assert (stored.status, stored.error, stored.attempts) == (Status.QUEUED, SWEPT, 0)
    assert await lists(dispatcher) == ([job.id.encode()], [])
    again = await queue.dequeue(timeout=1)  # the next worker slot gets it
    assert again is not None
    assert again.key == "orphan"


async def test_the_stuck_jobs_of_a_dead_process_are_re_queued_and_a_live_one_is_kept(
        dispatcher: SaqDispatcher) -> None:
    queue = dispatcher.queue
    stuck = [f"stuck-{n}" for n in range(DEFAULT_MAX_JOBS)]
    for job_id in stuck:  # a process running IGBRIDGE_MAX_JOBS jobs, killed -9
        await worker_makes_active(await taken_by_a_worker(dispatcher, job_id),
                                  touched_ago_ms=(HEARTBEAT_SECONDS + 1) * 1000)
    live = await taken_by_a_worker(dispatcher, "live")
    await worker_makes_active(live)
    swept = await queue.sweep(SWEEP_LOCK)
    assert sorted(swept) == sorted(queue.job_id(job_id) for job_id in stuck)
    stored = {job.key: job for job in await queue.jobs([*stuck, "live"]) if job is not None}
    assert {key: (job.status, job.error, job.attempts) for key, job in stored.items()} == {
        **{job_id: (Status.QUEUED, SWEPT, 1) for job_id in stuck},
        "live": (Status.ACTIVE, None, 1)}
    queued, active = await lists(dispatcher)
    assert sorted(queued) == sorted(queue.job_id(job_id).encode() for job_id in stuck)
    assert active == [live.id.encode()]


async def test_one_pass_aborts_the_stuck_jobs_of_a_dead_process_together(
        dispatcher: SaqDispatcher) -> None:
    """SAQ's own sweep aborts one job, waits for its worker's answer, re-queues it, then
    the next: N jobs, N waits. Here every job is ABORTING while the pass waits."""
    queue = dispatcher.queue
    stuck = [f"stuck-{n}" for n in range(DEFAULT_MAX_JOBS)]
    for job_id in stuck:
        await worker_makes_active(await taken_by_a_worker(dispatcher, job_id),
                                  touched_ago_ms=(HEARTBEAT_SECONDS + 1) * 1000)

    async def all_aborting() -> bool:
        return all(job is not None and job.status == Status.ABORTING
                   for job in await queue.jobs(stuck))

    # An abort wait far longer than the check below: one job after another, the second
    # would not be aborted before it ends.
    sweeping = asyncio.create_task(queue.sweep(SWEEP_LOCK, abort=90))
    try:
        await until("every stuck job aborted within one abort wait", all_aborting)
        assert (await lists(dispatcher))[1] == []  # none left for another sweep to take
    finally:
        sweeping.cancel()
        await asyncio.gather(sweeping, return_exceptions=True)
