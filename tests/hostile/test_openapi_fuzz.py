"""Schemathesis against a running sidecar's /openapi.json, over real HTTP.

Every operation is fuzzed with schema-valid (positive) and schema-breaking (negative)
requests, with the bearer secret and without credentials. What must hold:

- no 5xx, ever (``not_a_server_error``);
- a documented status answers with the documented body (``response_schema_conformance``);
- every error is exactly ``{"error": {"code", "message"}}`` and nothing else;
- without credentials nothing but ``/healthz`` answers 2xx;
- every status the sidecar answers is documented (``status_code_conformance``).

The two SSE endpoints are left out of generation: with the secret and no session
filter ``GET /api/progress/stream`` follows every session forever (a heartbeat every
15 s), so a generated request would hang until its timeout and then count as a failure
although the stream behaves. ``test_sidecar_auth_probes.py`` covers them explicitly with
a bounded read.

schemathesis 4.x's pytest plugin (``schemathesis.pytest.from_fixture``) does not run on
pytest 9 (it sets ``Function._nodeid``), so each operation's Hypothesis strategy is
driven here directly; the checks are schemathesis' own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response
from schemathesis.generation.case import Case
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.sidecar_process import SidecarProcess, free_port

STREAMS = [("GET", "/api/progress/stream"), ("GET", "/api/progress/stream/{session_id}")]
# Every operation in /openapi.json except the streams; a new route fails
# test_every_route_is_listed until it is added here (and so fuzzed).
OPERATIONS = [
    ("GET", "/healthz"),
    ("POST", "/api/commands"),
    ("GET", "/api/jobs"),
    ("POST", "/api/jobs"),
    ("GET", "/api/jobs/{job_id}"),
    ("GET", "/api/jobs/{job_id}/items"),
    ("GET", "/api/jobs/{job_id}/thumbnails/{sha256}"),
    ("POST", "/api/jobs/{job_id}/cancel"),
    ("POST", "/api/jobs/{job_id}/retry"),
    ("GET", "/api/progress/sessions"),
    ("POST", "/api/progress/sessions"),
    ("POST", "/api/progress/sessions/{session_id}/cancel"),
    ("POST", "/api/progress/sessions/{session_id}/complete"),
    ("POST", "/api/progress/sessions/{session_id}/fail"),
    ("POST", "/api/progress/sessions/{session_id}/updates"),
    ("POST", "/api/progress/updates"),
    ("GET", "/api/progress/status/{session_id}"),
    ("POST", "/api/stream-tokens"),
    ("GET", "/api/uploads"),
    ("POST", "/api/uploads"),
    ("GET", "/api/uploads/{upload_id}"),
    ("PATCH", "/api/uploads/{upload_id}"),
    ("DELETE", "/api/uploads/{upload_id}"),
    ("GET", "/api/settings/apify-token"),
    ("PUT", "/api/settings/apify-token"),
    ("DELETE", "/api/settings/apify-token"),
    ("POST", "/api/settings/apify-token/check"),
    ("GET", "/api/sources"),
    ("POST", "/api/sources"),
    ("GET", "/api/sources/{source_id}"),
    ("PATCH", "/api/sources/{source_id}"),
    ("DELETE", "/api/sources/{source_id}"),
    ("POST", "/api/sources/{source_id}/sync"),
    ("POST", "/api/sources/{source_id}/preview"),
    ("POST", "/api/sources/{source_id}/repair"),
    ("POST", "/api/sources/preview-mapping"),
]
PUBLIC = {("GET", "/healthz")}
# Reads whose only input is none or a free-form path id: nothing a negative case could
# get wrong.
NO_INPUT = {("GET", "/api/uploads"), ("GET", "/api/settings/apify-token"),
            ("GET", "/api/uploads/{upload_id}"), ("GET", "/api/sources"),
            ("GET", "/api/sources/{source_id}")}
# A closed local port: generated media URLs are pointed here so no request leaves the host.
UNREACHABLE = f"http://127.0.0.1:{free_port()}"

BODY_OPERATIONS = {op for op in OPERATIONS if op[0] in ("POST", "PUT")} - {
    ("POST", "/api/jobs/{job_id}/cancel"), ("POST", "/api/jobs/{job_id}/retry"),
    ("POST", "/api/progress/sessions/{session_id}/cancel"),
    ("POST", "/api/settings/apify-token/check"),
    ("POST", "/api/sources/{source_id}/sync"),
    ("POST", "/api/sources/{source_id}/preview"),
    ("POST", "/api/sources/{source_id}/repair"),
}


def label(operation: tuple[str, str]) -> str:
    return f"{operation[0]} {operation[1]}"


def modes_for(operation: tuple[str, str]) -> list[Any]:
    """Positive always; negative where the schema leaves room for invalid input (an
    operation whose only input is a free-form path id has none)."""
    cases: list[Any] = [pytest.param(operation, GenerationMode.POSITIVE,
                                     id=f"{label(operation)}-positive")]
    if operation in BODY_OPERATIONS or (operation[0] == "GET"
                                        and operation not in PUBLIC | NO_INPUT):
        cases.append(pytest.param(operation, GenerationMode.NEGATIVE,
                                  id=f"{label(operation)}-negative"))
    return cases


FUZZ_CASES = [case for operation in OPERATIONS for case in modes_for(operation)]


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api_schema(hostile_sidecar: SidecarProcess) -> BaseSchema:
    # Credentials are sent by the test itself, never generated: a generated (negative)
    # Authorization header would turn "fuzz with the secret" into "fuzz without".
    config = SchemathesisConfig.from_dict({"generation": {"with-security-parameters": False}})
    return schemathesis.openapi.from_url(f"{hostile_sidecar.url}/openapi.json", config=config)


@pytest.fixture(scope="module")
def known_ids(hostile_sidecar: SidecarProcess) -> Iterator[dict[str, list[str]]]:
    """Ids that exist, so generated requests also reach the code behind the 404s: open
    sessions, a job that fails (its export does not exist), an upload and a saved source."""
    with httpx.Client(base_url=hostile_sidecar.url, headers=hostile_sidecar.headers,
                      timeout=10) as client:
        sessions = []
        for n in range(3):
            reply = client.post("/api/progress/sessions",
                                json={"operation": f"fuzz target {n}", "total_steps": 10})
            assert reply.status_code == 201, reply.text
            sessions.append(reply.json()["session_id"])
        job = client.post("/api/jobs", json={
            "kind": "import", "source": {"type": "export", "path": "/nonexistent/export.zip"}})
        assert job.status_code == 202, job.text
        upload = client.post("/api/uploads", json={"name": "fuzz.zip", "size": 1000})
        assert upload.status_code == 201, upload.text
        source = client.post("/api/sources", json={"type": "apify", "username": "fuzz.target"})
        assert source.status_code == 201, source.text
        yield {"session_id": sessions, "job_id": [job.json()["job_id"]],
               "upload_id": [upload.json()["upload_id"]],
               "source_id": [source.json()["source_id"]]}


def strategy(operation: APIOperation, mode: GenerationMode,
             known_ids: dict[str, list[str]]) -> st.SearchStrategy[Case]:
    """Generated cases, half of them (where the path has an id) aimed at an id that exists."""
    generated = operation.as_strategy(mode)
    names = [p["name"] for p in operation.definition.raw.get("parameters", [])
             if p["in"] == "path"]
    if not names:
        return generated
    name = names[0]
    aimed = st.one_of(*[operation.as_strategy(mode, path_parameters={name: value})
                        for value in known_ids[name]])
    return st.one_of(generated, aimed)


def keep_local(case: Case) -> None:
    """Point generated media URLs at a closed local port (``cache_images`` would fetch them)."""
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("source"), dict):
        urls = body["source"].get("urls")
        if isinstance(urls, list):
            body["source"]["urls"] = [
                f"{UNREACHABLE}/{quote(u, safe='')[:100]}" if isinstance(u, str) and "://" in u
                else u for u in urls
            ]


# -- our own checks, in schemathesis' check signature -------------------------------------


def error_body_is_only_the_error(ctx: CheckContext, response: Response, case: Case) -> None:
    """A 4xx/5xx carries ``{"error": {"code", "message"}}`` and nothing else: no trace,
    no echo of stored data."""
    if response.status_code < 400:
        return
    body = response.json()
    assert isinstance(body, dict), f"error body {body!r}"
    assert set(body) == {"error"}, f"error body {body!r}"
    assert set(body["error"]) == {"code", "message"}, f"error body {body!r}"
    assert all(isinstance(v, str) and v for v in body["error"].values()), f"error {body!r}"
    assert "Traceback" not in body["error"]["message"], body


def refused_without_credentials(ctx: CheckContext, response: Response, case: Case) -> None:
    """Without credentials a protected operation never succeeds. It may refuse an invalid
    request before looking at credentials (400/413/422), which gives nothing away."""
    assert response.status_code in (400, 401, 413, 422), (
        f"{case.operation.label} answered {response.status_code} without credentials")


# -- tests ---------------------------------------------------------------------------------


def test_every_route_is_listed(api_schema: BaseSchema) -> None:
    found = sorted((op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations())
    assert found == sorted(OPERATIONS + STREAMS)


def fuzz(api_schema: BaseSchema, sidecar: SidecarProcess, known_ids: dict[str, list[str]],
         operation: tuple[str, str], mode: GenerationMode, fuzz_settings: settings,
         headers: dict[str, str], checks: list[Any]) -> None:
    method, path = operation
    api_operation = api_schema[path][method]

    @fuzz_settings
    @given(case=strategy(api_operation, mode, known_ids))
    def run(case: Case) -> None:
        keep_local(case)
        response = case.call(base_url=sidecar.url, headers=headers, timeout=15)
        case.validate_response(response, checks=checks)

    run()


@pytest.mark.parametrize(("operation", "mode"), FUZZ_CASES)
def test_fuzz_with_the_secret(api_schema: BaseSchema, hostile_sidecar: SidecarProcess,
                              known_ids: dict[str, list[str]], operation: tuple[str, str],
                              mode: GenerationMode, fuzz_settings: settings) -> None:
    fuzz(api_schema, hostile_sidecar, known_ids, operation, mode, fuzz_settings,
         hostile_sidecar.headers,
         [not_a_server_error, response_schema_conformance, error_body_is_only_the_error])


@pytest.mark.parametrize(("operation", "mode"), FUZZ_CASES)
def test_fuzz_without_credentials(api_schema: BaseSchema, hostile_sidecar: SidecarProcess,
                                  known_ids: dict[str, list[str]], operation: tuple[str, str],
                                  mode: GenerationMode, fuzz_settings: settings) -> None:
    checks = [not_a_server_error, response_schema_conformance, error_body_is_only_the_error]
    if operation not in PUBLIC:
        checks.append(refused_without_credentials)
    fuzz(api_schema, hostile_sidecar, known_ids, operation, mode, fuzz_settings, {}, checks)


STATUS_CASES = [pytest.param(operation, id=label(operation)) for operation in OPERATIONS]


@pytest.mark.parametrize("operation", STATUS_CASES)
def test_every_answered_status_is_documented(
    api_schema: BaseSchema, hostile_sidecar: SidecarProcess, known_ids: dict[str, list[str]],
    operation: tuple[str, str], fuzz_settings: settings,
) -> None:
    """Positive and negative requests with the secret, then the same without credentials
    (a 401 is an answer too), checked by ``status_code_conformance``."""
    method, path = operation
    api_operation = api_schema[path][method]
    negative = any(m == GenerationMode.NEGATIVE for _op, m in
                   (case.values for case in modes_for(operation)))
    modes = [GenerationMode.POSITIVE, *([GenerationMode.NEGATIVE] if negative else [])]
    cases = st.one_of(*[strategy(api_operation, m, known_ids) for m in modes])

    @fuzz_settings
    @given(case=cases, with_secret=st.booleans())
    def run(case: Case, with_secret: bool) -> None:
        keep_local(case)
        headers = hostile_sidecar.headers if with_secret else {}
        response = case.call(base_url=hostile_sidecar.url, headers=headers, timeout=15)
        if response.status_code >= 500:
            return  # a server error is test_fuzz_*'s finding, not a documentation gap
        case.validate_response(response, checks=[status_code_conformance])

    run()

