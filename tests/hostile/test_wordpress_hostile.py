"""The WordPress side under hostile callers and hostile captions, on the real stack.

1. Every ``igbridge/v1`` route (read from the namespace index, so a new route is probed
   without editing this file) refuses anonymous callers and subscribers, with cookie +
   nonce and with an application password.
2. Captions written to break out of markup (``</p><script>``, attribute injection,
   block-comment injection) are imported through the real sidecar and stay text: in
   ``content.raw``, in WordPress' own block parse, on the rendered post page and in
   wp-admin's post list.
"""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from dev.stack import Stack
from sidecar.sample.make_sample import instagram_text, png_bytes
from tests.support.sse import iter_frames

NAMESPACE = "igbridge/v1"
PASSWORD = "hostile-subscriber-" + uuid.uuid4().hex[:10]
# Arguments that pass each route's validation (core validates before the permission
# callback): keyed by the route's regex as the index lists it.
VALID_BODIES: dict[str, dict[str, Any]] = {
    "/igbridge/v1/jobs": {"kind": "import", "source": {"type": "apify", "username": "natgeo"}},
    "/igbridge/v1/commands": {"text": "status"},
    "/igbridge/v1/uploads": {"name": "export.zip", "size": 100},
    "/igbridge/v1/sources": {"type": "apify", "username": "natgeo"},
    "/igbridge/v1/deleted/restore": {"source_ids": ["ig_1"]},
}
# A GET's arguments are checked before its permission too: these make it valid.
VALID_QUERIES: dict[str, dict[str, Any]] = {
    "/igbridge/v1/deleted": {"source_ids[]": "ig_1"},
}


def sidecar_up(stack: Stack) -> None:
    if "sidecar" not in stack.processes:
        pytest.skip("the stack runs without its sidecar (IGBRIDGE_TEST_STACK_SIDECAR=0)")


# -- who may call igbridge/v1 ---------------------------------------------------------------


@pytest.fixture(scope="module")
def routes(stack: Stack) -> list[tuple[str, str]]:
    index = httpx.get(f"{stack.wp_url}/wp-json/{NAMESPACE}", timeout=30)
    assert index.status_code == 200, index.text[:300]
    found = []
    for route, description in index.json()["routes"].items():
        if route == f"/{NAMESPACE}":
            continue
        for method in description["methods"]:
            if method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                found.append((method, route))
    assert len(found) >= 9, found  # at least what the plugin had when this was written
    return sorted(found)


# A numeric id must be 1 or more (core checks it before the permission).
ID_CANDIDATES = ("abc-123", "1", "0" * 32)


def concrete(route: str) -> str:
    """A URL path for a route regex: each named group filled with a plausible id that
    its own pattern accepts (an upload's id, a saved source's 32 hex digits …)."""
    def plausible(group: re.Match[str]) -> str:
        return next(c for c in ID_CANDIDATES if re.fullmatch(group[1], c))
    return re.sub(r"\(\?P<\w+>([^)]*)\)", plausible, route)


@pytest.fixture(scope="module")
def subscriber(stack: Stack) -> dict[str, Any]:
    user = stack.create_user(f"hostile{uuid.uuid4().hex[:8]}", role="subscriber")
    stack.wp_php(f"wp_set_password({json.dumps(PASSWORD)}, {int(user['id'])});")
    return user


@pytest.fixture(scope="module")
def subscriber_cookie(stack: Stack, subscriber: dict[str, Any]) -> Iterator[httpx.Client]:
    client = httpx.Client(timeout=30)
    client.cookies.set("wordpress_test_cookie", "WP Cookie check")
    login = client.post(f"{stack.wp_url}/wp-login.php", data={
        "log": subscriber["login"], "pwd": PASSWORD, "testcookie": "1",
        "redirect_to": f"{stack.wp_url}/wp-admin/"})
    assert login.status_code == 302, login.text[:300]
    nonce = client.get(f"{stack.wp_url}/wp-admin/admin-ajax.php", params={"action": "rest-nonce"})
    assert nonce.status_code == 200
    assert nonce.text.isalnum(), nonce.text[:200]
    client.headers["X-WP-Nonce"] = nonce.text
    yield client
    client.close()


@pytest.fixture(scope="module")
def subscriber_app(subscriber: dict[str, Any]) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30,
                      auth=(subscriber["login"], subscriber["app_password"])) as client:
        yield client


def test_the_subscriber_identities_are_real(stack: Stack, subscriber: dict[str, Any],
                                            subscriber_cookie: httpx.Client,
                                            subscriber_app: httpx.Client) -> None:
    """Control: both credentials are accepted by core, so a refusal below is the plugin's."""
    for client in (subscriber_cookie, subscriber_app):
        me = client.get(f"{stack.wp_url}/wp-json/wp/v2/users/me")
        assert (me.status_code, me.json()["id"]) == (200, subscriber["id"])


def probe(client: httpx.Client, stack: Stack, method: str, route: str) -> httpx.Response:
    body = VALID_BODIES.get(route) if method == "POST" else None
    query = VALID_QUERIES.get(route) if method == "GET" else None
    return client.request(method, f"{stack.wp_url}/wp-json{concrete(route)}", json=body,
                          params=query)


def assert_refused(response: httpx.Response, status: int, what: str) -> None:
    assert response.status_code == status, f"{what}: {response.status_code} {response.text[:300]}"
    body = response.json()
    assert body["code"] == "rest_forbidden", f"{what}: {body}"
    assert set(body) == {"code", "message", "data"}, f"{what}: {body}"
    assert body["data"] == {"status": status}, f"{what}: {body}"


def test_anonymous_is_refused_everywhere(stack: Stack, routes: list[tuple[str, str]]) -> None:
    with httpx.Client(timeout=30) as anonymous:
        for method, route in routes:
            assert_refused(probe(anonymous, stack, method, route), 401,
                           f"anonymous {method} {route}")


def test_subscriber_cookie_and_nonce_is_refused_everywhere(
    stack: Stack, routes: list[tuple[str, str]], subscriber_cookie: httpx.Client
) -> None:
    for method, route in routes:
        assert_refused(probe(subscriber_cookie, stack, method, route), 403,
                       f"subscriber (cookie) {method} {route}")


def test_subscriber_application_password_is_refused_everywhere(
    stack: Stack, routes: list[tuple[str, str]], subscriber_app: httpx.Client
) -> None:
    for method, route in routes:
        assert_refused(probe(subscriber_app, stack, method, route), 403,
                       f"subscriber (application password) {method} {route}")


# -- captions that try to become markup -------------------------------------------------------

TOKEN = "igbx" + uuid.uuid4().hex[:8]  # marks every hostile string, to find it wherever it lands
CAPTIONS = [
    f"</p><script>alert('{TOKEN}-1')</script><p>",
    f'"><img src=x onerror=alert("{TOKEN}-2")>',
    f"before <!-- /wp:paragraph -->\n<!-- wp:html --><script>alert('{TOKEN}-3')</script>"
    "<!-- /wp:html -->\n<!-- wp:paragraph --> after",
    f"<svg/onload=alert('{TOKEN}-4')> & &amp; &lt;b&gt; ]]> --> {TOKEN}-4",
    f"@x\"onmouseover=alert('{TOKEN}-5') <a href=\"javascript:alert('{TOKEN}-5')\">"
    f"click</a>\n\n<style>body{{display:none}}</style>#{TOKEN}tag",
]


def hostile_export(folder: Path) -> Path:
    posts = []
    files = {}
    for n, caption in enumerate(CAPTIONS):
        uri = f"media/posts/202401/{TOKEN}-{n}.png"
        corners = [((n * 53) % 256, 20, 200), (10, (n * 97) % 256, 30), (250, 250, 0),
                   (0, 0, (n * 31) % 256)]
        files[uri] = png_bytes(16, 16, corners)
        posts.append({"media": [{"uri": uri, "creation_timestamp": 1704067200 + n * 3600,
                                 "title": instagram_text(caption)}]})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("your_instagram_activity/media/posts_1.json",
                         json.dumps(posts, ensure_ascii=True))
        for name, data in files.items():
            archive.writestr(name, data)
    path = folder / f"hostile-{TOKEN}.zip"
    path.write_bytes(out.getvalue())
    return path


@pytest.fixture(scope="module")
def imported(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The hostile export imported by the stack's sidecar; the WordPress posts it made."""
    sidecar_up(stack)
    path = hostile_export(tmp_path_factory.mktemp("hostile-export"))
    headers = {"Authorization": f"Bearer {stack.sidecar_secret}"}
    started = httpx.post(f"{stack.sidecar_url}/api/jobs", headers=headers, timeout=30,
                         json={"kind": "import", "source": {"type": "export", "path": str(path)}})
    assert started.status_code == 202, started.text
    job_id = started.json()["job_id"]
    with httpx.stream("GET", f"{stack.sidecar_url}/api/progress/stream/{job_id}",
                      params={"last_event_id": 0}, headers=headers,
                      timeout=httpx.Timeout(180, connect=5)) as stream:
        for _frame in iter_frames(stream):
            pass  # a one-session stream ends after the job's terminal event
    job = httpx.get(f"{stack.sidecar_url}/api/jobs/{job_id}", headers=headers, timeout=30).json()
    assert (job["status"], job["counts"]["imported"]) == ("complete", len(CAPTIONS)), job
    posts = []
    for item in job["items"]:
        post = httpx.get(f"{stack.wp_url}/wp-json/wp/v2/posts/{item['wp_post_id']}",
                         params={"context": "edit"}, timeout=30,
                         headers={"Authorization": stack.wp_basic_auth})
        assert post.status_code == 200, post.text[:300]
        posts.append(post.json())
    return posts


class Markup(HTMLParser):
    """Every element, attribute, script/style body and comment of a document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.raw_text: list[str] = []  # bodies of <script> and <style>
        self.comments: list[str] = []
        self.text: list[str] = []
        self._in_raw = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))
        self._in_raw = tag in ("script", "style")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        self._in_raw = False

    def handle_data(self, data: str) -> None:
        (self.raw_text if self._in_raw else self.text).append(data)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def parse(html: str) -> Markup:
    markup = Markup()
    markup.feed(html)
    markup.close()
    return markup


def assert_token_only_in_text(html: str, where: str) -> Markup:
    """The token may appear as text; never as an element, in an attribute, in a script or
    style body, or in a comment."""
    markup = parse(html)
    for tag, attrs in markup.elements:
        for name, value in attrs:
            assert TOKEN not in name, f"{where}: attribute {name} on <{tag}>"
            if name.startswith("on") or (value or "").lower().startswith("javascript:"):
                assert TOKEN not in (value or ""), f"{where}: <{tag} {name}={value!r}>"
            if tag in ("img", "svg") and name in ("src", "onerror", "onload"):
                assert value != "x", f"{where}: injected <{tag} {name}=x>"
    for body in markup.raw_text:
        assert TOKEN not in body, f"{where}: the caption reached a script or style: {body[:200]}"
    for comment in markup.comments:
        assert TOKEN not in comment, f"{where}: the caption reached a comment: {comment[:200]}"
    return markup


def test_captions_stay_text_in_the_stored_content(imported: list[dict[str, Any]]) -> None:
    allowed = {"figure", "img", "p", "br", "a"}
    for post in imported:
        raw = post["content"]["raw"]
        markup = assert_token_only_in_text(raw, f"post {post['id']} content.raw")
        assert {tag for tag, _ in markup.elements} <= allowed, raw
        for tag, attrs in markup.elements:
            names = {name for name, _ in attrs}
            assert not any(n.startswith("on") for n in names), (tag, attrs)
            if tag == "a":
                assert dict(attrs)["href"].startswith("https://www.instagram.com/"), attrs
        assert TOKEN in "".join(markup.text)  # the caption is there, as text
        # Block delimiters are only the importer's own: one image, then paragraphs.
        opened = re.findall(r"<!-- wp:([a-z/-]+)", raw)
        closed = re.findall(r"<!-- /wp:([a-z/-]+) -->", raw)
        assert opened[0] == "image", raw
        assert set(opened[1:]) == {"paragraph"}, raw
        assert opened == closed, raw


def test_captions_stay_text_for_the_block_parser(stack: Stack,
                                                 imported: list[dict[str, Any]]) -> None:
    ids = [post["id"] for post in imported]
    out = stack.wp_php(f"""
$result = array();
foreach ({json.dumps(ids)} as $id) {{
    $names = array();
    foreach (parse_blocks(get_post($id)->post_content) as $block) {{
        if ($block['blockName'] !== null || trim($block['innerHTML']) !== '') {{
            $names[] = $block['blockName'];
        }}
    }}
    $result[$id] = $names;
}}
echo wp_json_encode($result);
""")
    blocks = json.loads(out.strip().splitlines()[-1])
    for post in imported:
        names = blocks[str(post["id"])]
        assert names[0] == "core/image", names
        assert names[1:], names
        assert set(names[1:]) == {"core/paragraph"}, names  # no core/html, no freeform


def test_titles_stay_text(imported: list[dict[str, Any]]) -> None:
    for post in imported:
        markup = assert_token_only_in_text(post["title"]["raw"], f"post {post['id']} title")
        assert markup.elements == [], post["title"]["raw"]


def test_the_rendered_content_runs_no_caption_script(imported: list[dict[str, Any]]) -> None:
    """``content.rendered`` is the post body after the_content (blocks, wpautop, texturize)."""
    for post in imported:
        rendered = assert_token_only_in_text(post["content"]["rendered"], f"post {post['id']}")
        assert TOKEN in "".join(rendered.text)
        title = assert_token_only_in_text(post["title"]["rendered"], f"title {post['id']}")
        assert title.elements == [], post["title"]["rendered"]


def test_the_search_page_runs_no_caption_script(stack: Stack,
                                                imported: list[dict[str, Any]]) -> None:
    """The theme's search results list every hostile post: titles and excerpts as text."""
    page = httpx.get(stack.wp_url + "/", params={"s": TOKEN}, timeout=30)
    assert page.status_code == 200
    markup = assert_token_only_in_text(page.text, "search page")
    assert "".join(markup.text).count(TOKEN) >= len(CAPTIONS)


def test_the_rendered_post_pages_run_no_caption_script(stack: Stack,
                                                       imported: list[dict[str, Any]]) -> None:
    for post in imported:
        page = httpx.get(post["link"], timeout=30, follow_redirects=True)
        assert page.status_code == 200, post["link"]
        markup = assert_token_only_in_text(page.text, post["link"])
        assert TOKEN in "".join(markup.text), post["link"]


def test_the_admin_post_list_shows_titles_as_text(stack: Stack,
                                                  imported: list[dict[str, Any]]) -> None:
    with httpx.Client(timeout=30) as admin:
        admin.cookies.set("wordpress_test_cookie", "WP Cookie check")
        login = admin.post(f"{stack.wp_url}/wp-login.php", data={
            "log": stack.wp_admin_user, "pwd": stack.wp_admin_password, "testcookie": "1",
            "redirect_to": f"{stack.wp_url}/wp-admin/"})
        assert login.status_code == 302
        listing = admin.get(f"{stack.wp_url}/wp-admin/edit.php", params={"s": TOKEN})
    assert listing.status_code == 200
    markup = assert_token_only_in_text(listing.text, "wp-admin/edit.php")
    assert TOKEN in "".join(markup.text)
