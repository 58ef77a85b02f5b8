"""Settings → igbridge saved through the real form (wp-admin/options.php) of the real
WordPress: what is typed is what is stored, a refused value keeps the stored one and
says so, and the Apify token goes to the sidecar, never into WordPress or back out.
"""

from __future__ import annotations

import html
import json
import re
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dev.stack import Stack, free_port
from tests.e2e.test_plugin_rest import cookie_login, get_settings, set_settings
from tests.fakes.apify_server import FakeApify
from tests.support.sidecar_process import SidecarProcess

SETTINGS_PAGE = "/wp-admin/options-general.php?page=igbridge-settings"


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Iterator[httpx.Client]:
    client = cookie_login(stack, stack.wp_admin_user, stack.wp_admin_password)
    yield client
    client.close()


@pytest.fixture
def original(stack: Stack) -> Iterator[dict[str, Any]]:
    """The settings as the stack wrote them, put back after the test."""
    before = get_settings(stack)
    try:
        yield before
    finally:
        set_settings(stack, before)


def save_form(stack: Stack, admin: httpx.Client, fields: dict[str, str]) -> str:
    """Submits the settings form as a browser does; returns the page it redirects to."""
    page = admin.get(stack.wp_url + SETTINGS_PAGE).text
    nonce = re.search(r'name="_wpnonce" value="([^"]+)"', page)
    assert nonce, page[:500]
    form = {"option_page": "igbridge", "action": "update", "_wpnonce": nonce[1],
            "_wp_http_referer": SETTINGS_PAGE}
    shown = {"public_url": stack.sidecar_url, "internal_url": "", "secret": "",
             "apify_token": "", "apify_limit": "20"}
    form.update({f"igbridge_settings[{k}]": v for k, v in {**shown, **fields}.items()})
    response = admin.post(f"{stack.wp_url}/wp-admin/options.php", data=form)
    assert response.status_code == 302, response.text[:500]
    assert "settings-updated=true" in response.headers["location"]
    after = admin.get(response.url.join(response.headers["location"]))
    assert after.status_code == 200
    return after.text


def notices(page: str) -> list[str]:
    """The text of every settings notice on the page, as a person reads it."""
    found = re.findall(r"<div id=['\"]setting-error-[^'\"]*['\"] class=['\"]([^'\"]*)['\"]>"
                       r"\s*<p><strong>(.*?)</strong>", page, re.S)
    kinds = {"notice-error": "error", "notice-success": "success", "updated": "success"}
    return [f"{next((v for k, v in kinds.items() if k in css), css)}: {html.unescape(text)}"
            for css, text in found]


# ---------------------------------------------------------------- issue 12, bug 7


def test_a_secret_with_backslashes_is_stored_as_typed(stack: Stack, admin: httpx.Client,
                                                      original: dict[str, Any]) -> None:
    secret = r"C:\new\secret\\" + uuid.uuid4().hex[:8] + '"quoted\'"'
    page = save_form(stack, admin, {"secret": secret})
    assert get_settings(stack)["secret"] == secret
    assert notices(page) == ["success: Settings saved."]


def test_an_invalid_url_keeps_the_stored_one_and_says_so(stack: Stack, admin: httpx.Client,
                                                         original: dict[str, Any]) -> None:
    set_settings(stack, {**original, "internal_url": "http://127.0.0.1:1"})
    page = save_form(stack, admin, {"public_url": "javascript:alert(1)",
                                    "internal_url": "http://user:pw@example.test/",
                                    "apify_limit": "35"})
    assert get_settings(stack) == {**original, "internal_url": "http://127.0.0.1:1",
                                   "apify_limit": 35}
    assert notices(page) == [
        "error: Sidecar URL (browser) is not a valid http(s) URL without user name or "
        f"password: javascript:alert(1). It stays {original['public_url']}.",
        "error: Sidecar URL (WordPress) is not a valid http(s) URL without user name or "
        "password: http://user:pw@example.test/. It stays http://127.0.0.1:1.",
    ]
    # The field shows what is stored, not what was refused.
    form = admin.get(stack.wp_url + SETTINGS_PAGE).text
    assert f'value="{original["public_url"]}"' in form
    assert "javascript:alert" not in form


def test_a_blank_url_is_a_choice_and_an_invalid_limit_keeps_the_stored_one(
        stack: Stack, admin: httpx.Client, original: dict[str, Any]) -> None:
    set_settings(stack, {**original, "internal_url": "http://127.0.0.1:1", "apify_limit": 40})
    page = save_form(stack, admin, {"internal_url": "", "apify_limit": "5000"})
    assert get_settings(stack) == {**original, "internal_url": "", "apify_limit": 40}
    assert notices(page) == ["error: The default Apify limit must be a whole number from 1 "
                             "to 1000; it stays 40."]


# ---------------------------------------------------------------- the Apify token


@pytest.fixture(scope="module")
def apify() -> Iterator[FakeApify]:
    with FakeApify() as fake:
        yield fake


@pytest.fixture
def own_sidecar(stack: Stack, tmp_path: Path, apify: FakeApify,
                original: dict[str, Any]) -> Iterator[SidecarProcess]:
    """A sidecar of this test's own, without APIFY_TOKEN, that WordPress is set to use."""
    sidecar = SidecarProcess(tmp_path / "sidecar-data", env={
        "APIFY_TOKEN": "", "IGBRIDGE_APIFY_API_URL": apify.url}).start()
    set_settings(stack, {**original, "public_url": sidecar.url, "internal_url": sidecar.url,
                         "secret": sidecar.secret})
    try:
        yield sidecar
    finally:
        sidecar.stop()


def token_status(stack: Stack, admin: httpx.Client) -> str:
    page = admin.get(stack.wp_url + SETTINGS_PAGE).text
    found = re.search(r'<span class="description" id="igbridge-apify-token-status">(.*?)</span>',
                      page)
    assert found, page[-2000:]
    return html.unescape(found[1])


def apify_check(stack: Stack) -> dict[str, Any]:
    answer = httpx.get(f"{stack.wp_url}/wp-json/igbridge/v1/test-connection", timeout=30,
                       headers={"Authorization": stack.wp_basic_auth})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()["apify"]
    return result


def test_the_apify_token_goes_to_the_sidecar_and_never_comes_back(
        stack: Stack, admin: httpx.Client, own_sidecar: SidecarProcess,
        apify: FakeApify) -> None:
    urls = {"public_url": own_sidecar.url, "internal_url": own_sidecar.url}
    assert token_status(stack, admin) == "Not set."
    assert apify_check(stack)["status"] == "not_set"

    wrong = "apify_api_wrong" + uuid.uuid4().hex
    page = save_form(stack, admin, {**urls, "apify_token": wrong})
    assert notices(page) == ['success: The Apify token was saved in the sidecar. Use "Test '
                             'connection" to check it.']
    stored = own_sidecar.data_dir / "apify-token"
    assert stored.read_text().strip() == wrong
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert "apify_token" not in json.dumps(get_settings(stack))  # WordPress keeps nothing
    assert wrong not in page
    assert token_status(stack, admin) == "Set (saved in the sidecar)."
    check = apify_check(stack)
    assert (check["ok"], check["status"]) == (False, "invalid")
    assert "refused the token (user-or-token-not-found)" in check["message"]

    save_form(stack, admin, {**urls, "apify_token": apify.token})
    assert apify_check(stack) == {"ok": True, "status": "ok",
                                  "message": "Apify accepts the token (user igbridge-fake)."}
    # A save that leaves the field blank keeps the token.
    save_form(stack, admin, {**urls, "apify_limit": "21"})
    assert stored.read_text().strip() == apify.token

    page = save_form(stack, admin, {**urls, "apify_token_clear": "1"})
    assert notices(page) == ["success: The Apify token saved in the sidecar was removed."]
    assert not stored.exists()
    assert token_status(stack, admin) == "Not set."


def test_a_token_the_sidecar_cannot_take_is_named_and_kept_nowhere(
        stack: Stack, admin: httpx.Client, original: dict[str, Any]) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    token = "apify_api_" + uuid.uuid4().hex
    page = save_form(stack, admin, {"public_url": closed, "internal_url": closed,
                                    "apify_token": token})
    [message] = notices(page)
    assert message.startswith(f"error: The Apify token was not saved: The sidecar at {closed} "
                              "could not be reached: ")
    assert token not in json.dumps(get_settings(stack))
    assert token_status(stack, admin).startswith(
        f"Status unknown: The sidecar at {closed} could not be reached")
    bad = save_form(stack, admin, {"public_url": closed, "internal_url": closed,
                                   "apify_token": "two words"})
    assert notices(bad) == ["error: The Apify token may hold only printable ASCII characters "
                            "without spaces, at most 200; it was not sent to the sidecar."]


def test_the_sidecars_environment_token_wins_and_the_page_says_so(
        stack: Stack, admin: httpx.Client, tmp_path: Path, apify: FakeApify,
        original: dict[str, Any]) -> None:
    sidecar = SidecarProcess(tmp_path / "env-sidecar", env={
        "APIFY_TOKEN": apify.token, "IGBRIDGE_APIFY_API_URL": apify.url}).start()
    try:
        set_settings(stack, {**original, "public_url": sidecar.url,
                             "internal_url": sidecar.url, "secret": sidecar.secret})
        assert token_status(stack, admin) == (
            "Set, by the sidecar's APIFY_TOKEN environment variable (it wins over a token "
            "saved here).")
        page = save_form(stack, admin, {"public_url": sidecar.url, "internal_url": sidecar.url,
                                        "apify_token": "apify_api_from_wp_admin"})
        assert notices(page) == [
            'success: The Apify token was saved in the sidecar. Use "Test connection" to '
            "check it. The sidecar's APIFY_TOKEN environment variable is set, and it is the "
            "token in use."]
        assert apify_check(stack)["status"] == "ok"  # the environment's token, not the saved one
    finally:
        sidecar.stop()
