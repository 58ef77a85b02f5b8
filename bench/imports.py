"""Scenario: import throughput into the local WordPress (issue 4's figures).

A fresh local stack (MariaDB, WordPress on ``php -S`` with 4 workers, the sidecar).
Two export ZIPs of N posts with one image each (different posts, different images,
so neither run finds the other's work): one imported with ``concurrency 1``, the
other at the default concurrency; then the second again, which must create nothing.

In the same run, the ceiling WordPress itself allows for this work: the same REST
calls an import makes per post (lookup, draft, upload with alt text and parent,
publish), made straight from here with no sidecar, one at a time and 4 at a time.
The sidecar's share of the wall time is its own CPU time (utime + stime from
/proc) over the default run's wall time: time it is not waiting on WordPress.
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
from sidecar.sample.make_sample import encoded_image, instagram_text

from .processes import process_cpu_seconds
from .scenario import Figure, Scenario, ScenarioResult, Settings

DEFAULT_CONCURRENCY = load_config({}).import_concurrency
CEILING_PARALLEL = 4
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
    return ImportRun(seconds, counts["imported"], counts["skipped"], counts["failed"], cpu)


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


async def wordpress_ceiling(stack: Stack, posts: int, parallel: int, image: bytes) -> float:
    """Posts/s for an import's own REST calls per post, made directly (no sidecar)."""
    auth = (stack.wp_app_user, stack.wp_app_password)
    slots = asyncio.Semaphore(parallel)
    tag_reply: dict[str, Any] = {}

    async def one(client: httpx.AsyncClient, index: int) -> None:
        async with slots:
            source = f"ceiling-{parallel}-{index}-{time.monotonic_ns()}"
            lookup = await client.get("/wp/v2/posts", params={
                "igbridge_source_id": source, "status": "any", "context": "edit"})
            lookup.raise_for_status()
            draft = await client.post("/wp/v2/posts", json={
                "status": "draft", "title": f"Ceiling {index}", "tags": tag_reply["ids"],
                "date_gmt": "2023-11-14T22:13:20",
                "meta": {"_igbridge_source_id": source, "_igbridge_permalink": ""}})
            draft.raise_for_status()
            post_id = draft.json()["id"]
            media = await client.post(
                "/wp/v2/media", content=image, params={"alt_text": "", "post": post_id},
                headers={"Content-Type": "image/jpeg",
                         "Content-Disposition": f'attachment; filename="c{index}.jpg"'})
            media.raise_for_status()
            published = await client.post(f"/wp/v2/posts/{post_id}", json={
                "status": "publish", "featured_media": media.json()["id"],
                "content": "<!-- wp:paragraph --><p>ceiling</p><!-- /wp:paragraph -->"})
            published.raise_for_status()

    async with httpx.AsyncClient(base_url=f"{stack.wp_url}/wp-json", auth=auth,
                                 timeout=120) as client:
        tag = await client.post("/wp/v2/tags", json={"name": "ceiling"})
        tag_reply["ids"] = [tag.json().get("id") or tag.json()["data"]["term_id"]]
        began = time.monotonic()
        await asyncio.gather(*(one(client, i) for i in range(posts)))
        return posts / (time.monotonic() - began)


async def run(settings: Settings) -> ScenarioResult:
    posts = int(settings.pick(quick=12, default=100, soak=100))
    ceiling_posts = int(settings.pick(quick=8, default=60, soak=60))
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
        ceiling_1 = await wordpress_ceiling(stack, ceiling_posts, 1, image)
        ceiling_n = await wordpress_ceiling(stack, ceiling_posts, CEILING_PARALLEL, image)
    finally:
        await asyncio.to_thread(stack.stop)
        shutil.rmtree(work, ignore_errors=True)

    duplicates = sum(n - 1 for n in copies.values() if n > 1)
    missing = 2 * posts - len(copies)
    speedup = default.rate(posts) / serial.rate(posts)
    share = 100.0 * default.sidecar_cpu / default.seconds
    result = ScenarioResult()
    result.figures = [
        Figure.info("import rate, concurrency 1", serial.rate(posts), "posts/s",
                    f"{posts} posts with one 320×320 JPEG each in {serial.seconds:.1f} s"),
        Figure.info(f"import rate, default concurrency ({DEFAULT_CONCURRENCY})",
                    default.rate(posts), "posts/s", f"{default.seconds:.1f} s"),
        Figure.at_least("speed-up of the default concurrency over 1", speedup, "×",
                        MIN_SPEEDUP),
        Figure.info("WordPress ceiling for the same REST calls, 1 at a time", ceiling_1,
                    "posts/s", "lookup + draft + upload + publish per post, no sidecar"),
        Figure.info(f"WordPress ceiling, {CEILING_PARALLEL} at a time", ceiling_n, "posts/s",
                    f"the import at default concurrency reaches "
                    f"{100 * default.rate(posts) / ceiling_n:.0f} % of it"),
        Figure.info("ceiling speed-up, 4 at a time over 1", ceiling_n / ceiling_1, "×",
                    "what 2 cores let WordPress gain from parallel requests"),
        Figure.equals("new posts on a rerun", rerun.imported, "", 0,
                      f"{rerun.skipped} skipped as already in WordPress"),
        Figure.equals("duplicate posts in WordPress", duplicates, "", 0,
                      f"{len(copies)} distinct source ids, {missing} missing"),
        Figure.at_most("sidecar's share of the wall time", share, "%", MAX_SIDECAR_SHARE,
                       f"{default.sidecar_cpu:.2f} s CPU in {default.seconds:.1f} s"),
    ]
    result.notes.append(
        "imports: WordPress, MariaDB, the sidecar and this client share the machine's 2 "
        "cores; the ceiling rows are the same WordPress measured in the same run.")
    return result


SCENARIO = Scenario("imports", "Import throughput into the local WordPress", run)
