"""The sidecar's upload and settings routes over HTTP, on a real sidecar process: who may
call them, chunk bodies larger than any JSON body, and a restart in the middle of an
upload. (Through WordPress: tests/e2e/test_plugin_uploads.py.)"""

from __future__ import annotations

import secrets
import zipfile
from pathlib import Path

import httpx

from sidecar.web.auth import mint_stream_token
from tests.support.sidecar_process import SidecarProcess

MIB = 1024 * 1024


def big_export(folder: Path, padding: int) -> bytes:
    """A ZIP of the 2024 export layout, padded with a stored media file of random bytes."""
    path = folder / "export.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("your_instagram_activity/media/posts_1.json", "[]")
        archive.writestr("media/posts/202405/padding.jpg", secrets.token_bytes(padding))
    return path.read_bytes()


def chunk(api: httpx.Client, upload_id: str, offset: int, data: bytes) -> httpx.Response:
    return api.patch(f"/api/uploads/{upload_id}", content=data, headers={
        "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})


def test_routes_need_the_secret_not_a_stream_token(sidecar: SidecarProcess) -> None:
    token, _ = mint_stream_token(sidecar.secret or "", ["*"], 60)
    calls = [("GET", "/api/uploads"), ("POST", "/api/uploads"),
             ("GET", "/api/uploads/abc"), ("PATCH", "/api/uploads/abc"),
             ("DELETE", "/api/uploads/abc"), ("GET", "/api/settings/apify-token"),
             ("PUT", "/api/settings/apify-token"), ("DELETE", "/api/settings/apify-token"),
             ("POST", "/api/settings/apify-token/check")]
    with httpx.Client(base_url=sidecar.url, timeout=10) as anonymous:
        for method, path in calls:
            assert anonymous.request(method, path).status_code == 401, (method, path)
            with_token = anonymous.request(method, path, params={"token": token})
            assert with_token.status_code in (401, 403), (method, path, with_token.text)


def test_chunks_of_several_mib_go_through_and_survive_a_restart(
        sidecar: SidecarProcess, api: httpx.Client, tmp_path: Path) -> None:
    data = big_export(tmp_path, 12 * MIB)
    created = api.post("/api/uploads", json={"name": "export.zip", "size": len(data),
                                             "last_modified": 42})
    assert created.status_code == 201, created.text
    upload_id = created.json()["upload_id"]
    first = chunk(api, upload_id, 0, data[:8 * MIB])  # over the 2 MB of a JSON body
    assert (first.status_code, first.json()["offset"]) == (200, 8 * MIB)
    too_big = chunk(api, upload_id, 8 * MIB, data[8 * MIB:] + b"\0" * (16 * MIB))
    assert too_big.status_code == 413
    json_too_big = api.post("/api/uploads", content=b'{"name": "' + b"x" * 3 * MIB + b'"}',
                            headers={"Content-Type": "application/json"})
    assert json_too_big.status_code == 413  # other bodies keep their limit

    sidecar.kill()  # a crash mid-upload
    sidecar.start()
    again = api.post("/api/uploads", json={"name": "export.zip", "size": len(data),
                                           "last_modified": 42})
    assert (again.status_code, again.json()["upload_id"], again.json()["offset"]) == (
        200, upload_id, 8 * MIB)
    rest = chunk(api, upload_id, 8 * MIB, data[8 * MIB:])
    assert (rest.status_code, rest.json()["complete"]) == (200, True)
    [stored] = (sidecar.data_dir / "uploads").glob("*/export.zip")
    assert stored.read_bytes() == data


def test_a_chunk_needs_its_offset_and_content_type(api: httpx.Client, tmp_path: Path) -> None:
    data = big_export(tmp_path, 1000)
    upload_id = api.post("/api/uploads", json={"name": "e.zip", "size": len(data)}).json()[
        "upload_id"]
    no_offset = api.patch(f"/api/uploads/{upload_id}", content=data,
                          headers={"Content-Type": "application/offset+octet-stream"})
    assert (no_offset.status_code, no_offset.json()["error"]["code"]) == (400, "upload_offset")
    # Refused unread, the chunk is still on the connection: the answer says to close it,
    # so the client's next request goes on a new one instead of into a dropped one.
    assert no_offset.headers["connection"] == "close"
    as_json = api.patch(f"/api/uploads/{upload_id}", content=data,
                        headers={"Upload-Offset": "0", "Content-Type": "application/json"})
    assert (as_json.status_code, as_json.json()["error"]["code"]) == (400, "chunk_content_type")
    assert api.get(f"/api/uploads/{upload_id}").json()["offset"] == 0


def test_an_import_names_uploads_and_the_job_shows_only_their_ids(
        api: httpx.Client, tmp_path: Path) -> None:
    both = api.post("/api/jobs", json={"kind": "import", "source": {
        "type": "export", "path": "/x.zip", "upload_ids": ["abc"]}})
    assert both.status_code == 422
    assert "names exactly one of path (one ZIP), paths" in both.json()["error"]["message"]
    neither = api.post("/api/jobs", json={"kind": "import", "source": {"type": "export"}})
    assert neither.status_code == 422
    unknown = api.post("/api/jobs", json={"kind": "import", "source": {
        "type": "export", "upload_ids": ["no-such-upload"]}})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "unknown_upload")
    assert api.get("/api/jobs").json()["jobs"] == []  # nothing was queued


def test_the_apify_token_routes_never_answer_the_token(sidecar: SidecarProcess,
                                                      api: httpx.Client) -> None:
    secret_token = "apify_api_" + secrets.token_hex(12)
    saved = api.put("/api/settings/apify-token", json={"token": secret_token})
    assert (saved.status_code, saved.json()) == (200, {"set": True, "source": "saved"})
    assert secret_token not in saved.text
    status = api.get("/api/settings/apify-token")
    assert status.json() == {"set": True, "source": "saved"}
    assert (sidecar.data_dir / "apify-token").read_text().strip() == secret_token
    blank = api.put("/api/settings/apify-token", json={"token": ""})
    assert blank.status_code == 422
    cleared = api.delete("/api/settings/apify-token")
    assert cleared.json() == {"set": False, "source": None}
