"""The plugin's REST surface against a real WordPress (and the real sidecar).

Who may call ``igbridge/v1`` (capability + nonce), that it proxies to the sidecar
with the secret and never hands the secret out, the settings screen's masking, and
the ``_igbridge_source_id`` meta lookup the importer relies on for dedupe.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dev.stack import Stack, free_port
from tests.fakes.media_files import png
from tests.support.media_server import wait_for

NAMESPACE = "igbridge/v1"
SUBSCRIBER_PASSWORD = "subscriber-pass-" + uuid.uuid4().hex[:8]
SAMPLE_EXPORT = Path(__file__).resolve().parents[2] / "sidecar" / "sample" / (
    "instagram-export-sample.zip")

# Every igbridge/v1 route, with a body that passes argument validation: core checks
# arguments before the permission callback, so only a valid request proves the
# capability check itself refuses.
ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "jobs", None),
    ("POST", "jobs", {"kind": "import", "source": {"type": "apify", "username": "natgeo"}}),
    ("POST", "jobs", {"kind": "import", "source": {"type": "preview", "job_id": "abc-123",
                                                   "select": ["17841400000000001"]}}),
    ("POST", "sources/0123456789abcdef0123456789abcdef/preview", None),
    ("GET", "jobs/abc-123", None),
    ("GET", "jobs/abc-123/items", None),
    ("POST", "jobs/abc-123/cancel", None),
    ("POST", "jobs/abc-123/retry", None),
    ("POST", "commands", {"text": "bulk import @natgeo"}),
    ("POST", "stream-token", None),
    ("GET", "test-connection", None),
    ("GET", "uploads", None),
    ("POST", "uploads", {"name": "export.zip", "size": 100}),
    ("GET", "uploads/abcdefghijklmnop0123", None),
    ("POST", "uploads/abcdefghijklmnop0123", None),
    ("DELETE", "uploads/abcdefghijklmnop0123", None),
    ("GET", "media/1/users", None),
]


def route_url(stack: Stack, path: str) -> str:
    return f"{stack.wp_url}/wp-json/{NAMESPACE}/{path}"


def call(client: httpx.Client, stack: Stack, method: str, path: str,
         body: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
    return client.request(method, route_url(stack, path), json=body, **kwargs)


def cookie_login(stack: Stack, user: str, password: str) -> httpx.Client:
    """A client holding WordPress' login cookies, as a browser after wp-login.php."""
    client = httpx.Client(timeout=30)
    client.cookies.set("wordpress_test_cookie", "WP Cookie check")
    response = client.post(f"{stack.wp_url}/wp-login.php", data={
        "log": user, "pwd": password, "testcookie": "1",
        "redirect_to": f"{stack.wp_url}/wp-admin/",
    })
    assert response.status_code == 302, response.text[:500]
    assert any(name.startswith("wordpress_logged_in_") for name in client.cookies), \
        f"login as {user} set no logged-in cookie"
    return client


def rest_nonce(client: httpx.Client, stack: Stack) -> str:
    """The wp_rest nonce for the logged-in user (core's own rest-nonce ajax action)."""
    response = client.get(f"{stack.wp_url}/wp-admin/admin-ajax.php",
                          params={"action": "rest-nonce"})
    assert response.status_code == 200, response.text[:300]
    assert response.text.isalnum(), response.text[:300]
    return response.text


def error_code(response: httpx.Response) -> str:
    body = response.json()
    return str(body.get("code") or body.get("error", {}).get("code"))


def set_settings(stack: Stack, settings: dict[str, Any]) -> None:
    encoded = json.dumps(json.dumps(settings))
    stack.wp_php(f"update_option('igbridge_settings', json_decode({encoded}, true));")


def get_settings(stack: Stack) -> dict[str, Any]:
    out = stack.wp_php("echo wp_json_encode(get_option('igbridge_settings'));")
    settings: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return settings


def needs_sidecar(stack: Stack) -> None:
    if "sidecar" not in stack.processes:
        pytest.skip("the stack runs without its sidecar (IGBRIDGE_TEST_STACK_SIDECAR=0)")


@pytest.fixture(scope="module")
def admin_app(stack: Stack) -> Iterator[httpx.Client]:
    """The admin, authenticated with the application password (no cookie, no nonce)."""
    with httpx.Client(timeout=30, headers={"Authorization": stack.wp_basic_auth}) as client:
        yield client


@pytest.fixture(scope="module")
def admin_cookie(stack: Stack) -> Iterator[httpx.Client]:
    client = cookie_login(stack, stack.wp_admin_user, stack.wp_admin_password)
    yield client
    client.close()


@pytest.fixture(scope="module")
def subscriber_cookie(stack: Stack) -> Iterator[httpx.Client]:
    login = f"sub{uuid.uuid4().hex[:8]}"
    stack.wp_php(f"""
$id = wp_insert_user(array('user_login' => {json.dumps(login)},
    'user_pass' => {json.dumps(SUBSCRIBER_PASSWORD)},
    'user_email' => {json.dumps(login + '@example.test')}, 'role' => 'subscriber'));
if (is_wp_error($id)) {{ fwrite(STDERR, $id->get_error_message()); exit(1); }}
""")
    client = cookie_login(stack, login, SUBSCRIBER_PASSWORD)
    yield client
    client.close()


@pytest.fixture
def restore_settings(stack: Stack) -> Iterator[dict[str, Any]]:
    """The settings as the stack wrote them, put back after the test changes them."""
    original = get_settings(stack)
    try:
        yield original
    finally:
        set_settings(stack, original)


# ---------------------------------------------------------------- who may call


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_anonymous_is_refused_on_every_route(stack: Stack, method: str, path: str,
                                             body: dict[str, Any] | None) -> None:
    with httpx.Client(timeout=30) as anonymous:
        response = call(anonymous, stack, method, path, body)
    assert (response.status_code, error_code(response)) == (401, "rest_forbidden")


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_subscriber_with_valid_nonce_is_refused(stack: Stack, subscriber_cookie: httpx.Client,
                                                method: str, path: str,
                                                body: dict[str, Any] | None) -> None:
    nonce = rest_nonce(subscriber_cookie, stack)
    response = call(subscriber_cookie, stack, method, path, body, headers={"X-WP-Nonce": nonce})
    assert (response.status_code, error_code(response)) == (403, "rest_forbidden")


def test_subscriber_nonce_is_real(stack: Stack, subscriber_cookie: httpx.Client) -> None:
    """Control for the test above: the same cookie + nonce is accepted by core for /users/me."""
    nonce = rest_nonce(subscriber_cookie, stack)
    response = subscriber_cookie.get(f"{stack.wp_url}/wp-json/wp/v2/users/me",
                                     headers={"X-WP-Nonce": nonce})
    assert response.status_code == 200
    assert response.json()["slug"].startswith("sub")


def test_admin_cookie_without_nonce_is_refused(stack: Stack, admin_cookie: httpx.Client) -> None:
    # Core treats a cookie without a nonce as anonymous, so the capability check fails.
    response = call(admin_cookie, stack, "GET", "test-connection")
    assert (response.status_code, error_code(response)) == (401, "rest_forbidden")


def test_admin_cookie_with_wrong_nonce_is_refused(stack: Stack,
                                                  admin_cookie: httpx.Client) -> None:
    response = call(admin_cookie, stack, "GET", "test-connection",
                    headers={"X-WP-Nonce": "0123456789"})
    assert (response.status_code, error_code(response)) == (403, "rest_cookie_invalid_nonce")


def test_admin_cookie_with_nonce_is_accepted(stack: Stack, admin_cookie: httpx.Client) -> None:
    nonce = rest_nonce(admin_cookie, stack)
    response = call(admin_cookie, stack, "GET", "test-connection", headers={"X-WP-Nonce": nonce})
    assert response.status_code == 200
    assert set(response.json()) == {"ok", "status", "message", "url", "sidecar_version",
                                    "plugin_version", "apify"}


def test_capability_is_filterable(stack: Stack, subscriber_cookie: httpx.Client) -> None:
    """`igbridge_capability` set to `read` (via a mu-plugin) lets a subscriber in."""
    mu_dir = stack.wp_dir / "wp-content" / "mu-plugins"
    mu_dir.mkdir(exist_ok=True)
    mu_plugin = mu_dir / "igbridge-test-capability.php"
    mu_plugin.write_text("<?php\nadd_filter('igbridge_capability', fn () => 'read');\n")
    try:
        nonce = rest_nonce(subscriber_cookie, stack)
        response = call(subscriber_cookie, stack, "GET", "test-connection",
                        headers={"X-WP-Nonce": nonce})
    finally:
        mu_plugin.unlink()
    assert response.status_code == 200
    assert response.json()["plugin_version"] == "0.1.0"


# ---------------------------------------------------------------- proxying to the sidecar


def test_jobs_are_the_sidecars_answers(stack: Stack, admin_app: httpx.Client) -> None:
    needs_sidecar(stack)
    bearer = {"Authorization": f"Bearer {stack.sidecar_secret}"}
    # A job that ends at once (its only URL is refused), so both reads see the same job.
    started = httpx.post(f"{stack.sidecar_url}/api/jobs", headers=bearer, timeout=30, json={
        "kind": "cache_images",
        "source": {"type": "urls", "urls": [f"http://127.0.0.1:{free_port()}/nothing.jpg"]}})
    assert started.status_code == 202, started.text
    job_id = started.json()["job_id"]

    def direct_job() -> dict[str, Any]:
        answer: dict[str, Any] = httpx.get(f"{stack.sidecar_url}/api/jobs/{job_id}",
                                           headers=bearer, timeout=30).json()
        return answer

    wait_for(lambda: direct_job()["status"] in {"complete", "error", "cancelled"}, timeout=30)
    one = call(admin_app, stack, "GET", f"jobs/{job_id}")
    assert (one.status_code, one.json()) == (200, direct_job())
    listed = call(admin_app, stack, "GET", "jobs", params={"status": one.json()["status"],
                                                           "limit": 200})
    assert listed.status_code == 200
    assert job_id in [j["job_id"] for j in listed.json()["jobs"]]
    items = call(admin_app, stack, "GET", f"jobs/{job_id}/items")
    direct_items = httpx.get(f"{stack.sidecar_url}/api/jobs/{job_id}/items", headers=bearer,
                             timeout=30)
    assert (items.status_code, items.json()) == (200, direct_items.json())


def test_jobs_and_items_page_through_the_proxy_as_on_the_sidecar(
        stack: Stack, admin_app: httpx.Client) -> None:
    needs_sidecar(stack)
    bearer = {"Authorization": f"Bearer {stack.sidecar_secret}"}
    nowhere = f"http://127.0.0.1:{free_port()}"
    started = [httpx.post(f"{stack.sidecar_url}/api/jobs", headers=bearer, timeout=30, json={
        "kind": "cache_images",
        "source": {"type": "urls", "urls": [f"{nowhere}/{n}-{i}.jpg" for i in range(3)]},
    }).json()["job_id"] for n in range(3)]

    def finished() -> bool:
        jobs = [httpx.get(f"{stack.sidecar_url}/api/jobs/{j}", headers=bearer,
                          timeout=30).json() for j in started]
        return all(j["status"] in {"complete", "error", "cancelled"} for j in jobs)

    wait_for(finished, timeout=30)
    # The newest two, then the next page by the sidecar's own cursor, passed on as it is.
    first = call(admin_app, stack, "GET", "jobs", params={"limit": 2})
    assert first.status_code == 200, first.text
    assert [j["job_id"] for j in first.json()["jobs"]] == started[:0:-1]
    cursor = first.json()["next_cursor"]
    second = call(admin_app, stack, "GET", "jobs", params={"limit": 2, "cursor": cursor})
    direct = httpx.get(f"{stack.sidecar_url}/api/jobs", params={"limit": 2, "cursor": cursor},
                       headers=bearer, timeout=30)
    assert (second.status_code, second.json()) == (200, direct.json())
    assert second.json()["jobs"][0]["job_id"] == started[0]

    page = call(admin_app, stack, "GET", f"jobs/{started[0]}/items", params={"limit": 2})
    assert page.status_code == 200, page.text
    assert [i["source_id"] for i in page.json()["items"]] == [f"{nowhere}/0-0.jpg",
                                                             f"{nowhere}/0-1.jpg"]
    rest = call(admin_app, stack, "GET", f"jobs/{started[0]}/items",
                params={"limit": 2, "cursor": page.json()["next_cursor"]})
    assert [i["source_id"] for i in rest.json()["items"]] == [f"{nowhere}/0-2.jpg"]
    assert rest.json()["next_cursor"] is None
    bad = call(admin_app, stack, "GET", "jobs", params={"cursor": "no cursor <here>"})
    assert (bad.status_code, error_code(bad)) == (400, "rest_invalid_param")


def test_test_connection_reports_ok(stack: Stack, admin_app: httpx.Client) -> None:
    needs_sidecar(stack)
    response = call(admin_app, stack, "GET", "test-connection")
    assert response.status_code == 200
    result = response.json()
    assert (result["ok"], result["status"], result["url"], result["sidecar_version"]) == (
        True, "ok", stack.sidecar_url, "0.1.0")


def test_stream_token_is_minted_for_all_sessions(stack: Stack, admin_app: httpx.Client) -> None:
    needs_sidecar(stack)
    response = call(admin_app, stack, "POST", "stream-token")
    assert response.status_code == 201
    token = response.json()
    assert token["sessions"] == ["*"]
    assert isinstance(token["token"], str)
    assert token["token"]
    assert 200 <= token["expires_at"] - time.time() <= 301
    # Never cached: ours says no-store; core's no-cache headers for logged-in users may win.
    assert {"no-store", "no-cache"} & {part.strip() for part in
                                      response.headers["cache-control"].split(",")}


def test_unknown_command_passes_the_sidecars_hint(stack: Stack, admin_app: httpx.Client) -> None:
    needs_sidecar(stack)
    response = call(admin_app, stack, "POST", "commands", {"text": "make me a sandwich"})
    direct = httpx.post(f"{stack.sidecar_url}/api/commands", timeout=30,
                        json={"text": "make me a sandwich"},
                        headers={"Authorization": f"Bearer {stack.sidecar_secret}"})
    assert direct.status_code == 422
    assert (response.status_code, response.json()) == (422, direct.json())


def test_unknown_job_is_the_sidecars_404(stack: Stack, admin_app: httpx.Client) -> None:
    needs_sidecar(stack)
    response = call(admin_app, stack, "GET", "jobs/no-such-job")
    assert response.status_code == 404
    assert "error" in response.json()


def test_wrong_secret_is_named(stack: Stack, admin_app: httpx.Client,
                               restore_settings: dict[str, Any]) -> None:
    needs_sidecar(stack)
    set_settings(stack, {**restore_settings, "secret": "not-the-secret-" + uuid.uuid4().hex})
    response = call(admin_app, stack, "GET", "jobs")
    assert (response.status_code, error_code(response)) == (502, "igbridge_sidecar_auth")
    assert "the shared secret does not match" in response.json()["message"]
    check = call(admin_app, stack, "GET", "test-connection").json()
    assert (check["ok"], check["status"], check["sidecar_version"]) == (False, "auth", "0.1.0")


def test_unreachable_sidecar_is_named_with_its_url(stack: Stack, admin_app: httpx.Client,
                                                   restore_settings: dict[str, Any]) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    set_settings(stack, {**restore_settings, "internal_url": closed})
    response = call(admin_app, stack, "GET", "jobs")
    assert (response.status_code, error_code(response)) == (502, "igbridge_sidecar_unreachable")
    assert closed in response.json()["message"]
    check = call(admin_app, stack, "GET", "test-connection").json()
    assert (check["ok"], check["status"], check["url"]) == (False, "unreachable", closed)
    assert closed in check["message"]


def test_bad_job_requests_are_refused_with_the_reason(stack: Stack,
                                                      admin_app: httpx.Client) -> None:
    bad_kind = call(admin_app, stack, "POST", "jobs",
                    {"kind": "delete_everything", "source": {"type": "apify", "username": "x"}})
    assert (bad_kind.status_code, error_code(bad_kind)) == (400, "rest_invalid_param")
    assert "kind" in bad_kind.json()["data"]["params"]
    bad_user = call(admin_app, stack, "POST", "jobs",
                    {"kind": "scrape", "source": {"type": "apify", "username": "<b>x</b>"}})
    assert (bad_user.status_code, error_code(bad_user)) == (400, "rest_invalid_param")
    # A path on the WordPress host is not a source the plugin passes on: exports are uploads.
    outside = call(admin_app, stack, "POST", "jobs",
                   {"kind": "import", "source": {"type": "export", "path": "/etc/passwd"}})
    assert (outside.status_code, error_code(outside)) == (400, "igbridge_source_uploads")
    bad_id = call(admin_app, stack, "POST", "jobs",
                  {"kind": "import", "source": {"type": "export", "upload_ids": ["../x"]}})
    assert (bad_id.status_code, error_code(bad_id)) == (400, "rest_invalid_param")


# ---------------------------------------------------------------- the secret stays secret


def test_secret_never_reaches_the_browser(stack: Stack, admin_cookie: httpx.Client,
                                          admin_app: httpx.Client) -> None:
    secret = stack.sidecar_secret
    assert len(secret) >= 12
    dashboard = admin_cookie.get(f"{stack.wp_url}/wp-admin/admin.php", params={"page": "igbridge"})
    settings = admin_cookie.get(f"{stack.wp_url}/wp-admin/options-general.php",
                                params={"page": "igbridge-settings"})
    assert (dashboard.status_code, settings.status_code) == (200, 200)
    assert 'id="igbridge-jobs-body"' in dashboard.text
    assert "igbridge-test-connection" in settings.text
    # Only calls that start nothing: a started Apify job would try to reach the internet.
    starts_something = {("POST", "jobs"), ("POST", "commands"), ("POST", "uploads")}
    answers = [call(admin_app, stack, method, path, body) for method, path, body in ROUTES
               if (method, path) not in starts_something]
    for text in [dashboard.text, settings.text, *(answer.text for answer in answers)]:
        assert secret not in text
        assert secret[-8:] not in text


def test_settings_page_shows_only_a_masked_secret(stack: Stack,
                                                  admin_cookie: httpx.Client) -> None:
    page = admin_cookie.get(f"{stack.wp_url}/wp-admin/options-general.php",
                            params={"page": "igbridge-settings"}).text
    secret = stack.sidecar_secret
    assert f"••••••••{secret[-4:]}" in page
    assert 'name="igbridge_settings[secret]" value=""' in page
    assert f'value="{stack.sidecar_url}"' in page


def test_saving_settings_with_a_blank_secret_keeps_it(stack: Stack, admin_cookie: httpx.Client,
                                                      restore_settings: dict[str, Any]) -> None:
    page = admin_cookie.get(f"{stack.wp_url}/wp-admin/options-general.php",
                            params={"page": "igbridge-settings"}).text
    nonce = page.split('name="_wpnonce" value="', 1)[1].split('"', 1)[0]
    response = admin_cookie.post(f"{stack.wp_url}/wp-admin/options.php", data={
        "option_page": "igbridge", "action": "update", "_wpnonce": nonce,
        "igbridge_settings[public_url]": "http://127.0.0.1:9/ ",
        "igbridge_settings[internal_url]": "javascript:alert(1)",
        "igbridge_settings[secret]": "",
        "igbridge_settings[apify_limit]": "35",
    })
    assert response.status_code == 302
    assert get_settings(stack) == {  # the refused internal URL keeps the stored one
        "public_url": "http://127.0.0.1:9", "internal_url": restore_settings["internal_url"],
        "secret": restore_settings["secret"], "apify_limit": 35,
    }


def test_config_for_the_script_is_json_without_the_secret(stack: Stack,
                                                          admin_cookie: httpx.Client) -> None:
    page = admin_cookie.get(f"{stack.wp_url}/wp-admin/admin.php", params={"page": "igbridge"}).text
    line = page.split("window.igbridgeConfig = ", 1)[1].split(";\n", 1)[0]
    config = json.loads(line)
    assert set(config) == {"restUrl", "nonce", "publicUrl", "adminUrl", "homeUrl", "i18n",
                           "apifyLimit", "uploadChunkBytes", "settingsUrl", "loginUrl",
                           "previewUrl"}
    assert config["previewUrl"] == (f"{stack.wp_url}/wp-admin/admin.php"
                                    "?page=igbridge-preview&job=")
    assert config["uploadChunkBytes"] == 8 * 1024 * 1024  # php -S here: post_max_size=64M
    assert config["settingsUrl"] == (f"{stack.wp_url}/wp-admin/options-general.php"
                                     "?page=igbridge-settings#igbridge-test-connection")
    assert config["loginUrl"].startswith(f"{stack.wp_url}/wp-login.php?redirect_to=")
    assert (config["restUrl"], config["publicUrl"]) == (
        f"{stack.wp_url}/wp-json/{NAMESPACE}/", stack.sidecar_url)
    module_tag = page.split("id='igbridge-admin-js'", 1)[0].rsplit("<script", 1)[1]
    assert module_tag.startswith(' type="module" src=')
    assert "assets/admin.js" in module_tag
    other = admin_cookie.get(f"{stack.wp_url}/wp-admin/index.php").text
    assert "igbridge-admin-js" not in other
    assert "igbridgeConfig" not in other


# ---------------------------------------------------------------- source-id meta lookup


def find_by_source_id(client: httpx.Client, stack: Stack, source_id: str,
                      **params: str) -> httpx.Response:
    return client.get(f"{stack.wp_url}/wp-json/wp/v2/posts",
                      params={"igbridge_source_id": source_id, "context": "edit", **params})


def test_posts_are_found_by_source_id_in_any_status(stack: Stack,
                                                    admin_app: httpx.Client) -> None:
    source_id = f"ig_{uuid.uuid4().hex}"
    created = admin_app.post(f"{stack.wp_url}/wp-json/wp/v2/posts", json={
        "title": "draft from Instagram", "status": "draft",
        "meta": {"_igbridge_source_id": source_id,
                 "_igbridge_permalink": "https://www.instagram.com/p/ABC123/"},
    })
    assert created.status_code == 201, created.text
    post = created.json()
    assert post["meta"] == {"_igbridge_source_id": source_id,
                            "_igbridge_permalink": "https://www.instagram.com/p/ABC123/",
                            # What the import wrote, hashed (repair reads them): unset.
                            "_igbridge_content_hash": "", "_igbridge_caption_hash": "",
                            "_igbridge_title_hash": "",
                            # Geodata, registered for REST: unset, so REST's defaults.
                            "geo_address": "", "geo_latitude": 0, "geo_longitude": 0,
                            "geo_public": 0}
    other = admin_app.post(f"{stack.wp_url}/wp-json/wp/v2/posts", json={
        "title": "another", "status": "publish", "meta": {"_igbridge_source_id": source_id + "x"},
    })
    assert other.status_code == 201

    def ids(response: httpx.Response) -> list[int]:
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()]

    assert ids(find_by_source_id(admin_app, stack, source_id, status="any")) == [post["id"]]
    assert ids(find_by_source_id(admin_app, stack, source_id,
                                 status="draft,publish,pending,future,private")) == [post["id"]]
    # The default list holds only published posts.
    assert ids(find_by_source_id(admin_app, stack, source_id)) == []
    assert ids(find_by_source_id(admin_app, stack, source_id + "x")) == [other.json()["id"]]
    assert ids(find_by_source_id(admin_app, stack, "ig_nothing_" + uuid.uuid4().hex,
                                 status="any")) == []


def test_drafts_stay_hidden_from_anonymous_lookups(stack: Stack, admin_app: httpx.Client) -> None:
    source_id = f"ig_{uuid.uuid4().hex}"
    created = admin_app.post(f"{stack.wp_url}/wp-json/wp/v2/posts", json={
        "title": "private draft", "status": "draft", "meta": {"_igbridge_source_id": source_id}})
    assert created.status_code == 201
    with httpx.Client(timeout=30) as anonymous:
        any_status = anonymous.get(f"{stack.wp_url}/wp-json/wp/v2/posts",
                                   params={"igbridge_source_id": source_id, "status": "any"})
        published = anonymous.get(f"{stack.wp_url}/wp-json/wp/v2/posts",
                                  params={"igbridge_source_id": source_id})
    assert any_status.status_code in (400, 401)
    assert (published.status_code, published.json()) == (200, [])


def test_subscriber_cannot_write_source_meta(stack: Stack) -> None:
    user = stack.create_user(f"author{uuid.uuid4().hex[:8]}", role="subscriber")
    auth = (user["login"], user["app_password"])
    response = httpx.post(f"{stack.wp_url}/wp-json/wp/v2/posts", auth=auth, timeout=30, json={
        "title": "x", "status": "draft", "meta": {"_igbridge_source_id": "ig_forged"}})
    assert response.status_code == 403


def test_media_users_names_the_posts_that_show_or_feature_an_attachment_and_its_twins(
        stack: Stack, admin_app: httpx.Client) -> None:
    """What repair asks before it deletes a broken attachment: who else uses it."""
    wp = f"{stack.wp_url}/wp-json/wp/v2"
    uploaded = admin_app.post(f"{wp}/media", content=png(), headers={
        "Content-Type": "image/png", "Content-Disposition": 'attachment; filename="used.png"'})
    assert uploaded.status_code == 201, uploaded.text
    media = uploaded.json()["id"]

    def post(**fields: Any) -> int:
        created = admin_app.post(f"{wp}/posts", json={"status": "draft", **fields})
        assert created.status_code == 201, created.text
        return int(created.json()["id"])

    image = post(title="image", content=f'<img src="x.png" class="wp-image-{media} size-large"/>')
    video = post(title="video", content=f'<!-- wp:video {{"id":{media}}} --><!-- /wp:video -->')
    featuring = post(title="featured", featured_media=media)
    post(title="longer id", content=f'<img class="wp-image-{media}0"/> {{"id":{media}1}}')
    trashed = post(title="trashed", content=f'<img class="wp-image-{media}"/>')
    assert admin_app.delete(f"{wp}/posts/{trashed}").status_code == 200  # to the trash
    # A second attachment record of the very same file (deleting one deletes the file).
    twin = int(stack.wp_php(
        f"$file = get_post_meta({media}, '_wp_attached_file', true);"
        "echo wp_insert_attachment(array('post_title' => 'twin', 'post_mime_type' => "
        "'image/png', 'post_status' => 'inherit'), $file);").strip())

    reply = admin_app.get(f"{stack.wp_url}/wp-json/{NAMESPACE}/media/{media}/users")

    assert reply.status_code == 200, reply.text
    assert reply.json() == {"post_ids": sorted([image, video, featuring, trashed]),
                            "same_file_ids": [twin]}
    alone = admin_app.get(f"{stack.wp_url}/wp-json/{NAMESPACE}/media/{twin}/users")
    assert alone.json() == {"post_ids": [], "same_file_ids": [media]}
    # Ids that name no attachment are refused, saying which part is wrong.
    zero = admin_app.get(f"{stack.wp_url}/wp-json/{NAMESPACE}/media/0/users")
    assert (zero.status_code, zero.json()["code"]) == (400, "rest_invalid_param")
    assert "id" in zero.json()["data"]["params"]
    word = admin_app.get(f"{stack.wp_url}/wp-json/{NAMESPACE}/media/abc/users")
    assert (word.status_code, word.json()["code"]) == (404, "rest_no_route")


# ---------------------------------------------------------------- uninstall


def test_uninstall_removes_the_options_and_what_old_versions_uploaded(
        stack: Stack, admin_app: httpx.Client, restore_settings: dict[str, Any]) -> None:
    legacy = stack.wp_dir / "wp-content" / "uploads" / "igbridge"
    legacy.mkdir(parents=True, exist_ok=True)
    (legacy / "Xr4nd0mPr3f1x0123456-export.zip").write_bytes(SAMPLE_EXPORT.read_bytes())
    (legacy / ".htaccess").write_text("Require all denied\n")
    plugin_dir = stack.wp_dir / "wp-content" / "plugins" / "igbridge"
    refused = stack.wp_php(f"include {json.dumps(str(plugin_dir / 'uninstall.php'))}; echo 'ran';")
    assert refused == ""  # without WP_UNINSTALL_PLUGIN it stops at once
    assert get_settings(stack) == restore_settings
    assert legacy.exists()
    out = stack.wp_php(
        "define('WP_UNINSTALL_PLUGIN', 'igbridge/igbridge.php');\n"
        f"include {json.dumps(str(plugin_dir / 'uninstall.php'))};\n"
        "echo wp_json_encode([get_option('igbridge_settings', 'absent'),"
        " get_option('igbridge_legacy_uploads_removed', 'absent')]);")
    assert out.strip().splitlines()[-1] == '["absent","absent"]'
    assert not legacy.exists()
    # The index table goes too; the plugin, still active here, rebuilds it from the
    # posts' meta on its next load.
    assert stack.mysql("SHOW TABLES LIKE 'wp_igbridge_source_posts'").strip() == ""
    source_id = f"ig_{uuid.uuid4().hex}"
    stack.wp_php("wp_insert_post(array('post_title' => 't', 'post_status' => 'draft', "
                 f"'meta_input' => array('_igbridge_source_id' => {json.dumps(source_id)})));")
    assert stack.mysql("SHOW TABLES LIKE 'wp_igbridge_source_posts'").strip() != ""
    found = find_by_source_id(admin_app, stack, source_id, status="any")
    assert [p["meta"]["_igbridge_source_id"] for p in found.json()] == [source_id]
