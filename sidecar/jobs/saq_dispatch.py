"""Jobs on SAQ (the Redis engine): every sidecar process runs a SAQ worker on one shared
queue, so any process may run any job, and a job whose process died runs on in another.

What SAQ does and what igbridge does:

- **Where a job runs.** Submit enqueues the job id (the SAQ job's key, so enqueueing
  twice is harmless: start-up re-enqueues every job still queued or running, which
  also covers a process that died between recording a job and enqueueing it). A worker
  slot (``IGBRIDGE_MAX_JOBS`` per process) takes it with ``BLMOVE`` and calls
  ``JobRunner.run_job``: the same attempts, ledger and resume as the SQLite engine.
- **A dead process.** The worker touches each of its running jobs every
  ``TOUCH_SECONDS``; a sweep (``_Queue.sweep``: SAQ's, mended) runs in whichever
  process gets there, ``SWEEP_SECONDS`` after its previous pass ended and under a lock
  of as long, and re-queues a job untouched for ``HEARTBEAT_SECONDS``; the next free
  slot anywhere resumes it from its ledger. The sweep aborts the jobs of a pass at
  once and waits ``SWEEP_ABORT_WAIT_SECONDS`` for their workers' answers together.
  (SAQ waits for one after another: the N jobs of dead processes would take
  8 + 2 + N × 1 s, 14 s for one process's ``IGBRIDGE_MAX_JOBS`` of 4 by default and
  past 15 s for two; and a pass longer than its 2 s lock lets a second process sweep
  the same jobs.) Worst case from ``kill -9`` to the resume, for any number of jobs of
  any number of dead processes (given free slots): heartbeat + up to 3 s to the next
  pass (the pass that just missed them lasts ~1 s at most, then ``SWEEP_SECONDS``) +
  that pass's abort wait = 8 + 3 + 1 = 12 s, within the 15 s budget. A process whose
  event loop stalls longer than ``HEARTBEAT_SECONDS`` loses its job to another; the
  per-post locks and the plugin's unique index keep that from making a duplicate.
- **A job just taken.** A worker moves a job to the active list (``BLMOVE``) and
  writes it ACTIVE two round trips later; SAQ's sweep takes any job there that is not
  ACTIVE, so one landing in between re-queued a job a live worker was starting (SAQ
  #124, #277: two processes ran it). A job found QUEUED there is swept only if it is
  still so after ``SWEEP_GRACE_SECONDS`` (its worker died in between: taken over
  within 3 + 1 s); ACTIVE and untouched jobs are swept at once, as before. A worker
  stalled longer than the grace at that point loses the job like a stalled process.
- **Retries.** SAQ retries only what its sweep re-queued (a process that died or shut
  down: ``MAX_TAKEOVERS``); the job itself never raises to SAQ, so a failing job is
  retried by the one policy of ``jobs/retry.py`` and nothing else (no multiplied
  retries). A job taken over more than ``MAX_TAKEOVERS`` times ends ``error``: SAQ
  gets one attempt more than that, which the runner ends (were it SAQ's sweep that ran
  out of attempts, it would drop the job and igbridge's row would stay ``running``).
- **Timeouts.** SAQ's timeout is off: an hour-long import is normal, and a job that
  makes progress heartbeats. The job runner's own limits (request timeouts, the retry
  budget) bound a job that stops making progress.
- **Cancel.** Any process calls SAQ's ``abort`` (a queued job is taken off the queue
  at once) with ``CANCEL_MARK``; the process running the job sees its abort key within
  ``CANCEL_WATCH_SECONDS`` and cancels the job's task, which records ``cancelled`` and
  aborts its Apify run, as in-process. Checking the key, not the job's status, keeps a
  heartbeat that rewrote the status from hiding the cancel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from saq import Job, Status, Worker
from saq.job import ABORT_ID_PREFIX
from saq.queue.redis import RedisQueue

from ..errors import StorageError
from .dispatch import MAX_TAKEOVERS, RunJob

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 8  # untouched this long, a running job is swept (its process died)
TOUCH_SECONDS = 1.0  # how often a worker touches its running jobs
SWEEP_SECONDS = 2  # how often some process sweeps
SWEEP_ABORT_WAIT_SECONDS = 1.0  # a dead worker never answers the sweep's abort
# A job QUEUED in the active list is a worker's between its BLMOVE and its status write
# (milliseconds): swept only if it is still so this long after (its worker died).
SWEEP_GRACE_SECONDS = 1.0
SWEEP_GRACE_POLL_SECONDS = 0.05
CANCEL_WATCH_SECONDS = 0.25  # how often a worker looks for cancels of its jobs
CANCEL_MARK = "cancelled"  # the abort reason of a cancel (a sweep's is "swept")
ABORT_KEY_TTL_SECONDS = 300  # a cancel stays visible this long
RUN_FUNCTION = "run_job"
DEQUEUE_TIMEOUT_SECONDS = 5  # a worker slot's BLMOVE blocks this long at most
# Connections besides the worker slots': the sweep, abort and schedule timers, the
# touch and cancel-watch loops, SAQ's pub/sub, enqueues from requests.
SAQ_OWN_CONNECTIONS = 8


def connections_for(concurrency: int) -> int:
    return concurrency + SAQ_OWN_CONNECTIONS


SWEPT = "swept"

# SAQ 0.26.4's sweep snapshot: under the sweep lock, every id of the active list and its
# record.
_SAQ_SWEEP_SNAPSHOT = """
local id_jobs = {}
if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('SETEX', KEYS[1], ARGV[1], 1)
    for i, v in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
        id_jobs[i] = {v, redis.call('GET', v)}
    end
end
return id_jobs
"""


class _Queue(RedisQueue):
    """SAQ's Redis queue with its sweep mended (``sweep`` below), and calm while Redis
    is away: a worker slot waits a second between tries instead of spinning, and the
    upkeep says so in one line instead of a traceback a second."""

    sweep_grace_seconds = SWEEP_GRACE_SECONDS

    async def dequeue(
        self, timeout: float = 0.0, poll_interval: float = 0.0,  # noqa: ASYNC109 - SAQ's
    ) -> Job | None:
        try:
            return await super().dequeue(timeout, poll_interval)
        except REDIS_AWAY as exc:
            _say_redis_away("taking jobs", exc)
            await asyncio.sleep(REDIS_AWAY_WAIT_SECONDS)
            return None

    async def sweep(self, lock: int = 60, abort: float = SWEEP_ABORT_WAIT_SECONDS) -> list[str]:
        try:
            return await self._sweep_pass(lock, abort)
        except REDIS_AWAY as exc:
            _say_redis_away("sweeping", exc)
            return []

    async def _sweep_pass(self, lock: int, abort: float) -> list[str]:
        """SAQ 0.26.4's ``RedisQueue.sweep`` restated for two changes it has no hook for:
        a job found QUEUED in the active list gets a grace (SAQ #124, #277: a worker
        writes ACTIVE two round trips after its BLMOVE), and the jobs of a pass are swept
        at once, not one abort wait after another. The snapshot script is SAQ's."""
        if not self._cleanup_script:
            self._cleanup_script = self.redis.register_script(_SAQ_SWEEP_SNAPSHOT)
        id_jobs = await self._cleanup_script(
            keys=[self._sweep, self._active], args=[lock], client=self.redis)
        outcomes = await asyncio.gather(
            *(self._sweep_job(job_id.decode(), raw, abort) for job_id, raw in id_jobs),
            return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome  # as SAQ's loop would, once every job had its turn
        return [job_id.decode() for (job_id, _), swept in zip(id_jobs, outcomes, strict=True)
                if swept is True]

    async def _sweep_job(self, job_id: str, raw: bytes | None, abort: float) -> bool:
        """SAQ's handling of one job of the active list; whether it was swept."""
        job = self.deserialize(raw)
        if job is None:  # its record expired: SAQ drops the id
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.lrem(self._active, 0, job_id)
                pipe.zrem(self._incomplete, job_id)
                await pipe.execute()
            log.info("swept job %s: its record is gone", job_id)
            return True
        wait: float | None = abort
        if job.status == Status.QUEUED:
            job = await self._unclaimed_after_grace(job_id)
            if job is None:
                return False
            wait = None  # no worker runs it: none could answer the abort
        elif job.status == Status.ACTIVE and not job.stuck:
            return False
        log.info("sweeping job %s (%s, attempt %d)", job.key, job.status, job.attempts)
        await self.abort(job, error=self.swept_error_message)
        if wait is not None:
            try:
                await job.refresh(wait)
            except TimeoutError:
                log.info("job %s: no worker answered the sweep's abort", job.key)
        if job.retryable:
            await self.retry(job, error=self.swept_error_message)
        else:
            await self.finish(job, Status.ABORTED, error=self.swept_error_message)
        return True

    async def _unclaimed_after_grace(self, job_id: str) -> Job | None:
        """The job if it is still QUEUED in the active list after the grace (its worker
        died between BLMOVE and writing ACTIVE); None once a worker made it ACTIVE, or it
        left the active list or ended meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.sweep_grace_seconds
        while True:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.get(job_id)
                pipe.lpos(self._active, job_id)
                raw, position = await pipe.execute()
            job = self.deserialize(raw)
            if job is None or job.status != Status.QUEUED or position is None:
                return None
            if loop.time() >= deadline:
                return job
            await asyncio.sleep(SWEEP_GRACE_POLL_SECONDS)

    async def schedule(self, lock: int = 1) -> list[str]:
        try:
            return await super().schedule(lock)
        except REDIS_AWAY as exc:
            _say_redis_away("scheduling", exc)
            return []


REDIS_AWAY = (RedisConnectionError, RedisTimeoutError, OSError)
REDIS_AWAY_WAIT_SECONDS = 1.0
REDIS_AWAY_LOG_SECONDS = 30.0  # one line per this long of an outage, not one per try
_last_said = [0.0]


def _say_redis_away(doing: str, exc: Exception) -> None:
    if time.monotonic() - _last_said[0] >= REDIS_AWAY_LOG_SECONDS:
        _last_said[0] = time.monotonic()
        log.warning("job queue: Redis unreachable while %s: %s", doing, exc)


class SaqDispatcher:
    def __init__(self, client: aioredis.Redis, *, name: str, concurrency: int) -> None:
        """``client``: byte replies, at least ``connections_for(concurrency)`` in its
        pool, a socket timeout above ``DEQUEUE_TIMEOUT_SECONDS`` (the app factory's
        ``saq_client``): a Redis host that vanished without a reset then fails the
        BLMOVE instead of hanging every worker slot."""
        self.queue = _Queue(client, name=name, swept_error_message=SWEPT)
        self.concurrency = concurrency
        self._run: RunJob | None = None
        self._worker: Worker[Any] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._running: dict[str, tuple[Job, asyncio.Task[Any]]] = {}

    async def start(self, run: RunJob) -> None:
        self._run = run
        await self.queue.connect()
        self._worker = Worker(
            self.queue, [(RUN_FUNCTION, self._perform)], concurrency=self.concurrency,
            timers={"sweep": SWEEP_SECONDS, "abort": 1, "schedule": 1, "worker_info": 10},
            # A blocking dequeue that returns now and then, so a lost connection shows.
            dequeue_timeout=DEQUEUE_TIMEOUT_SECONDS,
        )
        self._worker.SIGNALS = []  # the server (Hypercorn) or the CLI owns the signals
        self._tasks = [
            asyncio.create_task(self._worker.start(), name="saq-worker"),
            asyncio.create_task(self._touch_loop(), name="saq-touch"),
            asyncio.create_task(self._cancel_watch_loop(), name="saq-cancel-watch"),
        ]

    async def dispatch(self, job_ids: Iterable[str]) -> None:
        for job_id in job_ids:
            try:
                await self.queue.enqueue(
                    RUN_FUNCTION, key=job_id, job_id=job_id, timeout=0,
                    heartbeat=HEARTBEAT_SECONDS, retries=MAX_TAKEOVERS + 2, ttl=3600,
                )
            except (OSError, aioredis.RedisError) as exc:
                raise StorageError(f"Redis refused the job queue: {exc}") from exc

    async def _perform(self, ctx: dict[str, Any], *, job_id: str) -> str:
        """SAQ's function: the runner's one code path for the job, here."""
        assert self._run is not None
        saq_job: Job = ctx["job"]
        task = asyncio.current_task()
        assert task is not None
        self._running[job_id] = (saq_job, task)
        try:
            await self._run(job_id, max(0, saq_job.attempts - 1))
        except asyncio.CancelledError:
            if await self.cancel_requested(job_id):
                task.uncancel()
                return CANCEL_MARK  # recorded by the runner; nothing for SAQ to retry
            raise  # this process is stopping: SAQ re-queues the job for another
        finally:
            self._running.pop(job_id, None)
        return "done"

    async def cancel(self, job_id: str) -> None:
        saq_job = await self.queue.job(job_id)
        if saq_job is None:
            return
        await self.queue.abort(saq_job, CANCEL_MARK, ttl=ABORT_KEY_TTL_SECONDS)
        local = self._running.get(job_id)
        if local is not None:
            local[1].cancel()  # here: no need to wait for the watch loop

    async def cancel_requested(self, job_id: str) -> bool:
        return await self._abort_reason(job_id) == CANCEL_MARK

    async def _abort_reason(self, job_id: str) -> str | None:
        raw = await self.queue.redis.get(ABORT_ID_PREFIX + job_id)
        return raw.decode() if raw else None

    def running_job_ids(self) -> list[str]:
        return [job_id for job_id, (_j, task) in self._running.items() if not task.done()]

    async def _touch_loop(self) -> None:
        """The heartbeat SAQ's sweep reads: this process is alive and running these."""
        while True:
            await asyncio.sleep(TOUCH_SECONDS)
            for saq_job, task in list(self._running.values()):
                if task.done():
                    # SAQ's update() SETs the job without expiry: touching a job SAQ is
                    # finishing would bring its key back for good.
                    continue
                try:
                    await saq_job.update()
                except (OSError, aioredis.RedisError) as exc:
                    log.warning("could not touch job %s in Redis: %s", saq_job.key, exc)

    async def _cancel_watch_loop(self) -> None:
        """A cancel from any process reaches the job running here."""
        while True:
            await asyncio.sleep(CANCEL_WATCH_SECONDS)
            running = list(self._running.items())
            if not running:
                continue
            try:
                reasons = await self.queue.redis.mget(
                    [ABORT_ID_PREFIX + job_id for job_id, _ in running])
            except (OSError, aioredis.RedisError) as exc:
                log.warning("could not look for cancels in Redis: %s", exc)
                continue
            for (job_id, (_saq_job, task)), reason in zip(running, reasons, strict=True):
                if reason is not None and reason.decode() == CANCEL_MARK and not task.done():
                    log.info("job %s was cancelled elsewhere; stopping it here", job_id)
                    task.cancel()

    async def stop(self) -> None:
        if self._worker is not None:
            await self._worker.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.queue.disconnect()
