"""The WordPress REST client: media, posts, tags and lookup by Instagram source id.

HTTP Basic with a user name and an application password. Passing faults (5xx, 429,
timeouts, dropped connections) are retried by the request-level policy of
``jobs/retry.py`` (honouring ``Retry-After``) and then reported as ``TransientError``;
refusals become ``WordPressAuthError`` (401/403) or
``WordPressError`` carrying WordPress's own ``code`` and ``message``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import http.cookiejar
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from ..config import Config
from ..errors import (
    ConfigError,
    IgbridgeError,
    TransientError,
    WordPressAuthError,
    WordPressError,
)
from ..jobs.retry import (
    REQUEST_MAX_WAIT_SECONDS,
    REQUEST_WAIT_BUDGET_SECONDS,
    RetryPolicy,
    retry_after_seconds,
)
from ..jobs.timing import waiting_on

SOURCE_ID_META = "_igbridge_source_id"
SOURCE_ID_QUERY_ARG = "igbridge_source_id"
# Where posts of type "post" live; another post type's route is its rest_base
# (``post_type_route``), and every call on posts takes the route to use.
POSTS_ROUTE = "/wp/v2/posts"
# WordPress's default cap on the requests in one /batch/v1 call (rest_get_max_batch_size).
BATCH_LIMIT = 25
LOOKUP_PAGE = 100
# Source ids one lookup names: the plugin takes up to 100 (its index answers them in one
# query), and one page of 100 posts holds the answer.
LOOKUP_IDS = 100
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Reads and small writes answer in well under a second here; an upload of a large
# image makes WordPress render seven sizes, which takes seconds (WORDPRESS.md).
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
UPLOAD_TIMEOUT = httpx.Timeout(300.0, connect=5.0)
# Kept-alive connections are dropped a second before Apache's default KeepAliveTimeout
# (5 s) would close them under us; nginx keeps them longer, php -S not at all. The
# import sends at most `concurrency` (default 4, at most 16) requests at once.
WORDPRESS_LIMITS = httpx.Limits(max_connections=16, max_keepalive_connections=16,
                                keepalive_expiry=4.0)

Json = dict[str, Any]
# One answer of a batch: the object WordPress answered, or the error that refused it.
Answer = Json | IgbridgeError


class _NoCookies(http.cookiejar.CookieJar):
    """WordPress answers an application password without cookies, so the client keeps
    none: searching every answer's headers for them cost a tenth of a request's CPU."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Loading the CA bundle costs about 40 ms of CPU: once per process, not per job."""
    return httpx.create_ssl_context()


def wordpress_http_client(auth: httpx.Auth | None = None, *,
                          timeout: httpx.Timeout = DEFAULT_TIMEOUT,
                          verify: ssl.SSLContext | None = None,
                          transport: httpx.AsyncBaseTransport | None = None,
                          ) -> httpx.AsyncClient:
    """httpx's own transport (it follows HTTP(S)_PROXY too), with keep-alive limits for
    WordPress, no cookie jar and no redirects: a redirected POST would turn into a GET."""
    return httpx.AsyncClient(
        auth=auth,
        timeout=timeout,
        verify=verify or _tls_context(),
        limits=WORDPRESS_LIMITS,
        transport=transport,
        cookies=_NoCookies(),
        follow_redirects=False,
        headers={"User-Agent": _user_agent(), "Accept": "application/json"},
    )


def _user_agent() -> str:
    try:
        return f"igbridge/{version('igbridge')}"
    except PackageNotFoundError:
        return "igbridge"


@dataclass(frozen=True)
class MediaUses:
    """What uses an attachment: the posts (any type and status) whose content names it
    or that feature it, and the other attachments whose file is its file."""

    post_ids: list[int]
    same_file_ids: list[int]


class WordPressRefusal(WordPressError):
    """WordPress answered with an error: its own ``code`` and ``data`` are kept.

    ``wp_code`` is WordPress's code (``term_exists``, ``rest_forbidden``, ...), ``wp_data``
    its ``data`` object and ``http_status`` the HTTP status it answered with.
    """

    def __init__(self, message: str, *, wp_code: str, wp_data: dict[str, Any],
                 http_status: int) -> None:
        super().__init__(message)
        self.wp_code = wp_code
        self.wp_data = wp_data
        self.http_status = http_status


class WordPressAuthRefusal(WordPressAuthError, WordPressRefusal):
    """401 or 403: the application password was refused or the user lacks rights."""


class _Fault(TransientError):
    """One failed try of a request: worth another, and perhaps acted on by WordPress."""

    def __init__(self, message: str, *, maybe_applied: bool,
                 retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.maybe_applied = maybe_applied


# Set while a request looks up whether its last try went through (``recover``).
_recovering: contextvars.ContextVar[bool] = contextvars.ContextVar("recovering", default=False)
_ONE_TRY = RetryPolicy(1, 0.0, 0.0)


async def _sleep_waiting_on_wordpress(seconds: float) -> None:
    with waiting_on("wordpress"):  # the job clock counts the wait as WordPress's
        await asyncio.sleep(seconds)


class WordPressClient:
    """One site, one user. Use as ``async with WordPressClient(...) as wp``."""

    def __init__(
        self,
        base_url: str,
        user: str,
        app_password: str,
        *,
        attempts: int = 4,
        backoff_base_seconds: float = 0.5,
        backoff_max_seconds: float = REQUEST_MAX_WAIT_SECONDS,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        upload_timeout: httpx.Timeout = UPLOAD_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"the WordPress URL must start with http:// or https://, "
                              f"got {base_url!r}")
        if not user or not app_password:
            raise ConfigError("a WordPress user and application password are both needed "
                              "(IGBRIDGE_WP_USER, IGBRIDGE_WP_APP_PASSWORD)")
        self.site_url = base_url.rstrip("/").removesuffix("/wp-json")
        self.api_root = f"{self.site_url}/wp-json"
        self.user = user
        self.retry_policy = RetryPolicy(attempts, backoff_base_seconds, backoff_max_seconds,
                                        REQUEST_WAIT_BUDGET_SECONDS)
        self.upload_timeout = upload_timeout
        self._tag_ids: dict[str, int] = {}
        self._type_routes: dict[str, str] = {"post": POSTS_ROUTE}
        self._http = wordpress_http_client(
            httpx.BasicAuth(user, app_password), timeout=timeout, transport=transport)

    @classmethod
    def from_config(cls, config: Config, **options: Any) -> WordPressClient:
        """A client for ``IGBRIDGE_WP_URL`` with the configured user and retry policy."""
        if not config.wp_url:
            raise ConfigError("IGBRIDGE_WP_URL is not set: the sidecar does not know "
                              "which WordPress to write to")
        options.setdefault("attempts", config.job_attempts)
        options.setdefault("backoff_base_seconds", config.backoff_base_seconds)
        return cls(config.wp_url, config.wp_user, config.wp_app_password, **options)

    async def __aenter__(self) -> WordPressClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------ users

    async def whoami(self) -> Json:
        """The authenticated user (``context=edit``: includes roles and capabilities)."""
        return await self._object("GET", "/wp/v2/users/me", params={"context": "edit"},
                                action="read the current user")

    async def user_exists(self, user_id: int) -> bool:
        """Whether the site has this user (a saved source's author is checked on save)."""
        try:
            await self._object("GET", f"/wp/v2/users/{user_id}", params={"context": "edit"},
                               action=f"read user {user_id}")
        except WordPressRefusal as error:
            if error.http_status == 404:
                return False
            raise
        return True

    async def existing_category_ids(self, category_ids: Sequence[int]) -> set[int]:
        """Which of ``category_ids`` the site has (one request for up to 100)."""
        if not category_ids:
            return set()
        found = await self._request(
            "GET", "/wp/v2/categories",
            params={"include": ",".join(str(c) for c in category_ids), "per_page": 100,
                    "_fields": "id"},
            action="read categories")
        return {int(c["id"]) for c in found if isinstance(c, dict) and "id" in c}

    # ------------------------------------------------------------ post types

    async def post_type(self, name: str) -> Json | None:
        """The post type as WordPress describes it (``context=edit``: with ``supports``),
        or None when the site has no such type in the REST API."""
        try:
            return await self._object("GET", f"/wp/v2/types/{name}", params={"context": "edit"},
                                      action=f"read the post type {name!r}")
        except WordPressRefusal as error:
            if error.http_status == 404:
                return None
            raise

    async def post_type_route(self, name: str) -> str:
        """The REST route of a post type's posts (``/wp/v2/<rest_base>``), asked once."""
        if name not in self._type_routes:
            found = await self.post_type(name)
            if found is None:
                raise WordPressError(f"WordPress has no post type {name!r} in its REST API",
                                     code="unknown_post_type")
            namespace = str(found.get("rest_namespace") or "wp/v2")
            self._type_routes[name] = f"/{namespace}/{found.get('rest_base') or name}"
        return self._type_routes[name]

    # ------------------------------------------------------------ media

    async def upload_media(self, data: bytes | Path, *, filename: str, content_type: str,
                           alt_text: str | None = None, parent: int | None = None,
                           meta: Mapping[str, str] | None = None,
                           answer: str | None = None) -> Json:
        """Upload bytes, or the file at a path, as a new attachment; ``content_type`` is
        the sniffed, real type. A file is streamed in chunks (a video is never held
        whole in memory) with its length declared, as PHP's server wants.

        ``alt_text``, ``parent`` and ``meta`` (registered keys only) ride along as query
        parameters (the body is the raw file), which saves the second request to set
        them, about 45 ms per file here.
        ``answer`` names the fields wanted back (``_fields``): less for WordPress to build
        and for us to parse than a full attachment with every image size.
        """
        size = len(data) if isinstance(data, bytes) else await asyncio.to_thread(
            lambda: data.stat().st_size if isinstance(data, Path) else 0)
        if not size:
            raise WordPressError(f"refusing to upload {filename!r}: the file is empty",
                                 status=422)
        if "/" not in content_type:
            raise WordPressError(f"refusing to upload {filename!r}: {content_type!r} is not a "
                                 "media type such as image/jpeg", status=422)
        safe_name = _header_safe_filename(filename)
        return await self._object(
            "POST", "/wp/v2/media",
            content=data if isinstance(data, bytes) else FileChunks(data),
            params=_without_none({"alt_text": alt_text, "post": parent, "_fields": answer,
                                  **{f"meta[{k}]": v for k, v in (meta or {}).items()}}),
            headers={"Content-Type": content_type, "Content-Length": str(size),
                     "Content-Disposition": f'attachment; filename="{safe_name}"'},
            request_timeout=self.upload_timeout, action=f"upload {safe_name}",
        )

    async def media_present(self, media_ids: Sequence[int]) -> set[int]:
        """Which of ``media_ids`` are attachments whose file WordPress still serves: an
        attachment deleted from the library, or whose file is gone from the uploads
        folder, is missing (one listing per 100, then a HEAD of each file)."""
        present: set[int] = set()
        wanted = sorted(set(media_ids))
        for first in range(0, len(wanted), LOOKUP_PAGE):
            chunk = wanted[first:first + LOOKUP_PAGE]
            found = await self._request(
                "GET", "/wp/v2/media",
                params={"include": ",".join(map(str, chunk)), "per_page": LOOKUP_PAGE,
                        "context": "edit", "_fields": "id,source_url"},
                action=f"look up {len(chunk)} attachments")
            for item in found if isinstance(found, list) else []:
                url = str(item.get("source_url") or "")
                if url and await self._file_served(url):
                    present.add(int(item["id"]))
        return present

    async def file_gone(self, url: str) -> bool:
        """Whether the site answers 404 or 410 for the file: gone, not merely unreachable
        or refused this once."""
        return await self._head_status(url) in (404, 410)

    async def _file_served(self, url: str) -> bool:
        return 200 <= await self._head_status(url) < 300

    async def _head_status(self, url: str) -> int:
        try:
            with waiting_on("wordpress"):
                response = await self._http.head(url)
        except httpx.HTTPError as error:
            raise TransientError(f"could not check {url}: {type(error).__name__}") from error
        return response.status_code

    async def get_media(self, media_id: int, *, answer: str | None = None) -> Json | None:
        """One attachment (``context=edit``: its ``meta`` too), or None when the media
        library has none of that id."""
        try:
            return await self._object(
                "GET", f"/wp/v2/media/{media_id}",
                params=_without_none({"context": "edit", "_fields": answer}),
                action=f"read attachment {media_id}")
        except WordPressRefusal as refusal:
            if refusal.http_status == 404:
                return None
            raise

    async def delete_media(self, media_id: int) -> None:
        """Delete an attachment for good, its files too (attachments have no trash). A
        retry after a try that may have gone through first looks: gone is deleted."""
        async def deleted_meanwhile() -> Json | None:
            try:
                return {} if await self.get_media(media_id, answer="id") is None else None
            except TransientError:
                return None  # still unreachable: the next attempt will tell

        await self._request("DELETE", f"/wp/v2/media/{media_id}", params={"force": "true"},
                            action=f"delete attachment {media_id}", recover=deleted_meanwhile)

    async def media_uses(self, media_id: int) -> MediaUses | None:
        """What uses the attachment, as the plugin finds it; None from a plugin too old
        to tell."""
        try:
            found = await self._object("GET", f"/igbridge/v1/media/{media_id}/users",
                                       action=f"look up the posts using attachment {media_id}")
        except WordPressRefusal as refusal:
            if refusal.http_status == 404 and refusal.wp_code == "rest_no_route":
                return None
            raise
        posts, same_file = found.get("post_ids"), found.get("same_file_ids")
        if not isinstance(posts, list) or not isinstance(same_file, list):
            raise WordPressError(f"WordPress answered the users of attachment {media_id} "
                                 "without its lists of post and attachment ids")
        return MediaUses([int(i) for i in posts], [int(i) for i in same_file])

    async def update_media(self, media_id: int, **fields: Any) -> Json:
        """Set ``alt_text``, ``caption``, ``post`` (the parent) and other attachment fields."""
        return await self._object("POST", f"/wp/v2/media/{media_id}", json=fields,
                                action=f"update media {media_id}")

    # ------------------------------------------------------------ posts

    async def create_post(self, *, answer: str | None = None, route: str = POSTS_ROUTE,
                          **fields: Any) -> Json:
        """Create a post (a draft unless ``status`` says otherwise).

        When ``meta`` names the source id, a retry first looks the post up: a create that
        timed out may well have succeeded, and a second one would be a duplicate.
        """
        fields.setdefault("status", "draft")
        source_id = (fields.get("meta") or {}).get(SOURCE_ID_META)

        async def created_meanwhile() -> Json | None:
            if not source_id:
                return None
            try:
                return await self.find_post_by_source_id(source_id, route=route)
            except TransientError:
                return None  # still unreachable: the next attempt will tell

        return await self._object("POST", route, json=fields, action="create a post",
                                recover=created_meanwhile,
                                params=_without_none({"_fields": answer}))

    async def update_post(self, post_id: int, *, answer: str | None = None,
                          route: str = POSTS_ROUTE, **fields: Any) -> Json:
        return await self._object("POST", f"{route}/{post_id}", json=fields,
                                action=f"update post {post_id}",
                                params=_without_none({"_fields": answer}))

    async def get_post(self, post_id: int, *, route: str = POSTS_ROUTE) -> Json:
        """One post in any status, with ``content.raw`` and ``meta``."""
        return await self._object("GET", f"{route}/{post_id}", params={"context": "edit"},
                                action=f"read post {post_id}")

    async def find_post_by_source_id(self, source_id: str, *,
                                     route: str = POSTS_ROUTE) -> Json | None:
        """The post imported from ``source_id`` in any status (drafts too), or None."""
        if not source_id:
            raise ValueError("source_id must not be empty")
        return (await self.find_posts_by_source_ids([source_id], route=route)).get(source_id)

    async def find_posts_by_source_ids(self, source_ids: Sequence[str], *,
                                       route: str = POSTS_ROUTE) -> dict[str, Json]:
        """The posts imported from ``source_ids``, any status (the trash too), in one
        request per 100.

        Each source id maps to its oldest post (``id``, ``status``, ``link``, ``meta``).
        Relies on the igbridge plugin's ``igbridge_source_id`` query argument. WordPress
        ignores query arguments it does not know, so without the plugin this would list
        every post: each answer is checked against its meta before it is trusted.
        """
        wanted = list(dict.fromkeys(source_ids))
        if not all(wanted):
            raise ValueError("a source id must not be empty")
        found: dict[str, Json] = {}
        for first in range(0, len(wanted), LOOKUP_IDS):
            chunk = wanted[first:first + LOOKUP_IDS]
            # One id goes as a plain value, which every version of the plugin understands.
            ids: str | list[str] = chunk[0] if len(chunk) == 1 else chunk
            page = 1
            while True:
                try:
                    answer = await self._request(
                        "GET", route,
                        params={SOURCE_ID_QUERY_ARG + ("[]" if isinstance(ids, list) else ""):
                                ids, "status": "any", "context": "edit",
                                "_fields": "id,status,link,meta", "orderby": "id",
                                "order": "asc", "per_page": LOOKUP_PAGE, "page": page},
                        action=(f"look up the post of {chunk[0]}" if len(chunk) == 1
                                else f"look up the posts of {len(chunk)} source ids"),
                    )
                except WordPressRefusal as refusal:
                    if refusal.wp_code == "rest_post_invalid_page_number":
                        break  # the last page was exactly full
                    if SOURCE_ID_QUERY_ARG in (refusal.wp_data.get("params") or {}):
                        raise WordPressError(
                            f"the igbridge plugin on {self.site_url} is older than this "
                            "sidecar (it looks up one source id at a time): update it",
                            code="wordpress_plugin_outdated") from refusal
                    raise
                if not isinstance(answer, list):
                    raise WordPressError(f"WordPress answered the post lookup with "
                                         f"{type(answer).__name__} instead of a list")
                for post in answer:
                    source_id = _source_id_of(post)
                    if source_id not in chunk:
                        raise WordPressError(
                            f"WordPress ignored the {SOURCE_ID_QUERY_ARG} filter (it listed "
                            "posts of other sources): is the igbridge plugin active on the "
                            "site?", code="wordpress_plugin_missing")
                    found.setdefault(source_id, post)
                if len(answer) < LOOKUP_PAGE:
                    break
                page += 1
        return found

    async def find_deleted_source_ids(self, source_ids: Sequence[str]) -> set[str]:
        """Which of ``source_ids`` belong to posts their owner deleted for good (the
        plugin remembers them: deleted stays deleted). A plugin too old to know answers
        404: then none are known."""
        deleted: set[str] = set()
        for first in range(0, len(source_ids), LOOKUP_IDS):
            chunk = list(source_ids[first:first + LOOKUP_IDS])
            try:
                found = await self._object("GET", "/igbridge/v1/deleted",
                                           params={"source_ids[]": chunk},
                                           action="look up deleted posts")
            except WordPressRefusal as error:
                if error.http_status == 404 and error.wp_code == "rest_no_route":
                    return set()
                raise
            answer = found.get("deleted")
            deleted.update(str(k) for k in (answer if isinstance(answer, dict) else {}))
        return deleted

    async def create_posts(self, posts: Sequence[Json], *, answer: str | None = None,
                           route: str = POSTS_ROUTE) -> list[Answer]:
        """Create several posts (drafts unless ``status`` says otherwise), in one request.

        One answer per post, in order: the post (the ``answer`` fields) or the error that
        refused it. A retry after an attempt that may have gone through looks the posts up
        by their source ids first, so none is created twice.
        """
        if len(posts) == 1:  # a batch of one costs WordPress more than the plain route
            return _made_already([await _answer_of(self.create_post(answer=answer, route=route,
                                                                    **posts[0]))])
        bodies = [{**post, "status": post.get("status", "draft")} for post in posts]
        source_ids = [str((post.get("meta") or {}).get(SOURCE_ID_META) or "") for post in bodies]

        async def created_meanwhile() -> list[Answer] | None:
            if not all(source_ids):
                return None
            try:
                found = await self.find_posts_by_source_ids(source_ids, route=route)
            except TransientError:
                return None  # still unreachable: the next attempt will tell
            if not found:
                return None
            return [found.get(sid) or TransientError(
                        f"WordPress at {self.site_url} dropped the request that created the "
                        f"post of {sid}, and the post is not there") for sid in source_ids]

        return _made_already(await self._batch(
            [("POST", route, body, f"create the post of {sid or 'a post'}")
             for body, sid in zip(bodies, source_ids, strict=True)],
            answer=answer, action=f"create {len(bodies)} posts", recover=created_meanwhile))

    async def update_posts(self, updates: Sequence[tuple[int, Json]], *,
                           answer: str | None = None, route: str = POSTS_ROUTE) -> list[Answer]:
        """Update several posts in one request; one answer per post, in order."""
        if len(updates) == 1:
            post_id, fields = updates[0]
            return [await _answer_of(self.update_post(post_id, answer=answer, route=route,
                                                      **fields))]
        return await self._batch(
            [("POST", f"{route}/{post_id}", fields, f"update post {post_id}")
             for post_id, fields in updates],
            answer=answer, action=f"update {len(updates)} posts")

    async def _batch(
        self, calls: Sequence[tuple[str, str, Json, str]], *, answer: str | None, action: str,
        recover: Callable[[], Awaitable[list[Answer] | None]] | None = None,
    ) -> list[Answer]:
        """Several write requests in one ``/batch/v1`` call (WordPress 5.6+): one PHP start-up
        and one round trip instead of one each. Each call is ``(method, path, body, what)``."""
        if not 1 <= len(calls) <= BATCH_LIMIT:
            raise ValueError(f"a batch holds 1 to {BATCH_LIMIT} requests, got {len(calls)}")
        fields = f"?_fields={answer}" if answer else ""
        requests = [{"method": method, "path": path + fields, "body": body}
                    for method, path, body, _what in calls]
        try:
            reply = await self._request(
                "POST", "/batch/v1", json={"validation": "normal", "requests": requests},
                action=action, recover=recover)
        except WordPressRefusal as refusal:
            if refusal.wp_code == "rest_no_route":
                raise WordPressError(
                    f"WordPress at {self.site_url} has no batch endpoint (/wp-json/batch/v1): "
                    "the import needs WordPress 5.6 or later", code="wordpress_too_old",
                ) from refusal
            raise
        if isinstance(reply, list):  # recovered: what an earlier attempt had done
            return reply
        responses = reply.get("responses") if isinstance(reply, dict) else None
        if not isinstance(responses, list) or len(responses) != len(calls):
            raise WordPressError(f"WordPress answered the batch to {action} without one "
                                 f"answer per request ({len(calls)} sent)")
        answers: list[Answer] = []
        for (_method, _path, _body, what), response in zip(calls, responses, strict=True):
            status = int(response.get("status") or 0) if isinstance(response, dict) else 0
            body = response.get("body") if isinstance(response, dict) else None
            if 200 <= status < 300 and isinstance(body, dict):
                answers.append(body)
            elif status in RETRYABLE_STATUSES:
                answers.append(TransientError(f"WordPress at {self.site_url} did not {what}: "
                                              f"HTTP {status}"))
            else:
                answers.append(self._refusal(status, body, what))
        return answers

    # ------------------------------------------------------------ tags

    async def ensure_tag(self, name: str) -> int:
        """The id of the tag called ``name`` (any case), created when missing."""
        clean = name.strip()
        if not clean:
            raise ValueError("a tag name must not be empty")
        key = clean.casefold()
        if key in self._tag_ids:
            return self._tag_ids[key]
        try:
            tag = await self._object("POST", "/wp/v2/tags", json={"name": clean},
                                   action=f"create the tag {clean!r}")
            tag_id = int(tag["id"])
        except WordPressRefusal as error:
            # WordPress compares names without regard to case and names the existing term.
            if error.wp_code != "term_exists" or "term_id" not in error.wp_data:
                raise
            tag_id = int(error.wp_data["term_id"])
        self._tag_ids[key] = tag_id
        return tag_id

    # ------------------------------------------------------------ transport

    async def _object(self, method: str, path: str, **options: Any) -> Json:
        """``_request`` for endpoints that answer one JSON object."""
        body = await self._request(method, path, **options)
        if not isinstance(body, dict):
            raise WordPressError(f"WordPress answered {path} with {type(body).__name__} "
                                 "instead of a JSON object")
        return body

    async def _request(
        self,
        method: str,
        path: str,
        *,
        action: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | FileChunks | None = None,
        headers: Mapping[str, str] | None = None,
        request_timeout: httpx.Timeout | None = None,
        recover: Callable[[], Awaitable[Any]] | None = None,
    ) -> Any:
        """Send one request with retries; return the decoded JSON of a 2xx answer."""
        # The query goes into the URL here, once: httpx would parse the URL, merge the
        # parameters and parse it again on every attempt.
        url = self.api_root + path + (f"?{_query(params)}" if params else "")
        tries = 0
        last: _Fault | None = None
        try:
            # Only this request's own faults: a ``recover`` lookup that gave up has used
            # its own tries already and ends this request too (no retries inside retries).
            policy = _ONE_TRY if _recovering.get() else self.retry_policy
            async for attempt in policy.retrying(sleep=_sleep_waiting_on_wordpress,
                                                 retry_on=_Fault):
                with attempt:
                    tries += 1
                    if last is not None and last.maybe_applied and recover is not None:
                        recovered = await self._recover(recover)
                        if recovered is not None:
                            return recovered
                    try:
                        return await self._try_once(method, url, action, json=json,
                                                    content=content, headers=headers,
                                                    request_timeout=request_timeout)
                    except _Fault as fault:
                        last = fault
                        raise
        except _Fault as fault:
            raise TransientError(
                f"WordPress at {self.site_url} did not {action} after {tries} attempts; "
                f"last: {fault.message}"
            ) from None
        raise AssertionError("unreachable: the retry loop returns or raises")

    @staticmethod
    async def _recover(recover: Callable[[], Awaitable[Any]]) -> Any:
        """Did the last try go through after all? The lookup is one try of each of its
        requests: the request it recovers is the only loop that retries."""
        token = _recovering.set(True)
        try:
            return await recover()
        finally:
            _recovering.reset(token)

    async def _try_once(self, method: str, url: str, action: str, *, json: Any,
                        content: bytes | FileChunks | None, headers: Mapping[str, str] | None,
                        request_timeout: httpx.Timeout | None) -> Any:
        """One try: the decoded answer, or a ``_Fault`` saying whether it may have acted."""
        try:
            with waiting_on("wordpress"):
                response = await self._http.request(
                    method, url, json=json, content=content, headers=headers,
                    timeout=(request_timeout if request_timeout is not None
                             else httpx.USE_CLIENT_DEFAULT))
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            raise _Fault(f"could not connect ({type(error).__name__}: {error})",
                         maybe_applied=False) from error
        except httpx.TimeoutException as error:
            raise _Fault(f"timed out ({type(error).__name__})", maybe_applied=True) from error
        except httpx.TransportError as error:
            raise _Fault(f"connection failed ({type(error).__name__}: {error})",
                         maybe_applied=True) from error
        if response.status_code not in RETRYABLE_STATUSES:
            return self._decode(response, action)
        raise _Fault(f"HTTP {response.status_code} {response.reason_phrase}",
                     maybe_applied=response.status_code != 429,
                     retry_after=retry_after_seconds(response.headers.get("retry-after"),
                                                     response.headers.get("date")))

    def _decode(self, response: httpx.Response, action: str) -> Any:
        status = response.status_code
        body = _json_body(response)
        if 200 <= status < 300:
            if body is _NOT_JSON:
                raise WordPressError(
                    f"WordPress at {self.site_url} answered {response.request.url.path} with "
                    f"{response.headers.get('content-type', 'no content type')} instead of JSON: "
                    "the REST API is not at /wp-json/ (plain permalinks? choose another "
                    "structure under Settings → Permalinks)",
                    code="wordpress_not_json",
                )
            return body
        if 300 <= status < 400:
            wp_code, _message, wp_data = _wp_error_fields(body)
            raise WordPressRefusal(
                f"WordPress at {self.site_url} redirected {action} to "
                f"{response.headers.get('location', '?')}: set IGBRIDGE_WP_URL to the "
                "site's real address",
                wp_code=wp_code, wp_data=wp_data, http_status=status,
            )
        raise self._refusal(status, body, action)

    def _refusal(self, status: int, body: Any, action: str) -> WordPressRefusal:
        """What a WordPress error answer means, as the exception to raise or record."""
        wp_code, wp_message, wp_data = _wp_error_fields(body)
        if status == 401:
            return WordPressAuthRefusal(
                f"WordPress at {self.site_url} refused the application password for user "
                f"{self.user!r} (wrong or revoked): create a new one under Users → Profile → "
                f"Application Passwords [{wp_code or 'HTTP 401'}]",
                wp_code=wp_code, wp_data=wp_data, http_status=status,
            )
        if status == 403:
            return WordPressAuthRefusal(
                f"WordPress user {self.user!r} lacks the rights to {action}: "
                f"{wp_message or 'forbidden'} [{wp_code or 'HTTP 403'}]",
                wp_code=wp_code, wp_data=wp_data, http_status=status,
            )
        detail = wp_message or (f"HTTP {status} without a WordPress error body"
                                if body is _NOT_JSON else f"HTTP {status}")
        return WordPressRefusal(
            f"WordPress refused to {action}: {detail} [{wp_code or f'HTTP {status}'}]",
            wp_code=wp_code, wp_data=wp_data, http_status=status,
        )


_NOT_JSON: Any = object()


def _made_already(answers: list[Answer]) -> list[Answer]:
    """The plugin refuses a second post for a source id (409 ``igbridge_source_exists``,
    naming the post and its status): a create sent again after its answer was lost, or
    one that lost a race. That post is the answer (``status`` "trash" when its owner
    trashed it; id 0 and ``status`` "deleted", 409 ``igbridge_source_deleted``, when
    its owner deleted it for good)."""
    return [{"id": int(a.wp_data["post_id"]), "status": str(a.wp_data.get("post_status") or "")}
            if isinstance(a, WordPressRefusal)
            and a.wp_code in ("igbridge_source_exists", "igbridge_source_deleted")
            and str(a.wp_data.get("post_id", "")).isdigit() else a for a in answers]


async def _answer_of(call: Awaitable[Json]) -> Answer:
    """A single request's answer as a batch answer: refusals are returned, not raised;
    a refused password or missing rights still stop everything."""
    try:
        return await call
    except WordPressAuthError:
        raise
    except WordPressRefusal as refusal:
        return refusal


def _json_body(response: httpx.Response) -> Any:
    if "json" not in response.headers.get("content-type", ""):
        return _NOT_JSON
    try:
        return response.json()
    except ValueError:
        return _NOT_JSON


def _wp_error_fields(body: Any) -> tuple[str, str, dict[str, Any]]:
    """WordPress's REST error: ``{"code", "message", "data": {"status", ...}}``."""
    if not isinstance(body, dict):
        return "", "", {}
    data = body.get("data")
    return (str(body.get("code") or ""), str(body.get("message") or ""),
            data if isinstance(data, dict) else {})


def _source_id_of(post: Any) -> str | None:
    meta = post.get("meta") if isinstance(post, dict) else None
    value = meta.get(SOURCE_ID_META) if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None


def _query(params: Mapping[str, Any]) -> str:
    """``params`` as a query string, encoded as httpx would: lists repeat their key."""
    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)

    return urlencode([(key, text(item)) for key, value in params.items()
                      for item in (value if isinstance(value, (list, tuple)) else [value])])


class FileChunks:
    """A file's bytes as an async stream, read a chunk at a time in a worker thread.
    Iterable again on every attempt: a retried upload sends the file from its start."""

    CHUNK = 1024 * 1024

    def __init__(self, path: Path) -> None:
        self.path = path

    async def __aiter__(self) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(self.path.open, "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, self.CHUNK):
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _header_safe_filename(filename: str) -> str:
    """ASCII without quotes or path parts: it goes into a header; WordPress renames anyway."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.")
    return safe or "upload"
