"""Scenario: syncing a saved source (issue 14).

One fresh local stack (MariaDB, WordPress on ``php -S``) and a sidecar of this
scenario's own, whose Apify is the fake Apify server (``tests/fakes/apify_server.py``,
which honours ``onlyPostsNewerThan`` as the real scraper does) and whose WordPress URL
is a forwarding proxy that counts every request it passes on.

1. A source of 1,000 posts (an hour apart) is synced once: the site then holds them.
2. Five new posts appear upstream; the next sync is measured: the Apify items it
   fetched (the new ones plus the overlap, not the whole feed), its wall time, and the
   WordPress requests it made.
3. A second source on a 1-minute schedule runs 10 times by itself: each run's start
   (the job's ``started_at``) against the time it was due (``options.scheduled_for``).

Every post carries the same small JPEG (the fake CDN serves one picture), uploaded
once: the figures are about finding and fetching posts, not about media uploads.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from dev.stack import Stack, start_stack
from tests.e2e.conftest import FaultProxy
from tests.fakes.apify_server import FakeApify
from tests.fakes.instagram_items import ItemFactory

from . import processes
from .scenario import Figure, Scenario, ScenarioResult, Settings, percentile

MAX_ITEMS_FETCHED = 10  # the 5 new posts and the overlap
MAX_START_ERROR_P99 = 5.0  # seconds
TERMINAL = ("complete", "error", "cancelled")
NEWEST = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


class Sidecar:
    def __init__(self, url: str):
        self.client = httpx.AsyncClient(base_url=url, timeout=60, headers={
            "Authorization": f"Bearer {processes.SECRET}"})

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        reply = await self.client.request(method, path, json=body)
        if reply.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {reply.status_code} {reply.text[:300]}")
        return reply.json()

    async def finish(self, job_id: str, timeout: float = 1800) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job: dict[str, Any] = await self.call("GET", f"/api/jobs/{job_id}")
            if job["status"] in TERMINAL:
                return job
            await asyncio.sleep(0.2)
        raise RuntimeError(f"job {job_id} did not finish in {timeout:.0f} s")

    async def sync(self, source_id: str) -> tuple[dict[str, Any], float]:
        began = time.monotonic()
        accepted = await self.call("POST", f"/api/sources/{source_id}/sync")
        job = await self.finish(accepted["job_id"])
        if job["status"] != "complete":
            raise RuntimeError(f"sync ended {job['status']}: {job['error']}")
        return job, time.monotonic() - began


def feed(fake: FakeApify, username: str, count: int, newest: datetime, *,
         id_offset: int = 0) -> list[dict[str, Any]]:
    """``count`` photo posts an hour apart, the newest first; ids shifted by
    ``id_offset`` (each factory counts ids from the same start)."""
    factory = ItemFactory(fake, username)
    picture = factory.image_url()
    items = []
    for n in range(count):
        item = factory.image(f"Post {n} of the bench feed #bench", taken_at=newest -
                             timedelta(hours=n))
        item.update(displayUrl=picture, images=[picture], id=str(int(item["id"]) + id_offset))
        items.append(item)
    return items


async def run(settings: Settings) -> ScenarioResult:
    posts = int(settings.pick(quick=100, default=1000))
    runs = int(settings.pick(quick=2, default=10))
    work = Path(tempfile.mkdtemp(prefix="igbridge-bench-sync-"))
    stack: Stack = await asyncio.to_thread(start_stack, work / "stack", sidecar=False)
    fake = FakeApify().start()
    proxy = FaultProxy(stack.wp_url).start()
    sidecar = processes.sidecar(work / "data", env={
        "IGBRIDGE_WP_URL": proxy.url, "IGBRIDGE_WP_USER": stack.wp_app_user,
        "IGBRIDGE_WP_APP_PASSWORD": stack.wp_app_password, "APIFY_TOKEN": fake.token,
        "IGBRIDGE_APIFY_API_URL": fake.url, "IGBRIDGE_APIFY_POLL_SECONDS": "0.05"})
    api = Sidecar(f"http://127.0.0.1:{sidecar.port}")
    try:
        await asyncio.to_thread(sidecar.start)
        fake.add_profile("bench.sync", feed(fake, "bench.sync", posts, NEWEST))
        source = await api.call("POST", "/api/sources", {
            "type": "apify", "username": "bench.sync", "limit": posts + 100})
        first, first_seconds = await api.sync(source["source_id"])

        new = feed(fake, "bench.sync", 5, NEWEST + timedelta(hours=5), id_offset=10**12)
        fake.profiles["bench.sync"].items[:0] = new
        proxy.log.clear()
        second, second_seconds = await api.sync(source["source_id"])
        wp_requests = len(proxy.log)
        [run_of_second] = [r for r in fake.runs.values()
                           if r.input.get("onlyPostsNewerThan")][-1:]
        fetched = len(run_of_second.visible_items())

        fake.add_profile("bench.sched", feed(fake, "bench.sched", 3, NEWEST, id_offset=2 * 10**12))
        scheduled = await api.call("POST", "/api/sources", {
            "type": "apify", "username": "bench.sched", "schedule": {"every_minutes": 1}})
        errors = await schedule_errors(api, scheduled["source_id"], runs)
    finally:
        await api.client.aclose()
        sidecar.stop()
        proxy.stop()
        fake.stop()
        await asyncio.to_thread(stack.stop)
        shutil.rmtree(work, ignore_errors=True)

    result = ScenarioResult()
    result.figures = [
        Figure.info(f"first sync of a {posts}-post source", first_seconds, "s",
                    f"{first['counts']['imported']} imported"),
        Figure.at_most("Apify items the next sync fetched (5 new posts)", fetched, "",
                       MAX_ITEMS_FETCHED, f"onlyPostsNewerThan "
                       f"{run_of_second.input['onlyPostsNewerThan']}; the source holds "
                       f"{posts + 5} posts"),
        Figure.info("wall time of that sync", second_seconds, "s",
                    f"counts {_counts(second)}; the job's own clock "
                    f"{(second.get('timing') or {}).get('wall', 0):.2f} s"),
        Figure.info("WordPress requests that sync made", wp_requests, "",
                    "lookup, deleted-posts lookup, tags, batch create and publish, media"),
        Figure.at_most(f"schedule start error p99 over {runs} runs at 1 minute",
                       percentile(errors, 0.99), "s", MAX_START_ERROR_P99,
                       f"max {max(errors):.2f} s, median {percentile(errors, 0.5):.2f} s"),
    ]
    result.notes.append(
        "sync: the sidecar's own scheduler (1 s tick) fires the runs; start error = job "
        "started_at − the time the run was due. Apify is the fake server on 127.0.0.1.")
    return result


async def schedule_errors(api: Sidecar, source_id: str, runs: int) -> list[float]:
    """Wait for ``runs`` scheduled syncs of the source; each one's start error (s)."""
    deadline = time.monotonic() + runs * 60 + 90
    known: dict[str, dict[str, Any]] = {}  # a started job's whole record, read once
    while time.monotonic() < deadline:
        # The jobs list carries summaries (no options): each started job is read once.
        for summary in (await api.call("GET", "/api/jobs?limit=500"))["jobs"]:
            if summary["started_at"] and summary["job_id"] not in known:
                known[summary["job_id"]] = await api.call("GET", f"/api/jobs/{summary['job_id']}")
        jobs = sorted((j for j in known.values()
                       if j["options"].get("saved_source_id") == source_id
                       and j["options"].get("scheduled_for")),
                      key=lambda j: str(j["created_at"]), reverse=True)
        if len(jobs) >= runs:
            return [(_moment(j["started_at"]) - _moment(j["options"]["scheduled_for"]))
                    .total_seconds() for j in jobs[:runs]]
        await asyncio.sleep(5)
    raise RuntimeError(f"fewer than {runs} scheduled runs came in time")


def _moment(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _counts(job: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in job["counts"].items() if v and k != "total")


SCENARIO = Scenario("sync", "Syncing a saved source: new posts only, on a schedule", run)
