"""Scenario: is the progress a person watches true? (issue 11's figures)

A fresh local stack. A generated 2,000-post export (one small JPEG each) is imported
while this client follows the job's own stream and records, for every event, the time
since the job was submitted, the overall ``percentage``, ``eta_seconds``, the phase and
its ``rate``. From that record, once the job has ended:

- the ETA's error at 10, 25, 50 and 75 % of the job: the first event at or past that
  percentage, its ``eta_seconds`` against the time the job really still took;
- the largest drop of the percentage between two events (the bar must never go back);
- the rate shown against the rate measured, for the media and the WordPress phase
  (measured: the phase's units over the time between its first and last event).

Then the history grows to 500 jobs (small ``cache_images`` jobs of one local image
each) and the first ``GET /api/jobs`` answer is measured: its size and its time.
"""

from __future__ import annotations

import asyncio
import http.server
import itertools
import json
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from dev.stack import Stack, start_stack
from sidecar.sample.make_sample import encoded_image

from .imports import build_export
from .scenario import Figure, Scenario, ScenarioResult, Settings

ETA_CHECKPOINTS = (10, 25, 50, 75)
MAX_ETA_ERROR = 30.0  # percent of the real remaining time
MAX_FIRST_PAGE_BYTES = 50 * 1024
HISTORY_JOBS = 500
MEDIA, WORDPRESS = "Downloading media", "Importing into WordPress"


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the job was submitted
    type: str
    percentage: float
    eta: float | None
    phase: str | None
    done: float
    rate: float | None
    rate_unit: str | None


async def follow_import(stack: Stack, export: Path) -> tuple[list[Sample], dict[str, Any]]:
    """Submit the import, record every event of its stream until its end."""
    headers = {"Authorization": f"Bearer {stack.sidecar_secret}"}
    samples: list[Sample] = []
    async with httpx.AsyncClient(base_url=stack.sidecar_url, headers=headers,
                                 timeout=httpx.Timeout(60, read=900)) as client:
        began = time.monotonic()
        reply = await client.post("/api/jobs", json={
            "kind": "import", "source": {"type": "export", "path": str(export)}})
        reply.raise_for_status()
        job_id = reply.json()["job_id"]
        async with client.stream("GET", f"/api/progress/stream/{job_id}",
                                 params={"last_event_id": 0}) as stream:
            async for line in stream.aiter_lines():
                if not line.startswith("data: "):
                    continue
                data = json.loads(line[6:])
                if data["type"] == "snapshot":
                    continue
                samples.append(Sample(time.monotonic() - began, data["type"],
                                      data["percentage"], data["eta_seconds"], data["phase"],
                                      data["done"], data["rate"], data.get("rate_unit")))
                if data["type"] in ("complete", "error", "cancelled"):
                    break
        job: dict[str, Any] = (await client.get(f"/api/jobs/{job_id}")).json()
    if job["status"] != "complete":
        raise RuntimeError(f"the import ended {job['status']}: {job['error']}")
    return samples, job


def eta_error(samples: list[Sample], checkpoint: float) -> tuple[float | None, str]:
    """The ETA's error (percent of the real remaining time) at ``checkpoint`` percent."""
    end = samples[-1].at
    for sample in samples:
        if sample.percentage >= checkpoint and sample.type == "progress":
            real = end - sample.at
            if sample.eta is None:
                return None, f"at {sample.percentage:.1f} % it still said estimating…"
            error = 100.0 * (sample.eta - real) / real if real > 0 else 0.0
            return abs(error), (f"at {sample.percentage:.1f} % ({sample.at:.1f} s): said "
                                f"{sample.eta:.1f} s, took {real:.1f} s ({error:+.0f} %)")
    return None, "never reached"


def largest_drop(samples: list[Sample]) -> float:
    drops = [a.percentage - b.percentage for a, b in itertools.pairwise(samples)]
    return max([0.0, *drops])


def phase_rates(samples: list[Sample], phase: str) -> tuple[float | None, float | None, str]:
    """(median rate shown, rate measured, unit) over one phase."""
    inside = [s for s in samples if s.phase == phase and s.type == "progress"]
    if len(inside) < 2:
        return None, None, ""
    seconds = inside[-1].at - inside[0].at
    measured = (inside[-1].done - inside[0].done) / seconds if seconds > 0 else None
    shown = [s.rate for s in inside if s.rate is not None]
    units = {s.rate_unit for s in inside if s.rate_unit}
    return (statistics.median(shown) if shown else None, measured,
            "/".join(sorted(units)) or "")


@contextmanager
def one_image_server() -> Iterator[str]:
    """A loopback HTTP server that answers every path with the same small JPEG."""
    image = encoded_image(32, 32, [(200, 30, 30)] * 4, "jpeg")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(image)))
            self.end_headers()
            self.wfile.write(image)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def grow_history(stack: Stack, jobs: int, image_url: str) -> None:
    """Submit small jobs until the sidecar has ``jobs`` in its history, and wait for them."""
    headers = {"Authorization": f"Bearer {stack.sidecar_secret}"}
    async with httpx.AsyncClient(base_url=stack.sidecar_url, headers=headers,
                                 timeout=60) as client:
        have = len((await client.get("/api/jobs", params={"limit": 500})).json()["jobs"])
        for n in range(jobs - have):
            reply = await client.post("/api/jobs", json={
                "kind": "cache_images",
                "source": {"type": "urls", "urls": [f"{image_url}/history/{n}.jpg"]}})
            reply.raise_for_status()
        while True:  # the history as a person would find it: every job ended
            running = await client.get("/api/jobs", params={"limit": 500, "status": "running"})
            queued = await client.get("/api/jobs", params={"limit": 500, "status": "queued"})
            if not running.json()["jobs"] and not queued.json()["jobs"]:
                return
            await asyncio.sleep(0.5)


async def first_jobs_page(stack: Stack) -> tuple[int, float, int]:
    """(bytes, seconds, jobs) of the first ``GET /api/jobs`` a dashboard makes."""
    headers = {"Authorization": f"Bearer {stack.sidecar_secret}"}
    async with httpx.AsyncClient(base_url=stack.sidecar_url, headers=headers,
                                 timeout=60) as client:
        began = time.monotonic()
        reply = await client.get("/api/jobs")
        seconds = time.monotonic() - began
        reply.raise_for_status()
        return len(reply.content), seconds, len(reply.json()["jobs"])


async def run(settings: Settings) -> ScenarioResult:
    posts = int(settings.pick(quick=200, default=2000))
    history = int(settings.pick(quick=50, default=HISTORY_JOBS))
    work = Path(tempfile.mkdtemp(prefix="igbridge-bench-eta-"))
    stack = await asyncio.to_thread(start_stack, work / "stack")
    try:
        export = build_export(work / "eta.zip", posts, batch="e", size=64)
        samples, job = await follow_import(stack, export)
        with one_image_server() as image_url:
            await grow_history(stack, history, image_url)
        page_bytes, page_seconds, page_jobs = await first_jobs_page(stack)
    finally:
        await asyncio.to_thread(stack.stop)
        shutil.rmtree(work, ignore_errors=True)

    result = ScenarioResult()
    took = samples[-1].at
    result.figures.append(Figure.info(
        f"import of a {posts:,}-post export, followed live", took, "s",
        f"{job['counts']['imported']:,} imported, {len(samples):,} events on its stream"))
    for checkpoint in ETA_CHECKPOINTS:
        error, note = eta_error(samples, checkpoint)
        result.figures.append(Figure.at_most(f"ETA error at {checkpoint} % of the job", error,
                                             "%", MAX_ETA_ERROR, note))
    result.figures.append(Figure.equals(
        "largest drop of the percentage", largest_drop(samples), "points", 0,
        "one bar over reading, media and WordPress, never going back"))
    for phase in (MEDIA, WORDPRESS):
        shown, measured, unit = phase_rates(samples, phase)
        ratio = shown / measured if shown and measured else None
        result.figures.append(Figure.info(
            f"rate shown over rate measured, {phase.lower()}", ratio, "×",
            f"median shown {shown or 0:.1f} {unit}, measured {measured or 0:.1f} {unit}"))
    result.figures.append(Figure.at_most(
        f"first GET /api/jobs answer with {history} jobs in history", page_bytes / 1024, "KB",
        MAX_FIRST_PAGE_BYTES / 1024,
        f"{page_jobs} jobs without items, answered in {1000 * page_seconds:.0f} ms"))
    result.notes.append(
        "eta: WordPress, MariaDB, the sidecar and this client share the machine's 2 cores; "
        "the ETA is measured against the job's real end on the same machine, under the "
        "same load.")
    return result


SCENARIO = Scenario("eta", "Honest progress: ETA error, bar drops, rate, jobs list size", run)
