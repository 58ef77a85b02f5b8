"""The Apify token saved from wp-admin, and the check behind "Test connection", with
the real apify-client v3 against the fake Apify server (which answers a bad token as
the real API does: 401 ``user-or-token-not-found``, see /work/shared/APIFY.md)."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from dev.stack import free_port
from sidecar.errors import ValidationFailed
from sidecar.sources.apify_token import ApifyToken, TokenStatus, check_token
from tests.fakes.apify_server import FakeApify


@pytest.fixture
def fake() -> Iterator[FakeApify]:
    with FakeApify() as server:
        yield server


async def test_a_saved_token_is_kept_0600_and_never_answered(tmp_path: Path) -> None:
    token = ApifyToken("", tmp_path)
    assert (await token.status(), await token.current()) == (TokenStatus(False, None), "")
    saved = await token.save("  apify_api_Secret\\With/Odd+Chars  ")
    assert saved.to_json() == {"set": True, "source": "saved"}
    assert await token.current() == "apify_api_Secret\\With/Odd+Chars"
    path = tmp_path / "apify-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["apify-token"]  # no temporary left
    # A second sidecar process (or a restart) reads the same token.
    assert await ApifyToken("", tmp_path).current() == "apify_api_Secret\\With/Odd+Chars"
    assert (await token.clear()).to_json() == {"set": False, "source": None}
    assert not path.exists()
    assert (await token.clear()).set is False  # clearing twice is fine


async def test_the_environment_variable_wins(tmp_path: Path) -> None:
    token = ApifyToken("from-the-environment", tmp_path)
    assert (await token.save("from-wp-admin")).to_json() == {"set": True,
                                                             "source": "environment"}
    assert await token.current() == "from-the-environment"
    assert (await token.clear()).to_json() == {"set": True, "source": "environment"}


@pytest.mark.parametrize("bad", ["", "   ", "has space", "tab\there", "é" * 3, "x" * 201])
async def test_a_malformed_token_is_refused_and_the_saved_one_kept(tmp_path: Path,
                                                                   bad: str) -> None:
    token = ApifyToken("", tmp_path)
    await token.save("the-good-one")
    with pytest.raises(ValidationFailed) as refused:
        await token.save(bad)
    assert refused.value.message == ("an Apify token is 1 to 200 printable ASCII characters "
                                     "without spaces")
    assert await token.current() == "the-good-one"


async def test_check_accepts_a_valid_token(fake: FakeApify) -> None:
    assert await check_token(fake.token, fake.url) == {
        "ok": True, "status": "ok", "username": "igbridge-fake",
        "message": "Apify accepts the token (user igbridge-fake).",
    }
    assert [(r.method, r.path) for r in fake.requests] == [("GET", "/v2/users/me")]


async def test_check_names_a_refused_token(fake: FakeApify) -> None:
    assert await check_token("not-the-token", fake.url) == {
        "ok": False, "status": "invalid", "username": None,
        "message": f"Apify at {fake.url} refused the token (user-or-token-not-found): enter "
                   "a valid token under Settings → igbridge.",
    }


async def test_check_without_a_token_asks_nobody(fake: FakeApify) -> None:
    result = await check_token("", fake.url)
    assert (result["ok"], result["status"]) == (False, "not_set")
    assert result["message"].startswith("No Apify token is set: enter it under Settings")
    assert fake.requests == []


async def test_check_names_an_unreachable_apify() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    result = await check_token("any-token", closed)
    assert (result["ok"], result["status"]) == (False, "unreachable")
    assert result["message"].startswith(f"Apify at {closed} could not be reached: ")


async def test_check_reports_an_apify_outage_without_retrying(fake: FakeApify) -> None:
    fake.fail_next(1, 503)
    result = await check_token(fake.token, fake.url)
    assert result == {"ok": False, "status": "error", "username": None,
                      "message": f"Apify at {fake.url} answered 503 (internal-server-error): "
                                 "Service Unavailable"}
    assert len(fake.requests) == 1
