"""WordPressClient against the real local WordPress (fixture ``stack``), and against tiny
local HTTP servers for the faults a healthy WordPress does not produce on demand."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from dev.stack import Stack, free_port
from sidecar.errors import TransientError, WordPressAuthError, WordPressError
from sidecar.wordpress.client import SOURCE_ID_META, WordPressClient, WordPressRefusal
from tests.support.http_server import serving

FAST_RETRIES = {"attempts": 3, "backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05}


def png_bytes(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG of one colour, so WordPress (GD) can make its sizes from it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data)))

    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


@pytest.fixture
async def wp(stack: Stack) -> AsyncIterator[WordPressClient]:
    async with WordPressClient(stack.wp_url, stack.wp_app_user, stack.wp_app_password,
                               **FAST_RETRIES) as client:
        yield client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------- real WordPress


async def test_whoami_is_the_application_password_user(wp: WordPressClient,
                                                       stack: Stack) -> None:
    me = await wp.whoami()
    assert (me["slug"], me["roles"]) == (stack.wp_app_user, ["administrator"])


async def test_upload_media_keeps_bytes_type_and_alt_text(wp: WordPressClient) -> None:
    data = png_bytes(64, 48, (200, 30, 30))
    media = await wp.upload_media(data, filename="red square.png", content_type="image/png")
    assert (media["mime_type"], media["media_type"]) == ("image/png", "image")
    assert media["media_details"]["width"] == 64
    assert media["media_details"]["height"] == 48

    updated = await wp.update_media(media["id"], alt_text="A red square",
                                    caption="Seen at dusk 🌅")
    assert updated["alt_text"] == "A red square"
    assert updated["caption"]["raw"] == "Seen at dusk 🌅"

    async with httpx.AsyncClient() as plain:
        served = await plain.get(media["source_url"])
    assert (served.status_code, served.headers["content-type"], served.content) == (
        200, "image/png", data)


async def test_upload_media_refuses_empty_data(wp: WordPressClient) -> None:
    with pytest.raises(WordPressError, match=r"'x\.png': the file is empty"):
        await wp.upload_media(b"", filename="x.png", content_type="image/png")


async def test_create_draft_then_publish(wp: WordPressClient) -> None:
    source_id = unique("C0ffee")
    media = await wp.upload_media(png_bytes(8, 8, (0, 90, 200)), filename="blue.png",
                                  content_type="image/png")
    tag_id = await wp.ensure_tag(unique("sunset"))
    content = "<!-- wp:paragraph -->\n<p>Line one<br>line two ✨</p>\n<!-- /wp:paragraph -->"

    draft = await wp.create_post(
        title="Evening walk", content=content, date_gmt="2023-05-06T07:08:09",
        tags=[tag_id], featured_media=media["id"], meta={SOURCE_ID_META: source_id},
    )
    assert {
        "status": draft["status"], "title": draft["title"]["raw"],
        "content": draft["content"]["raw"], "date_gmt": draft["date_gmt"],
        "tags": draft["tags"], "featured_media": draft["featured_media"],
        "source_id": draft["meta"][SOURCE_ID_META],
    } == {
        "status": "draft", "title": "Evening walk", "content": content,
        "date_gmt": "2023-05-06T07:08:09", "tags": [tag_id], "featured_media": media["id"],
        "source_id": source_id,
    }

    published = await wp.update_post(draft["id"], status="publish")
    assert published["status"] == "publish"
    assert (await wp.get_post(draft["id"]))["status"] == "publish"


async def test_get_missing_post_is_a_wordpress_error_with_its_code(
        wp: WordPressClient) -> None:
    with pytest.raises(WordPressRefusal) as caught:
        await wp.get_post(987654321)
    assert (caught.value.wp_code, caught.value.http_status) == ("rest_post_invalid_id", 404)
    assert "WordPress refused to read post 987654321" in caught.value.message


async def test_ensure_tag_reuses_existing_tags_in_any_case(wp: WordPressClient,
                                                           stack: Stack) -> None:
    name = unique("Beach")
    existing_id = int(stack.wp_php(
        f"echo wp_insert_term({json.dumps(name)}, 'post_tag')['term_id'];").strip())

    assert await wp.ensure_tag(name.upper()) == existing_id
    assert await wp.ensure_tag(name.lower()) == existing_id

    fresh = unique("Sunset")
    created = await wp.ensure_tag(fresh)
    assert created != existing_id
    async with WordPressClient(stack.wp_url, stack.wp_app_user, stack.wp_app_password,
                               **FAST_RETRIES) as other_client:  # nothing cached
        assert await other_client.ensure_tag(fresh.upper()) == created


async def test_find_post_by_source_id_in_drafts_and_published(wp: WordPressClient) -> None:
    draft_source, published_source = unique("draft"), unique("published")
    draft = await wp.create_post(title="d", meta={SOURCE_ID_META: draft_source})
    published = await wp.create_post(title="p", status="publish",
                                     meta={SOURCE_ID_META: published_source})

    found_draft = await wp.find_post_by_source_id(draft_source)
    found_published = await wp.find_post_by_source_id(published_source)
    assert found_draft is not None
    assert found_published is not None
    assert (found_draft["id"], found_draft["status"]) == (draft["id"], "draft")
    assert (found_published["id"], found_published["status"]) == (published["id"], "publish")
    assert await wp.find_post_by_source_id(unique("never-imported")) is None


async def test_wrong_application_password_is_an_auth_error(stack: Stack) -> None:
    async with WordPressClient(stack.wp_url, stack.wp_app_user, "abcd efgh ijkl mnop qrst uvwx",
                               **FAST_RETRIES) as client:
        with pytest.raises(WordPressAuthError) as caught:
            await client.whoami()
    assert caught.value.message.startswith(
        f"WordPress at {stack.wp_url} refused the application password for user "
        f"'{stack.wp_app_user}' (wrong or revoked)")


async def test_user_without_rights_is_an_auth_error(stack: Stack) -> None:
    subscriber = stack.create_user(unique("reader"), role="subscriber")
    async with WordPressClient(stack.wp_url, subscriber["login"], subscriber["app_password"],
                               **FAST_RETRIES) as client:
        assert (await client.whoami())["roles"] == ["subscriber"]
        with pytest.raises(WordPressAuthError) as caught:
            await client.create_post(title="not allowed")
    assert caught.value.message.startswith(
        f"WordPress user '{subscriber['login']}' lacks the rights to create a post")


# ---------------------------------------------------------------- faults


async def test_dead_wordpress_is_transient_after_retries() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with WordPressClient(url, "admin", "pw", **FAST_RETRIES) as client:
        with pytest.raises(TransientError) as caught:
            await client.whoami()
    assert caught.value.retryable
    assert caught.value.message.startswith(
        f"WordPress at {url} did not read the current user after 3 attempts; "
        "last: could not connect (ConnectError")


@dataclass
class ScriptedServer:
    """A tiny HTTP server answering from a script (the last answer repeats)."""

    answers: list[tuple[int, str, bytes]]
    requests: list[str] = field(default_factory=list)
    url: str = ""
    date: str | None = None  # the Date header, when not the real time
    retry_after: str | None = None


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    script = ScriptedServer(answers=[])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            script.requests.append(self.path)
            index = min(len(script.requests), len(script.answers)) - 1
            status, content_type, body = script.answers[index]
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if script.retry_after is not None:
                self.send_header("Retry-After", script.retry_after)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.do_GET()

        def date_time_string(self, timestamp: float | None = None) -> str:
            return script.date or super().date_time_string(timestamp)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as address:
        script.url = f"http://{address}"
        yield script


UNAVAILABLE = (503, "text/html", b"<h1>Service Unavailable</h1>")


async def test_503_is_retried_then_transient(scripted: ScriptedServer) -> None:
    scripted.answers = [UNAVAILABLE]
    async with WordPressClient(scripted.url, "admin", "pw", **FAST_RETRIES) as client:
        with pytest.raises(TransientError) as caught:
            await client.whoami()
    assert scripted.requests == ["/wp-json/wp/v2/users/me?context=edit"] * 3
    assert caught.value.message == (
        f"WordPress at {scripted.url} did not read the current user after 3 attempts; "
        "last: HTTP 503 Service Unavailable")


@pytest.mark.parametrize(("date", "retry_after"), [
    ("not a date", "Wed, 21 Oct 2015 07:28:00 GMT"),  # a malformed Date
    ("Wed, 21 Oct 2015 07:28:00 -0000", "Wed, 21 Oct 2015 07:28:05 GMT"),  # a naive Date
    ("Wed, 21 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 07:28:05 -0000"),  # naive Retry-After
    ("Wed, 21 Oct 2015 07:28:00 GMT", "soon"),
])
async def test_a_retry_after_that_cannot_be_read_is_ignored(
    scripted: ScriptedServer, date: str, retry_after: str
) -> None:
    scripted.answers = [UNAVAILABLE]
    scripted.date, scripted.retry_after = date, retry_after
    async with WordPressClient(scripted.url, "admin", "pw", **FAST_RETRIES) as client:
        with pytest.raises(TransientError, match="after 3 attempts; last: HTTP 503"):
            await client.whoami()
    assert len(scripted.requests) == 3


async def test_a_creation_looks_itself_up_once_before_each_try_again(
        scripted: ScriptedServer) -> None:
    # One retry policy, no retries inside retries (sidecar/jobs/retry.py): A tries of the
    # creation and one lookup try before each of the A-1 tries again, 2A-1 requests.
    scripted.answers = [UNAVAILABLE]
    async with WordPressClient(scripted.url, "admin", "pw", **FAST_RETRIES) as client:
        with pytest.raises(TransientError, match="did not create a post after 3 attempts"):
            await client.create_post(title="t", meta={SOURCE_ID_META: "once-1"})
    kinds = ["lookup" if "igbridge_source_id" in path else "create"
             for path in scripted.requests]
    assert kinds == ["create", "lookup", "create", "lookup", "create"]


async def test_503_then_an_answer_succeeds(scripted: ScriptedServer) -> None:
    me = {"id": 1, "slug": "admin"}
    scripted.answers = [UNAVAILABLE, UNAVAILABLE,
                        (200, "application/json; charset=UTF-8", json.dumps(me).encode())]
    async with WordPressClient(scripted.url, "admin", "pw", **FAST_RETRIES) as client:
        assert await client.whoami() == me
    assert len(scripted.requests) == 3


async def test_html_instead_of_json_is_a_clear_error(scripted: ScriptedServer) -> None:
    scripted.answers = [(200, "text/html; charset=UTF-8", b"<html>home page</html>")]
    async with WordPressClient(scripted.url, "admin", "pw", **FAST_RETRIES) as client:
        with pytest.raises(WordPressError, match="instead of JSON: the REST API is not at "
                                                 r"/wp-json/ \(plain permalinks\?"):
            await client.whoami()
    assert len(scripted.requests) == 1


async def test_lookup_refuses_answers_that_ignored_the_filter(
        scripted: ScriptedServer) -> None:
    other_posts = [{"id": 7, "meta": {SOURCE_ID_META: "someone-else"}}, {"id": 8, "meta": []}]
    scripted.answers = [(200, "application/json", json.dumps(other_posts).encode())]
    async with WordPressClient(scripted.url, "admin", "pw", **FAST_RETRIES) as client:
        with pytest.raises(WordPressError, match="is the igbridge plugin active"):
            await client.find_post_by_source_id("abc")


async def test_read_timeout_is_transient() -> None:
    # The kernel accepts the connection into the backlog; nobody ever answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        async with WordPressClient(url, "admin", "pw", timeout=httpx.Timeout(0.2),
                                   **FAST_RETRIES) as client:
            with pytest.raises(TransientError, match=r"after 3 attempts; last: timed out "
                                                     r"\(ReadTimeout\)"):
                await client.whoami()


# ---------------------------------------------------------------- batches (real WordPress)


async def test_batch_creates_finds_and_publishes_several_posts(wp: WordPressClient) -> None:
    # Source ids with a comma and spaces: the lookup sends a list, never a joined string.
    sources = [unique("batch, one"), unique("batch two"), unique("batch3")]
    drafts = await wp.create_posts(
        [{"title": f"Batch {n}", "meta": {SOURCE_ID_META: s}} for n, s in enumerate(sources)],
        answer="id")
    assert all(isinstance(d, dict) for d in drafts), drafts
    ids = [int(d["id"]) for d in drafts if isinstance(d, dict)]
    assert len(set(ids)) == 3

    found = await wp.find_posts_by_source_ids([*sources, unique("never-imported")])
    assert {s: (p["id"], p["status"]) for s, p in found.items()} == {
        s: (i, "draft") for s, i in zip(sources, ids, strict=True)}

    published = await wp.update_posts([(i, {"status": "publish"}) for i in ids],
                                      answer="id,status")
    assert published == [{"id": i, "status": "publish"} for i in ids]


async def test_a_refused_post_in_a_batch_fails_alone(wp: WordPressClient) -> None:
    [draft] = await wp.create_posts([{"title": "kept", "meta": {SOURCE_ID_META: unique("k")}}])
    assert isinstance(draft, dict)
    answers = await wp.update_posts([(draft["id"], {"status": "publish"}),
                                     (999_999_999, {"status": "publish"})], answer="id")
    assert answers[0] == {"id": draft["id"]}
    assert isinstance(answers[1], WordPressRefusal)
    assert answers[1].wp_code == "rest_post_invalid_id"
    assert answers[1].message.startswith("WordPress refused to update post 999999999: ")


async def test_a_second_create_for_a_source_id_answers_the_first_post(
        wp: WordPressClient) -> None:
    # The plugin refuses the copy (409) and names the post; the client takes that post.
    source, other = unique("once"), unique("new")
    first = await wp.create_post(title="first", meta={SOURCE_ID_META: source})
    answers = await wp.create_posts([{"title": "again", "meta": {SOURCE_ID_META: source}},
                                     {"title": "other", "meta": {SOURCE_ID_META: other}}],
                                    answer="id")
    alone = await wp.create_posts([{"title": "again", "meta": {SOURCE_ID_META: source}}])
    assert answers[0] == alone[0] == {"id": first["id"], "status": "draft"}
    assert isinstance(answers[1], dict)
    assert answers[1]["id"] != first["id"]
    found = await wp.find_posts_by_source_ids([source])
    assert found[source]["id"] == first["id"]
    with pytest.raises(WordPressRefusal) as caught:  # asked directly, it is a refusal
        await wp.create_post(title="third", meta={SOURCE_ID_META: source})
    assert caught.value.wp_code == "igbridge_source_exists"
    assert caught.value.http_status == 409


async def test_lookup_of_many_ids_is_refused_beyond_the_plugins_limit(stack: Stack) -> None:
    auth = (stack.wp_app_user, stack.wp_app_password)
    async with httpx.AsyncClient(base_url=f"{stack.wp_url}/wp-json", auth=auth) as client:
        reply = await client.get("/wp/v2/posts", params={
            "igbridge_source_id[]": [f"id{n}" for n in range(101)], "status": "any"})
    assert reply.status_code == 400, reply.text
    assert reply.json()["code"] == "rest_invalid_param"


# ---------------------------------------------------------------- batches (faults)


@dataclass
class FakeBatchWordPress:
    """Just enough of WordPress for batches: ``/batch/v1`` creates posts, the lookup finds
    them. The first batch is answered too late (after ``stall`` seconds): it went through,
    but its client gave up waiting."""

    stall: float
    applied_first: int | None = None  # how many posts of the first batch WordPress made
    posts: list[dict[str, object]] = field(default_factory=list)
    batches: int = 0
    url: str = ""


@pytest.fixture
def fake_batches() -> Iterator[FakeBatchWordPress]:
    fake = FakeBatchWordPress(stall=1.0)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            wanted = set(query.get("igbridge_source_id[]", []))
            with lock:
                found = [p for p in fake.posts
                         if p["meta"][SOURCE_ID_META] in wanted]  # type: ignore[index]
            self._answer(200, found)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                fake.batches += 1
                first = fake.batches == 1
                made = []
                requests = body["requests"]
                if first and fake.applied_first is not None:
                    requests = requests[:fake.applied_first]
                for request in requests:
                    post = {"id": 100 + len(fake.posts), "status": "draft",
                            "meta": request["body"]["meta"]}
                    fake.posts.append(post)
                    made.append({"status": 201, "body": {"id": post["id"]}})
            if first:
                time.sleep(fake.stall)
            self._answer(207, {"responses": made})

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as address:
        fake.url = f"http://{address}"
        yield fake


async def test_a_batch_that_went_through_unheard_is_not_sent_again(
        fake_batches: FakeBatchWordPress) -> None:
    sources = ["s1", "s2", "s3"]
    async with WordPressClient(fake_batches.url, "admin", "pw", timeout=httpx.Timeout(0.3),
                               **FAST_RETRIES) as client:
        answers = await client.create_posts(
            [{"title": s, "meta": {SOURCE_ID_META: s}} for s in sources], answer="id")
    # The retry looked first, found all three, and created nothing more.
    assert fake_batches.batches == 1
    assert [a["id"] for a in answers if isinstance(a, dict)] == [100, 101, 102]


async def test_a_batch_half_done_unheard_fails_the_rest_for_a_retry(
        fake_batches: FakeBatchWordPress) -> None:
    fake_batches.applied_first = 1  # PHP died after the first post
    async with WordPressClient(fake_batches.url, "admin", "pw", timeout=httpx.Timeout(0.3),
                               **FAST_RETRIES) as client:
        answers = await client.create_posts(
            [{"title": s, "meta": {SOURCE_ID_META: s}} for s in ("h1", "h2", "h3")])
    assert fake_batches.batches == 1  # not sent again: its fate is unknown
    assert answers[0] == {"id": 100, "status": "draft", "meta": {SOURCE_ID_META: "h1"}}
    assert [type(a) for a in answers[1:]] == [TransientError, TransientError]
    assert "dropped the request that created the post of h2" in str(answers[1])


async def test_a_batch_that_made_nothing_is_sent_again(
        fake_batches: FakeBatchWordPress) -> None:
    fake_batches.applied_first = 0
    async with WordPressClient(fake_batches.url, "admin", "pw", timeout=httpx.Timeout(0.3),
                               **FAST_RETRIES) as client:
        answers = await client.create_posts(
            [{"title": s, "meta": {SOURCE_ID_META: s}} for s in ("n1", "n2")], answer="id")
    assert fake_batches.batches == 2
    assert answers == [{"id": 100}, {"id": 101}]


async def test_an_older_plugin_is_named_when_it_refuses_a_list_of_ids(
        scripted: ScriptedServer) -> None:
    scripted.answers = [(400, "application/json", json.dumps({
        "code": "rest_invalid_param", "message": "Invalid parameter(s): igbridge_source_id",
        "data": {"status": 400, "params": {
            "igbridge_source_id": "igbridge_source_id is not of type string."}}}).encode())]
    async with WordPressClient(scripted.url, "admin", "pw", **FAST_RETRIES) as client:
        with pytest.raises(WordPressError, match=r"igbridge plugin on .* is older than this "
                                                 r"sidecar"):
            await client.find_posts_by_source_ids(["a", "b"])
    assert "igbridge_source_id%5B%5D=a&igbridge_source_id%5B%5D=b" in scripted.requests[0]


async def test_a_wordpress_without_batches_says_what_it_needs(
        scripted: ScriptedServer) -> None:
    scripted.answers = [(404, "application/json", json.dumps({
        "code": "rest_no_route", "message": "No route was found matching the URL and "
        "request method.", "data": {"status": 404}}).encode())]
    async with WordPressClient(scripted.url, "admin", "pw", **FAST_RETRIES) as client:
        with pytest.raises(WordPressError, match=r"has no batch endpoint .*WordPress 5\.6 or "
                                                 r"later"):
            await client.update_posts([(1, {"status": "publish"}), (2, {"status": "publish"})])
