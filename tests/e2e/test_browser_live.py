"""The live dashboard of issue 11 in a real Chromium against the real stack.

A job started elsewhere (here: the sidecar's own API, as the CLI does) appears in an
open dashboard without a reload or a poll, its bar only moves forward and its Outcome
column follows the stream; a job's items load a page at a time, only when opened; at
390 px the jobs table reflows into labelled lines; an expired WordPress login and an
unreachable sidecar are each said once, with the link that fixes them.

Jobs stay mid-way on a local media server whose slow images hang until released, so no
state is waited for with a sleep. Fixtures and helpers are the browser module's own.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from dev.stack import Stack
from tests.e2e import test_browser_dashboard as dashboard
from tests.e2e.test_browser_dashboard import (
    Traffic,
    open_dashboard,
    rendered,
    row_of,
    shot,
    sidecar,
)
from tests.fakes.media_files import jpeg
from tests.support.media_server import MediaServer

pytestmark = dashboard.pytestmark
# The browser module's fixtures, used here under the same names.
browser, wordpress, admin = dashboard.browser, dashboard.wordpress, dashboard.admin
media, screenshots = dashboard.media, dashboard.screenshots

JOBS_ROUTE = "/igbridge/v1/jobs"


def start_cache_job(stack: Stack, urls: list[str]) -> dict[str, Any]:
    started = sidecar(stack, "POST", "/api/jobs", {
        "kind": "cache_images", "source": {"type": "urls", "urls": urls},
        "options": {"concurrency": 1}})
    assert started.status_code == 202, started.text
    job: dict[str, Any] = started.json()
    return job


def finish(stack: Stack, job: dict[str, Any]) -> None:
    """Follow the job's own stream to its end (it closes there)."""
    with httpx.stream(
            "GET", f"{stack.sidecar_url}/api/progress/stream/{job['session_id']}",
            params={"last_event_id": 0}, timeout=60,
            headers={"Authorization": f"Bearer {stack.sidecar_secret}"}) as response:
        for _ in response.iter_lines():
            pass


def jobs_list_calls(traffic: Traffic) -> list[str]:
    return [r.url for r in traffic.requests
            if r.method == "GET" and JOBS_ROUTE in r.url and "/items" not in r.url
            and r.resource_type == "fetch"]


def test_a_job_started_elsewhere_appears_live_and_only_moves_forward(
        admin: tuple[Page, Traffic], wordpress: Stack, media: MediaServer,
        screenshots: Path) -> None:
    page, traffic = admin
    stack = wordpress
    open_dashboard(page, stack)
    expect(page.locator(".igbridge-connection")).to_have_attribute("data-status", "live")
    listed = jobs_list_calls(traffic)
    assert len(listed) == 1, listed
    assert "limit=20" in listed[0], listed  # a page, not the whole history

    run = uuid.uuid4().hex[:8]
    job = start_cache_job(stack, [media.add(f"/{run}-a.jpg", jpeg(21, 21)),
                                  media.add(f"/{run}-b.jpg", jpeg(22, 22), delay=120)])
    row = row_of(page, job["job_id"])
    view = row.locator(".igb-progress")
    expect(view).to_have_attribute("data-state", "running")
    counts = row.locator(".igbridge-counts")
    expect(counts).to_have_text("1 imported · 1 to do")  # the Outcome column, live
    expect(row.get_by_role("button", name="Cancel")).to_be_visible()
    shot(page, screenshots, "live-job-from-elsewhere")

    media.release.set()
    expect(row).to_have_class("igbridge-job--complete")
    expect(counts).to_have_text("2 imported")
    expect(row.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    expect(row.get_by_role("button")).to_have_count(0)

    shown = [s["now"] for s in rendered(page, job["job_id"])]
    assert shown == sorted(shown), shown
    assert shown[-1] == 100, shown
    # Learnt from the one stream: no second list request, no reload, no second EventSource.
    assert jobs_list_calls(traffic) == listed
    assert len(traffic.streams()) == 1, [s.url for s in traffic.streams()]
    assert "session=" not in traffic.streams()[0].url
    documents = [r.url for r in traffic.requests if r.resource_type == "document"
                 and "page=igbridge" in r.url]
    assert len(documents) == 1, documents


def test_items_load_when_opened_a_page_at_a_time(
        admin: tuple[Page, Traffic], wordpress: Stack, media: MediaServer) -> None:
    page, traffic = admin
    stack = wordpress
    run = uuid.uuid4().hex[:8]
    urls = [media.add(f"/{run}-{n}.jpg", jpeg(8 + n % 40, 9)) for n in range(54)]
    missing = f"{media.url}/{run}-missing.jpg"
    job = start_cache_job(stack, [*urls, missing])
    finish(stack, job)

    open_dashboard(page, stack)
    row = row_of(page, job["job_id"])
    expect(row).to_have_class("igbridge-job--complete")
    expect(row.locator(".igbridge-counts")).to_have_text("54 imported · 1 failed")
    assert not [r.url for r in traffic.requests if "/items" in r.url], "items before opening"
    expect(row.get_by_role("button", name="Show more items")).to_be_hidden()

    row.locator("summary").click()
    items = row.locator(".igbridge-item")
    expect(items).to_have_count(50)
    expect(items.first).to_contain_text(urls[0])
    more = row.get_by_role("button", name="Show more items")
    more.click()
    expect(items).to_have_count(55)
    expect(more).to_be_hidden()
    failed = row.locator(".igbridge-item--failed")
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text(missing)
    expect(failed.locator(".igbridge-reason")).to_contain_text("404")
    asked = [r.url for r in traffic.requests if "/items" in r.url]
    assert len(asked) == 2, asked
    assert "cursor=" not in asked[0], asked
    assert "cursor=" in asked[1], asked


def test_older_jobs_load_a_page_at_a_time_newest_first(
        admin: tuple[Page, Traffic], wordpress: Stack, media: MediaServer) -> None:
    page, traffic = admin
    stack = wordpress
    run = uuid.uuid4().hex[:8]
    created = [start_cache_job(stack, [media.add(f"/{run}-{n}.jpg", jpeg(12, 12 + n))])
               for n in range(22)]
    for job in created:
        finish(stack, job)
    open_dashboard(page, stack)
    rows = page.locator("#igbridge-jobs-body tr")
    expect(rows).to_have_count(20)
    expect(row_of(page, created[-1]["job_id"])).to_be_visible()
    expect(row_of(page, created[1]["job_id"])).to_have_count(0)
    older = page.get_by_role("button", name="Show older jobs")
    older.click()
    expect(row_of(page, created[0]["job_id"])).to_be_visible()
    expect(rows.nth(20)).to_contain_text(created[1]["job_id"][:8])  # newest first, in order
    assert len(jobs_list_calls(traffic)) == 2


# Every visible cell at least as wide as its widest unbreakable piece of text (a word, an
# id), measured by a hidden copy at min-content width; and nothing wider than the screen.
NARROW_CELLS = """() => {
  const narrow = [];
  for (const td of document.querySelectorAll('#igbridge-jobs-body td')) {
    if (!td.getClientRects().length) continue;
    const probe = td.cloneNode(true);
    probe.style.cssText = 'position:absolute;visibility:hidden;display:block;width:min-content;'
      + 'overflow-wrap:normal;word-break:normal';
    td.parentElement.append(probe);
    const needs = probe.getBoundingClientRect().width;
    probe.remove();
    const has = td.getBoundingClientRect().width;
    if (has + 1 < needs) narrow.push(`${td.dataset.label}: ${has} < ${needs}`);
  }
  return { narrow, pageWidth: document.documentElement.scrollWidth };
}"""


def test_the_jobs_table_reflows_at_390_px(
        admin: tuple[Page, Traffic], wordpress: Stack, media: MediaServer,
        screenshots: Path) -> None:
    page, _ = admin
    stack = wordpress
    run = uuid.uuid4().hex[:8]
    held = start_cache_job(stack, [media.add(f"/{run}-a.jpg", jpeg(31, 31)),
                                   media.add(f"/{run}-b.jpg", jpeg(32, 32), delay=120)])
    page.set_viewport_size({"width": 390, "height": 844})
    open_dashboard(page, stack)
    row = row_of(page, held["job_id"])
    expect(row.locator(".igb-progress")).to_have_attribute("data-state", "running")
    expect(row.locator(".igbridge-counts")).to_have_text("1 imported · 1 to do")
    row.locator("summary").click()
    expect(row.locator(".igbridge-item")).to_have_count(2)
    row.scroll_into_view_if_needed()
    shot(page, screenshots, "dashboard-390px")
    measured = page.evaluate(NARROW_CELLS)
    assert measured["narrow"] == [], measured
    assert measured["pageWidth"] <= 390, measured
    # Each line says which column it is.
    progress_cell = row.locator("td").nth(2)
    label = progress_cell.evaluate("(td) => getComputedStyle(td, '::before').content")
    assert label == '"Progress"'
    media.release.set()
    expect(row).to_have_class("igbridge-job--complete")


def test_an_expired_login_is_said_once_with_a_link(
        admin: tuple[Page, Traffic], wordpress: Stack) -> None:
    page, _ = admin
    stack = wordpress
    open_dashboard(page, stack)
    expect(page.locator(".igbridge-connection")).to_have_attribute("data-status", "live")
    stack.wp_php(  # the login ends while the page stays open (as after its expiry)
        f"WP_Session_Tokens::get_instance(get_user_by('login', '{stack.wp_admin_user}')->ID)"
        "->destroy_all();")
    for _ in range(3):
        page.fill("#igbridge-username", "natgeo")
        with page.expect_response(lambda r: r.url.endswith(JOBS_ROUTE)
                                  and r.request.method == "POST") as answer:
            page.get_by_role("button", name="Start", exact=True).click()
        assert answer.value.status == 403
    notices = page.locator("#igbridge-notices .notice")
    expect(notices).to_have_count(1)
    expect(notices).to_have_text("You are logged out of WordPress: log in again")
    expect(page.locator("body")).not_to_contain_text("Cookie check failed")
    login = notices.get_by_role("link", name="log in again")
    assert "/wp-login.php?redirect_to=" in str(login.get_attribute("href"))
    expect(page.locator(".igbridge-connection")).to_have_text(
        "Live progress stopped: you are logged out.")
    login.click()
    page.fill("#user_login", stack.wp_admin_user)
    page.fill("#user_pass", stack.wp_admin_password)
    page.click("#wp-submit")
    page.wait_for_url(re.compile(r"/wp-admin/admin\.php\?page=igbridge$"))
    expect(page.locator(".igbridge-connection")).to_have_attribute("data-status", "live")


def test_an_unreachable_sidecar_is_said_with_a_link_to_test_connection(
        admin: tuple[Page, Traffic], wordpress: Stack) -> None:
    page, _ = admin
    stack = wordpress
    # The browser cannot reach the sidecar's public URL; WordPress (server side) still can.
    page.route(f"{stack.sidecar_url}/**", lambda route: route.abort())
    open_dashboard(page, stack)
    connection = page.locator(".igbridge-connection")
    expect(connection).to_have_attribute("data-status", "offline", timeout=20_000)
    expect(connection).to_contain_text(
        f"This browser cannot reach the sidecar at {stack.sidecar_url}")
    connection.get_by_role("link", name="Test the connection in Settings").click()
    page.wait_for_url(re.compile(
        r"/options-general\.php\?page=igbridge-settings#igbridge-test-connection$"))
    expect(page.locator("#igbridge-test-connection")).to_be_visible()
