"""Fixtures for the e2e tests. Shared folder: each test family adds fixtures under its own
prefix (``import_*`` for the import pipeline) and never overrides another's.

The import tests run the real sidecar against the session's real WordPress and the
real apify-client against a session-wide fake Apify. The stack's sidecar is
(re)started once with the fake's URL and token and short backoffs; the fault tests
start sidecars of their own behind a fault-injecting proxy (``import_kit``).
"""

from __future__ import annotations

import json
import re
import secrets
import struct
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from dev.stack import Stack
from tests.fakes import media_files
from tests.fakes.apify_server import FakeApify, MediaFile
from tests.support.sse import iter_frames

TERMINAL = ("complete", "error", "cancelled")


@pytest.fixture(scope="session")
def import_apify() -> Iterator[FakeApify]:
    with FakeApify() as fake:
        yield fake


@pytest.fixture(scope="session")
def import_sidecar_env(import_apify: FakeApify) -> dict[str, str]:
    """What every import-test sidecar needs on top of the stack's values."""
    return {
        "APIFY_TOKEN": import_apify.token,
        "IGBRIDGE_APIFY_API_URL": import_apify.url,
        "IGBRIDGE_APIFY_POLL_SECONDS": "0.02",
        "IGBRIDGE_BACKOFF_SECONDS": "0.05",
    }


@pytest.fixture(scope="session")
def import_stack(stack: Stack, import_sidecar_env: dict[str, str]) -> Stack:
    """The session stack, its sidecar running with the fake Apify (restarted when the
    stack was started without it: the stack is shared with other test families)."""
    if any(stack.sidecar_env.get(k) != v for k, v in import_sidecar_env.items()):
        running = stack.processes.get("sidecar")
        stack.stop_sidecar()
        if running is not None and running.popen is not None:
            running.popen.wait(10)  # reap it: stop() may return before it was collected
        stack.sidecar_env.update(import_sidecar_env)
        stack.start_sidecar()
    # ManagedProcess.stop() can return once the group is gone but before the leader was
    # reaped; the Popen's __del__ then warns "still running" during the session's last
    # teardown, which warnings-as-errors turns into an ERROR. Keeping the Popen objects
    # alive until the interpreter exits keeps that race out of the results.
    _stack_popens.extend(p.popen for p in stack.processes.values() if p.popen is not None)
    return stack


_stack_popens: list[Any] = []


# -- talking to the sidecar and to WordPress ---------------------------------------------


@dataclass
class SidecarApi:
    """The HTTP calls a test makes on one sidecar."""

    url: str
    secret: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}

    def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return httpx.post(self.url + path, json=body, headers=self.headers, timeout=30)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(self.url + path, params=params, headers=self.headers, timeout=30)

    def start_job(self, source: dict[str, Any], *, kind: str = "import",
                  options: dict[str, Any] | None = None) -> str:
        reply = self.post("/api/jobs", {"kind": kind, "source": source,
                                        "options": options or {}})
        assert reply.status_code == 202, reply.text
        return str(reply.json()["job_id"])

    def job(self, job_id: str) -> dict[str, Any]:
        reply = self.get(f"/api/jobs/{job_id}")
        assert reply.status_code == 200, reply.text
        body: dict[str, Any] = reply.json()
        return body

    def follow(self, job_id: str, timeout: float = 120) -> list[dict[str, Any]]:
        """Every event of the job's session until its terminal one (the stream ends there)."""
        events = []
        with httpx.stream("GET", f"{self.url}/api/progress/stream/{job_id}",
                          params={"last_event_id": 0}, headers=self.headers,
                          timeout=httpx.Timeout(timeout, connect=5)) as response:
            assert response.status_code == 200, response.read()
            for frame in iter_frames(response):
                if frame.data and frame.data["type"] != "snapshot":
                    events.append(frame.data)
        assert events, "the stream ended without any event"
        assert events[-1]["type"] in TERMINAL, events[-3:]
        return events

    def finish(self, job_id: str, timeout: float = 120) -> dict[str, Any]:
        """Wait for the job's terminal event; returns the job with its items."""
        self.follow(job_id, timeout)
        job = self.job(job_id)
        assert job["status"] in TERMINAL, job
        return job


@dataclass
class WordPressApi:
    """Reads of the real WordPress with the application password, ``context=edit``."""

    url: str
    auth: tuple[str, str]

    def get(self, path: str, **params: Any) -> Any:
        reply = httpx.get(f"{self.url}/wp-json{path}", params={"context": "edit", **params},
                          auth=self.auth, timeout=30)
        assert reply.status_code == 200, reply.text[:500]
        return reply.json()

    def posts_of(self, source_id: str) -> list[dict[str, Any]]:
        """Every post (any status) carrying this Instagram source id."""
        found = self.get("/wp/v2/posts", igbridge_source_id=source_id, status="any",
                         per_page=100)
        return [p for p in found if p["meta"]["_igbridge_source_id"] == source_id]

    def post_of(self, source_id: str) -> dict[str, Any]:
        posts = self.posts_of(source_id)
        assert len(posts) == 1, f"{len(posts)} posts for {source_id}"
        return posts[0]

    def attachments_of(self, post_id: int) -> list[dict[str, Any]]:
        media: list[dict[str, Any]] = self.get("/wp/v2/media", parent=post_id, per_page=100,
                                               orderby="id", order="asc")
        return media

    def media(self, media_id: int) -> dict[str, Any]:
        found: dict[str, Any] = self.get(f"/wp/v2/media/{media_id}")
        return found

    def tag_names(self, tag_ids: list[int]) -> list[str]:
        if not tag_ids:
            return []
        tags = self.get("/wp/v2/tags", include=",".join(map(str, tag_ids)), per_page=100)
        by_id = {t["id"]: t["name"] for t in tags}
        return [by_id[t] for t in tag_ids]


@pytest.fixture(scope="session")
def import_api(import_stack: Stack) -> SidecarApi:
    return SidecarApi(import_stack.sidecar_url, import_stack.sidecar_secret)


@pytest.fixture(scope="session")
def import_wp(import_stack: Stack) -> WordPressApi:
    return WordPressApi(import_stack.wp_url,
                        (import_stack.wp_app_user, import_stack.wp_app_password))


def import_wait_until(predicate: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Poll a condition with a deadline (never a fixed sleep as synchronisation)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture(scope="session")
def import_waiter() -> Callable[..., None]:
    return import_wait_until


# -- items of their own for each test ------------------------------------------------------

_id_offsets = iter(range(10_000_000, 10_000_000_000, 10_000_000))


def fresh_items(fake: FakeApify, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items with ids and media bytes no other test in this session uses.

    Every ``ItemFactory`` counts ids from the same start, and WordPress is shared by
    the session: without new ids a second test's posts would already be "in
    WordPress". The factory also serves the same picture for every image, which the
    importer (rightly) uploads once; checking each post's own attachments and alt
    text needs pictures of their own. A duplicated item keeps its twin's id.
    """
    offset = next(_id_offsets)
    for item in items:
        for node in [item, *(item.get("childPosts") or [])]:
            if str(node.get("id", "")).isdigit():
                node["id"] = str(int(node["id"]) + offset)
    for url in sorted({u for item in items for u in _media_urls(item)}):
        name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        content_type = fake.media[name].content_type
        fake.media[name] = MediaFile(unique_media(content_type), content_type)
    return items


def unique_media(content_type: str) -> bytes:
    """Small media whose bytes no other call in this session returns.

    The importer uploads equal bytes once per site (by sha256) and WordPress lives for
    the whole session, so a test that checks a post's own attachments needs bytes that
    no other test used.
    """
    n = secrets.randbelow(1 << 24)  # random, not a counter: test modules may import a copy
    corners = [(n * 37 % 256, n * 91 % 256, n * 13 % 256), (255, 255 - n % 200, 0),
               (0, n % 250, 255), (n % 256, 128, 64)]
    marker = f"igbridge-test-{uuid.uuid4().hex}".encode()
    if content_type == "video/mp4":  # an extra box: still an MP4 to every reader
        return media_files.mp4(1024) + struct.pack(">I", 8 + len(marker)) + b"skip" + marker
    if content_type == "image/jpeg":  # bytes after the end-of-image marker are ignored
        return media_files.jpeg(48, 48, corners) + marker
    maker = {"image/webp": media_files.webp, "image/png": media_files.png}[content_type]
    return maker(48, 48, corners)


def _media_urls(item: dict[str, Any]) -> list[str]:
    urls = [item.get("displayUrl"), item.get("videoUrl"), *(item.get("images") or [])]
    for child in item.get("childPosts") or []:
        urls += [child.get("displayUrl"), child.get("videoUrl")]
    return [u for u in urls if isinstance(u, str) and "/cdn/" in u]


@pytest.fixture(scope="session")
def import_fresh() -> Callable[[FakeApify, list[dict[str, Any]]], list[dict[str, Any]]]:
    return fresh_items


# -- a fault-injecting proxy in front of WordPress ---------------------------------------

_PUBLISH_PATH = re.compile(r"^/wp-json/wp/v2/posts/\d+$")
_BATCH_PATH = "/wp-json/batch/v1"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
               "proxy-authorization", "proxy-authenticate", "host", "content-length"}


@dataclass
class FaultProxy:
    """Forwards to WordPress until a trigger, then answers 502 (``down``) or holds requests
    (``hold``) until told otherwise. Triggers count publishes (``POST /wp/v2/posts/{id}``
    with ``status: publish``, alone or inside a ``/batch/v1`` request), which the
    importer sends last for each post."""

    target: str
    mode: str = "pass"  # pass | down | hold
    after_publishes: int | None = None  # switch to ``then`` once this many went through
    then: str = "down"
    hold_only_publish: bool = False
    publishes: int = 0
    held: int = 0
    answered_502: int = 0
    log: list[tuple[str, str, int]] = field(default_factory=list)
    _release: threading.Event = field(default_factory=threading.Event)
    _forward_held: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _client: httpx.Client | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        self._client = httpx.Client(timeout=60)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _proxy_handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        self.drop_held()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._client is not None:
            self._client.close()

    def heal(self) -> None:
        """WordPress is back: forward everything, held requests included."""
        with self._lock:
            self.mode, self.after_publishes = "pass", None
        self._release.set()

    def drop_held(self) -> None:
        """Held requests are answered 502 without reaching WordPress (their client died)."""
        with self._lock:
            self._forward_held = False
            self.mode, self.after_publishes = "pass", None
        self._release.set()

    # called from server threads
    def decide(self, method: str, path: str, body: bytes) -> str:
        with self._lock:
            if self.after_publishes is not None and self.publishes >= self.after_publishes:
                self.mode, self.after_publishes = self.then, None
            publish = method == "POST" and _publishes_in(path, body) > 0
            if self.mode == "hold" and self.hold_only_publish and not publish:
                return "pass"
            if self.mode == "hold":
                self.held += 1
            return self.mode

    def forward(self, method: str, path: str, headers: dict[str, str],
                body: bytes) -> httpx.Response:
        assert self._client is not None
        response = self._client.request(method, self.target + path, headers=headers,
                                        content=body)
        if method == "POST" and response.status_code in (200, 207):
            with self._lock:
                self.publishes += _publishes_in(path, body)
        return response


def _publishes_in(path: str, body: bytes) -> int:
    """How many posts a request publishes: one plain update, or each in a batch."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return 0
    if not isinstance(data, dict):
        return 0
    path = path.split("?")[0]
    if _PUBLISH_PATH.match(path):
        return int(data.get("status") == "publish")
    if path == _BATCH_PATH:
        return sum(1 for r in data.get("requests") or []
                   if _PUBLISH_PATH.match("/wp-json" + str(r.get("path", "")).split("?")[0])
                   and (r.get("body") or {}).get("status") == "publish")
    return 0


def _proxy_handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = self.path
            decision = proxy.decide(self.command, path.split("?")[0], body)
            if decision == "hold":
                proxy._release.wait(120)
                decision = "pass" if proxy._forward_held else "down"
            if decision == "down":
                proxy.log.append((self.command, path, 502))
                with proxy._lock:
                    proxy.answered_502 += 1
                self._reply(502, {"Content-Type": "text/html"},
                            b"<html><body>502 Bad Gateway</body></html>")
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            response = proxy.forward(self.command, path, headers, body)
            proxy.log.append((self.command, path, response.status_code))
            passed = {k: v for k, v in response.headers.items()
                      if k.lower() not in _HOP_BY_HOP | {"content-encoding"}}
            self._reply(response.status_code, passed, response.content)

        def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST = do_PUT = do_DELETE = _handle

    return Handler


@pytest.fixture
def import_proxy(stack: Stack) -> Iterator[FaultProxy]:
    proxy = FaultProxy(stack.wp_url).start()
    try:
        yield proxy
    finally:
        proxy.stop()


# -- Instagram export ZIPs -------------------------------------------------------------------


def write_export(path: Path, members: dict[str, Any]) -> Path:
    """A ZIP of JSON documents (non-bytes values) and media files (bytes values)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, value in members.items():
            data = value if isinstance(value, bytes) else json.dumps(value).encode()
            archive.writestr(name, data)
    return path


def export_photos(path: Path, captions: list[str], *, start: int) -> Path:
    """A 2024-layout export of single-photo posts, one picture of its own each."""
    posts, members = [], {}
    for n, caption in enumerate(captions):
        uri = f"media/posts/202405/{start + n}.jpg"
        posts.append({"media": [{"uri": uri, "creation_timestamp": start + n * 3600,
                                 "title": caption}]})
        members[uri] = unique_media("image/jpeg")
    return write_export(path, {"your_instagram_activity/media/posts_1.json": posts, **members})


@pytest.fixture(scope="session")
def import_unique_media() -> Callable[[str], bytes]:
    return unique_media


@pytest.fixture(scope="session")
def import_export_photos() -> Callable[..., Path]:
    return export_photos


@pytest.fixture(scope="session")
def import_write_export() -> Callable[[Path, dict[str, Any]], Path]:
    return write_export
