"""Jobs on the Redis engine across real sidecar processes sharing one real Redis (the
session's redis-server, emptied for each test): a job submitted to one process runs on
whichever worker takes it and ends with its ledger right everywhere; a cancel sent to
one process stops the job where it runs; Redis going away is a 503 naming it, and
nothing it acknowledged is lost once it is back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.apify_server import FakeApify
from tests.fakes.instagram_items import ItemFactory
from tests.redis_server import RedisServer
from tests.support.media_server import MediaServer
from tests.support.sidecar_process import SidecarProcess
from tests.support.waiting import wait_for

FINISHED = ("complete", "error", "cancelled")
SAMPLE_EXPORT = Path(__file__).parents[2] / "sidecar" / "sample" / "instagram-export-sample.zip"


@pytest.fixture
def fake() -> Iterator[FakeApify]:
    with FakeApify() as server:
        yield server


@pytest.fixture
def processes(fake: FakeApify,
              processes: Callable[..., SidecarProcess]) -> Callable[[str], SidecarProcess]:
    """``start("a")``: the shared ``processes`` with the fake Apify (which, requested
    first, stops after the sidecars)."""
    return lambda name: processes(name, env={
        "APIFY_TOKEN": fake.token, "IGBRIDGE_APIFY_API_URL": fake.url,
        "IGBRIDGE_APIFY_POLL_SECONDS": "0.05"})



def finished_job(api: httpx.Client, job_id: str) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        job: dict[str, Any] = api.get(f"/api/jobs/{job_id}").json()
        return job if job["status"] in FINISHED else None

    found: dict[str, Any] = wait_for(f"job {job_id} ended", ended)
    return found


def submit(api: httpx.Client, kind: str, source: dict[str, Any]) -> str:
    reply = api.post("/api/jobs", json={"kind": kind, "source": source})
    assert reply.status_code == 202, reply.text
    return str(reply.json()["job_id"])


SCRAPE = {"type": "export", "path": str(SAMPLE_EXPORT)}


def test_a_job_submitted_to_one_process_runs_once_and_every_process_sees_its_ledger(
        processes: Callable[[str], SidecarProcess]) -> None:
    a, b = processes("a"), processes("b")
    with a.client() as on_a, b.client() as on_b:
        job_ids = [submit(on_a, "scrape", SCRAPE) for _ in range(3)]
        for job_id in job_ids:
            job = finished_job(on_a, job_id)
            assert (job["status"], job["error"], job["attempts"]) == ("complete", None, 1)
            assert job["counts"]["failed"] == job["counts"]["pending"] == 0
            assert job["counts"]["total"] == len(job["items"]) > 0
            seen_on_b = on_b.get(f"/api/jobs/{job_id}").json()
            assert {k: seen_on_b[k] for k in ("status", "counts", "items", "attempts")} == {
                k: job[k] for k in ("status", "counts", "items", "attempts")}
            # A unique prefix names the job on any process.
            assert on_b.get(f"/api/jobs/{job_id[:10]}").json()["job_id"] == job_id
        listed = on_b.get("/api/jobs", params={"limit": 10}).json()
        assert [j["job_id"] for j in listed["jobs"]] == list(reversed(job_ids))


def test_a_cancel_sent_to_another_process_stops_the_job_where_it_runs(
        processes: Callable[[str], SidecarProcess], fake: FakeApify) -> None:
    # An Apify run that stays RUNNING until it is aborted: the job runs until cancelled.
    fake.add_profile("slow", [ItemFactory(fake, "slow").image()], hold=True)
    a = processes("a")
    with a.client() as on_a:
        job_id = submit(on_a, "scrape", {"type": "apify", "username": "slow", "limit": 5})
        wait_for("the job polling its Apify run on A",
                 lambda: bool(fake.runs) and fake.run_for("slow").polls >= 2)
        assert on_a.get("/healthz").json()["jobs_running"] == 1
        b = processes("b")  # B exists only now: the job cannot be running there
        with b.client() as on_b:
            reply = on_b.post(f"/api/jobs/{job_id}/cancel")
            assert reply.status_code == 200, reply.text
            assert reply.json()["status"] == "cancelled"
            assert on_b.get("/healthz").json()["jobs_running"] == 0
        wait_for("A stopped the job", lambda: on_a.get("/healthz").json()["jobs_running"] == 0)
        # A's own cancel path ran there: it aborted the Apify run.
        wait_for("the Apify run aborted", lambda: fake.aborted == [fake.run_for("slow").id])
        job = on_a.get(f"/api/jobs/{job_id}").json()
        assert job["status"] == "cancelled"
        again = on_a.post(f"/api/jobs/{job_id}/cancel")
        assert again.status_code == 409, again.text
        # A really stopped: while a second held job on A polls its own run three times,
        # the cancelled job's run is not polled once more and its ledger stays as it was.
        polls_after_cancel = fake.run_for("slow").polls
        ledger_after_cancel = on_a.get(f"/api/jobs/{job_id}").json()["items"]
        fake.add_profile("later", [ItemFactory(fake, "later").image()], hold=True)
        later = submit(on_a, "scrape", {"type": "apify", "username": "later", "limit": 5})
        wait_for("the next job on A polling its run",
                 lambda: any(r.profile.username == "later" and r.polls >= 3
                             for r in list(fake.runs.values())))
        assert fake.run_for("slow").polls == polls_after_cancel
        assert on_a.get(f"/api/jobs/{job_id}").json()["items"] == ledger_after_cancel
        assert on_a.post(f"/api/jobs/{later}/cancel").status_code == 200


def test_redis_unreachable_is_a_503_naming_it_and_nothing_is_lost_once_it_is_back(
        processes: Callable[[str], SidecarProcess], redis_server: RedisServer) -> None:
    a = processes("a")
    with a.client() as on_a:
        before = finished_job(on_a, submit(on_a, "scrape", SCRAPE))
        assert before["status"] == "complete"
        redis_server.stop()
        refused = on_a.post("/api/jobs", json={"kind": "scrape", "source": SCRAPE})
        assert refused.status_code == 503, refused.text
        error = refused.json()["error"]
        assert error["code"] == "storage_error"
        assert f"Redis at 127.0.0.1:{redis_server.port}/0 is unreachable" in error["message"]
        read = on_a.get(f"/api/jobs/{before['job_id']}")
        assert read.status_code == 503, read.text
        redis_server.start_again()
        kept = on_a.get(f"/api/jobs/{before['job_id']}").json()
        assert {k: kept[k] for k in ("status", "counts", "items")} == {
            k: before[k] for k in ("status", "counts", "items")}
        after = finished_job(on_a, submit(on_a, "scrape", SCRAPE))
        assert after["status"] == "complete"
        assert after["items"] == before["items"]


def start_worker(data_dir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``igbridge worker``: jobs without HTTP, in a process group of its own."""
    data_dir.mkdir(parents=True, exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith("IGBRIDGE_")}
    with (data_dir.parent / f"{data_dir.name}-worker.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "sidecar", "worker", "--data-dir", str(data_dir)],
            env={**base, "IGBRIDGE_SECRET": "worker-secret-0123456789", **env},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def test_igbridge_worker_runs_jobs_without_http(
        processes: Callable[[str], SidecarProcess], redis_url: str, tmp_path: Path) -> None:
    from tests.fakes.media_files import png

    media = MediaServer().start()
    worker = start_worker(tmp_path / "w", {"IGBRIDGE_BACKEND": redis_url,
                                          "IGBRIDGE_MAX_JOBS": "1"})
    try:
        url = media.add("/slow/0.png", png(8, 8), delay=600)
        a = SidecarProcess(tmp_path / "a", env={"IGBRIDGE_BACKEND": redis_url,
                                                "IGBRIDGE_MAX_JOBS": "1"}).start()
        try:
            with a.client() as on_a:
                hanging = submit(on_a, "cache_images", {"type": "urls", "urls": [url]})
                wait_for("the hanging job running", lambda: on_a.get(
                    f"/api/jobs/{hanging}").json()["status"] == "running")
                # One slot each: whichever took the hanging job, the other runs this one.
                # Either way the worker ran a job: the hanging one (A runs none), or this.
                a_runs_hanging = on_a.get("/healthz").json()["jobs_running"] == 1
                job = finished_job(on_a, submit(on_a, "scrape", SCRAPE))
                assert (job["status"], job["error"]) == ("complete", None)
                assert on_a.get("/healthz").json()["jobs_running"] == int(a_runs_hanging)
                on_a.post(f"/api/jobs/{hanging}/cancel")
                assert on_a.get(f"/api/jobs/{hanging}").json()["status"] == "cancelled"
        finally:
            a.kill()
        assert worker.poll() is None, "the worker exited"
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        media.stop()


def test_igbridge_worker_needs_redis(tmp_path: Path) -> None:
    worker = start_worker(tmp_path / "w", {})
    assert worker.wait(60) == 1
    said = (tmp_path / "w-worker.log").read_text()
    assert "igbridge worker shares jobs through Redis: set IGBRIDGE_BACKEND=redis://" in said
