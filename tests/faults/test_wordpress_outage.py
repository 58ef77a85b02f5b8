"""WordPress down mid-import, seen through a fault proxy: answering 503, or hanging.

The job retries with backoff, then ends ``error`` with every unfinished item
``failed``; ``POST /api/jobs/{id}/retry`` once WordPress is back imports exactly
those. Throughout the outage the sidecar keeps answering status requests: each
is sampled with a 2 s timeout and the p99 is recorded (the figure belongs to
``bench/``; the test only demands an answer to every request).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from dev.stack import Stack
from tests.faults.exports import build_export
from tests.faults.fault_proxy import FaultProxy
from tests.faults.support import copies_in_wordpress, submit_import, wait_job, wordpress_sidecar
from tests.support.media_server import wait_for
from tests.support.sidecar_process import SidecarProcess

POSTS = 6
STATUS_TIMEOUT = 2.0


@dataclass
class StatusSampler:
    """GET the job's status in a loop from another thread, timing each answer."""

    sidecar: SidecarProcess
    job_id: str
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> StatusSampler:
        self._thread = threading.Thread(target=self._run, name="status-sampler")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)

    def _run(self) -> None:
        url = f"{self.sidecar.url}/api/progress/status/{self.job_id}"
        with httpx.Client(headers=self.sidecar.headers, timeout=STATUS_TIMEOUT) as client:
            while not self._stop.is_set():
                began = time.perf_counter()
                try:
                    reply = client.get(url)
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                else:
                    if reply.status_code != 200:
                        self.failures.append(f"HTTP {reply.status_code}: {reply.text[:200]}")
                    else:
                        self.latencies.append(time.perf_counter() - began)
                time.sleep(0.02)

    def p99_ms(self) -> float | None:
        ordered = sorted(self.latencies)
        if not ordered:
            return None
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2)


@pytest.fixture
def proxy(stack: Stack) -> Iterator[FaultProxy]:
    running = FaultProxy("127.0.0.1", stack.wp_port, seed=503).start()
    yield running
    running.stop()


def start_outage(proxy: FaultProxy, kind: str) -> None:
    proxy.add_latency(0.0)
    if kind == "503":
        proxy.answer(503)
        # Pooled keep-alive connections would still pass: WordPress "restarts" for them.
        proxy.cut_now("fin")
    else:
        proxy.stall()  # open connections stall too, requests under way still get answers


def run_outage(
    stack: Stack, tmp_path: Path, proxy: FaultProxy, record_figure: Callable[[str, object], None],
    *, kind: str, env: dict[str, str], expected_attempts: int, posts: int = POSTS,
    outage_after_imported: int = 2,
) -> None:
    """Import ``posts`` posts; WordPress fails once ``outage_after_imported`` are in
    (0: from the start)."""
    tag = f"outage-{kind}-{uuid.uuid4().hex[:8]}"
    export = build_export(tmp_path / f"{tag}.zip", tag, posts)
    # A slow WordPress until the outage: it surely begins with posts still to do.
    proxy.add_latency(0.1)
    sidecar = wordpress_sidecar(stack, tmp_path / "data", wp_url=proxy.url, env=env)
    sidecar.start()
    sampler: StatusSampler | None = None
    try:
        api = httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=10)
        if not outage_after_imported:
            start_outage(proxy, kind)
        job_id = submit_import(api, {"type": "export", "path": str(export)})
        sampler = StatusSampler(sidecar, job_id).start()
        if outage_after_imported:
            wait_for(lambda: api.get(f"/api/jobs/{job_id}").json()["counts"]["imported"]
                     >= outage_after_imported, timeout=60)
            start_outage(proxy, kind)
        job = wait_job(api, job_id, timeout=240)
        sampler.stop()

        record_figure("status_requests", len(sampler.latencies) + len(sampler.failures))
        record_figure("status_p99_ms", sampler.p99_ms())
        print(f"{kind}: {len(sampler.latencies)} status requests, p99 {sampler.p99_ms()} ms")
        assert sampler.failures == []
        assert len(sampler.latencies) > 10

        assert job["status"] == "error", job
        assert job["attempts"] == expected_attempts
        assert job["error"].startswith("WordPress keeps failing: "), job["error"]
        assert f"(gave up after {expected_attempts} attempts)" in job["error"]
        states = {i["source_id"]: i["state"] for i in job["items"]}
        assert set(states.values()) <= {"imported", "failed"}, job["items"]
        failed = sorted(s for s, state in states.items() if state == "failed")
        assert len(failed) >= 1
        assert job["counts"]["imported"] >= outage_after_imported
        assert job["counts"]["pending"] == 0
        snapshot = api.get(f"/api/progress/status/{job_id}").json()
        assert (snapshot["status"], snapshot["message"]) == ("error", job["error"])

        # WordPress is back: the retry takes exactly the failed items, and imports them.
        proxy.pass_through()
        reply = api.post(f"/api/jobs/{job_id}/retry")
        assert reply.status_code == 202, reply.text
        retry = wait_job(api, reply.json()["job_id"], timeout=60)
        assert retry["status"] == "complete", retry
        assert retry["options"]["only"] == [i["source_id"] for i in job["items"]
                                            if i["state"] == "failed"]
        assert sorted(i["source_id"] for i in retry["items"]) == failed
        for item in retry["items"]:
            # A post whose create got through just before the outage is found, not redone.
            assert item["state"] in ("imported", "already_imported"), item
        assert copies_in_wordpress(stack, sorted(states)) == dict.fromkeys(sorted(states), 1)
        api.close()
    finally:
        if sampler:
            sampler.stop()
        sidecar.kill()


def test_wordpress_answering_503(stack: Stack, tmp_path: Path, proxy: FaultProxy,
                                 record_figure: Callable[[str, object], None]) -> None:
    run_outage(stack, tmp_path, proxy, record_figure, kind="503",
               env={"IGBRIDGE_IMPORT_CONCURRENCY": "1", "IGBRIDGE_IMPORT_BATCH": "1",
                    "IGBRIDGE_JOB_ATTEMPTS": "3"},
               expected_attempts=3)
    # The budget of sidecar/jobs/retry.py, A = 3: in each of the A job attempts the
    # request that gives up is tried A times (the first try may meet the connection cut
    # when the outage began instead of a 503), a post's creation with a one-try lookup
    # before each try again: between A·A - 1 and A·(2A-1). Retries inside retries (waves
    # in a row, a lookup's own loop) once multiplied it several times over.
    assert 3 * 3 - 1 <= proxy.stats["answered_503"] <= 3 * (2 * 3 - 1), proxy.stats


@pytest.mark.parametrize(("attempts", "concurrency"), [
    pytest.param(1, 4, id="one-attempt"),
    pytest.param(2, 4, id="two-attempts", marks=pytest.mark.slow),
])
def test_wordpress_hanging(stack: Stack, tmp_path: Path, proxy: FaultProxy,
                           record_figure: Callable[[str, object], None], attempts: int,
                           concurrency: int) -> None:
    # The WordPress client's read timeout is 30 s: each attempt hangs that long. The outage
    # starts with the job, so its first request hangs: the lookup of what WordPress has
    # already, made before any post is sent, which stops the attempt: one attempt takes
    # 30 s, not 30 s a post.
    run_outage(stack, tmp_path, proxy, record_figure, kind="stall",
               env={"IGBRIDGE_IMPORT_CONCURRENCY": str(concurrency),
                    "IGBRIDGE_JOB_ATTEMPTS": str(attempts)},
               expected_attempts=attempts, posts=POSTS, outage_after_imported=0)
    assert proxy.stats["stalled"] >= attempts  # one lookup an attempt, retried by the client


UPLOAD = rb"POST /wp-json/wp/v2/media(\?[^ ]*)? HTTP/1\.1"


def test_a_wave_cut_off_by_an_outage_keeps_what_it_already_knew(
        stack: Stack, tmp_path: Path, proxy: FaultProxy) -> None:
    # One wave of three posts, the first already in WordPress; WordPress goes down at the
    # wave's first upload. The first stays "already_imported", the other two are failed (not
    # "pending", not lost), and a retry finishes their drafts instead of making new posts.
    tag = f"wave-{uuid.uuid4().hex[:8]}"
    sidecar = wordpress_sidecar(stack, tmp_path / "data", wp_url=proxy.url, env={
        "IGBRIDGE_IMPORT_CONCURRENCY": "1", "IGBRIDGE_JOB_ATTEMPTS": "1"})
    sidecar.start()
    try:
        with httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=10) as api:
            one = build_export(tmp_path / "one.zip", tag, 1)  # the same first post
            first = wait_job(api, submit_import(api, {"type": "export", "path": str(one)}))
            assert first["counts"]["imported"] == 1, first

            held = proxy.hold_response(UPLOAD, nth=1)
            three = build_export(tmp_path / "three.zip", tag, 3)
            job_id = submit_import(api, {"type": "export", "path": str(three)})
            assert held.wait(30), "the wave never uploaded"
            proxy.answer(503)
            proxy.cut_now("rst")
            job = wait_job(api, job_id, timeout=60)

            [known] = [i["source_id"] for i in first["items"]]
            items = {i["source_id"]: i for i in job["items"]}
            assert len(items) == 3
            assert items[known]["state"] == "already_imported", items
            assert items[known]["wp_post_id"] == first["items"][0]["wp_post_id"]
            cut_off = [i for sid, i in items.items() if sid != known]
            assert [i["state"] for i in cut_off] == ["failed", "failed"], items
            assert all("did not upload" in i["reason"] for i in cut_off), items
            assert job["counts"]["pending"] == 0

            proxy.pass_through()
            reply = api.post(f"/api/jobs/{job_id}/retry")
            assert reply.status_code == 202, reply.text
            retry = wait_job(api, reply.json()["job_id"])
        assert retry["status"] == "complete", retry
        assert [i["state"] for i in retry["items"]] == ["imported", "imported"]
        ids = list(items)
        assert copies_in_wordpress(stack, ids) == dict.fromkeys(ids, 1)
    finally:
        sidecar.kill()
