"""Faults in the middle of an import into the real WordPress: a kill -9 of the sidecar,
WordPress going down, a cancel. Each test runs a sidecar of its own whose WordPress URL
is a fault-injecting proxy (``FaultProxy``) in front of the session's WordPress; jobs
use one post at a time so "after the second post" means the same thing on every run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dev.stack import Stack
from tests.e2e.conftest import FaultProxy, SidecarApi, WordPressApi
from tests.support.sidecar_process import SidecarProcess

# One post per wave as well: "the third publish" is then one request of its own.
ONE_AT_A_TIME = {"concurrency": 1, "batch": 1}


@pytest.fixture
def proxied_sidecar(
    tmp_path: Path, stack: Stack, import_proxy: FaultProxy
) -> Iterator[SidecarProcess]:
    process = SidecarProcess(tmp_path / "data", env={
        "IGBRIDGE_WP_URL": import_proxy.url,
        "IGBRIDGE_WP_USER": stack.wp_app_user,
        "IGBRIDGE_WP_APP_PASSWORD": stack.wp_app_password,
        "IGBRIDGE_BACKOFF_SECONDS": "0.02",
    })
    process.start()
    try:
        yield process
    finally:
        process.kill()


@pytest.fixture
def api(proxied_sidecar: SidecarProcess) -> SidecarApi:
    assert proxied_sidecar.secret is not None
    return SidecarApi(proxied_sidecar.url, proxied_sidecar.secret)


def source_ids(job: dict[str, Any]) -> list[str]:
    return [i["source_id"] for i in job["items"]]


def test_kill_9_mid_import_resumes_and_imports_each_post_once(
    tmp_path: Path, api: SidecarApi, proxied_sidecar: SidecarProcess, import_proxy: FaultProxy,
    import_wp: WordPressApi, import_export_photos: Callable[..., Path],
    import_waiter: Callable[..., None],
) -> None:
    export = import_export_photos(tmp_path / "kill.zip",
                                  [f"Kill test photo {n}" for n in range(5)], start=1_600_000_000)
    # The third post gets its draft and photo into WordPress; its publish never arrives.
    import_proxy.after_publishes, import_proxy.then = 2, "hold"
    import_proxy.hold_only_publish = True
    job_id = api.start_job({"type": "export", "path": str(export)}, options=ONE_AT_A_TIME)
    import_waiter(lambda: import_proxy.held == 1, "the third publish to be held")
    drafts = [p for sid in source_ids(api.job(job_id)) for p in import_wp.posts_of(sid)
              if p["status"] == "draft"]
    assert len(drafts) == 1  # the crash falls between "draft created" and "published"

    proxied_sidecar.kill()
    import_proxy.drop_held()  # its client is gone: WordPress never sees that request
    proxied_sidecar.start()
    job = api.finish(job_id)

    assert (job["status"], job["attempts"]) == ("complete", 2), job
    assert job["counts"] == {"pending": 0, "imported": 5,
                             "already_imported": 0, "skipped": 0, "failed": 0, "total": 5}
    for sid in source_ids(job):
        [post] = import_wp.posts_of(sid)  # exactly once
        assert post["status"] == "publish"
        assert len(import_wp.attachments_of(post["id"])) == 1  # the photo was not re-uploaded
    assert import_wp.post_of(drafts[0]["meta"]["_igbridge_source_id"])["id"] == drafts[0]["id"]


def test_wordpress_down_fails_clearly_and_retry_imports_exactly_the_failed(
    tmp_path: Path, api: SidecarApi, import_proxy: FaultProxy, import_wp: WordPressApi,
    import_export_photos: Callable[..., Path],
) -> None:
    export = import_export_photos(tmp_path / "down.zip",
                                  [f"Down test photo {n}" for n in range(5)], start=1_610_000_000)
    import_proxy.after_publishes, import_proxy.then = 2, "down"
    job_id = api.start_job({"type": "export", "path": str(export)}, options=ONE_AT_A_TIME)
    job = api.finish(job_id)

    assert job["status"] == "error"
    assert job["error"].startswith(f"WordPress keeps failing: WordPress at {import_proxy.url} "
                                   "did not ")
    assert job["error"].endswith("last: HTTP 502 Bad Gateway (gave up after 3 attempts)")
    assert job["attempts"] == 3
    assert job["counts"] == {"pending": 0, "imported": 2,
                             "already_imported": 0, "skipped": 0, "failed": 3, "total": 5}
    imported = [i["source_id"] for i in job["items"] if i["state"] == "imported"]
    failed = [i["source_id"] for i in job["items"] if i["state"] == "failed"]
    for sid in imported:
        assert import_wp.post_of(sid)["status"] == "publish"
    for sid in failed:
        assert import_wp.posts_of(sid) == []
    assert import_proxy.answered_502 > 0

    import_proxy.heal()
    reply = api.post(f"/api/jobs/{job_id}/retry")
    assert reply.status_code == 202, reply.text
    retried = api.finish(reply.json()["job_id"])

    assert retried["status"] == "complete", retried
    assert retried["options"]["only"] == failed
    assert [(i["source_id"], i["state"]) for i in retried["items"]] == \
        [(sid, "imported") for sid in failed]
    for sid in imported + failed:
        assert import_wp.post_of(sid)["status"] == "publish"  # each exactly once


def test_cancel_mid_import_keeps_what_was_imported(
    tmp_path: Path, api: SidecarApi, import_proxy: FaultProxy, import_wp: WordPressApi,
    import_export_photos: Callable[..., Path], import_waiter: Callable[..., None],
) -> None:
    export = import_export_photos(tmp_path / "cancel.zip",
                                  [f"Cancel test photo {n}" for n in range(4)],
                                  start=1_620_000_000)
    import_proxy.after_publishes, import_proxy.then = 1, "hold"
    job_id = api.start_job({"type": "export", "path": str(export)}, options=ONE_AT_A_TIME)
    import_waiter(lambda: import_proxy.held >= 1, "WordPress to hang after the first post")

    reply = api.post(f"/api/jobs/{job_id}/cancel")
    import_proxy.drop_held()

    assert reply.status_code == 200, reply.text
    job = reply.json()
    assert job["status"] == "cancelled"
    assert job["counts"]["imported"] == 1
    assert job["progress"]["message"] == "Cancelled; 1 item(s) already done are kept"
    [done] = [i for i in job["items"] if i["state"] == "imported"]
    assert import_wp.post_of(done["source_id"])["status"] == "publish"
    assert api.post(f"/api/jobs/{job_id}/cancel").status_code == 409
