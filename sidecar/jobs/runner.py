"""The job runner: the one place job kinds plug into.

A job is written to SQLite (``queued``) before it starts, runs under a
concurrency limit, heartbeats while it runs, is retried with jittered
exponential backoff when it fails with a ``TransientError``, and is resumed
after a crash: a job still ``running`` on start-up was owned by a process that
died (this process holds the data dir's lock), so it starts again and the job
kind continues from its item ledger and saved state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

import httpx

from ..backends.sqlite import store as db
from ..config import Config
from ..domain.models import FINISHED_JOB_STATUSES
from ..errors import Conflict, IgbridgeError, NotFound, SourceError, TransientError
from ..progress.engine import ProgressEngine, iso
from .context import RECORDED_ITEM_STATES, JobContext, JobKind
from .retry import backoff_delay
from .timing import start_clock

log = logging.getLogger(__name__)

CANCEL_GRACE_SECONDS = 1.5


class JobRunner:
    def __init__(
        self,
        config: Config,
        store: db.Store,
        progress: ProgressEngine,
        http: httpx.AsyncClient,
        kinds: dict[str, JobKind],
    ):
        self.config = config
        self.store = store
        self.progress = progress
        self.http = http
        self.kinds = kinds
        self.instance = uuid.uuid4().hex
        self._slots = asyncio.Semaphore(config.max_jobs)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cancelling: set[str] = set()
        self._stopping = False
        self._heartbeat: asyncio.Task[None] | None = None

    # -- life cycle -----------------------------------------------------------------

    async def start(self) -> list[str]:
        """Resume jobs a previous process left queued or running; returns their ids."""
        for session_id in self.progress.live_session_ids():
            job = await db.fetch_job(self.store.reader, session_id)
            if job is not None and job["status"] in FINISHED_JOB_STATUSES:
                # The job row ended but its terminal event was not written: the crash
                # fell between them. Finish the session the way the job ended.
                self.progress.finish(session_id, job["status"], job["error"] or "Complete")
        await self.progress.flush()
        resumed = []
        for job in reversed(await db.fetch_jobs(
            self.store.reader, statuses=["queued", "running"], limit=100_000
        )):
            if job["kind"] not in self.kinds:
                await self._finish(job["job_id"], "error", f"unknown job kind {job['kind']!r}")
                continue
            if not await self.progress.load(job["session_id"]):
                await self.progress.create_session(
                    self.kinds[job["kind"]].operation, session_id=job["session_id"]
                )
            elif not self.progress.is_live(job["session_id"]):
                # The session ended but the job row did not: the crash fell between them.
                snap = await self.progress.get_snapshot(job["session_id"])
                await self._record_end(job["job_id"], snap["status"], snap["message"])
                continue
            log.info("resuming job %s (%s) left %s", job["job_id"], job["kind"], job["status"])
            self._schedule(job["job_id"])
            resumed.append(job["job_id"])
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="job-heartbeat")
        return resumed

    async def stop(self) -> None:
        """Stop running jobs without recording an outcome: the next start resumes them."""
        self._stopping = True
        if self._heartbeat:
            self._heartbeat.cancel()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, self._heartbeat or _noop(), return_exceptions=True)

    def running_job_ids(self) -> list[str]:
        return [job_id for job_id, task in self._tasks.items() if not task.done()]

    # -- requests ---------------------------------------------------------------------

    async def submit(
        self,
        kind: str,
        source: dict[str, Any],
        options: dict[str, Any] | None = None,
        *,
        state: dict[str, Any] | None = None,
        job_id: str | None = None,
    ) -> dict[str, Any]:
        """Queue a job; ``job_id`` when the caller claimed something under it first."""
        if kind not in self.kinds:
            raise SourceError(f"unknown job kind {kind!r}; known: {', '.join(sorted(self.kinds))}")
        job_id = job_id or uuid.uuid4().hex
        snapshot = await self.progress.create_session(
            self.kinds[kind].operation, session_id=job_id, message="Queued"
        )
        await db.insert_job(self.store, job_id, snapshot["session_id"], kind, source,
                            options or {}, state or {})
        self._schedule(job_id)
        return await self.describe(job_id)

    async def cancel(self, job_id: str) -> dict[str, Any]:
        job = await self._require(job_id)
        if job["status"] in FINISHED_JOB_STATUSES:
            raise Conflict(f"job {job_id} is already {job['status']}")
        task = self._tasks.get(job_id)
        self._cancelling.add(job_id)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=CANCEL_GRACE_SECONDS)
        job = await self._require(job_id)
        if job["status"] not in FINISHED_JOB_STATUSES:
            # The job did not unwind in time: record the outcome now; it is already cancelled.
            await self._finish(job_id, "cancelled", "Cancelled")
        return await self.describe(job_id)

    async def retry(self, job_id: str) -> dict[str, Any]:
        """A new job over the same source that re-runs only the failed items."""
        job = await self._require(job_id)
        if job["status"] not in FINISHED_JOB_STATUSES:
            raise Conflict(f"job {job_id} is still {job['status']}; retry it once it has ended")
        failed = [i["source_id"] for i in await db.fetch_items(self.store.reader, job_id)
                  if i["state"] == "failed"]
        if not failed:
            raise Conflict(f"job {job_id} has no failed items to retry")
        options = {**job["options"], "only": failed, "retry_of": job_id}
        # The retry starts from what the first job fetched (its posts, its Apify run):
        # no second scrape to pay for, and no failed post lost from a changed feed.
        return await self.submit(job["kind"], job["source"], options, state=job["state"])

    async def describe(self, job_id: str) -> dict[str, Any]:
        job = await self._require(job_id)
        return await self._public(job, await db.fetch_items(self.store.reader, job_id))

    async def list_jobs(
        self, *, status: str | None, limit: int, before: float | None
    ) -> list[dict[str, Any]]:
        jobs = await db.fetch_jobs(self.store.reader, status=status, limit=limit, before=before)
        return [await self._public(j, await db.fetch_items(self.store.reader, j["job_id"]))
                for j in jobs]

    # -- running ------------------------------------------------------------------------

    def _schedule(self, job_id: str) -> None:
        task = asyncio.create_task(self._run(job_id), name=f"job-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(job_id, None))

    async def _run(self, job_id: str) -> None:
        try:
            async with self._slots:
                await self._attempts(job_id)
        except asyncio.CancelledError:
            if job_id in self._cancelling and not self._stopping:
                await self._finish(job_id, "cancelled", await self._cancel_message(job_id))
            raise
        finally:
            self._cancelling.discard(job_id)

    async def _attempts(self, job_id: str) -> None:
        job = await self._require(job_id)
        kind = self.kinds[job["kind"]]
        attempt = int(job["attempts"])
        while True:
            attempt += 1
            await db.start_attempt(self.store, job_id, attempt, self.instance)
            context = JobContext(
                job_id=job_id, session_id=job["session_id"], kind=job["kind"],
                source=job["source"], options=job["options"], attempt=attempt,
                config=self.config, store=self.store, progress=self.progress, http=self.http,
                state=dict(job["state"]),
            )
            try:
                message = await _timed(kind, context)
            except TransientError as exc:
                if attempt >= self.config.job_attempts:
                    await self._finish(job_id, "error",
                                       f"{exc.message} (gave up after {attempt} attempts)")
                    return
                delay = backoff_delay(attempt, self.config.backoff_base_seconds)
                self.progress.update(
                    job["session_id"],
                    message=f"{exc.message}; retrying in {delay:.1f} s "
                            f"(attempt {attempt + 1} of {self.config.job_attempts})",
                )
                await asyncio.sleep(delay)
                job = await self._require(job_id)
                continue
            except IgbridgeError as exc:
                await self._finish(job_id, "error", exc.message)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("job %s crashed", job_id)
                await self._finish(job_id, "error",
                                   f"internal error: {type(exc).__name__}: {exc}")
                return
            await self._finish(job_id, "complete", message)
            return

    async def _cancel_message(self, job_id: str) -> str:
        counts = (await db.fetch_item_counts(self.store.reader, [job_id]))[job_id]
        if counts["imported"]:
            return f"Cancelled; {counts['imported']} item(s) already done are kept"
        return "Cancelled"

    async def _finish(self, job_id: str, status: str, message: str) -> None:
        """The job row first, then the terminal event: a client that saw the job end
        always finds the job row ended too (start-up mends a crash between the two)."""
        job = await self._require(job_id)
        await self._record_end(job_id, status, message)
        if self.progress.is_live(job["session_id"]):
            self.progress.finish(job["session_id"], status, message)
            await self.progress.flush()

    async def _record_end(self, job_id: str, status: str, message: str) -> None:
        await db.record_job_end(self.store, job_id, status,
                                message if status != "complete" else None)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.job_heartbeat_seconds)
            running = [j for j, t in self._tasks.items() if not t.done()]
            if running:
                with contextlib.suppress(IgbridgeError):
                    await db.record_heartbeat(self.store, running)

    async def _require(self, job_id: str) -> dict[str, Any]:
        job = await db.fetch_job(self.store.reader, job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        return job

    async def _public(self, job: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
        counts = {str(state): 0 for state in RECORDED_ITEM_STATES}
        for item in items:
            counts[item["state"]] += 1
        counts["total"] = len(items)
        try:
            progress = await self.progress.get_snapshot(job["session_id"])
        except NotFound:
            progress = None
        return {
            "job_id": job["job_id"],
            "session_id": job["session_id"],
            "kind": job["kind"],
            "source": job["source"],
            "options": job["options"],
            "status": job["status"],
            "attempts": job["attempts"],
            "created_at": iso(job["created_at"]),
            "started_at": iso(job["started_at"]),
            "finished_at": iso(job["finished_at"]),
            "heartbeat_at": iso(job["heartbeat_at"]),
            "error": job["error"],
            "counts": counts,
            "items": items,
            "progress": progress,
            "timing": job["state"].get("timing"),
        }


async def _timed(kind: JobKind, context: JobContext) -> str:
    """Run one attempt and keep where its time went (``timing.py``) in the job's state."""
    clock = start_clock()
    try:
        return await kind.run(context)
    finally:
        task = asyncio.current_task()
        if task is None or not task.cancelling():
            try:
                await context.save_state(timing=clock.summary())
            except IgbridgeError as exc:  # the attempt's own outcome matters more
                log.warning("job %s: could not save its timing: %s", context.job_id, exc)


async def _noop() -> None:
    return None
