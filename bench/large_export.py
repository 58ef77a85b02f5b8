"""Scenario: the sidecar's memory while it imports a large export (issue 10).

Real exports are hundreds of MB to several GB, most of it video. This generates one
in a temp dir (never committed): ``videos`` posts with one incompressible
"video" each (an MP4 header, then random bytes; stored, as Instagram stores media,
half of them without an extension as real exports name them), and ``photos``
single-photo posts, about 2 GB in all by default. It is imported into a fresh local
stack's WordPress, and the sidecar's resident memory is read from /proc while the
job runs: sampled every 0.2 s, and its kernel-kept peak (VmHWM) at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import struct
import tempfile
import time
import zipfile
from pathlib import Path

from dev.stack import Stack, start_stack
from sidecar.sample.make_sample import encoded_image, instagram_text

from .imports import run_import
from .scenario import Figure, Scenario, ScenarioResult, Settings

MAX_PEAK_RSS_MB = 300.0
VIDEO_MB = 40  # under the dev stack's 64 MB upload limit


def fake_video(size: int) -> bytes:
    """An ISO-BMFF header (enough for every sniffer) and ``size`` incompressible bytes."""
    ftyp = b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41"
    head = struct.pack(">I", 8 + len(ftyp)) + b"ftyp" + ftyp
    return head + struct.pack(">I", 8 + size) + b"mdat" + os.urandom(size)


def build_large_export(path: Path, *, videos: int, photos: int) -> int:
    """Write the export; its size in bytes."""
    entries = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for index in range(videos):
            uri = f"media/posts/202501/AQLarge{index:04d}Video_1810000000{index:07d}"
            if index % 2:
                uri += ".mp4"
            archive.writestr(uri, fake_video(VIDEO_MB * 1024 * 1024))
            entries.append({"media": [{"uri": uri, "creation_timestamp": 1_736_000_000 + index,
                                       "media_metadata": {"video_metadata": {}},
                                       "title": instagram_text(f"Large video {index} 🎬")}]})
        for index in range(photos):
            shade = index % 256
            uri = f"media/posts/202412/large{index:05d}.jpg"
            corners = [(shade, 90, 150), (255 - shade, 30, 60), (20, shade, 200), (240, 10, shade)]
            archive.writestr(uri, encoded_image(96, 96, corners, "jpeg"))
            entries.append({"media": [{"uri": uri, "creation_timestamp": 1_733_000_000 + index,
                                       "title": f"Large photo {index} #large"}]})
        archive.writestr("your_instagram_activity/media/posts_1.json",
                         json.dumps(entries, ensure_ascii=True),
                         compress_type=zipfile.ZIP_DEFLATED)
    return path.stat().st_size


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


async def sample_rss(pid: int, samples: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(memory_kb(pid, "VmRSS"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)


async def run(settings: Settings) -> ScenarioResult:
    videos = int(settings.pick(quick=4, default=50))
    photos = int(settings.pick(quick=50, default=1000))
    work = Path(tempfile.mkdtemp(prefix="igbridge-bench-large-"))
    try:
        began = time.monotonic()
        export = work / "large-export.zip"
        size = await asyncio.to_thread(build_large_export, export, videos=videos, photos=photos)
        built = time.monotonic() - began
        stack: Stack = await asyncio.to_thread(start_stack, work / "stack")
        try:
            pid = stack.processes["sidecar"].pid
            idle_kb = memory_kb(pid, "VmRSS")
            samples: list[int] = []
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_rss(pid, samples, stop))
            try:
                job = await run_import(stack, export, concurrency=None)
            finally:
                stop.set()
                await sampler
            peak_kb = memory_kb(pid, "VmHWM")
        finally:
            await asyncio.to_thread(stack.stop)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    posts = videos + photos
    result = ScenarioResult()
    result.figures = [
        Figure.info("large export size", size / 1024**3, "GiB",
                    f"{videos} videos of {VIDEO_MB} MB (stored) + {photos} photos; "
                    f"generated in {built:.0f} s"),
        Figure.at_most("sidecar peak RSS while importing it", peak_kb / 1024, "MB",
                       MAX_PEAK_RSS_MB, f"VmHWM; {idle_kb / 1024:.0f} MB before the job, "
                       f"{max(samples, default=0) / 1024:.0f} MB the highest 0.2 s sample"),
        Figure.info("large export import rate", job.rate(posts), "posts/s",
                    f"{job.imported} imported, {job.failed} failed in {job.seconds:.0f} s "
                    f"({size / 1024**2 / job.seconds:.0f} MB/s)"),
    ]
    return result


SCENARIO = Scenario("large_export", "Memory while importing a large export", run)
