"""The Sources screen (issue 14) in a real Chromium: a source saved through the form
with a mapping and a schedule, synced with "Sync now" (the stack's sidecar, the real
apify-client against the fake Apify), paused, refused with the sidecar's own words for
a bad value, and deleted; every call through the plugin's REST proxy with its nonce.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Route, expect, sync_playwright

from dev.stack import Stack
from tests.e2e.conftest import SidecarApi, WordPressApi
from tests.fakes.apify_server import FakeApify
from tests.fakes.instagram_items import ItemFactory

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def page(import_stack: Stack) -> Iterator[Page]:
    if "sidecar" not in import_stack.processes:
        pytest.skip("the stack runs without its sidecar (IGBRIDGE_TEST_STACK_SIDECAR=0)")
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    quiet_core = import_stack.wp_dir / "wp-content" / "mu-plugins" / "igbridge-test-quiet.php"
    quiet_core.parent.mkdir(exist_ok=True)
    quiet_core.write_text(
        "<?php\nadd_filter('option_show_avatars', '__return_false');\n"
        "add_action('admin_init', function () {\n"
        "    remove_action('admin_print_scripts', 'print_emoji_detection_script');\n"
        "});\n")
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        tab = browser.new_page()

        def only_local(route: Route) -> None:
            if route.request.url.startswith("http://127.0.0.1:"):
                route.continue_()
            else:
                problems.append(f"request to {route.request.url}")
                route.abort()

        tab.route("**/*", only_local)
        tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        tab.goto(f"{import_stack.wp_url}/wp-login.php")
        tab.fill("#user_login", import_stack.wp_admin_user)
        tab.fill("#user_pass", import_stack.wp_admin_password)
        tab.click("#wp-submit")
        tab.wait_for_url("**/wp-admin/**")
        try:
            yield tab
        finally:
            browser.close()
            quiet_core.unlink()
    assert problems == []


def open_sources(page: Page, stack: Stack) -> None:
    page.goto(f"{stack.wp_url}/wp-admin/admin.php?page=igbridge-sources")
    # The body, not its rows: the shared stack may hold other tests' sources, and a
    # locator over several rows is a strict-mode error, not a wait.
    expect(page.locator("#igbridge-sources-body")).not_to_contain_text("Loading sources…")


def test_a_source_saved_in_the_form_syncs_pauses_and_goes(
    page: Page, import_stack: Stack, import_api: SidecarApi, import_apify: FakeApify,
    import_wp: WordPressApi, import_fresh: Callable[[FakeApify, list[dict[str, Any]]],
                                                    list[dict[str, Any]]],
    import_waiter: Callable[..., None],
) -> None:
    username = f"form.source.{int(time.time() * 1000) % 1_000_000}"
    factory = ItemFactory(import_apify, username)
    [item] = import_fresh(import_apify, [factory.image(
        "Harbour at dawn #harbour", taken_at=datetime(2024, 5, 2, 6, 0, tzinfo=UTC))])
    import_apify.add_profile(username, [item])
    category = httpx.post(f"{import_stack.wp_url}/wp-json/wp/v2/categories",
                          json={"name": f"Harbour {username}"}, timeout=30,
                          auth=(import_stack.wp_app_user, import_stack.wp_app_password))
    assert category.status_code == 201, category.text
    category_id = category.json()["id"]

    open_sources(page, import_stack)
    # The screen's own stylesheet (sources.css, not the dashboard's) frames the preview.
    expect(page.locator("#igbridge-src-preview-content")).to_have_css("height", "320px")
    form = page.locator("#igbridge-source-form")
    form.locator("[name=username]").fill(f"@{username}")
    form.locator("[name=status]").select_option("draft")
    form.locator(f"input[name=category_ids][value='{category_id}']").check()
    form.locator("[name=title_rule]").select_option("template")
    form.locator("#igbridge-source-submit").click()
    # The sidecar's own words for the bad value, as a notice; nothing saved.
    expect(page.locator("#igbridge-notices .notice-error").first).to_contain_text(
        "title.template is required when title.rule is 'template'")
    form.locator("[name=title_rule]").select_option("date")
    form.locator("[name=every_minutes]").select_option("360")
    form.locator("#igbridge-source-submit").click()
    expect(page.locator("#igbridge-notices .notice-success").first).to_have_text("Source saved.")

    row = page.locator("#igbridge-sources-body tr", has_text=f"@{username}")
    expect(row).to_have_count(1)
    expect(row.locator(".igbridge-src-last")).to_have_text("never")
    [saved] = [s for s in import_api.get("/api/sources").json()["sources"]
               if s["username"] == username]
    assert saved["mapping"]["status"] == "draft"
    assert saved["mapping"]["category_ids"] == [category_id]
    assert saved["mapping"]["title"]["rule"] == "date"
    assert saved["schedule"] == {"every_minutes": 360}
    assert saved["next_run_at"] is not None

    row.get_by_role("button", name="Sync now").click()
    expect(page.locator("#igbridge-notices .notice-success").first).to_contain_text(
        "Sync started")
    import_waiter(lambda: (import_api.get(f"/api/sources/{saved['source_id']}").json()
                           .get("last_sync") or {}).get("status") == "complete",
                  "the sync to finish", timeout=60)
    post = import_wp.post_of(item["id"])
    assert (post["status"], post["categories"], post["title"]["raw"]) == (
        "draft", [category_id], "2024-05-02")
    open_sources(page, import_stack)
    expect(row.locator(".igbridge-src-last")).to_contain_text("complete: Imported 1 of 1 post")

    row.get_by_role("button", name="Pause").click()
    expect(row.locator(".igbridge-src-next")).to_have_text("paused")
    assert import_api.get(f"/api/sources/{saved['source_id']}").json()["paused"] is True

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete").click()
    expect(row).to_have_count(0)
    assert import_api.get(f"/api/sources/{saved['source_id']}").status_code == 404
