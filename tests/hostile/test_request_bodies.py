"""Request bodies a client can send but should not: each is the client's fault (4xx with
the error shape), never the sidecar's (500)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.sidecar_process import SidecarProcess

JSON = {"Content-Type": "application/json"}
BODY_ROUTES = ["/api/progress/sessions", "/api/progress/updates", "/api/jobs", "/api/commands",
               "/api/stream-tokens"]


@pytest.fixture(scope="module")
def client(hostile_sidecar: SidecarProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hostile_sidecar.url, headers=hostile_sidecar.headers,
                      timeout=15) as api:
        yield api


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    body = response.json()
    assert (response.status_code, set(body), set(body["error"]), body["error"]["code"]) == (
        status, {"error"}, {"code", "message"}, code), response.text


@pytest.mark.parametrize("route", BODY_ROUTES)
def test_a_body_that_is_not_utf8_is_a_bad_request(client: httpx.Client, route: str) -> None:
    assert_error(client.post(route, content=b'{"text": "\xff\xfe"}', headers=JSON),
                 400, "bad_request")


@pytest.mark.parametrize("route", BODY_ROUTES)
def test_deeply_nested_json_is_a_bad_request(client: httpx.Client, route: str) -> None:
    depth = 100_000  # 200 kB, well under the 2 MB body limit
    assert_error(client.post(route, content=b"[" * depth + b"]" * depth, headers=JSON),
                 400, "bad_request")


@pytest.mark.parametrize("route", BODY_ROUTES)
def test_json_that_is_not_an_object_is_refused(client: httpx.Client, route: str) -> None:
    for body in (b"[]", b"null", b'"text"', b"12"):
        assert_error(client.post(route, content=body, headers=JSON), 422, "validation_error")


@pytest.mark.parametrize("route", BODY_ROUTES)
def test_broken_json_is_a_bad_request(client: httpx.Client, route: str) -> None:
    assert_error(client.post(route, content=b'{"text": ', headers=JSON), 400, "bad_request")


@pytest.mark.parametrize("route", BODY_ROUTES)
def test_a_body_over_the_limit_is_refused_unread(client: httpx.Client, route: str) -> None:
    body = b'{"text": "' + b"a" * (3 * 1024 * 1024) + b'"}'
    # The server answers 413 and closes without reading the rest; now and then the
    # close wins the race with the client's upload and the client sees a broken
    # connection instead of the answer. That is the same refusal: ask again.
    for _attempt in range(3):
        try:
            response = client.post(route, content=body, headers=JSON)
        except (httpx.WriteError, httpx.ReadError, httpx.RemoteProtocolError):
            continue
        assert_error(response, 413, "too_large")
        return
    raise AssertionError(f"{route}: three uploads cut without a 413 answer")


def test_non_finite_and_huge_numbers_are_refused(client: httpx.Client) -> None:
    for raw in (b"NaN", b"Infinity", b"1e400", b"-1", b"1000000001"):
        response = client.post("/api/progress/sessions", headers=JSON,
                               content=b'{"operation": "x", "total_steps": ' + raw + b"}")
        assert_error(response, 422, "validation_error")
