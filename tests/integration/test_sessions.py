"""Progress sessions over HTTP against a real sidecar: life cycle, validation, auth."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.sidecar_process import SidecarProcess


@pytest.fixture
def sidecar(engine_sidecar: SidecarProcess) -> SidecarProcess:
    """These tests run against both engines (SQLite, and the event log on Redis)."""
    return engine_sidecar

def make_session(api: httpx.Client, total: int = 4, operation: str = "demo") -> str:
    response = api.post("/api/progress/sessions", json={"operation": operation,
                                                         "total_steps": total})
    assert response.status_code == 201, response.text
    return str(response.json()["session_id"])


def test_session_life_cycle(api: httpx.Client) -> None:
    session_id = make_session(api, total=4)
    first = api.get(f"/api/progress/status/{session_id}").json()
    assert (first["status"], first["done"], first["total"], first["percentage"]) == (
        "starting", 0, 4, 0.0)

    for step in (1, 2, 3):
        reply = api.post(f"/api/progress/sessions/{session_id}/updates",
                         json={"step": step, "message": f"Imported {step} of 4 posts",
                               "phase": "Importing", "details": {"step": step}})
        assert reply.status_code == 200, reply.text
    snapshot = api.get(f"/api/progress/status/{session_id}").json()
    assert {k: snapshot[k] for k in ("status", "step", "done", "total_steps", "percentage",
                                     "message", "phase", "details")} == {
        "status": "running", "step": 3, "done": 3, "total_steps": 4, "percentage": 75.0,
        "message": "Imported 3 of 4 posts", "phase": "Importing", "details": {"step": 3}}
    assert snapshot["last_event_id"] > first["last_event_id"]

    done = api.post(f"/api/progress/sessions/{session_id}/complete", json={"message": "All in"})
    assert done.status_code == 200
    final = api.get(f"/api/progress/status/{session_id}").json()
    assert (final["status"], final["percentage"], final["message"], final["eta_seconds"]) == (
        "complete", 100.0, "All in", 0)
    assert final["finished_at"] is not None

    listed = api.get("/api/progress/sessions", params={"status": "complete"}).json()
    assert [s["session_id"] for s in listed["sessions"]] == [session_id]


def test_update_after_complete_is_a_conflict(api: httpx.Client) -> None:
    session_id = make_session(api)
    api.post(f"/api/progress/sessions/{session_id}/complete", json={})
    for path, body in (("updates", {"step": 1}), ("complete", {}), ("fail", {}),
                       ("cancel", None)):
        reply = api.post(f"/api/progress/sessions/{session_id}/{path}", json=body)
        assert reply.status_code == 409, (path, reply.text)
        assert reply.json()["error"]["code"] == "conflict"
    assert api.get(f"/api/progress/status/{session_id}").json()["status"] == "complete"


def test_fail_and_cancel_are_terminal(api: httpx.Client) -> None:
    failed, cancelled = make_session(api), make_session(api)
    api.post(f"/api/progress/sessions/{failed}/fail", json={"message": "WordPress is down"})
    api.post(f"/api/progress/sessions/{cancelled}/cancel")
    assert api.get(f"/api/progress/status/{failed}").json()["status"] == "error"
    assert api.get(f"/api/progress/status/{failed}").json()["message"] == "WordPress is down"
    assert api.get(f"/api/progress/status/{cancelled}").json()["status"] == "cancelled"


def test_validation_errors_name_the_problem(api: httpx.Client) -> None:
    session_id = make_session(api, total=4)
    cases = [
        ("/api/progress/sessions", {"operation": "", "total_steps": 1}, 422, "operation"),
        ("/api/progress/sessions", {"operation": "x", "total_steps": -1}, 422, "total_steps"),
        ("/api/progress/sessions", {"operation": "x", "surprise": 1}, 422, "surprise"),
        ("/api/progress/sessions", [1, 2], 422, None),
        (f"/api/progress/sessions/{session_id}/updates", {"step": "three"}, 422, "step"),
        (f"/api/progress/sessions/{session_id}/updates", {"step": 9}, 422, "beyond"),
        ("/api/jobs", {"kind": "teleport", "source": {}}, 422, "kind"),
        ("/api/jobs", {"kind": "import", "source": {"type": "apify", "username": "a b"}},
         422, "username"),
        # Posts per WordPress batch: WordPress takes at most 25 requests in one.
        *(("/api/jobs", {"kind": "import", "source": {"type": "export", "path": "/x.zip"},
                         "options": {"batch": batch}}, 422, "batch")
          for batch in (0, 26, "ten")),
    ]
    for path, body, status, words in cases:
        reply = api.post(path, json=body)
        assert reply.status_code == status, (path, body, reply.text)
        error = reply.json()["error"]
        assert set(error) == {"code", "message"}
        if words:
            assert words in error["message"], error
    broken = api.post("/api/progress/sessions", content=b"{not json",
                      headers={"Content-Type": "application/json"})
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "bad_request"


def test_unknown_things_are_404_json(api: httpx.Client) -> None:
    for path in ("/api/progress/status/nope", "/api/jobs/nope", "/api/nothing-here",
                 "/api/progress/stream/nope"):
        reply = api.get(path)
        assert reply.status_code == 404, path
        assert reply.headers["content-type"].startswith("application/json")
        assert reply.json()["error"]["code"] == "not_found"
    assert api.post("/api/progress/sessions/nope/updates", json={"step": 1}).status_code == 404


def test_auth_failures(sidecar: SidecarProcess, api: httpx.Client) -> None:
    mine, other = make_session(api), make_session(api)
    anonymous = httpx.Client(base_url=sidecar.url, timeout=5.0)
    wrong = httpx.Client(base_url=sidecar.url, timeout=5.0,
                         headers={"Authorization": "Bearer not-the-secret"})
    for client in (anonymous, wrong):
        assert client.post("/api/progress/sessions", json={"operation": "x"}).status_code == 401
        assert client.get(f"/api/progress/status/{mine}").status_code == 401
        assert client.get("/api/jobs").status_code == 401
        assert client.post("/api/stream-tokens", json={"sessions": ["*"]}).status_code == 401
    token = api.post("/api/stream-tokens", json={"sessions": [mine], "ttl": 60}).json()["token"]
    assert anonymous.get(f"/api/progress/status/{mine}", params={"token": token}).status_code == 200
    refused = anonymous.get(f"/api/progress/status/{other}", params={"token": token})
    assert refused.status_code == 403
    assert "does not cover" in refused.json()["error"]["message"]
    assert anonymous.get("/api/progress/stream", params={"session": other, "token": token}
                         ).status_code == 403
    # A token reads; it never mutates.
    as_bearer = {"Authorization": f"Bearer {token}"}
    assert anonymous.post(f"/api/progress/sessions/{mine}/updates", json={"step": 1},
                          headers=as_bearer).status_code == 401
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert anonymous.get(f"/api/progress/status/{mine}", params={"token": tampered}
                         ).status_code == 401
    short = api.post("/api/stream-tokens", json={"sessions": [mine], "ttl": 1}).json()["token"]
    time.sleep(2.1)
    expired = anonymous.get(f"/api/progress/status/{mine}", params={"token": short})
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "token_expired"
    anonymous.close()
    wrong.close()


def test_cors_only_for_allowed_origins(tmp_path) -> None:  # type: ignore[no-untyped-def]
    process = SidecarProcess(tmp_path / "data",
                             env={"IGBRIDGE_ALLOWED_ORIGINS": "http://wp.example:8080"}).start()
    try:
        with httpx.Client(base_url=process.url, headers=process.headers) as client:
            ok = client.get("/healthz", headers={"Origin": "http://wp.example:8080"})
            assert ok.headers["access-control-allow-origin"] == "http://wp.example:8080"
            assert ok.headers["access-control-allow-credentials"] == "true"
            preflight = client.options("/api/jobs", headers={
                "Origin": "http://wp.example:8080", "Access-Control-Request-Method": "POST"})
            assert preflight.status_code == 204
            assert "Authorization" in preflight.headers["access-control-allow-headers"]
            bad = client.get("/api/jobs", headers={"Origin": "http://evil.example"})
            assert bad.status_code == 403
            assert "access-control-allow-origin" not in bad.headers
            assert "jobs" not in bad.json()
    finally:
        process.kill()


def test_many_concurrent_sessions_interleave_correctly(
    sidecar: SidecarProcess, api: httpx.Client
) -> None:
    import concurrent.futures

    sessions = [make_session(api, total=10, operation=f"s{i}") for i in range(60)]

    def drive(session_id: str) -> None:
        with httpx.Client(base_url=sidecar.url, headers=sidecar.headers) as client:
            for step in range(1, 11):
                reply = client.post(f"/api/progress/sessions/{session_id}/updates",
                                    json={"step": step, "message": f"{session_id} {step}"})
                assert reply.status_code == 200
            client.post(f"/api/progress/sessions/{session_id}/complete", json={})

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        list(pool.map(drive, sessions))

    from tests.support.sse import iter_frames

    seen: dict[str, list[int]] = {s: [] for s in sessions}
    ids = []
    params = [("session", s) for s in sessions] + [("last_event_id", "0")]
    with httpx.stream("GET", f"{sidecar.url}/api/progress/stream", params=params,
                      headers=sidecar.headers, timeout=10) as response:
        for frame in iter_frames(response):
            if frame.data and frame.data["type"] != "snapshot":
                ids.append(frame.id)
                seen[frame.data["session_id"]].append(frame.data["step"])
    assert ids == sorted(ids)
    assert len(ids) == len(set(ids))
    for session_id in sessions:
        # creation (0), ten updates, the terminal event (10 again)
        assert seen[session_id] == [0, *range(1, 11), 10], session_id


def test_many_updates_in_one_request_each_succeed_or_fail_alone(api: httpx.Client) -> None:
    a, b, done = make_session(api, total=5), make_session(api, total=5), make_session(api)
    api.post(f"/api/progress/sessions/{done}/complete", json={})
    reply = api.post("/api/progress/updates", json={"updates": [
        {"session_id": a, "step": 1, "message": "a1"},
        {"session_id": b, "step": 2, "message": "b2", "phase": "Importing"},
        {"session_id": "nope", "step": 1},
        {"session_id": done, "step": 1},
        {"session_id": a, "step": 9},
        {"session_id": a, "step": 3, "message": "a3"},
    ]})
    assert reply.status_code == 200, reply.text
    results = reply.json()["results"]
    assert [(r["session_id"], (r.get("error") or {}).get("code")) for r in results] == [
        (a, None), (b, None), ("nope", "not_found"), (done, "conflict"),
        (a, "validation_error"), (a, None)]
    assert results[5]["snapshot"]["message"] == "a3"
    assert api.get(f"/api/progress/status/{a}").json()["step"] == 3
    assert api.get(f"/api/progress/status/{b}").json()["phase"] == "Importing"
    empty = api.post("/api/progress/updates", json={"updates": []})
    assert empty.status_code == 422
