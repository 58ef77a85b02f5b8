"""Every sidecar route, probed with credentials that must not work.

Routes come from the live /openapi.json (the SSE endpoints included). Each probe must
be refused (401/403) with a body that is only ``{"error": {"code", "message"}}`` and
holds nothing of the target session. A refused stream answers at once, so every read
here is bounded by a short timeout and never waits on a live stream.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from sidecar.web.auth import mint_stream_token
from tests.hostile.conftest import ALLOWED_ORIGIN
from tests.support.sidecar_process import SidecarProcess

MARKER = "hostile-marker-operation-7f3a"
# Valid bodies, so that nothing but the credentials can be what refuses a request.
BODIES: dict[str, dict[str, Any]] = {
    "/api/commands": {"text": "status"},
    "/api/jobs": {"kind": "import", "source": {"type": "export", "path": "/nowhere/x.zip"}},
    "/api/progress/sessions": {"operation": "probe", "total_steps": 1},
    "/api/progress/sessions/{session_id}/complete": {"message": "done"},
    "/api/progress/sessions/{session_id}/fail": {"message": "failed"},
    "/api/progress/sessions/{session_id}/updates": {"step": 1, "message": "m"},
    "/api/progress/updates": {"updates": [{"session_id": "probe", "step": 1}]},
    "/api/stream-tokens": {"sessions": ["*"], "ttl": 60},
    "/api/uploads": {"name": "probe.zip", "size": 100},
    "/api/settings/apify-token": {"token": "apify_api_probe"},
    "/api/sources/preview-mapping": {"mapping": {}},
}
PUBLIC = {("GET", "/healthz")}
# A read where a valid token is not enough: the credential is checked first (so a bad
# token is a 401 like anywhere), then refused for needing the secret (403).
NO_TOKEN_PARAMETER = {("GET", "/api/jobs"), ("GET", "/api/uploads"),
                      ("GET", "/api/uploads/{upload_id}"), ("GET", "/api/settings/apify-token"),
                      ("GET", "/api/sources"), ("GET", "/api/sources/{source_id}")}
# Where a stream token is a valid credential (for the sessions it names).
TOKEN_READABLE = {
    ("GET", "/api/progress/status/{session_id}"),
    ("GET", "/api/jobs/{job_id}"),
    ("GET", "/api/jobs/{job_id}/items"),
    ("GET", "/api/jobs/{job_id}/thumbnails/{sha256}"),
    ("GET", "/api/progress/sessions"),
    ("GET", "/api/progress/stream"),
    ("GET", "/api/progress/stream/{session_id}"),
}


@dataclass(frozen=True)
class Target:
    session_id: str  # a job's id, which is also its session's id
    other_session_id: str


@pytest.fixture(scope="module")
def target(hostile_sidecar: SidecarProcess) -> Target:
    with httpx.Client(base_url=hostile_sidecar.url, headers=hostile_sidecar.headers,
                      timeout=10) as api:
        job = api.post("/api/jobs", json={
            "kind": "import", "source": {"type": "export", "path": f"/nowhere/{MARKER}.zip"}})
        assert job.status_code == 202, job.text
        other = api.post("/api/progress/sessions", json={"operation": "someone else's"})
        assert other.status_code == 201, other.text
        return Target(job.json()["session_id"], other.json()["session_id"])


@pytest.fixture(scope="module")
def routes(hostile_sidecar: SidecarProcess) -> list[tuple[str, str]]:
    document = httpx.get(f"{hostile_sidecar.url}/openapi.json", timeout=10).json()
    found = sorted((method.upper(), path) for path, operations in document["paths"].items()
                   for method in operations)
    assert ("GET", "/api/progress/stream") in found
    assert ("GET", "/api/progress/stream/{session_id}") in found
    assert len(found) >= 17
    return found


def request(sidecar: SidecarProcess, method: str, path: str, target: Target, *,
            headers: dict[str, str] | None = None,
            params: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    url = sidecar.url + path.replace("{session_id}", target.session_id).replace(
        "{job_id}", target.session_id)
    query = dict(params or {})
    if path == "/api/progress/stream":
        query["session"] = target.session_id
    with httpx.stream(method, url, headers=headers or {}, params=query,
                      json=BODIES.get(path) if method == "POST" else None,
                      timeout=httpx.Timeout(5.0)) as response:
        # A refusal is a short JSON body; read at most 64 kB so a stream never hangs us.
        body = b""
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > 65536:
                break
        return response.status_code, dict(response.headers), body


def assert_refused(result: tuple[int, dict[str, str], bytes], statuses: set[int],
                   what: str, code: str | None = None) -> None:
    status, headers, body = result
    assert status in statuses, f"{what}: {status} {body[:300]!r}"
    assert headers.get("content-type", "").startswith("application/json"), what
    parsed = json.loads(body)
    assert set(parsed) == {"error"}, f"{what}: {parsed}"
    assert set(parsed["error"]) == {"code", "message"}, f"{what}: {parsed}"
    if code is not None:
        assert parsed["error"]["code"] == code, f"{what}: {parsed}"
    assert MARKER.encode() not in body, f"{what} leaked the target: {body[:300]!r}"


def each_protected(routes: list[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    return (route for route in routes if route not in PUBLIC and route[1] != "/openapi.json")


def test_without_credentials(hostile_sidecar: SidecarProcess, target: Target,
                             routes: list[tuple[str, str]]) -> None:
    for method, path in each_protected(routes):
        assert_refused(request(hostile_sidecar, method, path, target), {401},
                       f"{method} {path} without credentials", "unauthorized")


def test_wrong_secret_and_wrong_scheme(hostile_sidecar: SidecarProcess, target: Target,
                                       routes: list[tuple[str, str]]) -> None:
    wrong = {
        "wrong secret": f"Bearer {hostile_sidecar.secret}x",
        "secret prefix": f"Bearer {str(hostile_sidecar.secret)[:-1]}",
        "basic scheme": "Basic " + base64.b64encode(f"x:{hostile_sidecar.secret}".encode())
        .decode(),
        "bearer without a value": "Bearer",
    }
    for method, path in each_protected(routes):
        for what, header in wrong.items():
            assert_refused(request(hostile_sidecar, method, path, target,
                                   headers={"Authorization": header}),
                           {401}, f"{method} {path} with {what}", "unauthorized")


def test_a_token_for_another_session(hostile_sidecar: SidecarProcess, target: Target,
                                     routes: list[tuple[str, str]]) -> None:
    minted = httpx.post(f"{hostile_sidecar.url}/api/stream-tokens", timeout=10,
                        headers=hostile_sidecar.headers,
                        json={"sessions": [target.other_session_id], "ttl": 300})
    assert minted.status_code == 201, minted.text
    token = minted.json()["token"]
    for method, path in each_protected(routes):
        for how, kwargs in (("?token=", {"params": {"token": token}}),
                            ("bearer token", {"headers": {"Authorization": f"Bearer {token}"}})):
            what = f"{method} {path} with a {how} for another session"
            result = request(hostile_sidecar, method, path, target, **kwargs)
            if (method, path) == ("GET", "/api/progress/sessions"):
                # Listing is allowed with a token, and shows only the token's sessions.
                status, _headers, body = result
                assert status == 200, what
                listed = [s["session_id"] for s in json.loads(body)["sessions"]]
                assert listed == [target.other_session_id], what
            elif (method, path) in TOKEN_READABLE or (method, path) in NO_TOKEN_PARAMETER:
                assert_refused(result, {403}, what, "forbidden")
            else:
                assert_refused(result, {401}, what, "unauthorized")


def forged_tokens(secret: str, session_id: str) -> dict[str, str]:
    expired, _ = mint_stream_token(secret, [session_id], 60, now=time.time() - 3600)
    good, _ = mint_stream_token(secret, ["someone-else"], 300)
    version, payload, signature = good.split(".")
    widened = base64.urlsafe_b64encode(json.dumps(
        {"s": ["*"], "exp": int(time.time()) + 300}).encode()).rstrip(b"=").decode()
    other_key, _ = mint_stream_token(secret + "-not-ours", [session_id], 300)
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    return {
        "expired": expired,
        "payload widened to *": f"{version}.{widened}.{signature}",
        "signature flipped": f"{version}.{payload}.{flipped}",
        "signed with another secret": other_key,
        "no signature": f"{version}.{payload}.",
        "unknown version": f"v2.{payload}.{signature}",
        "garbage": "not-a-token",
        "too many parts": f"{good}.extra",
    }


def test_expired_and_tampered_tokens(hostile_sidecar: SidecarProcess, target: Target,
                                     routes: list[tuple[str, str]]) -> None:
    assert hostile_sidecar.secret is not None
    tokens = forged_tokens(hostile_sidecar.secret, target.session_id)
    for method, path in each_protected(routes):
        for what, token in tokens.items():
            result = request(hostile_sidecar, method, path, target, params={"token": token})
            # Every read checks a ?token= before anything else; writes never take one.
            code = "token_expired" if what == "expired" and method == "GET" else "unauthorized"
            assert_refused(result, {401}, f"{method} {path} with an {what} token", code)


def test_a_foreign_origin_is_refused_even_with_the_secret(
    hostile_sidecar: SidecarProcess, target: Target, routes: list[tuple[str, str]]
) -> None:
    for method, path in routes:
        for origin in ("http://evil.test", f"{ALLOWED_ORIGIN}.evil.test", "null",
                       ALLOWED_ORIGIN.replace("http://", "https://")):
            result = request(hostile_sidecar, method, path, target,
                             headers={**hostile_sidecar.headers, "Origin": origin})
            assert_refused(result, {403}, f"{method} {path} from {origin}", "forbidden")
            assert "access-control-allow-origin" not in result[1], f"{method} {path}"


def test_a_foreign_preflight_is_refused(hostile_sidecar: SidecarProcess, target: Target,
                                        routes: list[tuple[str, str]]) -> None:
    for _method, path in routes:
        result = request(hostile_sidecar, "OPTIONS", path, target, headers={
            "Origin": "http://evil.test", "Access-Control-Request-Method": "POST"})
        assert_refused(result, {403}, f"OPTIONS {path}", "forbidden")
        assert "access-control-allow-origin" not in result[1]


def test_the_allowed_origin_is_answered(hostile_sidecar: SidecarProcess,
                                        target: Target) -> None:
    """Control for the origin probes: the same request from the allowed origin works."""
    status, headers, body = request(hostile_sidecar, "GET", "/api/progress/status/{session_id}",
                                    target, headers={**hostile_sidecar.headers,
                                                     "Origin": ALLOWED_ORIGIN})
    assert (status, headers["access-control-allow-origin"]) == (200, ALLOWED_ORIGIN)
    assert json.loads(body)["session_id"] == target.session_id
