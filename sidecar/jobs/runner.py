"""The job runner: the one place job kinds plug into.

A job is written to the backend (``queued``) before it starts, is handed to the
dispatcher (``dispatch.py``: a task of this process on SQLite, a SAQ queue shared by
every process on Redis) which calls ``run_job`` wherever it runs, runs under a
concurrency limit, heartbeats while it runs, is retried with jittered
exponential backoff when it fails with a ``TransientError`` (the job level of the one
policy in ``retry.py``: only what request-level retries did not absorb), and is resumed
after a crash: a job still ``running`` on start-up was owned by a process that
died (or, on Redis, one that is still running elsewhere: dispatching it again is
harmless), so it starts again and the job kind continues from its item ledger and
saved state. A store that stops answering under a job (Redis restarting, SQLite locked)
is not the job's fault: the job waits until the store answers again and runs its
attempt again from the ledger, spending none of the retry policy's attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import httpx

from ..backends.base import Backend
from ..config import Config
from ..domain.models import FINISHED_JOB_STATUSES
from ..errors import (
    Conflict,
    IgbridgeError,
    NotFound,
    SourceError,
    StorageError,
    ValidationFailed,
)
from ..progress.engine import ProgressEngine, iso
from ..sources.apify_token import ApifyToken
from ..uploads.storage import UploadStore
from . import ids
from .context import RECORDED_ITEM_STATES, JobContext, JobKind
from .cursors import decode_cursor, encode_cursor
from .dispatch import MAX_TAKEOVERS, Dispatcher, InProcessDispatcher
from .retry import job_policy
from .timing import start_clock
from .uploaded import check_uploads

log = logging.getLogger(__name__)

# How long a cancel waits for the job to stop wherever it runs before it records the
# outcome itself.
CANCEL_GRACE_SECONDS = 1.5
CANCEL_POLL_SECONDS = 0.05
# Count changes of one job reach the all-sessions stream at most this often (a status
# change goes at once): a few events a second, however fast items settle.
JOB_EVENT_INTERVAL = 0.3
# While the store does not answer, a job asks it again after this long, doubling up to
# the most: a Redis restart of a second or two costs the job about that much.
STORE_PROBE_SECONDS = 0.2
STORE_PROBE_MAX_SECONDS = 5.0
STORE_WAIT_LOG_SECONDS = 60.0  # a long outage: one line a minute, not one a probe
WAITING_FOR_STORE = "waiting for the store to answer again"

T = TypeVar("T")
P = ParamSpec("P")


class JobRunner:
    def __init__(
        self,
        config: Config,
        backend: Backend,
        progress: ProgressEngine,
        http: httpx.AsyncClient,
        kinds: dict[str, JobKind],
        *,
        uploads: UploadStore | None = None,
        apify_token: ApifyToken | None = None,
        dispatcher: Dispatcher | None = None,
    ):
        self.config = config
        self.backend = backend
        self.jobs = backend.jobs
        self.ledger = backend.ledger
        self.progress = progress
        self.http = http
        self.kinds = kinds
        self.uploads = uploads
        self.apify_token = apify_token
        self.dispatcher: Dispatcher = dispatcher or InProcessDispatcher()
        self.instance = uuid.uuid4().hex
        self._slots = asyncio.Semaphore(config.max_jobs)
        self._stopping = False
        self._heartbeat: asyncio.Task[None] | None = None
        self._last_job_event: dict[str, float] = {}
        self._due_job_events: dict[str, asyncio.Task[None]] = {}

    # -- life cycle -----------------------------------------------------------------

    async def start(self) -> list[str]:
        """Resume jobs a previous process left queued or running; returns their ids."""
        for session_id in self.progress.live_session_ids():
            job = await self.jobs.get(session_id)
            if job is not None and job["status"] in FINISHED_JOB_STATUSES:
                # The job row ended but its terminal event was not written: the crash
                # fell between them. Finish the session the way the job ended.
                self.progress.finish(session_id, job["status"], job["error"] or "Complete")
        await self.progress.flush()
        resumed = []
        for job in reversed(await self.jobs.find(
            statuses=["queued", "running"], limit=100_000
        )):
            if job["kind"] not in self.kinds:
                await self._finish(job["job_id"], "error", f"unknown job kind {job['kind']!r}")
                continue
            if not await self._ensure_session(job):
                # The session ended but the job row did not: the crash fell between them.
                snap = await self.progress.get_snapshot(job["session_id"])
                await self._record_end(job["job_id"], snap["status"], snap["message"])
                continue
            log.info("resuming job %s (%s) left %s%s", job["job_id"], job["kind"], job["status"],
                     _last_seen(job))
            resumed.append(job["job_id"])
        await self.dispatcher.start(self.run_job)
        await self.dispatcher.dispatch(resumed)
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="job-heartbeat")
        return resumed

    async def stop(self) -> None:
        """Stop running jobs without recording an outcome: the next start resumes them."""
        self._stopping = True
        if self._heartbeat:
            self._heartbeat.cancel()
        for due in self._due_job_events.values():
            due.cancel()
        await self.dispatcher.stop()
        await asyncio.gather(self._heartbeat or _noop(), return_exceptions=True)

    def running_job_ids(self) -> list[str]:
        """The jobs running in this process."""
        return self.dispatcher.running_job_ids()

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
        readable = self.kinds[kind].source_types
        if source.get("type") not in readable:
            raise ValidationFailed(
                f"a job of kind {kind!r} cannot read a source of type {source.get('type')!r};"
                f" it reads {' or '.join(repr(t) for t in readable)}")
        source = await check_uploads(source, self.uploads)  # 422 now, not a failed job later
        job_id = job_id or uuid.uuid4().hex
        snapshot = await self.progress.create_session(
            self.kinds[kind].operation, session_id=job_id, message="Queued"
        )
        await self.jobs.add(job_id, snapshot["session_id"], kind, source, options or {},
                            state or {})
        await self._announce(job_id)
        await self.dispatcher.dispatch([job_id])
        return await self.describe(job_id)

    async def cancel(self, job_id: str) -> dict[str, Any]:
        job = await self._require(job_id)
        if job["status"] in FINISHED_JOB_STATUSES:
            raise Conflict(f"job {job_id} is already {job['status']}")
        await self.dispatcher.cancel(job_id)
        job = await self._wait_finished(job_id, CANCEL_GRACE_SECONDS)
        if job["status"] not in FINISHED_JOB_STATUSES:
            # The job did not unwind in time: record the outcome now; it is already cancelled.
            await self._finish(job_id, "cancelled", "Cancelled")
        return await self.describe(job_id)

    async def _wait_finished(self, job_id: str, seconds: float) -> dict[str, Any]:
        """The job once its record ended (wherever it ran), or as it is after ``seconds``."""
        deadline = time.monotonic() + seconds
        job = await self._require(job_id)
        while job["status"] not in FINISHED_JOB_STATUSES and time.monotonic() < deadline:
            await asyncio.sleep(CANCEL_POLL_SECONDS)
            job = await self._require(job_id)
        return job

    async def retry(self, job_id: str) -> dict[str, Any]:
        """A new job over the same source that re-runs only the failed items."""
        job = await self._require(job_id)
        if job["status"] not in FINISHED_JOB_STATUSES:
            raise Conflict(f"job {job_id} is still {job['status']}; retry it once it has ended")
        failed = [i["source_id"] for i in (await self.ledger.items_of([job_id]))[job_id]
                  if i["state"] == "failed"]
        if not failed:
            raise Conflict(f"job {job_id} has no failed items to retry")
        options = {**job["options"], "only": failed, "retry_of": job_id}
        # The retry starts from what the first job fetched (its posts, its Apify run):
        # no second scrape to pay for, and no failed post lost from a changed feed.
        return await self.submit(job["kind"], job["source"], options, state=job["state"])

    async def describe(self, job_id: str) -> dict[str, Any]:
        [described] = await self._public([await self._require(job_id)])
        return described

    async def resolve(self, ref: str) -> str:
        """The id of the one job whose id is ``ref`` or starts with it (``ids.py``)."""
        return await ids.resolve(self.jobs, ref)

    async def short_id(self, job_id: str) -> str:
        return await ids.short_id(self.jobs, job_id)

    async def list_jobs(
        self, *, status: str | None, limit: int, before: float | None
    ) -> list[dict[str, Any]]:
        jobs = await self.jobs.find(status=status, limit=limit, before=before)
        return await self._public(jobs)

    async def job_page(
        self, *, status: str | None, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Jobs newest first, without their items, and the cursor of the next page: three
        queries whatever the page's size (jobs, their counts, their snapshots)."""
        after = decode_cursor(cursor, float, str) if cursor else None
        jobs = await self.jobs.page(
            status=status, limit=limit + 1,
            after=(after[0], after[1]) if after else None,
        )
        more, jobs = len(jobs) > limit, jobs[:limit]
        summaries = await self._summaries(jobs)
        last = jobs[-1] if jobs else None
        next_cursor = encode_cursor(last["created_at"], last["job_id"]) if more and last else None
        return summaries, next_cursor

    async def item_page(
        self, job_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A job's items in ledger order, as a person knows them, and the next cursor."""
        await self._require(job_id)
        after = decode_cursor(cursor, int, str) if cursor else None
        rows = await self.ledger.page(
            job_id, limit=limit + 1,
            after=(after[0], after[1]) if after else None,
        )
        more, rows = len(rows) > limit, rows[:limit]
        items = [public_item(row) for row in rows]
        last = rows[-1] if rows else None
        return items, (encode_cursor(last["position"], last["source_id"])
                       if more and last else None)

    async def _summaries(self, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = [j["job_id"] for j in jobs]
        counts = await self.ledger.counts_of(ids)
        snapshots = await self.progress.get_snapshots([j["session_id"] for j in jobs])
        return [job_summary(j, job_counts(counts[j["job_id"]]), snapshots.get(j["session_id"]))
                for j in jobs]

    # -- lifecycle events -----------------------------------------------------------------

    async def _announce(self, job_id: str, *, final: dict[str, Any] | None = None) -> None:
        """A job lifecycle event now (created, or its status changed)."""
        due = self._due_job_events.pop(job_id, None)
        if due is not None and due is not asyncio.current_task():
            due.cancel()
        job = await self.jobs.get(job_id)
        if job is None:
            return
        [summary] = await self._summaries([job])
        self._publish_job(summary, final)

    def _publish_job(self, summary: dict[str, Any], final: dict[str, Any] | None) -> None:
        """``final``: the job's terminal snapshot, queued just before in this same step
        of the event loop, so both go into one commit: no crash can keep one of them."""
        if final is not None:
            summary["progress"] = progress_view(final)
        self._last_job_event[summary["job_id"]] = self.progress.clock()
        self.progress.publish_job(summary["session_id"], summary)
        if summary["status"] in FINISHED_JOB_STATUSES:
            self._last_job_event.pop(summary["job_id"], None)

    def _counts_changed(self, job_id: str) -> None:
        """The job's counts moved: an event within ``JOB_EVENT_INTERVAL``, one for all
        the changes until then."""
        if job_id in self._due_job_events:
            return
        since = self.progress.clock() - self._last_job_event.get(job_id, 0.0)
        wait = max(0.0, JOB_EVENT_INTERVAL - since)
        self._due_job_events[job_id] = asyncio.create_task(
            self._announce_later(job_id, wait), name=f"job-event-{job_id}")

    async def _announce_later(self, job_id: str, wait: float) -> None:
        await asyncio.sleep(wait)
        with contextlib.suppress(IgbridgeError):  # the next event will carry the counts
            await self._announce(job_id)
        self._due_job_events.pop(job_id, None)

    # -- running ------------------------------------------------------------------------

    async def run_job(self, job_id: str, takeovers: int) -> None:
        """The one code path of a job, in whichever process the dispatcher runs it."""
        try:
            job = await self._patiently(job_id, self._require, job_id)
            if job["status"] in FINISHED_JOB_STATUSES:
                return  # cancelled while queued, or handed out again after it ended
            if takeovers > MAX_TAKEOVERS:
                await self._patiently(job_id, self._finish, job_id, "error",
                                      f"the sidecar processes running this job stopped "
                                      f"{takeovers} times; it is not started again")
                return
            await self._patiently(job_id, self._ensure_session, job)
            async with self._slots:
                await self._attempts(job_id)
        except asyncio.CancelledError:
            if not self._stopping and await self.dispatcher.cancel_requested(job_id):
                # Shielded: a second stop request (SAQ's own abort check) must not cut
                # the outcome in half.
                await asyncio.shield(self._finish(job_id, "cancelled",
                                                  await self._cancel_message(job_id)))
            raise

    async def _ensure_session(self, job: dict[str, Any]) -> bool:
        """The job's progress session, loaded or (lost, or never made here) created;
        False when it already ended."""
        if not await self.progress.load(job["session_id"]):
            await self.progress.create_session(
                self.kinds[job["kind"]].operation, session_id=job["session_id"])
            return True
        return self.progress.is_live(job["session_id"])

    async def _attempts(self, job_id: str) -> None:
        job = await self._patiently(job_id, self._require, job_id)
        kind = self.kinds[job["kind"]]
        attempt = int(job["attempts"])
        while True:
            attempt += 1
            await self._patiently(job_id, self._start_attempt, job_id, attempt)
            context = JobContext(
                job_id=job_id, session_id=job["session_id"], kind=job["kind"],
                source=job["source"], options=job["options"], attempt=attempt,
                config=self.config, backend=self.backend, jobs=self.jobs, ledger=self.ledger,
                progress=self.progress, http=self.http,
                state=dict(job["state"]), uploads=self.uploads, apify_token=self.apify_token,
                items_changed=lambda: self._counts_changed(job_id),
            )
            try:
                message = await _timed(kind, context)
            except StorageError as exc:
                # The store went away under the job: once it answers, the same attempt
                # again, from the ledger (what the store kept is what was done).
                log.warning("job %s: %s; %s", job_id, exc.message, WAITING_FOR_STORE)
                job = await self._patiently(job_id, self._require, job_id)
                attempt -= 1
                continue
            except IgbridgeError as exc:
                if not exc.retryable:
                    await self._patiently(job_id, self._finish, job_id, "error", exc.message)
                    return
                policy = job_policy(self.config)
                if attempt >= policy.attempts:
                    await self._patiently(job_id, self._finish, job_id, "error",
                                          f"{exc.message} (gave up after {attempt} attempts)")
                    return
                delay = policy.wait_seconds(attempt, getattr(exc, "retry_after", None))
                self.progress.update(
                    job["session_id"],
                    message=f"{exc.message}; retrying in {delay:.1f} s "
                            f"(attempt {attempt + 1} of {self.config.job_attempts})",
                )
                await asyncio.sleep(delay)
                job = await self._patiently(job_id, self._require, job_id)
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("job %s crashed", job_id)
                await self._patiently(job_id, self._finish, job_id, "error",
                                      f"internal error: {type(exc).__name__}: {exc}")
                return
            await self._patiently(job_id, self._finish, job_id, "complete", message)
            return

    async def _start_attempt(self, job_id: str, attempt: int) -> None:
        await self.jobs.start_attempt(job_id, attempt, self.instance)
        await self._announce(job_id)

    async def _patiently(self, job_id: str, step: Callable[P, Awaitable[T]],
                         *args: P.args, **kwargs: P.kwargs) -> T:
        """``step(*args)`` once the store answers: a job outlives a store that
        restarts. Every step given is safe to do again (a read, or a write whose first
        end wins)."""
        wait = STORE_PROBE_SECONDS
        since: float | None = None
        said = 0.0
        while True:
            try:
                result = await step(*args, **kwargs)
            except StorageError as exc:
                now = time.monotonic()
                if since is None or now - said >= STORE_WAIT_LOG_SECONDS:
                    waiting = f" (for {now - since:.0f} s)" if since is not None else ""
                    log.warning("job %s: %s; %s%s", job_id, exc.message, WAITING_FOR_STORE,
                                waiting)
                    said = now
                since = now if since is None else since
                await asyncio.sleep(wait)
                wait = min(wait * 2, STORE_PROBE_MAX_SECONDS)
                continue
            if since is not None:
                log.warning("job %s: the store answers again; the job goes on", job_id)
            return result

    async def _cancel_message(self, job_id: str) -> str:
        counts = job_counts((await self.ledger.counts_of([job_id]))[job_id])
        if counts["imported"]:
            return f"Cancelled; {counts['imported']} item(s) already done are kept"
        return "Cancelled"

    async def _finish(self, job_id: str, status: str, message: str) -> None:
        """The job row first, then the terminal event: a client that saw the job end
        always finds the job row ended too (start-up mends a crash between the two)."""
        await self._record_end(job_id, status, message)
        due = self._due_job_events.pop(job_id, None)
        if due is not None:
            due.cancel()
        job = await self._require(job_id)
        if job["status"] != status:  # it had ended already: the first end wins
            status, message = job["status"], job["error"] or "Complete"
        [summary] = await self._summaries([job])
        final = None
        if self.progress.is_live(job["session_id"]):
            final = self.progress.finish(job["session_id"], status, message)
        self._publish_job(summary, final)  # no await since finish(): one commit for both
        await self.progress.flush()

    async def _record_end(self, job_id: str, status: str, message: str) -> None:
        await self.jobs.finish(job_id, status,
                                message if status != "complete" else None)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.job_heartbeat_seconds)
            running = self.dispatcher.running_job_ids()
            if running:
                with contextlib.suppress(IgbridgeError):
                    await self.jobs.heartbeat(running)

    async def _require(self, job_id: str) -> dict[str, Any]:
        job = await self.jobs.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        return job

    async def _public(self, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The jobs as the API shows them; the same few reads for any number of jobs."""
        job_ids = [job["job_id"] for job in jobs]
        items = await self.ledger.items_of(job_ids)
        snapshots = await self.progress.get_snapshots([job["session_id"] for job in jobs])
        return [self._job_json(job, items[job["job_id"]], snapshots.get(job["session_id"]))
                for job in jobs]

    @staticmethod
    def _job_json(job: dict[str, Any], items: list[dict[str, Any]],
                  progress: dict[str, Any] | None) -> dict[str, Any]:
        by_state: dict[str, int] = {}
        for item in items:
            by_state[item["state"]] = by_state.get(item["state"], 0) + 1
        counts = job_counts(by_state)
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
            "cost": job["state"].get("cost"),
        }


PUBLIC_ITEM_KEYS = ("source_id", "state", "reason", "wp_post_id", "post_url", "thumbnail_url",
                    "caption_excerpt", "taken_at")


def public_item(row: dict[str, Any]) -> dict[str, Any]:
    """An item as a person knows it; a preview's also with what it found of the post
    (``kinds/preview.py``: ``preview`` and ``kind``, kept in the item's detail)."""
    item = {key: row[key] for key in PUBLIC_ITEM_KEYS}
    detail = row.get("detail") or {}
    if "preview" in detail:
        item.update(preview=detail["preview"], kind=detail.get("kind"))
    return item


def job_counts(by_state: dict[str, int]) -> dict[str, int]:
    """A job's ``counts``: every recorded state (0 when none), and their ``total``."""
    counts = {str(state): by_state.get(str(state), 0) for state in RECORDED_ITEM_STATES}
    return {**counts, "total": sum(counts.values())}


def job_summary(
    job: dict[str, Any], counts: dict[str, int], snapshot: dict[str, Any] | None
) -> dict[str, Any]:
    """A job as the jobs list and its lifecycle events show it: no items, no options."""
    return {
        "job_id": job["job_id"],
        "session_id": job["session_id"],
        "kind": job["kind"],
        "source": job["source"],
        "status": job["status"],
        "counts": counts,
        "created_at": iso(job["created_at"]),
        "started_at": iso(job["started_at"]),
        "finished_at": iso(job["finished_at"]),
        "error": job["error"],
        "progress": progress_view(snapshot or {}),
    }


def progress_view(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The part of a job's snapshot its summary carries: the one bar, the phase's N/M."""
    return {
        "percentage": snapshot.get("percentage", 0.0),
        "phase": snapshot.get("phase"),
        "done": snapshot.get("done", 0),
        "total": snapshot.get("total", 0),
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


def _last_seen(job: dict[str, Any]) -> str:
    """Which process last ran the job and when it last gave a sign of life, for the log."""
    if not job["owner"]:
        return ""
    now = time.time()
    ago = now - (job["heartbeat_at"] or job["started_at"] or now)
    return f" by process {job['owner'][:8]}, last heartbeat {ago:.0f} s ago"


async def _noop() -> None:
    return None
