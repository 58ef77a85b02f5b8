"""``kill -9`` of the sidecar at random points of an import into the real WordPress.

Each iteration scrapes a fresh profile on the fake Apify (a run that takes a few
polls), downloads its media from a slow media server and imports the posts; the
sidecar is killed while the job is in a chosen phase, after a seeded random delay,
then started again on the same data dir. In the end every post is in WordPress
exactly once and every job ended ``complete``.

The deterministic variant kills the sidecar between "WordPress created the post"
and "the sidecar heard about it": a fault proxy forwards the N-th
``POST /wp/v2/posts`` and keeps WordPress's answer from the sidecar.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dev.stack import Stack
from tests.fakes.apify_server import FakeApify
from tests.faults.exports import build_export
from tests.faults.fault_proxy import FaultProxy
from tests.faults.support import (
    copies_in_wordpress,
    submit_import,
    wait_job,
    wordpress_sidecar,
)
from tests.support.media_server import MediaServer
from tests.support.sidecar_process import SidecarProcess

SEED = 6_2024
PHASES = {
    "scrape": "Scraping via Apify",
    "media": "Downloading media",
    "wordpress": "Importing into WordPress",
}
# How long after entering a phase the kill may come (seconds, uniform).
KILL_WINDOW = {"scrape": 0.4, "media": 0.4, "wordpress": 0.5}
CREATE_POST = rb"POST /wp-json/wp/v2/posts(\?[^ ]*)? HTTP/1\.1"
# A wave's first batch request creates its drafts (the second publishes them).
BATCH = rb"POST /wp-json/batch/v1 HTTP/1\.1"


@pytest.fixture
def media() -> Iterator[MediaServer]:
    server = MediaServer().start()
    yield server
    server.stop()


@pytest.fixture
def apify() -> Iterator[FakeApify]:
    with FakeApify() as fake:
        yield fake


def add_profile(apify: FakeApify, media: MediaServer, username: str, posts: int,
                rng: random.Random, *, image_delay: float) -> list[str]:
    """A profile of ``posts`` image posts with media on the slow server; their ids."""
    from tests.fakes.media_files import png

    items, ids = [], []
    for index in range(posts):
        post_id = f"{uuid.uuid4().int % 10**18:018d}"
        short = f"F{post_id[-10:]}"
        corners = [tuple(rng.randrange(256) for _ in range(3)) for _ in range(4)]
        url = media.add(f"/{username}/{index}.jpg?oe=67A1B2C3",
                        png(24, 24, corners), delay=image_delay)  # type: ignore[arg-type]
        items.append({
            "inputUrl": f"https://www.instagram.com/{username}/",
            "id": post_id, "type": "Image", "shortCode": short,
            "caption": f"Kill test {username} #{index} 🌅 #faults",
            "hashtags": ["faults"], "mentions": [],
            "url": f"https://www.instagram.com/p/{short}/",
            "displayUrl": url, "images": [url], "alt": f"picture {index}",
            "timestamp": f"2024-05-{index % 28 + 1:02d}T10:00:00.000Z",
            "childPosts": [], "ownerUsername": username, "ownerId": "1784140572",
            "isPinned": False, "productType": "feed",
        })
        ids.append(post_id)
    apify.add_profile(username, items,
                      status_messages=("Starting the crawler.", "Crawled 1/2 pages.",
                                       "Crawled 2/2 pages."))
    return ids


def phase_of(api: httpx.Client, job_id: str) -> tuple[str, str | None]:
    snap = api.get(f"/api/progress/status/{job_id}").json()
    return snap["status"], snap.get("phase")


def kill_during(sidecar: SidecarProcess, api: httpx.Client, job_id: str, phase: str,
                delay: float) -> str:
    """Kill -9 ``delay`` s after the job entered ``phase``; returns where it really was."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, current = phase_of(api, job_id)
        if status in ("complete", "error", "cancelled"):
            return f"missed ({status} before {phase})"
        if current == PHASES[phase]:
            break
        time.sleep(0.01)
    time.sleep(delay)
    status, current = phase_of(api, job_id)
    sidecar.kill()
    return f"{status}/{current}"


def run_kill_iterations(
    stack: Stack, tmp_path: Path, apify: FakeApify, media: MediaServer, *,
    iterations: int, posts: int, image_delay: float,
) -> tuple[Counter[str], list[str]]:
    rng = random.Random(SEED)
    sidecar = wordpress_sidecar(stack, tmp_path / "data", env={
        "APIFY_TOKEN": apify.token,
        "IGBRIDGE_APIFY_API_URL": apify.url,
        "IGBRIDGE_APIFY_POLL_SECONDS": "0.15",
        "IGBRIDGE_DOWNLOAD_CONCURRENCY": "1",
        "IGBRIDGE_IMPORT_CONCURRENCY": "2",
    })
    where: Counter[str] = Counter()
    source_ids: list[str] = []
    sidecar.start()
    try:
        for iteration in range(iterations):
            phase = ("scrape", "media", "wordpress")[iteration % 3]
            delay = rng.uniform(0, KILL_WINDOW[phase])
            username = f"kill{iteration:02d}.{uuid.uuid4().hex[:6]}"
            ids = add_profile(apify, media, username, posts, rng, image_delay=image_delay)
            source_ids.extend(ids)
            with httpx.Client(base_url=sidecar.url, headers=sidecar.headers,
                              timeout=10) as api:
                job_id = submit_import(api, {"type": "apify", "username": username,
                                             "limit": posts})
                where[kill_during(sidecar, api, job_id, phase, delay)] += 1
            sidecar.start()
            with httpx.Client(base_url=sidecar.url, headers=sidecar.headers,
                              timeout=10) as api:
                job = wait_job(api, job_id, timeout=90)
            assert job["status"] == "complete", (iteration, phase, job["error"], job["items"])
            assert job["counts"]["failed"] == job["counts"]["pending"] == 0, job["items"]
            assert sorted(i["source_id"] for i in job["items"]) == sorted(ids)
            assert copies_in_wordpress(stack, ids) == dict.fromkeys(ids, 1), (iteration, phase)
    finally:
        sidecar.kill()
    return where, source_ids


@pytest.mark.parametrize(("iterations", "posts", "image_delay"), [
    pytest.param(20, 2, 0.15, id="20x2"),
    pytest.param(60, 10, 0.1, id="60x10", marks=pytest.mark.slow),
])
def test_kill_9_at_random_points_of_imports(
    stack: Stack, tmp_path: Path, apify: FakeApify, media: MediaServer,
    record_figure: Callable[[str, object], None], iterations: int, posts: int, image_delay: float,
) -> None:
    where, source_ids = run_kill_iterations(stack, tmp_path, apify, media,
                                            iterations=iterations, posts=posts,
                                            image_delay=image_delay)
    record_figure("killed_at", dict(where))
    # Once more over everything: no iteration made a copy of another's post either.
    assert copies_in_wordpress(stack, source_ids) == dict.fromkeys(source_ids, 1)


@pytest.mark.parametrize(("nth", "batch"), [
    pytest.param(1, 1, id="first-post-alone"),
    pytest.param(3, 1, id="third-post-alone"),
    pytest.param(1, 4, id="wave-of-four"),
])
def test_kill_9_after_wordpress_created_the_post_but_before_the_sidecar_heard(
    stack: Stack, tmp_path: Path, nth: int, batch: int
) -> None:
    tag = f"held{nth}-{batch}-{uuid.uuid4().hex[:8]}"
    export = build_export(tmp_path / f"{tag}.zip", tag, 4, seed=nth)
    proxy = FaultProxy("127.0.0.1", stack.wp_port, seed=nth).start()
    sidecar = wordpress_sidecar(stack, tmp_path / "data", wp_url=proxy.url,
                                env={"IGBRIDGE_IMPORT_CONCURRENCY": "1",
                                     "IGBRIDGE_IMPORT_BATCH": str(batch)})
    try:
        sidecar.start()
        # One post a wave: its own create request; a wave of four: one batch creates all.
        held = proxy.hold_response(CREATE_POST if batch == 1 else BATCH, nth=nth)
        with httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=10) as api:
            job_id = submit_import(api, {"type": "export", "path": str(export)})
            assert held.wait(30), "the sidecar never created the post"
            # WordPress has answered (the proxy holds its answer): the post exists now.
            before = api.get(f"/api/jobs/{job_id}").json()
        sidecar.kill()
        assert before["status"] == "running"
        assert before["counts"]["imported"] == nth - 1
        proxy.pass_through()
        sidecar.start()
        with httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=10) as api:
            job = wait_job(api, job_id, timeout=60)
        assert job["status"] == "complete", job
        states: dict[str, Any] = Counter(i["state"] for i in job["items"])
        assert states == {"imported": 4}, job["items"]
        ids = [i["source_id"] for i in job["items"]]
        assert copies_in_wordpress(stack, ids) == dict.fromkeys(ids, 1)
        # The post whose answer was lost was finished, not made again: it is published.
        posts = {i["source_id"]: i["wp_post_id"] for i in job["items"]}
        assert len(set(posts.values())) == 4
    finally:
        sidecar.kill()
        proxy.stop()
