"""Uploading an export through the dashboard in a real Chromium: chunks with a live bar,
a dropped chunk retried by itself, a reload mid-upload that resumes where the sidecar
stopped when the same file is chosen again, then the import, which deletes the upload.

Connection trouble is made with Playwright's request routing, never with sleeps: the
test aborts chunk requests at chosen offsets and waits for the sidecar's own offset.
"""

# The browser fixtures are imported from the dashboard's module; pytest uses them by name.
# ruff: noqa: F811

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect

from dev.stack import Stack
from tests.e2e.conftest import SidecarApi
from tests.e2e.test_browser_dashboard import (  # noqa: F401 - fixtures
    SLOW,
    Traffic,
    admin,
    browser,
    open_dashboard,
    row_of,
    wordpress,
)
from tests.e2e.test_plugin_uploads import CHUNK, padded_export, small_chunks  # noqa: F401

pytestmark = pytest.mark.browser


@pytest.fixture
def uploads_stack(wordpress: Stack, small_chunks: None) -> Stack:
    return wordpress


def is_chunk(route: Route) -> bool:
    return route.request.method == "POST" and "upload-offset" in route.request.headers


def wait_until(page: Page, check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Polls ``check``; waits through the page, so the sync API keeps serving its routes."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(50)


def test_an_upload_survives_a_dropped_chunk_and_a_reload(
        admin: tuple[Page, Traffic], uploads_stack: Stack, tmp_path: Path) -> None:
    page, _ = admin
    stack = uploads_stack
    sidecar = SidecarApi(stack.sidecar_url, stack.sidecar_secret)
    export = tmp_path / "instagram-export.zip"
    (tmp_path / "made").mkdir()
    export.write_bytes(padded_export(tmp_path / "made", 5 * CHUNK))
    size = export.stat().st_size
    offsets: list[tuple[int, str]] = []  # (Upload-Offset, what happened) of every chunk sent
    dropped_once: set[int] = set()
    cut_from = 3 * CHUNK  # the connection goes away for good here, until the reload

    def chunks(route: Route) -> None:
        if not is_chunk(route):
            route.continue_()
            return
        offset = int(route.request.headers["upload-offset"])
        if offset == CHUNK and offset not in dropped_once:  # one dropped connection
            dropped_once.add(offset)
            offsets.append((offset, "dropped"))
            route.abort("connectionreset")
        elif offset >= cut_from:
            offsets.append((offset, "cut"))
            route.abort("internetdisconnected")
        else:
            offsets.append((offset, "sent"))
            route.continue_()

    page.route("**/igbridge/v1/uploads/**", chunks)
    open_dashboard(page, stack)
    limits = page.locator("#igbridge-upload-limits")
    expect(limits).to_contain_text("Files go up in pieces of 256 KB")
    expect(limits).to_contain_text("The sidecar takes files of up to")  # the sidecar's own
    page.set_input_files("#igbridge-zip", str(export))
    with page.expect_response(lambda r: r.url.endswith("/igbridge/v1/uploads")
                              and r.request.method == "POST") as created:
        page.get_by_role("button", name="Upload and import").click()
    upload_id = created.value.json()["upload_id"]
    bar = page.locator("#igbridge-upload-progress .igb-progress")
    expect(bar).to_have_attribute("data-state", "running")

    def sidecar_offset() -> int:
        return int(sidecar.get(f"/api/uploads/{upload_id}").json()["offset"])

    wait_until(page, lambda: sidecar_offset() == cut_from and (cut_from, "cut") in offsets,
               "the upload to stop where the connection went")
    assert offsets[:5] == [(0, "sent"), (CHUNK, "dropped"), (CHUNK, "sent"),
                           (2 * CHUNK, "sent"), (cut_from, "cut")]
    expect(bar.get_by_role("progressbar")).to_have_attribute("aria-valuenow",
                                                             str(round(100 * cut_from / size)))

    page.reload()  # the tab is closed or reloaded mid-upload
    expect(page.locator("#igbridge-jobs-body")).not_to_contain_text("Loading jobs…")
    cut_from = size  # the connection is back
    before_resume = len(offsets)
    page.set_input_files("#igbridge-zip", str(export))
    with page.expect_response(lambda r: r.url.endswith("/igbridge/v1/jobs")
                              and r.request.method == "POST", timeout=SLOW) as started:
        page.get_by_role("button", name="Upload and import").click()
    assert started.value.status == 202, started.value.text()
    resumed = [o for o, _ in offsets[before_resume:]]
    assert resumed == list(range(3 * CHUNK, size, CHUNK))  # only what was missing
    expect(bar).to_have_attribute("data-state", "complete")
    expect(bar.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")

    job = started.value.json()["job"]
    assert job["source"] == {"type": "export", "upload_ids": [upload_id],
                             "names": ["instagram-export.zip"]}
    expect(row_of(page, job["job_id"])).to_contain_text("instagram-export.zip")
    row = row_of(page, job["job_id"])
    expect(row).to_have_class("igbridge-job--complete", timeout=SLOW)
    assert sidecar.get(f"/api/uploads/{upload_id}").status_code == 404  # deleted once imported
