"""The dashboard and settings screens in a real browser against the real stack.

A job runs against a local media server whose slow image hangs until the test
lets it go, so the page is seen mid-job (live progress, Cancel) and after (history,
counts, Retry) without a reload.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Route, expect, sync_playwright

from dev.stack import Stack
from tests.fakes.media_files import jpeg
from tests.support.media_server import MediaServer

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def page(stack: Stack) -> Iterator[Page]:
    if "sidecar" not in stack.processes:
        pytest.skip("the stack runs without its sidecar (IGBRIDGE_TEST_STACK_SIDECAR=0)")
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    # Core's own third-party requests (avatars from gravatar.com, emoji images from
    # s.w.org when the page shows emoji) are not the plugin's; switch them off here.
    quiet_core = stack.wp_dir / "wp-content" / "mu-plugins" / "igbridge-test-offline.php"
    quiet_core.parent.mkdir(exist_ok=True)
    quiet_core.write_text(
        "<?php\nadd_filter('option_show_avatars', '__return_false');\n"
        "add_action('admin_init', function () {\n"
        "    remove_action('admin_print_scripts', 'print_emoji_detection_script');\n"
        "});\n")
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        tab = browser.new_page()

        def only_local(route: Route) -> None:
            if route.request.url.startswith("http://127.0.0.1:"):
                route.continue_()
            else:
                problems.append(f"request to {route.request.url}")
                route.abort()

        tab.route("**/*", only_local)
        tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        tab.goto(f"{stack.wp_url}/wp-login.php")
        tab.fill("#user_login", stack.wp_admin_user)
        tab.fill("#user_pass", stack.wp_admin_password)
        tab.click("#wp-submit")
        tab.wait_for_url("**/wp-admin/**")
        try:
            yield tab
        finally:
            browser.close()
            quiet_core.unlink()
    assert problems == []


@pytest.fixture
def media() -> Iterator[MediaServer]:
    server = MediaServer().start()
    yield server
    server.stop()


def sidecar_post(stack: Stack, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{stack.sidecar_url}{path}", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {stack.sidecar_secret}"})


def open_dashboard(page: Page, stack: Stack) -> None:
    page.goto(f"{stack.wp_url}/wp-admin/admin.php?page=igbridge")
    expect(page.locator("#igbridge-jobs-body .igbridge-empty")).to_have_count(0)


def test_a_job_is_shown_live_then_as_history(page: Page, stack: Stack,
                                             media: MediaServer) -> None:
    run = uuid.uuid4().hex[:8]
    fast = media.add(f"/fast-{run}.jpg", jpeg(40, 40))
    slow = media.add(f"/slow-{run}.jpg", jpeg(48, 48), delay=120)
    missing = f"{media.url}/missing-{run}.jpg"
    started = sidecar_post(stack, "/api/jobs", {
        "kind": "cache_images", "source": {"type": "urls", "urls": [fast, slow, missing]},
        "options": {"concurrency": 1}})
    assert started.status_code == 202, started.text
    job_id = started.json()["job_id"]

    open_dashboard(page, stack)
    row = page.locator("#igbridge-jobs-body tr").filter(has_text=job_id[:8])
    expect(row).to_have_class("igbridge-job--running")
    expect(row.get_by_role("button", name="Cancel")).to_be_visible()
    expect(row.get_by_role("progressbar")).to_be_visible()
    expect(page.locator(".igbridge-connection")).to_have_attribute("data-status", "live")

    media.release.set()  # the slow image answers now; the stream carries the rest
    expect(row).to_have_class("igbridge-job--complete")
    expect(row.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    expect(row.locator(".igbridge-counts")).to_have_text("2 imported · 1 failed")
    expect(row.get_by_role("button", name="Retry failed")).to_be_visible()
    row.locator("summary").click()
    failed = row.locator(".igbridge-item--failed")
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text(missing)


def test_cancel_stops_a_running_job(page: Page, stack: Stack, media: MediaServer) -> None:
    run = uuid.uuid4().hex[:8]
    urls = [media.add(f"/hang-{run}-{i}.jpg", jpeg(30 + i, 30), delay=120) for i in range(3)]
    started = sidecar_post(stack, "/api/jobs", {
        "kind": "cache_images", "source": {"type": "urls", "urls": urls}})
    assert started.status_code == 202, started.text
    open_dashboard(page, stack)
    row = page.locator("#igbridge-jobs-body tr").filter(has_text=started.json()["job_id"][:8])
    row.get_by_role("button", name="Cancel").click()
    expect(row).to_have_class("igbridge-job--cancelled")
    expect(row.get_by_role("button")).to_have_count(0)


def test_unknown_command_shows_the_sidecars_hint(page: Page, stack: Stack) -> None:
    text = "make me a sandwich"
    direct = sidecar_post(stack, "/api/commands", {"text": text})
    assert direct.status_code == 422
    open_dashboard(page, stack)
    page.fill("#igbridge-command", text)
    page.click("#igbridge-command-form button")
    expect(page.locator("#igbridge-chat-log .igbridge-chat-error")).to_have_text(
        direct.json()["error"]["message"])


def test_user_text_is_shown_as_text(page: Page, stack: Stack) -> None:
    text = '<img src=x onerror="window.igbXss=1">'
    open_dashboard(page, stack)
    page.fill("#igbridge-command", text)
    page.click("#igbridge-command-form button")
    expect(page.locator("#igbridge-chat-log .igbridge-chat-me").last).to_have_text(text)
    expect(page.locator("#igbridge-chat-log .igbridge-chat-error").last).to_be_visible()
    assert page.evaluate("window.igbXss") is None
    assert page.locator("#igbridge-chat-log img").count() == 0


def test_settings_test_connection_reports_ok(page: Page, stack: Stack) -> None:
    page.goto(f"{stack.wp_url}/wp-admin/options-general.php?page=igbridge-settings")
    page.click("#igbridge-test-connection")
    notices = page.locator("#igbridge-test-result .notice")
    expect(notices).to_have_count(3)
    expect(notices.first).to_have_text(
        f"Connected: the sidecar at {stack.sidecar_url} (version 0.1.0) accepts the shared secret.")
    # Apify, as the session's sidecar has it: the import tests give it the fake Apify.
    apify = notices.nth(1)
    if stack.sidecar_env.get("APIFY_TOKEN"):
        expect(apify).to_have_text("Apify accepts the token (user igbridge-fake).")
        expect(apify).to_have_class("notice notice-success inline")
    else:
        expect(apify).to_contain_text("No Apify token is set: enter it under Settings")
        expect(apify).to_have_class("notice notice-warning inline")
    expect(notices.last).to_have_text(f"This browser reaches the sidecar at {stack.sidecar_url}.")


def test_config_reaches_the_script(page: Page, stack: Stack) -> None:
    open_dashboard(page, stack)
    config = page.evaluate("JSON.stringify(window.igbridgeConfig)")
    assert stack.sidecar_secret not in config
    assert json.loads(config)["publicUrl"] == stack.sidecar_url
