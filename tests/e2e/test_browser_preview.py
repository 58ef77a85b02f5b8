"""Preview and pick (issue 14) in a real Chromium: a preview started from the dashboard's
form is followed live on the Preview screen, its grid shows each post with a thumbnail
from the sidecar (never Instagram's CDN), new posts checked and the one already
imported unchecked; two picked by keyboard and mouse are imported through the plugin's
REST route, and the import shows on the dashboard. A saved source's "Preview" button
leads to the same screen.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from dev.stack import Stack
from tests.e2e.conftest import SidecarApi, WordPressApi
from tests.e2e.test_browser_sources import page  # noqa: F401  (the logged-in tab)
from tests.fakes.apify_server import FakeApify
from tests.fakes.instagram_items import ItemFactory

pytestmark = pytest.mark.browser

Fresh = Callable[[FakeApify, list[dict[str, Any]]], list[dict[str, Any]]]


def profile(fake: FakeApify, fresh: Fresh, count: int) -> tuple[str, list[dict[str, Any]]]:
    username = f"grid.preview.{int(time.time() * 1000) % 1_000_000}"
    factory = ItemFactory(fake, username)
    newest = datetime(2024, 7, 1, 8, 0, tzinfo=UTC)
    items = fresh(fake, [factory.image(f"Harbour view {n}", taken_at=newest - timedelta(days=n))
                         for n in range(count)])
    fake.add_profile(username, items)
    return username, items


def test_the_grid_picks_two_posts_and_imports_exactly_those(
    page: Page, import_stack: Stack, import_api: SidecarApi,  # noqa: F811
    import_apify: FakeApify, import_wp: WordPressApi, import_fresh: Fresh,
) -> None:
    username, items = profile(import_apify, import_fresh, 4)
    # The oldest is in WordPress already: shown, unchecked.
    first = import_api.finish(import_api.start_job(
        {"type": "apify", "username": username, "limit": 10}, options={"only": [items[3]["id"]]}))
    assert first["counts"]["imported"] == 1, first
    runs = len(import_apify.runs)

    page.goto(f"{import_stack.wp_url}/wp-admin/admin.php?page=igbridge")
    form = page.locator("#igbridge-profile-form")
    form.locator("[name=username]").fill(f"@{username}")
    form.locator("[name=limit]").fill("10")
    form.get_by_label(re.compile("Preview first")).check()
    form.get_by_role("button", name="Start").click()

    page.wait_for_url(re.compile(r"page=igbridge-preview&job=\w+"))
    grid = page.locator("#igbridge-preview-grid")
    expect(grid.get_by_role("checkbox")).to_have_count(4, timeout=60_000)
    expect(page.locator("#igbridge-preview-cost")).to_contain_text(
        "Apify estimate: at most $0.0230")
    boxes = {n: grid.get_by_role("checkbox", name=re.compile(f"Harbour view {n}"))
             for n in range(4)}
    for n in range(3):
        expect(boxes[n]).to_be_checked()
    expect(boxes[3]).not_to_be_checked()
    expect(grid.locator("li", has_text="Harbour view 3")).to_contain_text("already imported")
    # Thumbnails from the sidecar, loaded; none from the CDN the items point at.
    sidecar = import_stack.sidecar_url.rstrip("/")
    images = grid.locator("img")
    expect(images).to_have_count(4)
    for src in images.evaluate_all("els => els.map(e => e.src)"):
        assert src.startswith(f"{sidecar}/api/jobs/"), src
    page.wait_for_function("() => [...document.querySelectorAll('#igbridge-preview-grid img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    submit = page.locator("#igbridge-preview-import")
    expect(submit).to_have_text("Import selected (3)")

    boxes[1].focus()
    page.keyboard.press("Space")  # the keyboard unchecks it
    expect(boxes[1]).not_to_be_checked()
    expect(submit).to_have_text("Import selected (2)")
    submit.click()

    page.wait_for_url(re.compile(r"page=igbridge$"))
    row = page.locator("#igbridge-jobs-body tr", has_text=f"@{username}").filter(
        has_text="Import").first
    expect(row).to_have_class(re.compile("igbridge-job--complete"), timeout=60_000)
    expect(row).to_contain_text("2 imported")
    # The preview's own row says what it found, not that its posts are still to do.
    previewed = page.locator("#igbridge-jobs-body tr", has_text=f"@{username}").filter(
        has_text="Pick posts")
    expect(previewed.locator(".igbridge-counts")).to_have_text(
        "4 post(s) found · 3 new · 1 already in WordPress")
    assert [len(import_wp.posts_of(i["id"])) for i in items] == [1, 0, 1, 1]
    assert len(import_apify.runs) == runs + 1  # the preview's run, and no second one


def test_a_saved_sources_preview_button_opens_its_grid(
    page: Page, import_stack: Stack, import_api: SidecarApi,  # noqa: F811
    import_apify: FakeApify, import_fresh: Fresh,
) -> None:
    username, _items = profile(import_apify, import_fresh, 2)
    saved = import_api.post("/api/sources", {"type": "apify", "username": username})
    assert saved.status_code == 201, saved.text

    # Each thumbnail's first request is refused as an expired token would be: the screen
    # mints a new token and asks again.
    refused: list[str] = []
    minted: list[str] = []

    def expire_first(route: Route) -> None:
        if route.request.url.split("?")[0] not in refused:
            refused.append(route.request.url.split("?")[0])
            route.fulfill(status=403, content_type="application/json",
                          body='{"error": {"code": "forbidden", "message": "expired"}}')
        else:
            route.fallback()

    page.route("**/api/jobs/*/thumbnails/*", expire_first)
    page.on("request", lambda r: minted.append(r.url) if "stream-token" in r.url else None)
    page.goto(f"{import_stack.wp_url}/wp-admin/admin.php?page=igbridge-sources")
    row = page.locator("#igbridge-sources-body tr", has_text=f"@{username}")
    try:
        row.get_by_role("button", name="Preview").click()

        page.wait_for_url(re.compile(r"page=igbridge-preview&job=\w+"))
        expect(page.locator("#igbridge-preview-grid").get_by_role("checkbox")).to_have_count(
            2, timeout=60_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('#igbridge-preview-grid img')]"
            ".every(i => i.complete && i.naturalWidth > 0)")
    finally:
        page.unroute("**/api/jobs/*/thumbnails/*")
    assert len(refused) == 2
    assert len(minted) >= 2  # the grid's first token, and one after the refusals
    # The stack is the session's: the Sources screen's tests expect only their own sources.
    gone = httpx.delete(f"{import_api.url}/api/sources/{saved.json()['source_id']}",
                        headers=import_api.headers, timeout=30)
    assert gone.status_code == 200, gone.text
