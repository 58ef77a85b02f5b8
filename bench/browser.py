"""Scenario: the dashboard in a real Chromium against a fresh local stack.

Measures issue 5's figures where a person sees them:

- catch-up after a sidecar crash: from the restarted sidecar answering ``/healthz``
  to the page holding the session's latest event (several kills, median and max);
- EventSource connections one tab opens to watch five running jobs (and still after
  more jobs started elsewhere);
- JS + CSS bytes the dashboard actually loads from the plugin (uncompressed), and
  requests to any host but the stack's own;
- issue 11: from a job started through the sidecar's API (as the CLI does) to the open
  page showing its row (the page's own clock, Date.now(), against the bench's
  time.time(): one machine, one clock); requests the page makes per minute while
  idle; with 500 jobs in history, the dashboard's load time (navigation to its first
  page of jobs shown) and the size of its first jobs answer.

Jobs stay "running" by downloading from a local server that holds one image until
released, so nothing depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from dev.stack import Stack, start_stack

from .scenario import Figure, Scenario, ScenarioResult, Settings

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
CATCH_UP_TARGET_S = 3.0
PAGE_BUDGET_BYTES = 40 * 1024  # tests/e2e/test_plugin_assets.py says why it grew
WATCHED_JOBS = 5
WAIT_S = 60.0
APPEAR_TARGET_S = 1.0
HISTORY_JOBS = 500
HISTORY_LOAD_TARGET_S = 1.0
FIRST_ANSWER_TARGET_BYTES = 50 * 1024
# Core's own third-party requests (gravatar avatars, s.w.org emoji) are not the
# plugin's; the e2e tests switch them off the same way.
QUIET_CORE = """<?php
add_filter('option_show_avatars', '__return_false');
add_action('admin_init', function () {
    remove_action('admin_print_scripts', 'print_emoji_detection_script');
});
"""
# Every frame each EventSource of the page receives, and every EventSource it opens.
RECORDER = """
(() => {
  const Native = window.EventSource;
  window.igbBench = { streams: 0, open: 0, maxId: {}, rowSeen: {} };
  // When each job's row first appears (Date.now(): the bench compares with time.time()).
  document.addEventListener('DOMContentLoaded', () => {
    const body = document.getElementById('igbridge-jobs-body');
    if (!body) return;
    new MutationObserver(() => {
      for (const code of body.querySelectorAll('tr td code')) {
        window.igbBench.rowSeen[code.textContent] ??= Date.now();
      }
    }).observe(body, { childList: true, subtree: true });
  });
  window.EventSource = class extends Native {
    constructor(url, init) {
      super(url, init);
      window.igbBench.streams++;
      window.igbBench.open++;
      this.addEventListener('message', (e) => {
        const data = JSON.parse(e.data);
        const id = Number(data.type === 'snapshot' ? data.last_event_id : e.lastEventId) || 0;
        const seen = window.igbBench.maxId;
        const session = data.session_id ?? data.job?.session_id;  // job frames: their job's
        seen[session] = Math.max(seen[session] || 0, id);
      });
      const close = this.close.bind(this);
      this.close = () => { if (this.readyState !== 2) window.igbBench.open--; close(); };
    }
  };
})();
"""


# ---------------------------------------------------------------- a server that holds


@dataclass
class HeldImages:
    """Serves a tiny PNG at any path; paths containing ``hold`` wait for ``release``."""

    release: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    PNG = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000105fe02fea70000000049454e44ae426082")

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> HeldImages:
        held = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if "hold" in self.path:
                    held.release.wait(300)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.send_header("Content-Length", str(len(held.PNG)))
                    self.end_headers()
                    self.wfile.write(held.PNG)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # its sidecar was killed while the image was held

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------- the measurements


@dataclass
class Measured:
    catch_up_s: list[float] = field(default_factory=list)
    streams_opened: int = 0
    streams_open: int = 0
    plugin_bytes: dict[str, int] = field(default_factory=dict)
    core_bytes: int = 0
    third_party: list[str] = field(default_factory=list)
    appear_s: list[float] = field(default_factory=list)
    streams_after_more_jobs: int = 0
    idle_requests: list[str] = field(default_factory=list)
    idle_seconds: float = 0.0
    history_jobs: int = 0
    history_load_s: list[float] = field(default_factory=list)
    history_split: list[str] = field(default_factory=list)
    first_answer_bytes: int = 0


def wait_for(what: str, check: Callable[[], bool], timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"browser bench: timed out waiting for {what}")
        time.sleep(0.01)


def start_held_job(stack: Stack, images: HeldImages, name: str) -> dict[str, Any]:
    urls = [f"{images.url}/{name}-a.png", f"{images.url}/{name}-hold.png",
            f"{images.url}/{name}-c.png"]
    reply = httpx.post(f"{stack.sidecar_url}/api/jobs", timeout=30,
                       headers={"Authorization": f"Bearer {stack.sidecar_secret}"},
                       json={"kind": "cache_images", "source": {"type": "urls", "urls": urls},
                             "options": {"concurrency": 1}})
    reply.raise_for_status()
    job: dict[str, Any] = reply.json()
    return job


def start_quick_job(stack: Stack, images: HeldImages, name: str) -> dict[str, Any]:
    reply = httpx.post(f"{stack.sidecar_url}/api/jobs", timeout=30,
                       headers={"Authorization": f"Bearer {stack.sidecar_secret}"},
                       json={"kind": "cache_images",
                             "source": {"type": "urls", "urls": [f"{images.url}/{name}.png"]}})
    reply.raise_for_status()
    job: dict[str, Any] = reply.json()
    return job


def jobs_still_to_run(stack: Stack) -> bool:
    for status in ("queued", "running"):
        reply = httpx.get(f"{stack.sidecar_url}/api/jobs", params={"status": status, "limit": 1},
                          headers={"Authorization": f"Bearer {stack.sidecar_secret}"},
                          timeout=30)
        reply.raise_for_status()
        if reply.json()["jobs"]:
            return True
    return False


def snapshot(stack: Stack, session_id: str) -> dict[str, Any]:
    reply = httpx.get(f"{stack.sidecar_url}/api/progress/status/{session_id}", timeout=10,
                      headers={"Authorization": f"Bearer {stack.sidecar_secret}"})
    reply.raise_for_status()
    found: dict[str, Any] = reply.json()
    return found


def last_event_id(stack: Stack, session_id: str) -> int:
    return int(snapshot(stack, session_id)["last_event_id"] or 0)


def has_events_after(stack: Stack, session_id: str, event_id: int) -> bool:
    return last_event_id(stack, session_id) > event_id


def status_of(stack: Stack, session_id: str) -> str:
    return str(snapshot(stack, session_id)["status"])


@contextmanager
def fresh_stack() -> Iterator[Stack]:
    root = Path(tempfile.mkdtemp(prefix="igbridge-bench-browser-"))
    try:
        stack = start_stack(root)
        try:
            mu_plugins = stack.wp_dir / "wp-content" / "mu-plugins"
            mu_plugins.mkdir(exist_ok=True)
            (mu_plugins / "igbridge-bench-offline.php").write_text(QUIET_CORE)
            yield stack
        finally:
            stack.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def measure(settings: Settings) -> Measured:
    from playwright.sync_api import Request, Route, sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise RuntimeError("browser bench: chromium is not installed (apt-get install chromium)")
    restarts = int(settings.pick(quick=3, default=7))
    appearances = int(settings.pick(quick=3, default=10))
    idle_s = settings.pick(quick=15, default=60)
    loads = int(settings.pick(quick=3, default=5))
    measured = Measured()
    with fresh_stack() as stack, HeldImages() as images, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        context = browser.new_context()
        origins = (stack.wp_url, stack.sidecar_url, images.url)

        def only_local(route: Route) -> None:
            if route.request.url.startswith(origins):
                route.continue_()
            else:  # counted, never sent
                measured.third_party.append(route.request.url)
                route.abort()

        context.route("**/*", only_local)
        context.add_init_script(RECORDER)
        page = context.new_page()
        page.goto(f"{stack.wp_url}/wp-login.php")
        page.fill("#user_login", stack.wp_admin_user)
        page.fill("#user_pass", stack.wp_admin_password)
        page.click("#wp-submit")
        page.wait_for_url("**/wp-admin/**")
        measured.third_party.clear()  # only the dashboard counts

        jobs = [start_held_job(stack, images, f"job{n}") for n in range(WATCHED_JOBS)]
        loaded: list[Request] = []
        page.on("requestfinished", lambda request: loaded.append(request))
        page.goto(f"{stack.wp_url}/wp-admin/admin.php?page=igbridge")
        page.wait_for_load_state("load")
        for request in loaded:
            if request.resource_type not in {"script", "stylesheet"}:
                continue
            response = request.response()
            size = len(response.body()) if response is not None else 0
            if "/plugins/igbridge/" in request.url:
                name = request.url.split("/plugins/igbridge/")[1].split("?")[0]
                measured.plugin_bytes[name] = size
            else:
                measured.core_bytes += size

        sessions = [job["session_id"] for job in jobs]

        def page_has_seen(session_id: str, event_id: int) -> bool:
            seen = page.evaluate("(id) => window.igbBench.maxId[id] || 0", session_id)
            return bool(seen >= event_id)

        def connection_status() -> str:
            status = page.evaluate(
                "document.querySelector('.igbridge-connection')?.dataset.status ?? ''")
            return str(status)

        wait_for("the dashboard to go live", lambda: connection_status() == "live")

        def page_holds_all() -> bool:
            return all(page_has_seen(s, last_event_id(stack, s)) for s in sessions)

        wait_for("the page to hold every job's latest event", page_holds_all)
        measured.streams_opened = int(page.evaluate("window.igbBench.streams"))
        measured.streams_open = int(page.evaluate("window.igbBench.open"))

        watched = sessions[0]
        for _ in range(restarts):
            before = last_event_id(stack, watched)
            stack.stop_sidecar(kill=True)
            wait_for("the page to notice", lambda: connection_status() != "live")
            stack.start_sidecar()  # returns as soon as /healthz answered
            answered = time.monotonic()
            # The resumed job writes new events after the last one seen before the kill.
            wait_for("the resumed job's first event",
                     functools.partial(has_events_after, stack, watched, before))

            def caught_up() -> bool:
                # The job settles on its held image; the page must hold whatever is latest.
                return page_has_seen(watched, last_event_id(stack, watched))

            wait_for("the page to catch up", caught_up)
            measured.catch_up_s.append(time.monotonic() - answered)
        images.release.set()

        def all_finished() -> bool:
            return all(status_of(stack, s) in ("complete", "error", "cancelled")
                       for s in sessions)

        wait_for("every job to finish", all_finished)

        # A job started elsewhere: how soon the open page shows it (no polling, no reload).
        for n in range(appearances):
            started = time.time()
            job = start_quick_job(stack, images, f"appear{n}")
            short = job["job_id"][:8]

            def shown(short: str = short) -> bool:
                return bool(page.evaluate("(id) => id in window.igbBench.rowSeen", short))

            wait_for("the new job's row", shown)
            seen_ms = page.evaluate("(id) => window.igbBench.rowSeen[id]", short)
            measured.appear_s.append(max(0.0, seen_ms / 1000 - started))
        measured.streams_after_more_jobs = int(page.evaluate("window.igbBench.streams"))
        wait_for("the quick jobs to finish", lambda: not jobs_still_to_run(stack))

        # Idle: nothing runs; count every request the page makes.
        idle: list[str] = []

        def count(request: Request) -> None:
            idle.append(f"{request.method} {request.url}")

        page.on("request", count)
        idle_started = time.monotonic()
        page.wait_for_timeout(idle_s * 1000)  # not time.sleep: Playwright delivers events meanwhile
        measured.idle_seconds = time.monotonic() - idle_started
        page.remove_listener("request", count)
        measured.idle_requests = list(idle)

        # 500 jobs in history: the first page of jobs is all the dashboard asks for.
        existing = WATCHED_JOBS + appearances
        for n in range(HISTORY_JOBS - existing):
            start_quick_job(stack, images, f"history{n}")
        wait_for("the history jobs to finish", lambda: not jobs_still_to_run(stack),
                 timeout=WAIT_S * 10)
        measured.history_jobs = HISTORY_JOBS
        for _ in range(loads):
            opened = time.monotonic()
            with page.expect_response(lambda r: "/igbridge/v1/jobs" in r.url
                                      and r.request.method == "GET") as first_answer:
                page.goto(f"{stack.wp_url}/wp-admin/admin.php?page=igbridge",
                          wait_until="commit")
                page.wait_for_function(
                    "document.querySelectorAll('#igbridge-jobs-body tr td code').length >= 20",
                    timeout=WAIT_S * 1000)
            measured.history_load_s.append(time.monotonic() - opened)
            measured.first_answer_bytes = len(first_answer.value.body())
            # Where the time went, by the page's own clock (ms from navigation start).
            split = page.evaluate("""() => {
              const nav = performance.getEntriesByType('navigation')[0];
              const jobs = performance.getEntriesByType('resource')
                .find((r) => r.name.includes('/igbridge/v1/jobs'));
              return `page ${Math.round(nav.responseEnd)} ms, DOM ready `
                + `${Math.round(nav.domContentLoadedEventEnd)} ms, jobs answer `
                + `${Math.round(jobs.startTime)}–${Math.round(jobs.responseEnd)} ms`;
            }""")
            measured.history_split.append(str(split))
        browser.close()
    return measured


async def run(settings: Settings) -> ScenarioResult:
    measured = await asyncio.to_thread(measure, settings)
    result = ScenarioResult()
    times = measured.catch_up_s
    loads_note = f"{len(measured.history_load_s)} loads"
    result.figures += [
        Figure.at_most("catch-up after sidecar restart, median",
                       statistics.median(times), "s", CATCH_UP_TARGET_S,
                       note=f"{len(times)} kill -9 + restart"),
        Figure.at_most("catch-up after sidecar restart, max", max(times), "s",
                       CATCH_UP_TARGET_S),
        Figure.at_most(f"EventSource connections, 1 tab × {WATCHED_JOBS} jobs",
                       measured.streams_opened, "", 1,
                       note=f"{measured.streams_open} open while watching"),
        Figure.at_most("dashboard JS + CSS from the plugin", sum(measured.plugin_bytes.values()),
                       "B", PAGE_BUDGET_BYTES, note="uncompressed, as loaded"),
        Figure.info("wp-admin core JS + CSS on the same page", measured.core_bytes, "B"),
        Figure.equals("third-party requests from the dashboard", len(measured.third_party),
                      "", 0),
        Figure.at_most("job started via the sidecar API → shown on the open page, median",
                       statistics.median(measured.appear_s), "s", APPEAR_TARGET_S,
                       note=f"{len(measured.appear_s)} jobs, no reload"),
        Figure.at_most("job started via the sidecar API → shown on the open page, max",
                       max(measured.appear_s), "s", APPEAR_TARGET_S),
        Figure.at_most("EventSource connections after those jobs", measured.streams_after_more_jobs,
                       "", 1, note="opened by the tab since it loaded"),
        Figure.equals("requests per minute while idle",
                      round(len(measured.idle_requests) * 60 / measured.idle_seconds, 1), "", 0,
                      note=f"{len(measured.idle_requests)} in {measured.idle_seconds:.0f} s"),
        Figure.at_most(f"dashboard with {measured.history_jobs} jobs: load time, median",
                       statistics.median(measured.history_load_s), "s", HISTORY_LOAD_TARGET_S,
                       note=f"navigation to the first page of jobs shown, {loads_note}"),
        Figure.at_most(f"dashboard with {measured.history_jobs} jobs: load time, max",
                       max(measured.history_load_s), "s", HISTORY_LOAD_TARGET_S),
        Figure.at_most(f"dashboard with {measured.history_jobs} jobs: first jobs answer",
                       measured.first_answer_bytes, "B", FIRST_ANSWER_TARGET_BYTES,
                       note="uncompressed JSON"),
    ]
    result.notes.append("catch-up runs (s): " + ", ".join(f"{t:.2f}" for t in times))
    result.notes.append("plugin files loaded: " + json.dumps(measured.plugin_bytes))
    result.notes.append("500-jobs loads (s): " + ", ".join(
        f"{t:.2f} ({split})" for t, split in zip(measured.history_load_s,
                                                 measured.history_split, strict=True)))
    result.notes.append("job shown after (s): " + ", ".join(f"{t:.3f}" for t in measured.appear_s))
    if measured.idle_requests:
        result.notes.append("idle requests: " + ", ".join(measured.idle_requests[:10]))
    if measured.third_party:
        result.notes.append("third-party: " + ", ".join(sorted(set(measured.third_party))))
    return result


SCENARIO = Scenario("browser", "The dashboard in Chromium: catch-up, connections, weight", run)
