"""Scenario: issue 6's soak. 1,000 SSE streams × 1 event/s for 10 minutes on a fresh
local stack, with 20 import jobs into its WordPress submitted at once meanwhile.

Runs with ``--soak`` (10 minutes, 1,000 streams, 20 imports) and ``--quick`` (a
smoke test: 60 s, 100 streams, 4 imports); the default ``make bench`` skips it.

The process under test is the stack's sidecar. Every second: its VmRSS, open fds and
CPU time from /proc, the frames the clients have parsed and the latencies recorded so
far; every 10 s those close a window (latency p50/p99 of the frames received in it,
frames/s, RSS, fds). After the load: the import jobs' timings and the duplicates
check against WordPress, the database size (file + WAL), then every session is
finished and the sidecar restarted with ``IGBRIDGE_RETENTION_DAYS=0``, which compacts
them at start-up, and the database is measured again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dev.stack import Stack, StackError, start_stack

from .imports import build_export, posts_by_source
from .load import (
    Watcher,
    close_watchers,
    create_sessions,
    drive_updates,
    lost_updates,
    open_watchers,
    settle,
)
from .processes import AUTH, SECRET, process_cpu_seconds
from .scenario import Figure, Scenario, ScenarioResult, Settings, percentile
from .sse_client import HttpConnection

TARGET_P99_MS = 100.0
TARGET_GROWTH = 0.05
TARGET_BYTES_PER_STREAM = 40 * 1024
WINDOW_SECONDS = 10.0
SEND_CONNECTIONS = 4
SEND_BATCH = 50  # what is due at once goes in one POST /api/progress/updates, as in streams
POSTS_PER_IMPORT = 10
IMAGE_SIZE = 200  # px; each job's images are a pixel larger, so no two jobs share a file
IMPORT_TIMEOUT = 1800.0
POLL_SECONDS = 1.0
# dev.stack gives a starting sidecar 30 s; compacting 600,000 events at start-up took
# 17 s on an idle machine, so a busy one may need longer.
COMPACTION_START_TIMEOUT = 600.0
TERMINAL_JOB = ("complete", "error", "cancelled")


# ---------------------------------------------------------------- the process under test


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def steady_rss(pid: int, seconds: float = 3.0) -> int:
    """Median of a few samples once the process has settled."""
    values = []
    for _ in range(int(seconds * 2)):
        await asyncio.sleep(0.5)
        values.append(rss_kb(pid))
    return int(statistics.median(values))


def database_bytes(data_dir: Path) -> tuple[int, int]:
    """(SQLite file, its WAL) in bytes."""
    db = data_dir / "igbridge.sqlite3"
    wal = data_dir / "igbridge.sqlite3-wal"
    return (db.stat().st_size if db.exists() else 0, wal.stat().st_size if wal.exists() else 0)


def stored_rows(data_dir: Path) -> tuple[int, int]:
    """(events, sessions) in the database; only while no sidecar has it open."""
    with contextlib.closing(sqlite3.connect(
            f"file:{data_dir / 'igbridge.sqlite3'}?mode=ro", uri=True)) as conn:
        events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        sessions = conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
    return int(events), int(sessions)


# ---------------------------------------------------------------- samples and windows


@dataclass
class Window:
    """Ten seconds of the run (seconds since the updates started)."""

    start: float
    end: float
    latency_p50: float
    latency_p99: float
    first_latency: int  # the window's latencies are Timeline.latencies[first:last]
    last_latency: int
    frames_per_s: float
    rss_kb: int  # the highest sample in the window
    fds: int  # the highest sample in the window
    cpu: float  # the server's share of a core


@dataclass
class Timeline:
    """Once a second: server RSS (KiB) and fds; every 10 s a Window."""

    pid: int
    watchers: list[Watcher]
    latencies: list[float]
    origin: float
    times: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str) -> None:
        self.marks[name] = time.monotonic() - self.origin

    async def sample(self, stop: asyncio.Event) -> None:
        """Until ``stop``: a sample on every whole second after the origin."""
        tick = 0
        opened = self._counters()
        window_rss: list[int] = []
        window_fds: list[int] = []
        while True:
            tick += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    stop.wait(), max(0.0, self.origin + tick - time.monotonic()))
            now = time.monotonic() - self.origin
            self.times.append(now)
            self.rss_kb.append(rss_kb(self.pid))
            self.fds.append(fd_count(self.pid))
            window_rss.append(self.rss_kb[-1])
            window_fds.append(self.fds[-1])
            closing = stop.is_set()
            if tick % int(WINDOW_SECONDS) == 0 or closing:
                current = self._counters()
                if current[0] - opened[0] >= 2.0:  # a stub of a window says nothing
                    self.windows.append(self._window(opened, current, window_rss, window_fds))
                opened, window_rss, window_fds = current, [], []
            if closing:
                return

    def _counters(self) -> tuple[float, int, int, float]:
        return (time.monotonic() - self.origin, sum(w.frames for w in self.watchers),
                len(self.latencies), process_cpu_seconds(self.pid))

    def _window(self, opened: tuple[float, int, int, float], closed: tuple[float, int, int, float],
                rss: list[int], fds: list[int]) -> Window:
        seconds = closed[0] - opened[0]
        received = self.latencies[opened[2]:closed[2]]
        return Window(start=opened[0], end=closed[0],
                      latency_p50=percentile(received, 0.5),
                      latency_p99=percentile(received, 0.99),
                      first_latency=opened[2], last_latency=closed[2],
                      frames_per_s=(closed[1] - opened[1]) / seconds,
                      rss_kb=max(rss), fds=max(fds), cpu=(closed[3] - opened[3]) / seconds)


def rss_growth(windows: list[Window], warmup: float) -> tuple[float, int, int] | None:
    """Growth from the first window after the warm-up to the last; None without two."""
    after = [w for w in windows if w.start >= warmup - 0.5]
    if len(after) < 2:
        return None
    first, last = after[0].rss_kb, after[-1].rss_kb
    return (last - first) / first, first, last


# ---------------------------------------------------------------- the imports


@dataclass
class ImportOutcome:
    submitted_at: float = 0.0  # seconds since the updates started
    finished_at: float = 0.0
    jobs: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # submissions not answered 202

    @property
    def seconds(self) -> float:
        return self.finished_at - self.submitted_at

    def counts(self, key: str) -> int:
        return sum(int(job["counts"][key]) for job in self.jobs)

    def most_running_at_once(self) -> int:
        moments = []
        for job in self.jobs:
            if job["started_at"] and job["finished_at"]:
                moments += [(_epoch(job["started_at"]), 1), (_epoch(job["finished_at"]), -1)]
        running = most = 0
        for _, change in sorted(moments):  # an end sorts before a start at the same instant
            running += change
            most = max(most, running)
        return most

    def waits(self) -> list[float]:
        """Seconds each job spent queued before a runner took it."""
        return [_epoch(j["started_at"]) - _epoch(j["created_at"]) for j in self.jobs
                if j["started_at"]]

    def run_times(self) -> list[float]:
        return [_epoch(j["finished_at"]) - _epoch(j["started_at"]) for j in self.jobs
                if j["started_at"] and j["finished_at"]]


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


async def run_imports(port: int, zips: list[Path], timeline: Timeline, at: float) -> ImportOutcome:
    """At ``at`` s after the origin submit every export at once; wait for every job to end."""
    outcome = ImportOutcome()
    await asyncio.sleep(max(0.0, timeline.origin + at - time.monotonic()))
    connections = [HttpConnection(port, AUTH) for _ in zips]
    try:
        outcome.submitted_at = time.monotonic() - timeline.origin
        timeline.mark("imports submitted")
        replies = await asyncio.gather(*(
            conn.request("POST", "/api/jobs", {
                "kind": "import", "options": {},
                "source": {"type": "export", "path": str(path)}})
            for conn, path in zip(connections, zips, strict=True)))
        pending = []
        for status, body in replies:
            if status == 202:
                pending.append(json.loads(body)["job_id"])
            else:
                outcome.refused.append(f"{status} {body[:160].decode(errors='replace')}")
        poller = connections[0]
        if len(pending) < len(zips):
            # A refused submission may still have made its job: find it by its source.
            listed = await poller.json("GET", "/api/jobs?limit=100")
            paths = {str(path) for path in zips}
            pending += [job["job_id"] for job in listed["jobs"]
                        if job["source"].get("path") in paths and job["job_id"] not in pending]
        deadline = time.monotonic() + IMPORT_TIMEOUT
        while pending:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(pending)} import jobs still unfinished after "
                                   f"{IMPORT_TIMEOUT:.0f} s")
            await asyncio.sleep(POLL_SECONDS)
            for job_id in list(pending):
                job = await poller.json("GET", f"/api/jobs/{job_id}")
                if job["status"] in TERMINAL_JOB:
                    outcome.jobs.append(job)
                    pending.remove(job_id)
        if outcome.jobs:
            # The jobs' own clock is exact; the poll only tells when to look.
            last = max(_epoch(job["finished_at"]) for job in outcome.jobs)
            outcome.finished_at = outcome.submitted_at + (
                last - min(_epoch(job["created_at"]) for job in outcome.jobs))
            timeline.marks["imports done"] = outcome.finished_at
    finally:
        for conn in connections:
            conn.close()
    return outcome


async def finish_sessions(port: int, session_ids: list[str], connections: int = 8) -> None:
    """A terminal event for every bench session, so that compaction may take them."""
    pool = [HttpConnection(port, AUTH) for _ in range(connections)]

    async def finish(conn: HttpConnection, share: list[str]) -> None:
        for session_id in share:
            await conn.json("POST", f"/api/progress/sessions/{session_id}/complete",
                            {"message": "soak over"})

    try:
        await asyncio.gather(*(finish(conn, session_ids[i::connections])
                               for i, conn in enumerate(pool)))
    finally:
        for conn in pool:
            conn.close()


async def restart_compacting(stack: Stack) -> float:
    """Restart the sidecar with ``IGBRIDGE_RETENTION_DAYS=0``; seconds until /healthz says
    its first (background) compaction is done."""
    stack.sidecar_env["IGBRIDGE_RETENTION_DAYS"] = "0"
    began = time.monotonic()
    try:
        stack.start_sidecar()
    except StackError:
        process = stack.processes.get("sidecar")
        if process is None or not process.is_alive():
            raise
    # Compaction runs in the background once the sidecar serves: wait for it to finish.
    await wait_healthy(stack.sidecar_port, began + COMPACTION_START_TIMEOUT)
    return time.monotonic() - began


async def wait_healthy(port: int, deadline: float) -> None:
    conn = HttpConnection(port)
    try:
        while True:
            try:
                status, body = await conn.request("GET", "/healthz")
                if status == 200 and json.loads(body).get("compactions_done", 0) >= 1:
                    return
            except (OSError, asyncio.IncompleteReadError):
                conn.close()
            if time.monotonic() > deadline:
                raise RuntimeError("the compacting sidecar did not answer /healthz within "
                                   f"{COMPACTION_START_TIMEOUT:.0f} s")
            await asyncio.sleep(0.2)
    finally:
        conn.close()


# ---------------------------------------------------------------- the scenario


@dataclass
class Measured:
    """Everything the run measured, for the figures."""

    streams: int
    duration: float
    warmup: float
    rss_before: int = 0
    rss_idle: int = 0
    fds_before: int = 0
    fds_idle: int = 0
    fds_closed: int = 0
    open_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    lag_ms: list[float] = field(default_factory=list)
    acknowledged: int = 0
    unsent: int = 0
    failed: int = 0
    lost: int = 0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    timeline: Timeline | None = None
    imports: ImportOutcome = field(default_factory=ImportOutcome)
    copies: dict[str, int] = field(default_factory=dict)
    wordpress_posts: int = 0
    db_after_run: tuple[int, int] = (0, 0)
    db_stopped: tuple[int, int] = (0, 0)
    rows_after_run: tuple[int, int] = (0, 0)
    restart_seconds: float = 0.0
    db_after_compaction: tuple[int, int] = (0, 0)
    db_compacted_stopped: tuple[int, int] = (0, 0)
    rows_after_compaction: tuple[int, int] = (0, 0)


async def run(settings: Settings) -> ScenarioResult:
    if settings.mode == "default":
        return ScenarioResult(notes=["not run: 10 minutes of load, so only with --soak "
                                     "(make soak), or --quick as a smoke test."])
    streams = int(settings.pick(quick=100, default=1000))
    imports = int(settings.pick(quick=6, default=20))  # quick: still more than run at once
    measured = Measured(streams=streams, duration=settings.pick(quick=60, default=600),
                        warmup=settings.pick(quick=20, default=60))
    # Seconds into the updates: the streams are steady by then, and the imports'
    # own allocations fall in the warm-up (the chart shows them either way).
    import_at = 10.0
    work = Path(tempfile.mkdtemp(prefix="igbridge-bench-soak-"))
    try:
        zips = [build_export(work / f"import-{i:02d}.zip", POSTS_PER_IMPORT,
                             batch=f"soak{i:02d}", size=IMAGE_SIZE + i)
                for i in range(imports)]
        # Synchronous on purpose: a Ctrl-C during the start-up then lands in start_stack,
        # which stops whatever it had started (a thread would finish starting it).
        stack = start_stack(work / "stack", sidecar_env={
            "IGBRIDGE_SECRET": SECRET, "IGBRIDGE_LOG_LEVEL": "WARNING",
            "IGBRIDGE_RETENTION_DAYS": "30"})
        try:
            await measure(stack, zips, import_at, measured)
        finally:
            stack.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures(measured, imports)


async def measure(stack: Stack, zips: list[Path], import_at: float, m: Measured) -> None:
    port = stack.sidecar_port
    pid = stack.processes["sidecar"].pid
    data_dir = Path(stack.sidecar_data_dir)
    tasks: list[asyncio.Task[None]] = []
    sampler: asyncio.Task[None] | None = None
    importing: asyncio.Task[ImportOutcome] | None = None
    stop_sampling = asyncio.Event()
    try:
        session_ids = await create_sessions(port, m.streams, connections=16)
        m.rss_before, m.fds_before = await steady_rss(pid), fd_count(pid)
        opened = time.monotonic()
        watchers, tasks = await open_watchers(port, session_ids, m.latencies)
        m.open_seconds = time.monotonic() - opened
        m.rss_idle, m.fds_idle = await steady_rss(pid), fd_count(pid)

        timeline = m.timeline = Timeline(pid, watchers, m.latencies, time.monotonic())
        sampler = asyncio.create_task(timeline.sample(stop_sampling))
        importing = asyncio.create_task(run_imports(port, zips, timeline, import_at))
        cpu0, server_cpu0 = time.process_time(), process_cpu_seconds(pid)
        sending = await drive_updates(port, session_ids, rate_per_session=1.0,
                                      duration=m.duration, connections=SEND_CONNECTIONS,
                                      batch=SEND_BATCH)
        await settle(watchers, sending, timeout=2.0)
        wall = time.monotonic() - timeline.origin
        m.client_cpu = (time.process_time() - cpu0) / wall
        m.server_cpu = (process_cpu_seconds(pid) - server_cpu0) / wall
        timeline.mark("updates end")
        m.lag_ms, m.acknowledged = sending.lag_ms, sending.acknowledged_count
        m.unsent, m.failed = sending.unsent, sending.failed + sending.rejected
        m.lost = lost_updates(watchers, sending)
        m.imports = await importing  # the streams stay open while the imports finish
        stop_sampling.set()
        await sampler
        m.db_after_run = database_bytes(data_dir)
        await close_watchers(tasks)
        await asyncio.sleep(1.0)
        m.fds_closed = fd_count(pid)
        m.copies, m.wordpress_posts = await posts_by_source(stack)

        await finish_sessions(port, session_ids)
        stack.stop_sidecar()
        m.db_stopped = database_bytes(data_dir)
        m.rows_after_run = stored_rows(data_dir)
        m.restart_seconds = await restart_compacting(stack)
        m.db_after_compaction = database_bytes(data_dir)
        stack.stop_sidecar()
        m.db_compacted_stopped = database_bytes(data_dir)
        m.rows_after_compaction = stored_rows(data_dir)
    finally:
        stop_sampling.set()
        for task in [t for t in (sampler, importing) if t is not None]:
            task.cancel()
        await asyncio.gather(*[t for t in (sampler, importing) if t is not None],
                             return_exceptions=True)
        await close_watchers(tasks)


def _rss_at(timeline: Timeline, moment: float) -> int:
    """The first RSS sample taken at or after ``moment`` (the last one if none)."""
    for at, kb in zip(timeline.times, timeline.rss_kb, strict=True):
        if at >= moment:
            return kb
    return timeline.rss_kb[-1]


def _mb(sizes: tuple[int, int]) -> float:
    return round(sum(sizes) / 1e6, 2)


def _sizes(sizes: tuple[int, int]) -> str:
    return f"file {sizes[0] / 1e6:.2f} MB + WAL {sizes[1] / 1e6:.2f} MB"


def figures(m: Measured, imports: int) -> ScenarioResult:
    assert m.timeline is not None
    timeline, outcome = m.timeline, m.imports
    # Windows of the update period (the sampler runs on while late imports finish).
    windows = [w for w in timeline.windows
               if w.end <= timeline.marks.get("updates end", w.end) + 0.5]
    result = ScenarioResult()
    add = result.figures.append
    during = [w for w in windows
              if w.end > outcome.submitted_at and w.start < outcome.finished_at]
    worst = max(windows, key=lambda w: w.latency_p99, default=None)
    add(Figure.info("update→frame latency p50", percentile(m.latencies, 0.5), "ms",
                    note=f"{len(m.latencies):,} updates received"))
    add(Figure.at_most(
        "update→frame latency p99", percentile(m.latencies, 0.99), "ms", TARGET_P99_MS,
        note=f"max {max(m.latencies, default=float('nan')):.0f} ms; worst 10 s window p99 "
             f"{worst.latency_p99 if worst else float('nan'):.0f} ms at "
             f"{worst.start if worst else 0:.0f} s; send lag p99 "
             f"{percentile(m.lag_ms, 0.99):.1f} ms"))
    add(Figure.info(
        "latency p99 while the imports ran",
        percentile([lat for w in during
                    for lat in timeline.latencies[w.first_latency:w.last_latency]], 0.99),
        "ms", note=f"the {len(during)} windows overlapping the imports"))
    outside = [w for w in windows if all(w is not d for d in during)]
    add(Figure.info(
        "latency p99 without imports",
        percentile([lat for w in outside
                    for lat in timeline.latencies[w.first_latency:w.last_latency]], 0.99),
        "ms", note=f"the other {len(outside)} windows"))
    rate = m.acknowledged / m.duration
    add(Figure.at_least(
        "update rate sustained", round(rate), "/s", m.streams,
        note=f"scheduled {m.streams:,}/s; {m.unsent:,} still queued in the client at the end; "
             f"{m.failed} failed"))
    add(Figure.equals("updates acknowledged but never seen", m.lost, "", 0))
    frames = [w.frames_per_s for w in windows]
    add(Figure.info("frames/s delivered (mean of 10 s windows)",
                    round(statistics.fmean(frames)) if frames else None, "/s",
                    note=f"lowest window {min(frames, default=0):.0f}/s, highest "
                         f"{max(frames, default=0):.0f}/s"))
    per_stream = (m.rss_idle - m.rss_before) * 1024 / m.streams
    add(Figure.at_most(
        "memory per open stream", round(per_stream / 1024, 1), "KB",
        TARGET_BYTES_PER_STREAM / 1024,
        note=f"RSS {m.rss_before / 1024:.0f} → {m.rss_idle / 1024:.0f} MB with "
             f"{m.streams:,} idle streams (opened in {m.open_seconds:.1f} s)"))
    growth = rss_growth(windows, m.warmup)
    if growth is None:
        add(Figure.info(f"RSS growth after the first {m.warmup:g} s", None, "%",
                        note="the run was too short for two windows after the warm-up"))
    else:
        add(Figure.at_most(
            f"RSS growth after the first {m.warmup:g} s", round(growth[0] * 100, 2), "%",
            TARGET_GROWTH * 100,
            note=f"highest RSS of the first window after it {growth[1] / 1024:.1f} MB, of the "
                 f"last {growth[2] / 1024:.1f} MB"))
    add(Figure.info(
        "server RSS peak", round(max(timeline.rss_kb) / 1024, 1), "MB",
        note=f"{_rss_at(timeline, outcome.submitted_at) / 1024:.1f} MB when the imports were "
             f"submitted, {_rss_at(timeline, outcome.finished_at) / 1024:.1f} MB when the last "
             "finished"))
    add(Figure.info(
        "open fds (idle streams / peak)", m.fds_idle, "",
        note=f"{m.fds_before} before the streams, peak {max(timeline.fds)} during the run, "
             f"{m.fds_closed} once the streams closed"))
    add(Figure.info("CPU server / client", round(m.server_cpu * 100), "% of a core",
                    note=f"client (all {m.streams:,} streams + the sender) {m.client_cpu:.0%}"))

    posts = imports * POSTS_PER_IMPORT
    waits, run_times = outcome.waits(), outcome.run_times()
    statuses = sorted({job["status"] for job in outcome.jobs})
    add(Figure.equals(
        "job submissions not answered 202", len(outcome.refused), "", 0,
        note="; ".join(sorted(set(outcome.refused)))[:300] + (
            f" (the {len(outcome.jobs)} jobs found by their source and followed)"
            if outcome.refused else "")))
    add(Figure.equals(
        "import jobs complete", sum(job["status"] == "complete" for job in outcome.jobs), "",
        imports, note=f"{imports} submitted at once at {outcome.submitted_at:.0f} s; "
                      f"statuses {', '.join(statuses)}"))
    add(Figure.info(
        f"all {imports} imports done in", round(outcome.seconds, 1), "s",
        note=f"{outcome.most_running_at_once()} ran at once (IGBRIDGE_MAX_JOBS), the rest "
             f"queued up to {max(waits, default=0):.0f} s; one job took "
             f"{statistics.median(run_times) if run_times else 0:.1f} s (median)"))
    add(Figure.info("import rate under the stream load", round(
        outcome.counts("imported") / outcome.seconds, 2) if outcome.seconds else None,
        "posts/s", note=f"{outcome.counts('imported')} imported, {outcome.counts('skipped')} "
                        f"skipped, {outcome.counts('failed')} failed of {posts}"))
    duplicates = sum(n - 1 for n in m.copies.values() if n > 1)
    add(Figure.equals("duplicate posts in WordPress", duplicates, "", 0,
                      note=f"{len(m.copies)} distinct source ids of {posts} expected; "
                           f"WordPress holds {m.wordpress_posts} posts"))

    add(Figure.info(
        "database after the run", _mb(m.db_after_run), "MB",
        note=f"{_sizes(m.db_after_run)} with the sidecar running; {_mb(m.db_stopped)} MB "
             f"once stopped; {m.rows_after_run[0]:,} events, {m.rows_after_run[1]:,} sessions"))
    add(Figure.info(
        "restart with retention compaction", round(m.restart_seconds, 1), "s",
        note="IGBRIDGE_RETENTION_DAYS=0 after every session got its terminal event: start-up "
             "to /healthz reporting its background compaction done"))
    add(Figure.info(
        "database after compaction, sidecar running", _mb(m.db_after_compaction), "MB",
        note=f"{_sizes(m.db_after_compaction)}: the WAL keeps its size until the last "
             "connection closes"))
    add(Figure.info(
        "database after compaction, sidecar stopped", _mb(m.db_compacted_stopped), "MB",
        note=f"{m.rows_after_compaction[0]:,} events, {m.rows_after_compaction[1]:,} "
             "sessions kept"))

    result.series["soak"] = {
        "times": timeline.times, "rss_kb": timeline.rss_kb, "marks": timeline.marks,
        "windows": [(w.start, w.end, w.latency_p50, w.latency_p99, w.frames_per_s)
                    for w in windows],
        "imports": (outcome.submitted_at, outcome.finished_at), "streams": m.streams,
        "target_p99": TARGET_P99_MS}
    result.notes.append(
        f"a fresh local stack (MariaDB, WordPress on php -S with 4 workers, the sidecar: the "
        f"process under test). {m.streams:,} sessions, one SSE connection each, every "
        f"session updated once a second (evenly spread) for {m.duration:g} s over "
        f"{SEND_CONNECTIONS} keep-alive connections, whatever is due sent together (at most "
        f"{SEND_BATCH}) to POST /api/progress/updates. At {outcome.submitted_at:.0f} s, "
        f"{imports} export ZIPs of {POSTS_PER_IMPORT} posts with one small JPEG each are "
        "submitted to POST /api/jobs at once; the sidecar runs IGBRIDGE_MAX_JOBS (4) of them "
        "at a time and queues the rest. Windows of 10 s: latency percentiles of the frames "
        "received in the window, frames/s, the highest RSS (VmRSS) and fd count sampled "
        "every second. Database = the SQLite file + its WAL. Afterwards every session gets "
        "a terminal event and the sidecar restarts with IGBRIDGE_RETENTION_DAYS=0: it "
        "compacts the finished sessions at start-up.")
    return result


SCENARIO = Scenario(
    "soak", "1,000 streams × 1 event/s for 10 minutes with 20 imports (issue 6)", run)
