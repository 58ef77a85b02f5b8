"""A fake Apify API that the real, unmodified apify-client v3 works against.

It is a real HTTP server (stdlib ``ThreadingHTTPServer`` on a free 127.0.0.1 port,
in a daemon thread) speaking the parts of the protocol igbridge uses, with the
strict response shapes the client validates (see APIFY.md): actor runs, run
polling with ``waitForFinish``, abort, dataset info and paginated items, error
envelopes, gzip request bodies, injectable 429/5xx, and the CDN that serves the
media files the dataset items point at.

Runs advance one step per ``GET /v2/actor-runs/{id}`` by default, so tests are
deterministic regardless of machine speed; ``step_seconds`` switches a profile to
wall-clock steps for demos and benchmarks.

    with FakeApify() as fake:
        fake.add_profile("alice", [items.image_post(fake, "alice")])
        config = Config(..., apify_api_url=fake.url, apify_token=fake.token)
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

DEFAULT_TOKEN = "fake-apify-token"
DEFAULT_ACTOR = "apify/instagram-scraper"
MAX_WAIT_SECONDS = 60.0  # the real API caps one waitForFinish at 60 s
NO_LIMIT = 999_999_999_999
PRIVATE_DESCRIPTION = "Empty or private data for provided input"
DEFAULT_MESSAGES = (
    "Starting the crawler.",
    "Crawled 1/3 pages, 0 failed requests.",
    "Crawled 3/3 pages, 0 failed requests.",
)
DEFAULT_FINAL_MESSAGE = "Finished! Total 3 requests: 3 succeeded, 0 failed."
# apify/instagram-scraper's published price: $2.30 per 1,000 results, pay per result.
DEFAULT_PRICE_PER_RESULT_USD = 0.0023
PRICING_SINCE = "2024-06-01T00:00:00.000Z"


def price_per_result(price_usd: float, *, started_at: str = PRICING_SINCE) -> dict[str, Any]:
    """A pay-per-result pricing record as the actor's ``pricingInfos`` holds it."""
    return {"pricingModel": "PRICE_PER_DATASET_ITEM", "unitName": "result",
            "pricePerUnitUsd": price_usd, "apifyMarginPercentage": 0.2,
            "createdAt": started_at, "startedAt": started_at}


def pay_per_event(events: dict[str, float], primary: str, *,
                  started_at: str = PRICING_SINCE) -> dict[str, Any]:
    """A pay-per-event record: each event's flat price; ``primary`` is charged per result."""
    return {"pricingModel": "PAY_PER_EVENT", "apifyMarginPercentage": 0.2,
            "createdAt": started_at, "startedAt": started_at,
            "pricingPerEvent": {"actorChargeEvents": {
                name: {"eventTitle": name, "eventDescription": f"charged per {name}",
                       "eventPriceUsd": price, "isPrimaryEvent": name == primary}
                for name, price in events.items()}}}


def _iso(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _item_time(item: dict[str, Any]) -> datetime | None:
    value = item.get("timestamp")
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def newer_than(items: list[dict[str, Any]], run_input: Any) -> list[dict[str, Any]]:
    """The items a run's ``onlyPostsNewerThan`` (a date or an ISO date-time) lets through,
    as the real scraper does: posts at or before it are left out, pinned ones too, and
    a filter that leaves nothing yields the ``no_items`` error item a private account
    gets (APIFY.md; issue 14)."""
    since = run_input.get("onlyPostsNewerThan") if isinstance(run_input, dict) else None
    if not since:
        return items
    moment = datetime.fromisoformat(str(since).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    kept = [i for i in items if i.get("error") or ((t := _item_time(i)) and t > moment)]
    if any(not i.get("error") for i in kept):
        return kept
    url = next((str(i.get("inputUrl") or i.get("url")) for i in items), "")
    return [{"url": url, "inputUrl": url, "error": "no_items",
             "errorDescription": PRIVATE_DESCRIPTION}]


def _new_id() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(17))


@dataclass
class Profile:
    """What a run for one username produces."""

    username: str
    items: list[dict[str, Any]]
    status_messages: tuple[str, ...] = DEFAULT_MESSAGES
    final_status: str = "SUCCEEDED"
    final_message: str = DEFAULT_FINAL_MESSAGE
    step_seconds: float | None = None
    hold: bool = False  # stay RUNNING until aborted (for cancellation tests)


@dataclass
class FakeRun:
    id: str
    actor_id: str
    profile: Profile
    input: Any
    max_items: int | None
    max_total_charge_usd: float | None
    pricing: dict[str, Any] | None = None  # the actor's pricing record when it started
    memory_mbytes: int = 1024  # the start's ``memory``, or the actor's default
    dataset_id: str = field(default_factory=_new_id)
    key_value_store_id: str = field(default_factory=_new_id)
    request_queue_id: str = field(default_factory=_new_id)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_monotonic: float = field(default_factory=time.monotonic)
    polls: int = 0
    aborted_at_step: int | None = None
    finished_at: datetime | None = None
    jumped_to_end: bool = False

    def step(self) -> int:
        if self.profile.step_seconds is None:
            return self.polls
        return int((time.monotonic() - self.started_monotonic) / self.profile.step_seconds)

    @property
    def status(self) -> str:
        return self._state()[0]

    def _state(self) -> tuple[str, str]:
        step = self.step()
        messages = self.profile.status_messages or ("Running",)
        if self.aborted_at_step is not None:
            if step <= self.aborted_at_step:
                return "ABORTING", "Aborting the run"
            return "ABORTED", "The run was aborted"
        if self.profile.hold or (step < len(messages) and not self.jumped_to_end):
            return "RUNNING", messages[min(step, len(messages) - 1)]
        return self.profile.final_status, self.profile.final_message

    def visible_items(self) -> list[dict[str, Any]]:
        """Items in the dataset now: written progressively, kept when aborted."""
        items = newer_than(self.profile.items, self.input)
        if self.max_items is not None:
            items = items[: self.max_items]
        status = self.status
        if status in ("SUCCEEDED", "FAILED", "TIMED-OUT"):
            return items
        total_steps = max(len(self.profile.status_messages), 1)
        step = self.aborted_at_step if self.aborted_at_step is not None else self.step()
        return items[: len(items) * min(step, total_steps) // (total_steps + 1)]

    def to_json(self, fake: FakeApify) -> dict[str, Any]:
        status, message = self._state()
        terminal = status in ("SUCCEEDED", "FAILED", "ABORTED", "TIMED-OUT")
        if terminal and self.finished_at is None:
            self.finished_at = datetime.now(UTC)
        return {
            "id": self.id,
            "actId": fake.actor_internal_id,
            "userId": fake.user_id,
            "actorTaskId": None,
            "startedAt": _iso(self.started_at),
            "finishedAt": _iso(self.finished_at) if self.finished_at else None,
            "status": status,
            "statusMessage": message,
            "isStatusMessageTerminal": terminal,
            "meta": {"origin": "API", "userAgent": "ApifyClient/3.4.0"},
            "stats": {
                "inputBodyLen": len(json.dumps(self.input)),
                "restartCount": 0,
                "resurrectCount": 0,
                "computeUnits": 0.001 * self.polls,
            },
            "options": {
                "build": "latest",
                "timeoutSecs": 3600,
                "memoryMbytes": self.memory_mbytes,
                "diskMbytes": 2 * self.memory_mbytes,
                "maxItems": self.max_items,
                "maxTotalChargeUsd": self.max_total_charge_usd,
            },
            "buildId": fake.build_id,
            "buildNumber": "0.0.412",
            "exitCode": (0 if status == "SUCCEEDED" else 1) if terminal else None,
            "generalAccess": "FOLLOW_USER_SETTING",
            "defaultKeyValueStoreId": self.key_value_store_id,
            "defaultDatasetId": self.dataset_id,
            "defaultRequestQueueId": self.request_queue_id,
            "usageTotalUsd": round(0.0004 * max(self.polls, 1), 6),  # platform usage
            "pricingInfo": self.pricing,
            "chargedEventCounts": self.charged_event_counts(),
        }

    def charged_event_counts(self) -> dict[str, int] | None:
        """Pay per event: one start, one primary event per stored item, as far as the
        run's ``maxTotalChargeUsd`` allows (the platform stops charging there)."""
        if not self.pricing or self.pricing["pricingModel"] != "PAY_PER_EVENT":
            return None
        events = self.pricing["pricingPerEvent"]["actorChargeEvents"]
        counts: dict[str, int] = {}
        spent = 0.0
        # The platform's start event is one per GB of the run's memory, at least one.
        gigabytes = max(1, -(-self.memory_mbytes // 1024))
        wanted = [(n, gigabytes if n == "apify-actor-start" else 1)
                  for n, e in events.items() if not e.get("isPrimaryEvent")]
        wanted += [(n, len(self.visible_items())) for n, e in events.items()
                   if e.get("isPrimaryEvent")]
        for name, count in wanted:
            price = float(events[name]["eventPriceUsd"])
            for _ in range(count):
                if self.max_total_charge_usd is not None and (
                        spent + price > self.max_total_charge_usd + 1e-9):
                    break
                spent += price
                counts[name] = counts.get(name, 0) + 1
        return counts

    def charged_usd(self) -> float:
        """What the platform bills the user for this run (the test's expected charge)."""
        if not self.pricing:
            return 0.0
        if self.pricing["pricingModel"] == "PAY_PER_EVENT":
            events = self.pricing["pricingPerEvent"]["actorChargeEvents"]
            return sum(float(events[n]["eventPriceUsd"]) * c
                       for n, c in (self.charged_event_counts() or {}).items())
        charged = float(self.pricing["pricePerUnitUsd"]) * len(self.visible_items())
        cap = self.max_total_charge_usd
        return min(charged, cap) if cap is not None else charged


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


@dataclass
class MediaFile:
    data: bytes
    content_type: str
    expired: bool = False


class FakeApify:
    """The fake API server and its scenario controls; use as a context manager."""

    def __init__(self, *, token: str = DEFAULT_TOKEN, actor: str = DEFAULT_ACTOR) -> None:
        self.token = token
        self.actor = actor
        self.actor_internal_id = _new_id()
        self.user_id = _new_id()
        self.username = "igbridge-fake"
        self.build_id = _new_id()
        self.profiles: dict[str, Profile] = {}
        self.runs: dict[str, FakeRun] = {}
        self.aborted: list[str] = []
        self.requests: list[RecordedRequest] = []
        self.media: dict[str, MediaFile] = {}
        self.media_requests: list[str] = []
        self.max_wait_seconds = MAX_WAIT_SECONDS
        # The actor's pricing records, past ones included (GET /v2/acts/{id}).
        self.pricing_infos: list[dict[str, Any]] = [price_per_result(DEFAULT_PRICE_PER_RESULT_USD)]
        self.memory_mbytes = 1024  # the actor's default run memory (defaultRunOptions)
        self._failures: list[int] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._media_counter = itertools.count(1)

    # ---- lifecycle ------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeApify:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeApify:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- scenario controls ----------------------------------------------------------

    def add_profile(
        self,
        username: str,
        items: Iterable[dict[str, Any]],
        *,
        status_messages: Iterable[str] = DEFAULT_MESSAGES,
        final_status: str = "SUCCEEDED",
        final_message: str = DEFAULT_FINAL_MESSAGE,
        step_seconds: float | None = None,
        hold: bool = False,
    ) -> Profile:
        profile = Profile(
            username=username,
            items=list(items),
            status_messages=tuple(status_messages),
            final_status=final_status,
            final_message=final_message,
            step_seconds=step_seconds,
            hold=hold,
        )
        with self._lock:
            self.profiles[username.casefold()] = profile
        return profile

    def add_private(self, username: str) -> Profile:
        """A private or missing account: the run SUCCEEDS with one ``no_items`` error item."""
        url = f"https://www.instagram.com/{username}/"
        item = {
            "url": url,
            "inputUrl": url,
            "error": "no_items",
            "errorDescription": PRIVATE_DESCRIPTION,
        }
        return self.add_profile(username, [item])

    def current_pricing(self) -> dict[str, Any] | None:
        now = _iso(datetime.now(UTC))
        started = [p for p in self.pricing_infos if p["startedAt"] <= now]
        return max(started, key=lambda p: p["startedAt"]) if started else None

    def fail_next(self, count: int, status: int = 500) -> None:
        """The next ``count`` API requests answer ``status`` (429 or 5xx) before any work."""
        with self._lock:
            self._failures.extend([status] * count)

    def add_media(self, name: str, data: bytes, content_type: str) -> str:
        """Serve ``data`` on the fake CDN; returns a signed-looking URL (the extension may lie)."""
        with self._lock:
            self.media[name] = MediaFile(data, content_type)
            serial = next(self._media_counter)
        signature = secrets.token_hex(16)
        query = (
            f"stp=dst-jpg_e35_s1080x1080&_nc_ht=scontent.cdninstagram.com&_nc_cat={serial}"
            f"&_nc_ohc=Q{secrets.token_urlsafe(8)}&oh=00_{signature}&oe=67A1B2C3"
        )
        return f"{self.url}/cdn/v/t51.29350-15/{quote(name)}?{query}"

    def expire_media(self, name: str) -> None:
        """Make a CDN link answer 403 as an expired signed URL does."""
        with self._lock:
            self.media[name].expired = True

    def run_for(self, username: str) -> FakeRun:
        matches = [run for run in self.runs.values() if run.profile.username == username]
        if not matches:
            raise LookupError(f"no run was started for {username!r}")
        return matches[-1]

    # ---- request handling (called from server threads) ------------------------------

    def _take_failure(self) -> int | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _profile_for_input(self, run_input: Any) -> Profile:
        urls = run_input.get("directUrls") if isinstance(run_input, dict) else None
        url = urls[0] if isinstance(urls, list) and urls and isinstance(urls[0], str) else ""
        match = re.search(r"instagram\.com/([^/?#]+)", url)
        username = match[1] if match else url
        with self._lock:
            profile = self.profiles.get(username.casefold())
        if profile is None:  # Apify reports a missing account exactly like a private one
            profile = Profile(username=username, items=[])
            item_url = f"https://www.instagram.com/{username}/"
            profile.items.append(
                {
                    "url": item_url,
                    "inputUrl": item_url,
                    "error": "no_items",
                    "errorDescription": PRIVATE_DESCRIPTION,
                }
            )
        return profile

    def _actor_matches(self, raw_id: str) -> bool:
        return unquote(raw_id).replace("/", "~") == self.actor.replace("/", "~")


class _ApiError(Exception):
    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def _handler_for(fake: FakeApify) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        pass

    Handler.fake = fake
    return Handler


def _number(query: dict[str, list[str]], name: str) -> float | None:
    values = query.get(name)
    if not values or values[0] == "":
        return None
    try:
        return float(values[0])
    except ValueError:
        raise _ApiError(400, "invalid-parameter", f"{name} must be a number") from None


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return (query.get(name) or ["false"])[0].lower() in ("1", "true")


class _Handler(BaseHTTPRequestHandler):
    fake: FakeApify
    protocol_version = "HTTP/1.1"
    server_version = "FakeApify/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows failures, not access logs."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # ---- plumbing -------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            body = b"".join(chunks)
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        return body

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self._send(status, body, "application/json; charset=utf-8", headers or {})

    def _send_error(self, error: _ApiError) -> None:
        envelope = {"error": {"type": error.error_type, "message": error.message}}
        self._send_json(error.status, envelope)

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query, keep_blank_values=True)
        try:
            raw = self._read_body()
            body: Any = json.loads(raw) if raw else None
        except (OSError, ValueError):
            self._send_error(_ApiError(400, "invalid-body", "Request body is not valid JSON"))
            return
        if path.startswith("/cdn/") and method == "GET":
            self._serve_media(unquote(path.rsplit("/", 1)[-1]))
            return
        self.fake.requests.append(RecordedRequest(method, path, query, body))
        try:
            failure = self.fake._take_failure()
            if failure is not None:
                kind = "rate-limit-exceeded" if failure == 429 else "internal-server-error"
                raise _ApiError(failure, kind, HTTPStatus(failure).phrase)
            self._authorize(query)
            self._route(method, path, query, body)
        except _ApiError as error:
            self._send_error(error)

    def _authorize(self, query: dict[str, list[str]]) -> None:
        header = self.headers.get("Authorization", "")
        token = (query.get("token") or [""])[0]
        if header:
            token = header.removeprefix("Bearer ").strip()
        if token != self.fake.token:
            raise _ApiError(
                401,
                "user-or-token-not-found",
                "User was not found or authentication token is not valid",
            )

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> None:
        if method == "POST" and (m := re.fullmatch(r"/v2/(?:acts|actors)/([^/]+)/runs", path)):
            self._start_run(m[1], query, body)
        elif method == "GET" and (m := re.fullmatch(r"/v2/(?:acts|actors)/([^/]+)", path)):
            self._get_actor(m[1])
        elif method == "GET" and (m := re.fullmatch(r"/v2/actor-runs/([^/]+)", path)):
            self._get_run(m[1], query)
        elif method == "POST" and (m := re.fullmatch(r"/v2/actor-runs/([^/]+)/abort", path)):
            self._abort_run(m[1])
        elif method == "GET" and (m := re.fullmatch(r"/v2/datasets/([^/]+)", path)):
            self._dataset_info(m[1])
        elif method == "GET" and (m := re.fullmatch(r"/v2/datasets/([^/]+)/items", path)):
            self._dataset_items(m[1], query)
        elif method == "GET" and path == "/v2/users/me":
            self._me()
        else:
            message = f"We have bad news: there is no API endpoint at {path}"
            raise _ApiError(404, "page-not-found", message)

    # ---- endpoints ------------------------------------------------------------------

    def _me(self) -> None:
        """The token's own account (GET /v2/users/me; fields as the real API's private
        info, the ones apify-client's UserPrivateInfo model reads)."""
        fake = self.fake
        self._send_json(200, {"data": {
            "id": fake.user_id, "username": fake.username, "email": f"{fake.username}@example.test",
            "profile": {"name": "igbridge tests"}, "createdAt": "2024-01-02T03:04:05.000Z",
            "isPaying": False,
        }})

    def _get_actor(self, actor_id: str) -> None:
        """The actor object (fields apify-client's ActorResource model requires), with its
        pricing records."""
        fake = self.fake
        if not fake._actor_matches(actor_id):
            raise _ApiError(404, "record-not-found", "Actor was not found")
        owner, name = fake.actor.replace("/", "~").split("~", 1)
        self._send_json(200, {"data": {
            "id": fake.actor_internal_id, "userId": _new_id(), "name": name, "username": owner,
            "isPublic": True, "createdAt": "2019-07-08T11:27:57.401Z",
            "modifiedAt": "2026-01-02T03:04:05.000Z",
            "stats": {"totalBuilds": 412, "totalRuns": 1_000_000},
            "versions": [{"versionNumber": "0.0", "sourceType": "SOURCE_FILES",
                          "buildTag": "latest"}],
            "defaultRunOptions": {"build": "latest", "timeoutSecs": 3600,
                                  "memoryMbytes": fake.memory_mbytes},
            "pricingInfos": fake.pricing_infos,
            "title": "Instagram Scraper",
        }})

    def _start_run(self, actor_id: str, query: dict[str, list[str]], body: Any) -> None:
        fake = self.fake
        if not fake._actor_matches(actor_id):
            raise _ApiError(404, "record-not-found", "Actor was not found")
        max_items = _number(query, "maxItems")
        charge = _number(query, "maxTotalChargeUsd")
        memory = _number(query, "memory")
        run = FakeRun(
            id=_new_id(),
            actor_id=actor_id,
            profile=fake._profile_for_input(body),
            input=body,
            max_items=int(max_items) if max_items is not None else None,
            max_total_charge_usd=charge,
            pricing=fake.current_pricing(),
            memory_mbytes=int(memory) if memory is not None else fake.memory_mbytes,
        )
        with fake._lock:
            fake.runs[run.id] = run
        self._send_json(201, {"data": run.to_json(fake)})

    def _run(self, run_id: str) -> FakeRun:
        run = self.fake.runs.get(run_id)
        if run is None:
            raise _ApiError(404, "record-not-found", "Actor run was not found")
        return run

    def _get_run(self, run_id: str, query: dict[str, list[str]]) -> None:
        run = self._run(run_id)
        wait = min(_number(query, "waitForFinish") or 0.0, self.fake.max_wait_seconds)
        with self.fake._lock:
            run.polls += 1
            if wait > 0 and run.profile.step_seconds is None and not run.profile.hold:
                run.jumped_to_end = True  # step mode: the run "finishes" within the wait
        before = run.status
        deadline = time.monotonic() + wait
        while (
            run.status == before
            and before not in ("SUCCEEDED", "FAILED", "ABORTED", "TIMED-OUT")
            and time.monotonic() < deadline
            and not self.fake._stopping.is_set()
        ):
            time.sleep(0.02)
        self._send_json(200, {"data": run.to_json(self.fake)})

    def _abort_run(self, run_id: str) -> None:
        run = self._run(run_id)
        with self.fake._lock:
            if run.status in ("READY", "RUNNING") and run.aborted_at_step is None:
                run.aborted_at_step = run.step()
                self.fake.aborted.append(run_id)
        self._send_json(200, {"data": run.to_json(self.fake)})

    def _dataset_run(self, dataset_id: str) -> FakeRun:
        for run in self.fake.runs.values():
            if run.dataset_id == dataset_id:
                return run
        raise _ApiError(404, "record-not-found", "Dataset was not found")

    def _dataset_info(self, dataset_id: str) -> None:
        run = self._dataset_run(dataset_id)
        items = run.visible_items()
        now = _iso(datetime.now(UTC))
        self._send_json(
            200,
            {
                "data": {
                    "id": dataset_id,
                    "name": None,
                    "userId": self.fake.user_id,
                    "createdAt": _iso(run.started_at),
                    "modifiedAt": now,
                    "accessedAt": now,
                    "itemCount": len(items),
                    "cleanItemCount": len([i for i in items if i]),
                    "actId": self.fake.actor_internal_id,
                    "actRunId": run.id,
                    "consoleUrl": f"https://console.apify.com/storage/datasets/{dataset_id}",
                    "generalAccess": "FOLLOW_USER_SETTING",
                }
            },
        )

    def _dataset_items(self, dataset_id: str, query: dict[str, list[str]]) -> None:
        items = list(self._dataset_run(dataset_id).visible_items())
        desc = _flag(query, "desc")
        if desc:
            items.reverse()
        if _flag(query, "clean") or _flag(query, "skipEmpty"):
            items = [i for i in items if i]
        if _flag(query, "clean") or _flag(query, "skipHidden"):
            items = [{k: v for k, v in i.items() if not k.startswith("#")} for i in items]
        total = len(items)
        offset = int(_number(query, "offset") or 0)
        limit_value = _number(query, "limit")
        limit = int(limit_value) if limit_value else NO_LIMIT
        page = items[offset : offset + limit]
        if fields := (query.get("fields") or [""])[0]:
            wanted = fields.split(",")
            page = [{k: i[k] for k in wanted if k in i} for i in page]
        if omit := (query.get("omit") or [""])[0]:
            dropped = set(omit.split(","))
            page = [{k: v for k, v in i.items() if k not in dropped} for i in page]
        self._send_json(
            200,
            page,
            {
                "X-Apify-Pagination-Total": str(total),
                "X-Apify-Pagination-Offset": str(offset),
                "X-Apify-Pagination-Count": str(len(page)),
                "X-Apify-Pagination-Limit": str(limit),
                "X-Apify-Pagination-Desc": "true" if desc else "false",
            },
        )

    def _serve_media(self, name: str) -> None:
        self.fake.media_requests.append(name)
        media = self.fake.media.get(name)
        if media is None:
            self._send(404, b"Not Found", "text/plain", {})
        elif media.expired:
            self._send(403, b"URL signature expired", "text/plain", {})
        else:
            self._send(200, media.data, media.content_type, {"Cache-Control": "max-age=1209600"})
