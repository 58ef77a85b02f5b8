"""Scenario ``scale`` (issue 13): the Redis engine and two processes behind nginx, side by
side with the SQLite engine in one run, on this one machine.

- update → SSE latency p99 at 100 sessions × 2 updates/s (``latency.steady``): SQLite
  one process, Redis one process (≤ 2× SQLite's), Redis two processes behind nginx
  (≤ 100 ms);
- SSE frames/s (``throughput.measure``): the same three (Redis one process ≥ 50 % of
  SQLite; two behind nginx not below one) and one process behind nginx (the ceiling of
  two on the same path), each the median of three rounds taken in turn;
- takeover: a ``cache_images`` job (a slow local media server) running on A, A killed
  with SIGKILL: seconds until B has moved it on (≤ 15 s); then a cancel sent to A (started
  again) of the job now running on B: seconds until it is ``cancelled`` (≤ 2 s);
- per-event costs for docs/capacity.md: Redis commands, bytes in and out and memory per
  event (INFO before and after a known number of events), Redis connections per process
  idle and with 100 streams open.

Every process (Redis, sidecars, nginx, the load client) shares the machine's cores, so
more processes cannot show more throughput here; the CPU figures say where it went.
Each deployment starts a fresh Redis (AOF on, ``appendfsync everysec``, as the stack runs it).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from redis import Redis

from dev import nginx, redis_server
from tests.fakes.media_files import jpeg
from tests.support.media_server import MediaServer

from . import processes
from .latency import SteadyRun, steady
from .load import close_watchers, create_sessions, open_watchers
from .processes import AUTH, ServerProcess, free_port
from .scenario import Figure, Scenario, ScenarioResult, Settings
from .sse_client import HttpConnection
from .throughput import FramesRun, measure

LATENCY_LIMIT_RATIO = 2.0  # Redis one process against SQLite, p99
FRAMES_FLOOR_RATIO = 0.5  # Redis one process against SQLite
BALANCED_P99_MS = 100.0
TAKEOVER_LIMIT_SECONDS = 15.0
CANCEL_LIMIT_SECONDS = 2.0
COST_EVENTS = 2000
COST_STREAMS = 10
CONNECTION_STREAMS = 100
JOB_URLS = 400
DOWNLOAD_SECONDS = 0.2  # each media URL answers after this long
POLL_SECONDS = 0.05


class RedisProcess(ServerProcess):
    """redis-server as a bench server: ready once it answers PING."""

    def _healthy(self) -> bool:
        return redis_server.answers_ping(self.port)


@dataclass
class Deployment:
    """One sidecar on SQLite, or ``count`` sidecars on one Redis, behind nginx when
    more than one (or when ``balanced``: one process behind nginx, the same path as two
    minus the second process). Started and stopped as one server; its CPU is every
    part's."""

    root: Path
    name: str
    count: int = 1
    engine: str = "redis"
    env: dict[str, str] = field(default_factory=dict)
    balanced: bool = False
    redis: RedisProcess | None = None
    sidecars: list[ServerProcess] = field(default_factory=list)
    balancer: ServerProcess | None = None

    def __post_init__(self) -> None:
        base = self.root / f"{self.name}-{time.monotonic_ns()}"
        env = dict(self.env)
        if self.engine == "redis":
            port = free_port()
            argv = redis_server.prepare(base / "redis", port)
            self.redis = RedisProcess("redis", argv, {}, port, base / "redis.log")
            env["IGBRIDGE_BACKEND"] = redis_server.url(port)
        self.sidecars = [processes.sidecar(base / f"sidecar-{i + 1}", env=env)
                         for i in range(self.count)]
        if self.count > 1 or self.balanced:
            port = free_port()
            argv = nginx.prepare(base / "nginx", port=port,
                                 upstreams=[f"127.0.0.1:{s.port}" for s in self.sidecars])
            self.balancer = ServerProcess("nginx", argv, {}, port, base / "nginx.log")

    @property
    def port(self) -> int:
        return (self.balancer or self.sidecars[0]).port

    @property
    def parts(self) -> list[ServerProcess]:
        head: list[ServerProcess] = [self.redis] if self.redis else []
        return head + self.sidecars + ([self.balancer] if self.balancer else [])

    def start(self, timeout: float = 20.0) -> float:
        began = time.monotonic()
        for part in self.parts:
            part.start(timeout)
        return time.monotonic() - began

    def stop(self, timeout: float = 10.0) -> None:
        for part in reversed(self.parts):
            part.stop(timeout)

    def cpu_seconds(self) -> float:
        return sum(part.cpu_seconds() for part in self.parts
                   if part.process is not None and part.process.poll() is None)

    def redis_client(self) -> Redis:
        assert self.redis is not None
        return Redis(port=self.redis.port)


# ---------------------------------------------------------------- latency and frames/s


async def latency_of(make: Callable[[], Deployment], duration: float) -> SteadyRun:
    return await steady(make(), duration)


async def frames_of(make: Callable[[], Deployment], seconds: float) -> FramesRun:
    deployment = make()
    deployment.start()
    try:
        return await measure(deployment, seconds)
    finally:
        deployment.stop()


def median_run(runs: list[FramesRun]) -> FramesRun:
    """The run of median frames/s (its own CPU shares with it)."""
    return sorted(runs, key=lambda r: r.frames_per_second)[len(runs) // 2]


# ---------------------------------------------------------------- takeover and cancel


@dataclass
class Takeover:
    takeover_seconds: float | None = None
    cancel_seconds: float | None = None
    notes: list[str] = field(default_factory=list)


def _done(job: dict[str, Any]) -> int:
    counts = job.get("counts", {})
    return int(counts.get("total", 0)) - int(counts.get("pending", 0))


async def _job(client: httpx.AsyncClient, job_id: str) -> dict[str, Any] | None:
    try:
        response = await client.get(f"/api/jobs/{job_id}")
    except httpx.TransportError:
        return None
    if response.status_code != 200:
        return None
    body: dict[str, Any] = response.json()
    return body


async def _until(check: Callable[[], Awaitable[bool]], timeout: float) -> float | None:
    """Seconds until ``check()`` held, or None after ``timeout``."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if await check():
            return time.monotonic() - began
        await asyncio.sleep(POLL_SECONDS)
    return None


async def takeover_and_cancel(root: Path) -> Takeover:
    """A job on A; A killed; B resumes it. Then A again, and a cancel sent to it."""
    result = Takeover()
    media = MediaServer().start()
    urls = [media.add(f"/photo-{n}.jpg", jpeg(32 + n % 32, 32), delay=DOWNLOAD_SECONDS)
            for n in range(JOB_URLS)]
    deployment = Deployment(root, "takeover", count=2,
                            env={"IGBRIDGE_DOWNLOAD_CONCURRENCY": "2"})
    a, b = deployment.sidecars
    assert deployment.redis is not None
    try:
        deployment.redis.start()
        a.start()
        on_a = httpx.AsyncClient(base_url=f"http://127.0.0.1:{a.port}", headers=AUTH, timeout=10)
        on_b = httpx.AsyncClient(base_url=f"http://127.0.0.1:{b.port}", headers=AUTH, timeout=10)
        async with on_a, on_b:
            reply = await on_a.post("/api/jobs", json={
                "kind": "cache_images", "source": {"type": "urls", "urls": urls}})
            reply.raise_for_status()
            job_id = reply.json()["job_id"]

            async def running_on_a() -> bool:
                job = await _job(on_a, job_id)
                return job is not None and job["status"] == "running" and _done(job) >= 4

            if await _until(running_on_a, 60) is None:
                result.notes.append("the job never got going on A")
                return result
            await asyncio.to_thread(b.start)  # B's worker finds nothing to do yet
            a.kill()
            killed_at = time.monotonic()
            first = await _job(on_b, job_id)
            if first is None:
                result.notes.append("B does not know A's job: jobs are not shared through "
                                    "Redis in this build (they need the redis-jobs engine)")
                return result
            baseline = _done(first)

            async def moved_on_by_b() -> bool:
                job = await _job(on_b, job_id)
                return job is not None and job["status"] == "running" and _done(job) > baseline

            if await _until(moved_on_by_b, 60) is not None:
                result.takeover_seconds = time.monotonic() - killed_at
            else:
                result.notes.append("B did not resume the job within 60 s of A's death")
                return result

            await asyncio.to_thread(a.start)
            sent = time.monotonic()
            reply = await on_a.post(f"/api/jobs/{job_id}/cancel")
            if reply.status_code >= 400:
                result.notes.append(f"cancel through A answered {reply.status_code}: "
                                    f"{reply.text[:200]}")
                return result

            async def cancelled() -> bool:
                job = await _job(on_b, job_id)
                return job is not None and job["status"] == "cancelled"

            if await _until(cancelled, 30) is not None:
                result.cancel_seconds = time.monotonic() - sent
            else:
                result.notes.append("the job was not cancelled within 30 s")
    finally:
        deployment.stop()
        media.stop()
    return result


# ---------------------------------------------------------------- per-event costs


@dataclass
class Costs:
    commands_per_event: float
    top_commands: str
    bytes_in_per_event: float
    bytes_out_per_event: float
    memory_per_event: float
    redis_cpu_us_per_event: float
    sidecar_cpu_us_per_event: float  # the HTTP update, its commit and COST_STREAMS frames
    connections_idle: list[int]  # Redis clients with 1 process, then with 2
    connections_one_by_one: int  # 1 process, CONNECTION_STREAMS streams opened in turn
    connections_at_once: int  # then CONNECTION_STREAMS more opened at the same moment


def _command_calls(info: dict[str, Any]) -> dict[str, int]:
    return {name.removeprefix("cmdstat_"): int(stats["calls"]) for name, stats in info.items()
            if name.startswith("cmdstat_")}


def _info(client: Redis, section: str) -> dict[str, Any]:
    found: dict[str, Any] = client.info(section)  # type: ignore[assignment]
    return found


def _clients(client: Redis) -> int:
    # This bench's own INFO connection is one of them.
    return int(_info(client, "clients")["connected_clients"]) - 1


async def event_costs(root: Path) -> Costs:
    deployment = Deployment(root, "costs", count=1)
    deployment.start()
    try:
        with deployment.redis_client() as client:
            idle_one = _clients(client)
            (session_id,) = await create_sessions(deployment.port, 1)
            watchers, tasks = await open_watchers(deployment.port, [session_id] * COST_STREAMS,
                                                  [])
            conn = HttpConnection(deployment.port, AUTH)
            try:
                await asyncio.sleep(0.5)  # the streams' own set-up traffic is over
                calls0 = _command_calls(_info(client, "commandstats"))
                stats0 = _info(client, "stats")
                memory0 = int(_info(client, "memory")["used_memory"])
                assert deployment.redis is not None
                redis_cpu0 = deployment.redis.cpu_seconds()
                sidecar_cpu0 = deployment.sidecars[0].cpu_seconds()
                path = f"/api/progress/sessions/{session_id}/updates"
                for step in range(1, COST_EVENTS + 1):
                    await conn.request("POST", path, {"step": step, "message": "Importing"})
                deadline = time.monotonic() + 30
                while (min(len(w.seen_steps) for w in watchers) < COST_EVENTS
                       and time.monotonic() < deadline):
                    await asyncio.sleep(POLL_SECONDS)
                calls1 = _command_calls(_info(client, "commandstats"))
                stats1 = _info(client, "stats")
                memory1 = int(_info(client, "memory")["used_memory"])
                redis_cpu = deployment.redis.cpu_seconds() - redis_cpu0
                sidecar_cpu = deployment.sidecars[0].cpu_seconds() - sidecar_cpu0
            finally:
                conn.close()
                await close_watchers(tasks)
            # INFO itself is counted in commandstats: leave it out.
            delta = {name: calls1.get(name, 0) - calls0.get(name, 0) for name in calls1}
            delta.pop("info", None)
            per_event = {name: n / COST_EVENTS for name, n in delta.items() if n}
            top = ", ".join(f"{name} {n:.2f}" for name, n in
                            sorted(per_event.items(), key=lambda item: -item[1])[:6])
            # One at a time (each replayed before the next opens), then as many at once.
            _, calm = await open_watchers(deployment.port, [session_id] * CONNECTION_STREAMS,
                                          [], batch=1)
            one_by_one = _clients(client)
            _, burst = await open_watchers(deployment.port, [session_id] * CONNECTION_STREAMS,
                                           [], batch=CONNECTION_STREAMS)
            at_once = _clients(client)
            await close_watchers(calm + burst)
    finally:
        deployment.stop()
    pair = Deployment(root, "connections", count=2)
    pair.start()
    try:
        with pair.redis_client() as client:
            idle_two = _clients(client)
    finally:
        pair.stop()
    return Costs(
        commands_per_event=sum(per_event.values()),
        top_commands=top,
        bytes_in_per_event=(int(stats1["total_net_input_bytes"])
                            - int(stats0["total_net_input_bytes"])) / COST_EVENTS,
        bytes_out_per_event=(int(stats1["total_net_output_bytes"])
                             - int(stats0["total_net_output_bytes"])) / COST_EVENTS,
        memory_per_event=(memory1 - memory0) / COST_EVENTS,
        redis_cpu_us_per_event=redis_cpu * 1e6 / COST_EVENTS,
        sidecar_cpu_us_per_event=sidecar_cpu * 1e6 / COST_EVENTS,
        connections_idle=[idle_one, idle_two],
        connections_one_by_one=one_by_one,
        connections_at_once=at_once,
    )


# ---------------------------------------------------------------- the scenario


async def run(settings: Settings) -> ScenarioResult:
    duration = settings.pick(quick=5, default=30, soak=60)
    frames_seconds = settings.pick(quick=3, default=10, soak=30)
    frames_rounds = settings.pick(quick=1, default=3, soak=3)
    result = ScenarioResult()
    with tempfile.TemporaryDirectory(prefix="igbridge-bench-scale-") as tmp:
        root = Path(tmp)
        makers: dict[str, Callable[[], Deployment]] = {
            "SQLite, 1 process": lambda: Deployment(root, "sqlite", engine="sqlite"),
            "Redis, 1 process": lambda: Deployment(root, "redis-1"),
            "Redis, 2 behind nginx": lambda: Deployment(root, "redis-2", count=2),
        }
        latencies = {name: await latency_of(make, duration) for name, make in makers.items()}
        # The ceiling two processes on these two cores can be held to: the same nginx hop
        # with one process behind it (the senders wait for each answer through nginx).
        ceiling = "Redis, 1 behind nginx"
        frame_makers = {**makers, ceiling: lambda: Deployment(root, "redis-1-nginx",
                                                              balanced=True)}
        # A 10 s window swings with the machine's speed (other work, the host's load):
        # rounds taken in turn, each deployment's median, so a drift hits all alike.
        rounds: dict[str, list[FramesRun]] = {name: [] for name in frame_makers}
        for _ in range(frames_rounds):
            for name, make in frame_makers.items():
                rounds[name].append(await frames_of(make, frames_seconds))
        frames = {name: median_run(runs) for name, runs in rounds.items()}
        one_balanced = frames.pop(ceiling)
        moved = await takeover_and_cancel(root)
        costs = await event_costs(root)

    sqlite, one, two = (latencies[name] for name in makers)
    sqlite_p99 = sqlite.percentiles()["p99"]
    for name, run_ in latencies.items():
        p99 = run_.percentiles()["p99"]
        label = f"{name}: update→frame latency p99"
        note = (f"p50 {run_.percentiles()['p50']:.1f} ms; {run_.acknowledged:,} updates; "
                f"server CPU {run_.server_cpu:.0%} of a core (all its processes)")
        if run_ is one:
            result.figures.append(Figure.at_most(label, p99, "ms",
                                                 round(LATENCY_LIMIT_RATIO * sqlite_p99, 1),
                                                 note=note + "; target 2× SQLite's"))
        elif run_ is two:
            result.figures.append(Figure.at_most(label, p99, "ms", BALANCED_P99_MS, note=note))
        else:
            result.figures.append(Figure.info(label, p99, "ms", note=note))
        result.figures.append(Figure.equals(f"{name}: updates lost", run_.lost, "", 0))
    f_sqlite, f_one, f_two = (frames[name] for name in makers)
    for name, f in frames.items():
        label = f"{name}: SSE frames/s"
        note = (f"{f.updates_per_second:,.0f} updates/s; server CPU {f.server_cpu:.0%}, "
                f"client {f.client_cpu:.0%}")
        if f is f_one:
            floor = round(FRAMES_FLOOR_RATIO * f_sqlite.frames_per_second)
            result.figures.append(Figure.at_least(label, round(f.frames_per_second), "frames/s",
                                                  floor, note=note + "; target 50 % of SQLite"))
        elif f is f_two:
            result.figures.append(Figure.at_least(label, round(f.frames_per_second), "frames/s",
                                                  round(f_one.frames_per_second),
                                                  note=note + "; target: one process's"))
        else:
            result.figures.append(Figure.info(label, round(f.frames_per_second), "frames/s",
                                              note=note))
    result.figures.append(Figure.info(
        "Redis, 1 behind nginx: SSE frames/s", round(one_balanced.frames_per_second),
        "frames/s", note=f"{one_balanced.updates_per_second:,.0f} updates/s; the ceiling for "
                         "two behind nginx on the same cores"))
    result.figures.append(Figure.info(
        "Redis, 2 behind nginx ÷ 1 behind nginx: frames/s",
        round(100 * f_two.frames_per_second / one_balanced.frames_per_second), "%",
        note="the second process against the same path with one: what more processes "
             "give when they share 2 cores with nginx, Redis and the clients"))
    takeover_note = "; ".join(moved.notes)
    result.figures.append(Figure.at_most(
        "takeover after kill -9 of the job's process", _rounded(moved.takeover_seconds), "s",
        TAKEOVER_LIMIT_SECONDS, note=takeover_note or "until B has moved the job on"))
    result.figures.append(Figure.at_most(
        "cancel sent to one process of a job on another", _rounded(moved.cancel_seconds), "s",
        CANCEL_LIMIT_SECONDS, note=takeover_note or "until the job reads cancelled"))
    result.figures.append(Figure.info("Redis commands per event", round(
        costs.commands_per_event, 2), "", note=costs.top_commands))
    result.figures.append(Figure.info("Redis bytes in per event",
                                      round(costs.bytes_in_per_event), "B"))
    result.figures.append(Figure.info(
        "Redis bytes out per event", round(costs.bytes_out_per_event), "B",
        note=f"1 process, {COST_STREAMS} streams on the session"))
    result.figures.append(Figure.info("Redis memory per event", round(costs.memory_per_event),
                                      "B", note="before trimming"))
    result.figures.append(Figure.info(
        "Redis CPU per event", round(costs.redis_cpu_us_per_event), "µs",
        note="the append script, the process's XREAD and the route's reads"))
    result.figures.append(Figure.info(
        "sidecar CPU per event", round(costs.sidecar_cpu_us_per_event), "µs",
        note=f"one POST …/updates answered after its append, {COST_STREAMS} frames out"))
    idle_one, idle_two = costs.connections_idle
    result.figures.append(Figure.info(
        "Redis connections per process", idle_one, "",
        note=f"idle; {idle_two} for 2 processes; 1 process: {costs.connections_one_by_one} "
             f"with {CONNECTION_STREAMS} streams opened one by one, "
             f"{costs.connections_at_once} after {CONNECTION_STREAMS} more at once (the "
             "pool keeps what concurrent replays opened)"))
    result.notes.append(
        f"One machine for all: latency {duration:g} s per deployment at 100 sessions × 2 "
        f"updates/s (bench/latency.py's load); frames/s over {frames_seconds:g} s "
        f"(bench/throughput.py's method), the median of {frames_rounds} rounds taken in "
        "turn; a fresh Redis per deployment, AOF on, appendfsync everysec. "
        f"Takeover: {JOB_URLS} URLs answering after {DOWNLOAD_SECONDS:g} s each, "
        "2 downloads at a time. Costs: "
        f"{COST_EVENTS} updates to one session with {COST_STREAMS} streams open, Redis INFO "
        "before and after.")
    return result


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


SCENARIO = Scenario("scale", "Redis engine and processes behind nginx vs SQLite", run)
