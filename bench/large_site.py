"""Scenario: imports into a site that already holds thousands of imported posts (issue 10).

One fresh local stack. In order:

1. a 300-post export into the fresh site (the reference rate);
2. a 5,000-post export (the "site holding 5,000 imported posts" is made by this real
   import through the sidecar: no rows are seeded behind WordPress's back), timed;
3. the same 5,000-post export again: every post is already in WordPress, so the
   rerun must find that out (ledger, then batched lookups) without reading a media
   file, in at most 10 % of the first import's time;
4. a second 300-post export, of the same shape as the first (same sizes, new posts and
   new pictures), into the site now holding 5,300 posts: its rate must be at least 90 %
   of the fresh site's.

Every post has one small JPEG of its own (no two posts share bytes, so the media
cache never spares an upload); small pictures keep the 5,000-post import within a few
minutes, since WordPress makes no extra sizes of them.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import zipfile
from pathlib import Path

from dev.stack import start_stack
from sidecar.sample.make_sample import encoded_image, instagram_text

from .imports import posts_by_source, run_import
from .scenario import Figure, Scenario, ScenarioResult, Settings

MIN_LARGE_SITE_SHARE = 90.0  # percent of the fresh site's rate
MAX_RERUN_SHARE = 10.0  # percent of the first import's time
IMAGE_SIDE = 96


def build_export(path: Path, posts: int, *, batch: int) -> Path:
    """A 2024-layout export of ``posts`` single-image posts; every picture is unique
    across batches (its corner colours spell batch and index)."""
    entries = []
    with zipfile.ZipFile(path, "w") as archive:
        for index in range(posts):
            stamp = 1_600_000_000 + batch * 50_000_000 + index * 3600
            corners = [(batch, index >> 8 & 255, index & 255), (index & 255, batch, 40),
                       (30, index >> 8 & 255, batch), (220, index & 255, 7)]
            uri = f"media/posts/202311/b{batch}-{index:05d}.jpg"
            archive.writestr(uri, encoded_image(IMAGE_SIDE, IMAGE_SIDE, corners, "jpeg"))
            caption = f"Post {index} of batch {batch} ☀️\nsecond line #bench #batch{batch}"
            entries.append({"media": [{"uri": uri, "creation_timestamp": stamp,
                                       "title": instagram_text(caption)}]})
        archive.writestr("your_instagram_activity/media/posts_1.json",
                         json.dumps(entries, ensure_ascii=True))
    return path


async def run(settings: Settings) -> ScenarioResult:
    small = int(settings.pick(quick=20, default=300))
    large = int(settings.pick(quick=200, default=5000))
    work = Path(tempfile.mkdtemp(prefix="igbridge-bench-large-site-"))
    stack = await asyncio.to_thread(start_stack, work / "stack")
    try:
        exports = await asyncio.to_thread(lambda: [
            build_export(work / "fresh.zip", small, batch=1),
            build_export(work / "large.zip", large, batch=2),
            build_export(work / "later.zip", small, batch=3)])
        fresh = await run_import(stack, exports[0], concurrency=None)
        first = await run_import(stack, exports[1], concurrency=None)
        # The large export's media are spoilt (same names, bytes that are no picture): a
        # rerun that read one would fail that post. It must need none of them.
        await asyncio.to_thread(_spoil_media, exports[1])
        rerun = await run_import(stack, exports[1], concurrency=None)
        later = await run_import(stack, exports[2], concurrency=None)
        copies, total = await posts_by_source(stack)
    finally:
        await asyncio.to_thread(stack.stop)
        shutil.rmtree(work, ignore_errors=True)

    held = small + large
    duplicates = sum(n - 1 for n in copies.values() if n > 1)
    share = 100.0 * later.rate(small) / fresh.rate(small)
    rerun_share = 100.0 * rerun.seconds / first.seconds
    result = ScenarioResult()
    result.figures = [
        Figure.info("import rate into a fresh site", fresh.rate(small), "posts/s",
                    f"{small} posts, one {IMAGE_SIDE}×{IMAGE_SIDE} JPEG each, "
                    f"{fresh.seconds:.1f} s"),
        Figure.info(f"import rate of {large} posts", first.rate(large), "posts/s",
                    f"{first.seconds:.1f} s; these make the site's {held} imported posts"),
        Figure.info(f"import rate into a site holding {held} imported posts",
                    later.rate(small), "posts/s",
                    f"{small} posts of the same shape as the fresh run, {later.seconds:.1f} s"),
        Figure.at_least("rate into the large site over the rate into the fresh one", share, "%",
                        MIN_LARGE_SITE_SHARE),
        Figure.at_most(f"rerun of the fully imported {large}-post export, share of its first "
                       "import's time", rerun_share, "%", MAX_RERUN_SHARE,
                       f"{rerun.seconds:.1f} s vs {first.seconds:.1f} s; "
                       f"{rerun.already_imported} already imported, {rerun.imported} imported, "
                       f"{rerun.failed} failed with every media file of the export spoilt"),
        Figure.equals("posts the rerun imported or failed", rerun.imported + rerun.failed, "", 0,
                      "a rerun that read a media file would have failed it"),
        Figure.equals("duplicate posts in WordPress", duplicates, "", 0,
                      f"{len(copies)} distinct source ids in {total} posts"),
    ]
    result.notes.append(
        "large-site: the site's posts were all imported by the sidecar in the same run "
        "(real REST calls, real index rows); WordPress, MariaDB and the sidecar share the "
        "machine's 2 cores.")
    return result


def _spoil_media(path: Path) -> None:
    """Rewrite the export with every media file's bytes replaced by no picture at all."""
    spoilt = path.with_suffix(".spoilt.zip")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(spoilt, "w") as target:
        for info in source.infolist():
            json_file = info.filename.endswith(".json")
            target.writestr(info, source.read(info) if json_file else b"no picture here")
    spoilt.replace(path)


SCENARIO = Scenario("large-site", "Imports into a site that already holds many posts", run)
