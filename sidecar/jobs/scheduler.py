"""Scheduled syncs, run by the sidecar itself (never WP-Cron, which only runs when
someone visits the site, and so misses posts).

Each scheduled source keeps its ``next_run_at`` in the backend, so schedules survive
a restart. The loop wakes every ``TICK_SECONDS``, and for each due source first moves
``next_run_at`` on with a compare-and-set (``claim_due_run``): only the process whose
update found the old value fires, which is what lets several processes share one
backend. A sidecar that was down for several intervals finds each source due once and
runs one catch-up sync; the next run is then counted from now. A source whose sync
is still running when its time comes gets no second one (``start_sync``).
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..backends.base import SourceStore
from ..errors import IgbridgeError
from . import saved_sources
from .runner import JobRunner

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0


def following_run(due_at: float, every_minutes: int, moment: float) -> float:
    """The run after the one due at ``due_at``: one interval on, so runs do not drift;
    counted from ``moment`` when that is already past (missed runs are not made up)."""
    step = every_minutes * 60.0
    following = due_at + step
    return following if following > moment else moment + step


async def fire_due(sources: SourceStore, runner: JobRunner) -> list[str]:
    """Start the syncs due now; returns the job ids started."""
    started = []
    moment = time.time()
    for row in await sources.due(moment):
        due_at = float(row["next_run_at"])
        following = following_run(due_at, int(row["every_minutes"]), moment)
        if not await sources.claim_due_run(row["source_id"], due_at, following):
            continue  # another process fired it, or the source changed meanwhile
        job, new = await saved_sources.start_sync(sources, runner, row["source_id"],
                                                   scheduled_for=due_at)
        if new:
            log.info("scheduled sync of source %s: job %s (late by %.1f s)",
                     row["source_id"], job["job_id"], moment - due_at)
            started.append(job["job_id"])
        else:
            log.info("scheduled sync of source %s skipped: job %s still runs",
                     row["source_id"], job["job_id"])
    return started


async def run_schedules(sources: SourceStore, runner: JobRunner,
                        tick: float = TICK_SECONDS) -> None:
    """The background loop (``web/app.py`` starts it with the other resources)."""
    while True:
        try:
            await fire_due(sources, runner)
        except IgbridgeError as exc:
            log.warning("scheduled syncs: %s", exc.message)
        await asyncio.sleep(tick)
