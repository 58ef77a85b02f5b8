"""The dashboard as a person uses it, in a real Chromium against the real stack.

Covers what ``test_plugin_dashboard.py`` does not: an import started by uploading the
sample export through the page, watched to the end and followed to its posts; one
stream for several jobs; a sidecar killed and restarted mid-job (the page reconnects
and shows every event once); a subscriber refused everywhere; the secret nowhere in
what the browser receives; no third-party requests. Screenshots of the running,
complete, reconnecting and error states go to ``$IGBRIDGE_ARTIFACTS`` (or pytest's
temporary directory).

Mid-job states are made deterministic, never waited for with sleeps: a must-use
plugin holds the first post creation while a gate file exists, and the media server
holds its slow images until the test releases them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Error,
    Locator,
    Page,
    Request,
    Route,
    expect,
    sync_playwright,
)

from dev.stack import Stack
from tests.fakes.media_files import jpeg
from tests.support.media_server import MediaServer
from tests.support.sse import iter_frames

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
SAMPLE_EXPORT = Path(__file__).resolve().parents[2] / "sidecar" / "sample" / (
    "instagram-export-sample.zip")
SLOW = 30_000  # ms: an import into WordPress on PHP's built-in server
TERMINAL = ("complete", "error", "cancelled")

# Must-use plugin for this module: core's own third-party requests (avatars, emoji) off,
# and a gate holding the third post creation while WP_CONTENT_DIR/igbridge-test-gate exists
# (each creation claims its number by making a directory, which is atomic).
MU_PLUGIN = """<?php
add_filter('option_show_avatars', '__return_false');
add_action('admin_init', function () {
    remove_action('admin_print_scripts', 'print_emoji_detection_script');
});
add_filter('rest_pre_dispatch', function ($result, $server, $request) {
    $gate = WP_CONTENT_DIR . '/igbridge-test-gate';
    if ('POST' !== $request->get_method() || '/wp/v2/posts' !== $request->get_route()
        || ! file_exists($gate)) {
        return $result;
    }
    $n = 1;
    while (! @mkdir("$gate.$n")) {
        $n++;
    }
    $until = time() + 60;
    while (3 === $n && file_exists($gate) && time() < $until) {
        usleep(20000);
        clearstatcache();
    }
    return $result;
}, 10, 3);
"""

# Records, in every page: each EventSource opened (and closed) and each frame it received;
# the progress rows' rendered state after every change; the connection status line.
RECORDER = """
(() => {
  const Native = window.EventSource;
  window.igbTest = { streams: [], frames: [], rendered: [], statuses: [] };
  window.EventSource = class extends Native {
    constructor(url, init) {
      super(url, init);
      const stream = { url: String(url), closed: false };
      window.igbTest.streams.push(stream);
      this.addEventListener('message', (e) => {
        window.igbTest.frames.push({ id: e.lastEventId, data: e.data });
      });
      const close = this.close.bind(this);
      this.close = () => { stream.closed = true; close(); };
    }
  };
  document.addEventListener('DOMContentLoaded', () => {
    const body = document.getElementById('igbridge-jobs-body');
    if (!body) return;
    const seen = new Map();
    const record = () => {
      for (const row of body.querySelectorAll('tr')) {
        const view = row.querySelector('.igb-progress');
        const job = row.querySelector('td code');
        if (!view || !job) continue;
        const state = {
          job: job.textContent,
          state: view.dataset.state,
          now: Number(view.querySelector('[role=progressbar]').getAttribute('aria-valuenow')),
          phase: view.querySelector('.igb-progress__phase').textContent,
          message: view.querySelector('.igb-progress__status').textContent,
        };
        const key = JSON.stringify(state);
        if (seen.get(state.job) !== key) {
          seen.set(state.job, key);
          window.igbTest.rendered.push(state);
        }
      }
      const status = document.querySelector('.igbridge-connection')?.dataset.status;
      if (status && window.igbTest.statuses.at(-1) !== status) window.igbTest.statuses.push(status);
    };
    new MutationObserver(record).observe(body.closest('.wrap'), {
      subtree: true, childList: true, attributes: true, characterData: true });
    record();
  });
})();
"""


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("IGBRIDGE_ARTIFACTS")
    folder = Path(where) / "browser" if where else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def wordpress(stack: Stack) -> Iterator[Stack]:
    """The stack with the module's must-use plugin in place (removed afterwards)."""
    if "sidecar" not in stack.processes:
        pytest.skip("the stack runs without its sidecar (IGBRIDGE_TEST_STACK_SIDECAR=0)")
    mu_plugin = stack.wp_dir / "wp-content" / "mu-plugins" / "igbridge-test-browser.php"
    mu_plugin.parent.mkdir(exist_ok=True)
    mu_plugin.write_text(MU_PLUGIN)
    try:
        yield stack
    finally:
        mu_plugin.unlink()
        open_gate(stack)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Traffic:
    """What one browser context sent and received."""

    requests: list[Request] = field(default_factory=list)
    bodies: list[tuple[str, bytes]] = field(default_factory=list)  # with headers
    unread: list[str] = field(default_factory=list)
    third_party: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def streams(self) -> list[Request]:
        return [r for r in self.requests if r.resource_type == "eventsource"]

    def keep_body(self, request: Request) -> None:
        """Answers that carry data (pages, fetches), read as soon as they finished: a body
        is gone once its page navigated away. Static files cannot hold a runtime secret."""
        response = request.response()
        if response is None or request.resource_type not in {"document", "fetch", "xhr"}:
            return
        headers = json.dumps(response.headers_array()).encode()
        try:
            self.bodies.append((request.url, headers + response.body()))
        except Error as error:
            # A redirect has no body; core's own calls from a page left at once (such as
            # wp-admin's compression test) may be gone; igbridge's answers must be read.
            ours = "igbridge" in request.url or "igbridge" in (request.headers.get("referer") or "")
            if ours and not 300 <= response.status < 400:
                self.unread.append(f"{response.status} {request.url}: {error}")


def new_context(browser: Browser, stack: Stack, login: str, password: str
                ) -> tuple[BrowserContext, Page, Traffic]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    traffic = Traffic()

    def only_local(route: Route) -> None:
        if route.request.url.startswith("http://127.0.0.1:"):
            route.continue_()
        else:  # never leaves the machine; recorded against the page that asked
            traffic.third_party.append(f"{route.request.frame.url} → {route.request.url}")
            route.abort()

    context.route("**/*", only_local)
    context.add_init_script(RECORDER)
    context.on("request", lambda request: traffic.requests.append(request))
    context.on("requestfinished", traffic.keep_body)
    page = context.new_page()
    page.on("pageerror", lambda error: traffic.page_errors.append(str(error)))
    page.goto(f"{stack.wp_url}/wp-login.php")
    page.fill("#user_login", login)
    page.fill("#user_pass", password)
    page.click("#wp-submit")
    page.wait_for_url("**/wp-admin/**")
    return context, page, traffic


@pytest.fixture
def admin(browser: Browser, wordpress: Stack) -> Iterator[tuple[Page, Traffic]]:
    """A fresh logged-in admin tab per test; afterwards: no page errors, no third-party
    request from the dashboard, and the secret in nothing the browser received."""
    context, page, traffic = new_context(browser, wordpress, wordpress.wp_admin_user,
                                         wordpress.wp_admin_password)
    try:
        yield page, traffic
        assert traffic.page_errors == []
        assert [r for r in traffic.third_party if "page=igbridge" in r] == []
        assert_secret_not_received(page, traffic, wordpress.sidecar_secret)
    finally:
        context.close()


@pytest.fixture
def media() -> Iterator[MediaServer]:
    server = MediaServer().start()
    yield server
    server.stop()


# ---------------------------------------------------------------- helpers


def open_dashboard(page: Page, stack: Stack) -> None:
    page.goto(f"{stack.wp_url}/wp-admin/admin.php?page=igbridge")
    expect(page.locator("#igbridge-jobs-body")).not_to_contain_text("Loading jobs…")


def row_of(page: Page, job_id: str) -> Locator:
    return page.locator("#igbridge-jobs-body tr").filter(has_text=job_id[:8])


def shot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True, animations="disabled")


def close_gate(stack: Stack) -> None:
    (stack.wp_dir / "wp-content" / "igbridge-test-gate").touch()


def open_gate(stack: Stack) -> None:
    gate = stack.wp_dir / "wp-content" / "igbridge-test-gate"
    gate.unlink(missing_ok=True)
    for claimed in gate.parent.glob(gate.name + ".*"):
        claimed.rmdir()


def sidecar(stack: Stack, method: str, path: str, body: dict[str, Any] | None = None
            ) -> httpx.Response:
    return httpx.request(method, f"{stack.sidecar_url}{path}", json=body, timeout=30,
                         headers={"Authorization": f"Bearer {stack.sidecar_secret}"})


def stored_events(stack: Stack, session_id: str) -> list[dict[str, Any]]:
    """Every event the sidecar stored for a finished session, ``id`` included."""
    events = []
    with httpx.stream("GET", f"{stack.sidecar_url}/api/progress/stream/{session_id}",
                      params={"last_event_id": 0}, timeout=30,
                      headers={"Authorization": f"Bearer {stack.sidecar_secret}"}) as response:
        assert response.status_code == 200, response.read()
        for frame in iter_frames(response):
            if frame.data and frame.data["type"] != "snapshot":
                events.append({**frame.data, "id": frame.id})
    assert events, "no stored events"
    assert events[-1]["type"] in TERMINAL, events[-3:]
    return events


def page_frames(page: Page, session_id: str) -> list[dict[str, Any]]:
    """The frames of one session the page's EventSources received, in order."""
    frames = []
    for raw in page.evaluate("window.igbTest.frames"):
        data = json.loads(raw["data"])
        if data.get("session_id") == session_id:
            frames.append({**data, "id": int(raw["id"]) if raw["id"] else None})
    return frames


def assert_every_event_once(page: Page, stack: Stack, session_id: str) -> list[dict[str, Any]]:
    """The page received each stored event after its first snapshot (or, for a job it saw
    start, every stored event) exactly once, in order; returns the stored events."""
    stored = stored_events(stack, session_id)
    frames = page_frames(page, session_id)
    assert frames, f"the page received nothing of {session_id}"
    # A job the page saw start has no snapshot first: every one of its events must come.
    first = frames[0]
    since = int(first["last_event_id"] or 0) if first["type"] == "snapshot" else 0
    received = [f["id"] for f in frames if f["type"] != "snapshot"]
    assert received == [e["id"] for e in stored if e["id"] > since]
    return stored


def rendered(page: Page, job_id: str) -> list[dict[str, Any]]:
    states: list[dict[str, Any]] = page.evaluate(
        "(job) => window.igbTest.rendered.filter((r) => r.job === job)", job_id[:8])
    return states


def assert_secret_not_received(page: Page, traffic: Traffic, secret: str) -> None:
    assert secret not in page.content()
    for url, body in traffic.bodies:
        assert secret.encode() not in body, f"the secret is in the answer of {url}"
    frames = json.dumps(page.evaluate("window.igbTest ? window.igbTest.frames : []"))
    assert secret not in frames  # the stream's frames, as the page received them
    assert traffic.unread == []


def fresh_sample_export(folder: Path) -> Path:
    """The sample export with its timestamps moved, so its posts are new to this
    session's WordPress (an export post's id is its timestamp and caption hash)."""
    shift = uuid.uuid4().int % 10_000_000
    out = folder / "instagram-export-sample.zip"
    with zipfile.ZipFile(SAMPLE_EXPORT) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("posts_1.json"):
                posts = json.loads(data)
                for post in posts:
                    for node in [post, *post.get("media", [])]:
                        if "creation_timestamp" in node:
                            node["creation_timestamp"] -= shift
                data = json.dumps(posts, indent=1).encode()
            target.writestr(info, data)
    return out


def upload_and_start(page: Page, path: Path) -> dict[str, Any]:
    """Submits the ZIP form; returns the job the sidecar accepted."""
    page.set_input_files("#igbridge-zip", str(path))
    with page.expect_response(lambda r: r.url.endswith("/igbridge/v1/jobs")
                              and r.request.method == "POST", timeout=SLOW) as started:
        page.get_by_role("button", name="Upload and import").click()
    assert started.value.status == 202, started.value.text()
    job: dict[str, Any] = started.value.json()["job"]
    return job


# ---------------------------------------------------------------- tests


def test_sample_export_imports_through_the_page(admin: tuple[Page, Traffic],
                                                 wordpress: Stack, screenshots: Path,
                                                 tmp_path: Path) -> None:
    page, traffic = admin
    stack = wordpress
    export = fresh_sample_export(tmp_path)
    open_dashboard(page, stack)
    close_gate(stack)  # the third post creation waits: the page sees the job mid-way
    job = upload_and_start(page, export)
    row = row_of(page, job["job_id"])
    view = row.locator(".igb-progress")
    expect(view).to_have_attribute("data-state", "running", timeout=SLOW)
    expect(view.locator(".igb-progress__phase")).to_have_text("Importing into WordPress",
                                                              timeout=SLOW)
    expect(row.get_by_role("progressbar")).not_to_have_attribute("aria-valuenow", "0")
    expect(page.locator(".igbridge-connection")).to_have_attribute("data-status", "live")
    expect(row.get_by_role("button", name="Cancel")).to_be_visible()
    shot(page, screenshots, "dashboard-running")

    open_gate(stack)
    expect(row).to_have_class("igbridge-job--complete", timeout=SLOW)
    expect(view).to_have_attribute("data-state", "complete")
    expect(row.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    final = sidecar(stack, "GET", f"/api/jobs/{job['job_id']}").json()
    assert final["status"] == "complete", final
    posts = sidecar(stack, "GET", f"/api/jobs/{job['job_id']}/items").json()["items"]
    assert posts, final
    assert {i["state"] for i in posts} == {"imported"}, posts
    expect(row.locator(".igbridge-counts")).to_have_text(f"{len(posts)} imported")

    # One bar per job: it only moved forward, through every phase, to 100 %, as the
    # stream said; each phase showed its own N / M beside it.
    states = rendered(page, job["job_id"])
    shown = [s["now"] for s in states]
    assert shown == sorted(shown), states
    assert any(0 < s["now"] < 100 for s in states if s["phase"] == "Importing into WordPress")
    assert (states[-1]["state"], states[-1]["now"]) == ("complete", 100), states[-1]
    stored = assert_every_event_once(page, stack, job["session_id"])
    stored_phases = [e["phase"] for e in stored]
    shown_phases = [s["phase"] for s in states if s["phase"]]
    assert set(shown_phases) <= set(stored_phases), shown_phases
    assert "Importing into WordPress" in shown_phases

    # History: each item as a person knows the post (thumbnail, caption, date), linked
    # to the post and to its editor; follow one.
    row.locator("summary").click()
    items = row.locator(".igbridge-item--imported")
    expect(items).to_have_count(len(posts))
    first = items.first
    expect(first.locator(".igbridge-item__caption")).to_have_text(posts[0]["caption_excerpt"])
    expect(first.locator(".igbridge-item__caption")).to_have_attribute("href", posts[0]["post_url"])
    expect(first.locator("time")).not_to_be_empty()
    if posts[0]["thumbnail_url"]:
        expect(first.locator("img.igbridge-thumb")).to_have_attribute(
            "src", posts[0]["thumbnail_url"])
    expect(row.locator(".igbridge-item--imported a.igbridge-edit")).to_have_count(len(posts))
    shot(page, screenshots, "dashboard-complete")
    post_id = posts[0]["wp_post_id"]
    link = row.locator(f"a.igbridge-edit[href$='post={post_id}']")
    expect(link).to_have_text(f"#{post_id}")
    wp_post = httpx.get(f"{stack.wp_url}/wp-json/wp/v2/posts/{post_id}",
                        params={"context": "edit"}, timeout=30,
                        headers={"Authorization": stack.wp_basic_auth}).json()
    assert (wp_post["id"], wp_post["status"], wp_post["meta"]["_igbridge_source_id"]) == (
        post_id, "publish", posts[0]["source_id"])
    with page.expect_navigation() as followed:
        link.click()
    assert followed.value is not None
    assert followed.value.status == 200
    title = wp_post["title"]["raw"]
    expect(page).to_have_title(re.compile(f"^Edit Post “{re.escape(title)}” ‹ "), timeout=SLOW)
    assert not [r for r in traffic.third_party if "page=igbridge" in r]


def test_two_jobs_share_one_stream(admin: tuple[Page, Traffic], wordpress: Stack,
                                   media: MediaServer) -> None:
    page, traffic = admin
    stack = wordpress
    run = uuid.uuid4().hex[:8]
    jobs = []
    for n in range(2):
        urls = [media.add(f"/{run}-{n}-fast.jpg", jpeg(30 + n, 30)),
                media.add(f"/{run}-{n}-slow.jpg", jpeg(40 + n, 40), delay=120)]
        started = sidecar(stack, "POST", "/api/jobs", {
            "kind": "cache_images", "source": {"type": "urls", "urls": urls},
            "options": {"concurrency": 1}})
        assert started.status_code == 202, started.text
        jobs.append(started.json())

    open_dashboard(page, stack)
    for job in jobs:
        expect(row_of(page, job["job_id"]).locator(".igb-progress")).to_have_attribute(
            "data-state", "running")
    expect(page.locator(".igbridge-connection")).to_have_attribute("data-status", "live")
    streams = traffic.streams()
    assert len(streams) == 1, [s.url for s in streams]
    assert "session=" not in streams[0].url  # the all-sessions stream: jobs started later too
    opened = page.evaluate("window.igbTest.streams")
    assert [s for s in opened if not s["closed"]] == [{"url": streams[0].url, "closed": False}]

    media.release.set()  # both slow images answer; both jobs finish over the same stream
    for job in jobs:
        expect(row_of(page, job["job_id"])).to_have_class("igbridge-job--complete")
        assert_every_event_once(page, stack, job["session_id"])
    assert len(traffic.streams()) == 1


def test_sidecar_restart_mid_job_reconnects_and_misses_nothing(
        admin: tuple[Page, Traffic], wordpress: Stack, media: MediaServer,
        screenshots: Path) -> None:
    page, _ = admin
    stack = wordpress
    run = uuid.uuid4().hex[:8]
    urls = [media.add(f"/{run}-a.jpg", jpeg(33, 33)),
            media.add(f"/{run}-b.jpg", jpeg(34, 34), delay=120),
            media.add(f"/{run}-c.jpg", jpeg(35, 35))]
    started = sidecar(stack, "POST", "/api/jobs", {
        "kind": "cache_images", "source": {"type": "urls", "urls": urls},
        "options": {"concurrency": 1}})
    assert started.status_code == 202, started.text
    job = started.json()
    open_dashboard(page, stack)
    row = row_of(page, job["job_id"])
    connection = page.locator(".igbridge-connection")
    expect(row.locator(".igb-progress")).to_have_attribute("data-state", "running")
    expect(connection).to_have_attribute("data-status", "live")

    stack.stop_sidecar(kill=True)  # a crash: no goodbye on the stream
    expect(connection).to_have_attribute("data-status", "reconnecting")
    shot(page, screenshots, "dashboard-reconnecting")
    stack.start_sidecar()  # resumes the job; events written while the page was away
    expect(connection).to_have_attribute("data-status", "live", timeout=SLOW)
    media.release.set()
    expect(row).to_have_class("igbridge-job--complete", timeout=SLOW)

    statuses = page.evaluate("window.igbTest.statuses")
    assert statuses[statuses.index("reconnecting"):][-1] == "live", statuses
    stored = assert_every_event_once(page, stack, job["session_id"])
    # The rendered status lines are the stream's messages from the first snapshot on, in
    # order, none lost, none twice (the view writes a line only when it changes). One
    # older line may come first, rendered from the job list before the stream opened: the
    # list carries no message, so that line is the view's own word for the job's state.
    first = page_frames(page, job["session_id"])[0]
    expected = changes([first["message"]] + [e["message"] for e in stored
                                             if e["id"] > first["last_event_id"]])
    shown = changes([s["message"] for s in rendered(page, job["job_id"])])
    older = shown[:len(shown) - len(expected)]
    assert shown[len(older):] == expected, (shown, expected)
    assert len(older) <= 1, (shown, expected)
    assert set(older) <= {"Starting…", "Running"}, older


def changes(messages: list[str]) -> list[str]:
    """The non-empty messages, each repeat in a row dropped."""
    kept: list[str] = []
    for message in messages:
        if message and (not kept or kept[-1] != message):
            kept.append(message)
    return kept


def test_a_failed_import_shows_why(admin: tuple[Page, Traffic], wordpress: Stack,
                                   screenshots: Path, tmp_path: Path) -> None:
    page, _ = admin
    stack = wordpress
    empty = tmp_path / "not-instagram.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("notes/readme.txt", "nothing from Instagram in here")
    open_dashboard(page, stack)
    job = upload_and_start(page, empty)
    row = row_of(page, job["job_id"])
    expect(row).to_have_class("igbridge-job--error", timeout=SLOW)
    final = sidecar(stack, "GET", f"/api/jobs/{job['job_id']}").json()
    assert final["status"] == "error", final
    assert final["error"], final
    expect(row.locator(".igb-progress__status")).to_have_text(final["error"])
    expect(row.get_by_text(final["error"], exact=True)).to_have_count(1)  # said once
    expect(row.locator(".igb-progress")).to_have_attribute("data-state", "error")
    # The one notice: this job's error, replacing "Uploading…" and "Job started".
    notices = page.locator("#igbridge-notices .notice")
    expect(notices).to_have_count(1)
    expect(notices).to_have_class("notice notice-error")
    expect(notices).to_have_text(final["error"])
    shot(page, screenshots, "dashboard-error")


# Bodies that pass each route's argument validation: core checks arguments before the
# permission callback, so only a valid request shows the capability check refusing.
SOURCE_ID = "(?P<id>[a-f0-9]{32})"
ROUTE_CALLS: dict[tuple[str, str], object] = {
    ("GET", "/igbridge/v1/jobs"): None,
    ("POST", "/igbridge/v1/jobs"): {"kind": "import",
                                    "source": {"type": "apify", "username": "natgeo"}},
    ("GET", "/igbridge/v1/jobs/(?P<id>[\\w-]+)"): None,
    ("GET", "/igbridge/v1/jobs/(?P<id>[\\w-]+)/items"): None,
    ("POST", "/igbridge/v1/jobs/(?P<id>[\\w-]+)/cancel"): None,
    ("POST", "/igbridge/v1/jobs/(?P<id>[\\w-]+)/retry"): None,
    ("POST", "/igbridge/v1/commands"): {"text": "bulk import @natgeo"},
    ("POST", "/igbridge/v1/stream-token"): None,
    ("GET", "/igbridge/v1/test-connection"): None,
    ("GET", "/igbridge/v1/uploads"): None,
    ("POST", "/igbridge/v1/uploads"): {"name": "export.zip", "size": 100},
    ("GET", "/igbridge/v1/uploads/(?P<id>[\\w-]+)"): None,
    ("POST", "/igbridge/v1/uploads/(?P<id>[\\w-]+)"): None,
    ("DELETE", "/igbridge/v1/uploads/(?P<id>[\\w-]+)"): None,
    ("GET", "/igbridge/v1/sources"): None,
    ("POST", "/igbridge/v1/sources"): {"type": "apify", "username": "natgeo"},
    ("GET", f"/igbridge/v1/sources/{SOURCE_ID}"): None,
    ("PATCH", f"/igbridge/v1/sources/{SOURCE_ID}"): {"paused": True},
    ("DELETE", f"/igbridge/v1/sources/{SOURCE_ID}"): None,
    ("POST", f"/igbridge/v1/sources/{SOURCE_ID}/sync"): None,
    ("POST", f"/igbridge/v1/sources/{SOURCE_ID}/preview"): None,
    ("POST", f"/igbridge/v1/sources/{SOURCE_ID}/repair"): None,
    ("POST", "/igbridge/v1/sources/preview-mapping"): {"mapping": {}},
    # A string is a query: a GET's arguments are checked before its permission too.
    ("GET", "/igbridge/v1/deleted"): "?source_ids[]=ig_1",
    ("POST", "/igbridge/v1/deleted/restore"): {"source_ids": ["ig_1"]},
    ("GET", "/igbridge/v1/media/(?P<id>\\d+)/users"): None,
}


def test_a_subscriber_is_refused_everywhere(browser: Browser, wordpress: Stack) -> None:
    stack = wordpress
    login, password = f"sub{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    user = stack.create_user(login, role="subscriber")
    stack.wp_php(f"wp_set_password({json.dumps(password)}, {int(user['id'])});")
    context, page, traffic = new_context(browser, stack, login, password)
    try:
        expect(page.locator("#adminmenu")).to_be_visible()
        expect(page.locator("#adminmenu")).not_to_contain_text("Instagram Import")
        answer = page.goto(f"{stack.wp_url}/wp-admin/admin.php?page=igbridge")
        assert answer is not None
        assert answer.status == 403
        expect(page.locator("body")).to_contain_text("not allowed")
        index = httpx.get(f"{stack.wp_url}/wp-json/igbridge/v1", timeout=30).json()
        offered = {(method, route) for route, spec in index["routes"].items()
                   if route != "/igbridge/v1" for method in spec["methods"]}
        assert offered == set(ROUTE_CALLS), "a new route: add it to ROUTE_CALLS"
        page.goto(f"{stack.wp_url}/wp-admin/profile.php")
        answers = page.evaluate("""async ([base, calls]) => {
          const nonce = await (await fetch('/wp-admin/admin-ajax.php?action=rest-nonce')).text();
          const out = [];
          for (const [method, route, body] of calls) {
            const path = route.replace('(?P<id>[\\\\w-]+)', 'abc-123')
              .replace('(?P<id>[a-f0-9]{32})', '0'.repeat(32))
              .replace('(?P<id>\\\\d+)', '1');
            const query = typeof body === 'string' ? body : '';
            const response = await fetch(base + path + query, {
              method, credentials: 'same-origin',
              headers: { 'X-WP-Nonce': nonce, 'Content-Type': 'application/json' },
              body: body === null || query ? undefined : JSON.stringify(body) });
            out.push([method, route, response.status, (await response.json()).code]);
          }
          return out;
        }""", [f"{stack.wp_url}/wp-json", [[m, r, b] for (m, r), b in ROUTE_CALLS.items()]])
        assert answers == [[m, r, 403, "rest_forbidden"] for m, r in ROUTE_CALLS]
        assert traffic.page_errors == []
        assert_secret_not_received(page, traffic, stack.sidecar_secret)
    finally:
        context.close()
