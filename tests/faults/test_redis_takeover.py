"""``kill -9`` of the sidecar process running an import, with two processes sharing one
Redis (a redis-server of the test's own) and the real WordPress: the other process takes
the job over from its ledger and every post is in WordPress exactly once.

A fault proxy holds WordPress's answer to the N-th create, so the kill falls between
"WordPress made the post" and "the sidecar heard it", the moment a duplicate would be
born. The seconds from the kill to the survivor's resume are logged (the budget is
15 s; the scale bench measures it), never asserted.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from dev.stack import Stack
from tests.faults.exports import build_export
from tests.faults.fault_proxy import FaultProxy
from tests.faults.support import copies_in_wordpress, submit_import, wait_job, wordpress_sidecar
from tests.redis_server import RedisServer
from tests.support.sidecar_process import SidecarProcess
from tests.support.waiting import wait_for

BATCH = rb"POST /wp-json/batch/v1 HTTP/1\.1"


def running_here(process: SidecarProcess) -> int:
    return int(httpx.get(f"{process.url}/healthz", timeout=5).json()["jobs_running"])



@pytest.mark.parametrize("nth", [pytest.param(1, id="first-wave"),
                                 pytest.param(2, id="second-wave")])
def test_kill_9_of_the_process_running_an_import_another_finishes_it_once(
    stack: Stack, tmp_path: Path, record_figure: Callable[[str, object], None], nth: int,
) -> None:
    redis = RedisServer.start(tmp_path / "redis")
    tag = f"takeover{nth}-{time.time_ns()}"
    export = build_export(tmp_path / f"{tag}.zip", tag, 6, seed=nth)
    proxy = FaultProxy("127.0.0.1", stack.wp_port, seed=nth).start()
    env = {"IGBRIDGE_BACKEND": redis.url, "IGBRIDGE_IMPORT_CONCURRENCY": "1",
           "IGBRIDGE_IMPORT_BATCH": "3"}
    a = wordpress_sidecar(stack, tmp_path / "a", wp_url=proxy.url, env=env)
    b = wordpress_sidecar(stack, tmp_path / "b", wp_url=proxy.url, env=env)
    try:
        a.start()
        b.start()
        # Waves of three: the nth wave's batch request creates its drafts.
        held = proxy.hold_response(BATCH, nth=2 * nth - 1)
        with httpx.Client(base_url=a.url, headers=a.headers, timeout=10) as api:
            job_id = submit_import(api, {"type": "export", "path": str(export)})
        assert held.wait(60), "the sidecar never created the posts"
        owner, survivor = wait_for("the process running the job", lambda: next(
            ((p, q) for p, q in ((a, b), (b, a)) if running_here(p) == 1), None), timeout=30)
        owner.kill()
        killed_at = time.monotonic()
        proxy.pass_through()
        with httpx.Client(base_url=survivor.url, headers=survivor.headers, timeout=10) as api:
            wait_for("the survivor resumed the job",
                     lambda: api.get(f"/api/jobs/{job_id}").json()["attempts"] == 2, timeout=60)
            record_figure("takeover_seconds", round(time.monotonic() - killed_at, 1))
            job = wait_job(api, job_id, timeout=90)
        assert (job["status"], job["error"]) == ("complete", None), job
        assert Counter(i["state"] for i in job["items"]) == {"imported": 6}, job["items"]
        ids = [i["source_id"] for i in job["items"]]
        assert copies_in_wordpress(stack, ids) == dict.fromkeys(ids, 1)
        assert len({i["wp_post_id"] for i in job["items"]}) == 6
    finally:
        a.kill()
        b.kill()
        proxy.stop()
        redis.stop()


def test_two_processes_importing_the_same_posts_at_once_make_each_post_once(
    stack: Stack, tmp_path: Path,
) -> None:
    redis = RedisServer.start(tmp_path / "redis")
    tag = f"overlap-{time.time_ns()}"
    export = build_export(tmp_path / f"{tag}.zip", tag, 8, seed=3)
    env = {"IGBRIDGE_BACKEND": redis.url, "IGBRIDGE_IMPORT_CONCURRENCY": "2",
           "IGBRIDGE_IMPORT_BATCH": "2", "IGBRIDGE_MAX_JOBS": "1"}
    a = wordpress_sidecar(stack, tmp_path / "a", env=env)
    b = wordpress_sidecar(stack, tmp_path / "b", env=env)
    try:
        a.start()
        b.start()
        with httpx.Client(base_url=a.url, headers=a.headers, timeout=10) as on_a:
            # One slot each: the two jobs run at the same time, one in each process.
            first = submit_import(on_a, {"type": "export", "path": str(export)})
            second = submit_import(on_a, {"type": "export", "path": str(export)})
            jobs = [wait_job(on_a, job_id, timeout=120) for job_id in (first, second)]
        for job in jobs:
            assert (job["status"], job["error"]) == ("complete", None), job
            assert job["counts"]["failed"] == job["counts"]["pending"] == 0, job["items"]
        ids = sorted(i["source_id"] for i in jobs[0]["items"])
        assert ids == sorted(i["source_id"] for i in jobs[1]["items"])
        assert copies_in_wordpress(stack, ids) == dict.fromkeys(ids, 1)
        # Each post was made by exactly one of the jobs; the other found it made.
        made = Counter(i["source_id"] for job in jobs for i in job["items"]
                       if i["state"] == "imported")
        assert made == dict.fromkeys(ids, 1)
        post_ids = {i["source_id"]: i["wp_post_id"] for i in jobs[0]["items"]}
        assert post_ids == {i["source_id"]: i["wp_post_id"] for i in jobs[1]["items"]}
    finally:
        a.kill()
        b.kill()
        redis.stop()
