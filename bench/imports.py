"""Scenario: import throughput into the local WordPress (issue 4's figures).

A fresh local stack (MariaDB, WordPress on ``php -S`` with 4 workers, the sidecar).
Two export ZIPs of N posts with one image each (different posts, different images,
so neither run finds the other's work): one imported with ``concurrency 1``, the
other at the default concurrency; then the second again, which must create nothing.

In the same run, the ceiling WordPress itself allows for this work: the same REST
calls an import makes (per wave of posts: one lookup, one batch of drafts, an upload
with alt text and parent per post, one batch of publishes), made from here by the
sidecar's WordPress client alone (no jobs, ledger or progress), one worker and 4 at
a time; and the same work with one request per call, which is what the import sent
before it batched.
The sidecar's share of the wall time is measured two ways: the job's own clock
(``sidecar/jobs/timing.py``: wall time with no WordPress call or download under way), and,
stricter, the sidecar's CPU time (utime + stime from /proc) over the run's wall time,
which also counts the CPU it spends while WordPress calls are under way.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from dev.stack import Stack, start_stack
from sidecar.config import load_config
from sidecar.jobs.kinds.import_posts import wave_size
from sidecar.sample.make_sample import encoded_image, instagram_text
from sidecar.wordpress.client import SOURCE_ID_META, WordPressClient

from .processes import process_cpu_seconds
from .scenario import Figure, Scenario, ScenarioResult, Settings

DEFAULT_CONCURRENCY = load_config({}).import_concurrency
DEFAULT_BATCH = load_config({}).import_batch
MIN_SPEEDUP = 2.0
MAX_SIDECAR_SHARE = 10.0  # percent of the wall time


def build_export(path: Path, posts: int, *, batch: str, size: int = 320) -> Path:
    """An Instagram export (2024 layout) of ``posts`` single-image posts."""
    entries = []
    media: dict[str, bytes] = {}
    for index in range(posts):
        stamp = 1_700_000_000 + index * 3600 + (0 if batch == "a" else 500_000)
        shade = (index * 37 + (0 if batch == "a" else 101)) % 256
        corners = [(shade, 80, 160), (255 - shade, 200, 40), (30, shade, 90), (220, 220, shade)]
        uri = f"media/posts/202311/{batch}{index:04d}.jpg"
        media[uri] = encoded_image(size, size, corners, "jpeg")
        caption = f"Bench post {batch}-{index} ☀️\nline two #bench #batch{batch}"
        entries.append({"media": [{"uri": uri, "creation_timestamp": stamp,
                                   "title": instagram_text(caption)}]})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("your_instagram_activity/media/posts_1.json",
                         json.dumps(entries, ensure_ascii=True))
        for name, data in media.items():
            archive.writestr(name, data)
    return path


@dataclass
class ImportRun:
    seconds: float
    imported: int
    skipped: int
    failed: int
    sidecar_cpu: float
    timing: dict[str, float]  # the job's own account (sidecar/jobs/timing.py)
    already_imported: int = 0  # posts WordPress had before the job

    def rate(self, posts: int) -> float:
        return posts / self.seconds if self.seconds else 0.0


async def run_import(stack: Stack, zip_path: Path, concurrency: int | None) -> ImportRun:
    headers = {"Authorization": f"Bearer {stack.sidecar_secret}"}
    pid = stack.processes["sidecar"].pid
    options = {"concurrency": concurrency} if concurrency else {}
    async with httpx.AsyncClient(base_url=stack.sidecar_url, headers=headers,
                                 timeout=60) as client:
        cpu_before = process_cpu_seconds(pid)
        began = time.monotonic()
        reply = await client.post("/api/jobs", json={
            "kind": "import", "source": {"type": "export", "path": str(zip_path)},
            "options": options})
        reply.raise_for_status()
        job_id = reply.json()["job_id"]
        # Follow the job's own stream to its terminal event: no polling.
        async with client.stream("GET", f"/api/progress/stream/{job_id}",
                                 timeout=httpx.Timeout(60, read=600)) as stream:
            async for line in stream.aiter_lines():
                if line.startswith("data: ") and json.loads(line[6:])["type"] in (
                        "complete", "error", "cancelled"):
                    break
        seconds = time.monotonic() - began
        cpu = process_cpu_seconds(pid) - cpu_before
        job = (await client.get(f"/api/jobs/{job_id}")).json()
    if job["status"] != "complete":
        raise RuntimeError(f"import job ended {job['status']}: {job['error']}")
    counts = job["counts"]
    return ImportRun(seconds, counts["imported"], counts["skipped"], counts["failed"], cpu,
                     job["timing"], counts.get("already_imported", 0))


async def posts_by_source(stack: Stack) -> tuple[dict[str, int], int]:
    """How many WordPress posts carry each ``_igbridge_source_id`` (any status), and how
    many posts WordPress says it has. Paged by id: posts share dates (exports here reuse
    timestamps), and paging by date would let a tie straddle two pages."""
    counts: dict[str, int] = {}
    auth = (stack.wp_app_user, stack.wp_app_password)
    async with httpx.AsyncClient(base_url=f"{stack.wp_url}/wp-json", auth=auth,
                                 timeout=60) as client:
        page = 1
        while True:
            reply = await client.get("/wp/v2/posts", params={
                "status": "any", "per_page": 100, "page": page, "context": "edit",
                "orderby": "id", "order": "asc", "_fields": "id,meta"})
            reply.raise_for_status()
            for post in reply.json():
                source = (post.get("meta") or {}).get("_igbridge_source_id")
                if source:
                    counts[source] = counts.get(source, 0) + 1
            if page >= int(reply.headers.get("X-WP-TotalPages", "1")):
                return counts, int(reply.headers.get("X-WP-Total", "0"))
            page += 1


async def wordpress_ceiling(stack: Stack, posts: int, workers: int, image: bytes, *,
                            wave: int) -> float:
    """Posts/s for an import's own REST calls made by the sidecar's WordPress client alone
    (no jobs, ledger, media cache or progress): ``workers`` at a time, each taking waves
    of up to ``wave`` posts as the importer does (one lookup, one batch of drafts, one
    upload per post, one batch that publishes). ``wave=1`` sends every call on its own:
    lookup + draft + upload + publish per post. The lightest client there is: on 2
    cores a heavier one would take CPU from WordPress and lower the ceiling."""
    run = time.monotonic_ns()
    queue = list(range(posts))
    async with WordPressClient(stack.wp_url, stack.wp_app_user, stack.wp_app_password) as wp:
        tag_ids = [await wp.ensure_tag("ceiling")]

        async def one_wave(indexes: list[int]) -> None:
            sources = [f"ceiling-{workers}-{wave}-{i}-{run}" for i in indexes]
            assert not await wp.find_posts_by_source_ids(sources)
            drafts = await wp.create_posts([{
                "status": "draft", "title": f"Ceiling {i}", "tags": tag_ids,
                "date_gmt": "2023-11-14T22:13:20",
                "meta": {SOURCE_ID_META: source, "_igbridge_permalink": ""}}
                for i, source in zip(indexes, sources, strict=True)], answer="id")
            publishes: list[tuple[int, dict[str, Any]]] = []
            for i, draft in zip(indexes, drafts, strict=True):
                assert isinstance(draft, dict), draft
                media = await wp.upload_media(image, filename=f"c{i}.jpg",
                                              content_type="image/jpeg", alt_text="",
                                              parent=draft["id"], answer="id,source_url")
                publishes.append((draft["id"], {
                    "status": "publish", "featured_media": media["id"], "tags": tag_ids,
                    "content": "<!-- wp:paragraph --><p>ceiling</p><!-- /wp:paragraph -->"}))
            answers = await wp.update_posts(publishes, answer="id")
            assert all(isinstance(a, dict) for a in answers), answers

        async def worker() -> None:
            while queue:
                size = wave_size(len(queue), workers, wave)
                taken, queue[:size] = queue[:size], []
                await one_wave(taken)

        began = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(workers)))
        return posts / (time.monotonic() - began)


async def run(settings: Settings) -> ScenarioResult:
    posts = int(settings.pick(quick=12, default=100, soak=100))
    ceiling_posts = posts  # the same work as an import
    work = Path(tempfile.mkdtemp(prefix="igbridge-bench-imports-"))
    stack = await asyncio.to_thread(start_stack, work / "stack")
    try:
        first = build_export(work / "a.zip", posts, batch="a")
        second = build_export(work / "b.zip", posts, batch="b")
        serial = await run_import(stack, first, concurrency=1)
        default = await run_import(stack, second, concurrency=None)
        rerun = await run_import(stack, second, concurrency=None)
        copies, _total = await posts_by_source(stack)
        image = encoded_image(320, 320, [(10, 20, 30)] * 4, "jpeg")
        ceiling_1 = await wordpress_ceiling(stack, ceiling_posts, 1, image, wave=DEFAULT_BATCH)
        ceiling_n = await wordpress_ceiling(stack, ceiling_posts, DEFAULT_CONCURRENCY, image,
                                            wave=DEFAULT_BATCH)
        unbatched_1 = await wordpress_ceiling(stack, ceiling_posts, 1, image, wave=1)
        unbatched_n = await wordpress_ceiling(stack, ceiling_posts, DEFAULT_CONCURRENCY, image,
                                              wave=1)
    finally:
        await asyncio.to_thread(stack.stop)
        shutil.rmtree(work, ignore_errors=True)

    duplicates = sum(n - 1 for n in copies.values() if n > 1)
    missing = 2 * posts - len(copies)
    speedup = default.rate(posts) / serial.rate(posts)
    timing = default.timing
    own_share = 100.0 * timing["own"] / timing["wall"]
    cpu_share = 100.0 * default.sidecar_cpu / default.seconds
    result = ScenarioResult()
    result.figures = [
        Figure.info("import rate, concurrency 1", serial.rate(posts), "posts/s",
                    f"{posts} posts with one 320×320 JPEG each in {serial.seconds:.1f} s"),
        Figure.info(f"import rate, default concurrency ({DEFAULT_CONCURRENCY})",
                    default.rate(posts), "posts/s",
                    f"{default.seconds:.1f} s, waves of up to {DEFAULT_BATCH} posts"),
        Figure.at_least("speed-up of the default concurrency over 1", speedup, "×",
                        MIN_SPEEDUP),
        Figure.info("WordPress ceiling for the same REST calls, 1 at a time", ceiling_1,
                    "posts/s", f"waves of {DEFAULT_BATCH}: lookup + batch of drafts + uploads "
                    "+ batch of publishes, from the sidecar's WordPress client alone"),
        Figure.info(f"WordPress ceiling, {DEFAULT_CONCURRENCY} at a time", ceiling_n,
                    "posts/s", f"the import at default concurrency reaches "
                    f"{100 * default.rate(posts) / ceiling_n:.0f} % of it"),
        Figure.info("ceiling speed-up, 4 at a time over 1", ceiling_n / ceiling_1, "×",
                    "what 2 cores let WordPress gain from parallel requests"),
        Figure.info("WordPress ceiling, one request per call, 1 at a time", unbatched_1,
                    "posts/s", "lookup + draft + upload + publish per post"),
        Figure.info(f"WordPress ceiling, one request per call, {DEFAULT_CONCURRENCY} at a time",
                    unbatched_n, "posts/s", "what batching the post writes gains: "
                    f"{ceiling_n / unbatched_n:.2f}×"),
        Figure.equals("new posts on a rerun", rerun.imported, "", 0,
                      f"{rerun.already_imported} already in WordPress"),
        Figure.equals("duplicate posts in WordPress", duplicates, "", 0,
                      f"{len(copies)} distinct source ids, {missing} missing"),
        Figure.at_most("wall time waiting on nothing but the sidecar", own_share, "%",
                       MAX_SIDECAR_SHARE,
                       f"{timing['own']:.2f} s of {timing['wall']:.2f} s; WordPress calls "
                       f"under way {timing['wordpress']:.2f} s (the job's own clock)"),
        Figure.info("sidecar CPU time over the import's wall time", cpu_share, "%",
                    f"{default.sidecar_cpu:.2f} s CPU in {default.seconds:.1f} s "
                    f"({1000 * default.sidecar_cpu / posts:.1f} ms a post), mostly while "
                    "WordPress calls are under way; the stricter proxy used before"),
    ]
    result.notes.append(
        "imports: WordPress, MariaDB, the sidecar and this client share the machine's 2 "
        "cores; the ceiling rows are the same WordPress measured in the same run.")
    return result


SCENARIO = Scenario("imports", "Import throughput into the local WordPress", run)
