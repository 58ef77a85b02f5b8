"""Chunked export uploads through the real WordPress (PHP's built-in server) to the real
sidecar: chunks land in the sidecar's data dir, bad chunks are refused with the reason
and change nothing, an import of the upload deletes it when it completes, and no
anonymous request can fetch an export, at the old location or any URL WordPress shows.

Exports are the bundled sample (2024 "Download your information" layout) with moved
timestamps (its posts are new to this session's WordPress), padded with a stored media
file of random bytes so that it takes several chunks.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import secrets
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dev.stack import Stack
from tests.e2e.conftest import SidecarApi
from tests.e2e.test_browser_dashboard import fresh_sample_export
from tests.e2e.test_plugin_rest import cookie_login

CHUNK = 256 * 1024  # the smallest chunk the plugin uses; set through its filter below
MU_PLUGIN = ("<?php\nadd_filter('igbridge_upload_chunk_bytes', fn () => "
             f"{CHUNK});\n")


@pytest.fixture(scope="module")
def small_chunks(stack: Stack) -> Iterator[None]:
    mu = stack.wp_dir / "wp-content" / "mu-plugins" / "igbridge-test-chunks.php"
    mu.parent.mkdir(exist_ok=True)
    mu.write_text(MU_PLUGIN)
    try:
        yield
    finally:
        mu.unlink()


@pytest.fixture(scope="module")
def wp(stack: Stack, small_chunks: None) -> Iterator[httpx.Client]:
    """The admin over the plugin's REST routes (application password)."""
    if "sidecar" not in stack.processes:
        pytest.skip("the stack runs without its sidecar (IGBRIDGE_TEST_STACK_SIDECAR=0)")
    with httpx.Client(base_url=f"{stack.wp_url}/wp-json/igbridge/v1/", timeout=60,
                      headers={"Authorization": stack.wp_basic_auth}) as client:
        yield client


def padded_export(folder: Path, padding: int) -> bytes:
    """The sample export with a media file of ``padding`` random bytes, stored."""
    path = fresh_sample_export(folder)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_STORED) as archive:
        archive.writestr("media/other/padding.bin", secrets.token_bytes(padding))
    return path.read_bytes()


def start_upload(wp: httpx.Client, name: str, data: bytes, modified: int = 0) -> dict[str, Any]:
    created = wp.post("uploads", json={"name": name, "size": len(data),
                                       "last_modified": modified or secrets.randbelow(10**12)})
    assert created.status_code in (200, 201), created.text
    upload: dict[str, Any] = created.json()
    return upload


def send_chunk(wp: httpx.Client, upload_id: str, offset: int, data: bytes,
               checksum: str | None = None) -> httpx.Response:
    headers = {"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
    if checksum is not None:
        headers["Upload-Checksum"] = checksum
    return wp.post(f"uploads/{upload_id}", content=data, headers=headers)


def send_rest(wp: httpx.Client, upload: dict[str, Any], data: bytes) -> dict[str, Any]:
    offset = upload["offset"]
    while offset < len(data):
        piece = data[offset:offset + CHUNK]
        digest = "sha256 " + base64.b64encode(hashlib.sha256(piece).digest()).decode()
        answer = send_chunk(wp, upload["upload_id"], offset, piece, digest)
        assert answer.status_code == 200, answer.text
        upload = answer.json()
        assert upload["offset"] == offset + len(piece)
        offset = upload["offset"]
    return upload


def stored_file(stack: Stack, name: str) -> Path:
    [found] = Path(stack.sidecar_data_dir, "uploads").glob(f"*/{name}")
    return found


def error_of(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    return response.status_code, str(body.get("code") or body["error"]["code"])


def test_an_export_goes_up_in_chunks_and_its_import_deletes_it(
        stack: Stack, wp: httpx.Client, tmp_path: Path) -> None:
    data = padded_export(tmp_path, 3 * CHUNK)
    modified = 1_717_171_717_171  # File.lastModified, in ms
    upload = start_upload(wp, "instagram-part1.zip", data, modified)
    assert (upload["offset"], upload["size"], upload["complete"]) == (0, len(data), False)
    half = send_rest(wp, upload, data[:2 * CHUNK])
    # A reload: the same file (name, size, last-modified) finds the upload and its offset.
    again = start_upload(wp, "instagram-part1.zip", data, modified)
    assert (again["upload_id"], again["offset"]) == (upload["upload_id"], half["offset"])
    assert wp.get(f"uploads/{upload['upload_id']}").json()["offset"] == 2 * CHUNK
    done = send_rest(wp, again, data)
    assert done["complete"] is True
    on_disk = stored_file(stack, "instagram-part1.zip")
    assert on_disk.read_bytes() == data
    assert not on_disk.is_relative_to(stack.wp_dir)  # never under the web root

    started = wp.post("jobs", json={"kind": "import", "source": {
        "type": "export", "upload_ids": [upload["upload_id"]]}})
    assert started.status_code == 202, started.text
    job_id = started.json()["job_id"]
    sidecar = SidecarApi(stack.sidecar_url, stack.sidecar_secret)
    job = sidecar.finish(job_id)
    assert job["status"] == "complete", job
    assert job["source"] == {"type": "export", "upload_ids": [upload["upload_id"]],
                             "names": ["instagram-part1.zip"]}
    assert {i["state"] for i in job["items"]} == {"imported"}
    # Personal data: gone once its import completed.
    assert not on_disk.parent.exists()
    gone = wp.get(f"uploads/{upload['upload_id']}")
    assert error_of(gone) == (404, "not_found")


def test_bad_chunks_are_refused_with_the_reason_and_change_nothing(
        stack: Stack, wp: httpx.Client, tmp_path: Path) -> None:
    data = padded_export(tmp_path, CHUNK)
    upload = start_upload(wp, "export.zip", data)
    upload_id = upload["upload_id"]
    assert send_chunk(wp, upload_id, 0, data[:CHUNK]).status_code == 200
    before = stored_file(stack, "export.zip").read_bytes()

    wrong_offset = send_chunk(wp, upload_id, 0, data[:CHUNK])
    assert error_of(wrong_offset) == (409, "upload_offset_mismatch")
    assert wrong_offset.json()["error"]["message"] == (
        f"upload {upload_id} is at byte {CHUNK}, not 0: send the chunk that starts there")
    past_size = send_chunk(wp, upload_id, CHUNK, data[CHUNK:] + b"one byte too many")
    assert error_of(past_size) == (413, "upload_past_size")
    bad_sum = send_chunk(wp, upload_id, CHUNK, data[CHUNK:2 * CHUNK],
                         "sha256 " + base64.b64encode(b"\0" * 32).decode())
    assert error_of(bad_sum) == (400, "checksum_mismatch")
    no_offset = wp.post(f"uploads/{upload_id}", content=b"x",
                        headers={"Content-Type": "application/offset+octet-stream"})
    assert error_of(no_offset) == (400, "igbridge_upload_offset")
    too_big = send_chunk(wp, upload_id, CHUNK, data[CHUNK:] + b"\0" * (CHUNK + 1))
    assert error_of(too_big) == (413, "igbridge_upload_chunk_too_large")
    assert stored_file(stack, "export.zip").read_bytes() == before
    assert wp.get(f"uploads/{upload_id}").json()["offset"] == CHUNK

    unknown = send_chunk(wp, "no-such-upload-0123456789", 0, data[:CHUNK])
    assert error_of(unknown) == (404, "not_found")
    assert error_of(wp.get("uploads/no-such-upload-0123456789")) == (404, "not_found")

    html_page = b"<!DOCTYPE html><html>" + b" " * 500
    not_zip = start_upload(wp, "download.zip", html_page)
    refused = send_chunk(wp, not_zip["upload_id"], 0, html_page)
    assert error_of(refused) == (422, "not_a_zip")
    assert refused.json()["error"]["message"].startswith(
        "download.zip does not start like a ZIP file")
    by_name = wp.post("uploads", json={"name": "notes.txt", "size": 10})
    assert error_of(by_name) == (400, "igbridge_upload_not_zip")

    assert wp.delete(f"uploads/{upload_id}").status_code == 204
    assert error_of(wp.get(f"uploads/{upload_id}")) == (404, "not_found")
    assert wp.delete(f"uploads/{not_zip['upload_id']}").status_code == 204


def test_an_import_of_an_unfinished_or_unknown_upload_is_refused(
        stack: Stack, wp: httpx.Client, tmp_path: Path) -> None:
    data = padded_export(tmp_path, CHUNK)
    upload = start_upload(wp, "half.zip", data)
    send_chunk(wp, upload["upload_id"], 0, data[:CHUNK])
    half = wp.post("jobs", json={"kind": "import", "source": {
        "type": "export", "upload_ids": [upload["upload_id"]]}})
    assert error_of(half) == (422, "upload_incomplete")
    assert half.json()["error"]["message"] == (
        f"upload {upload['upload_id']} (half.zip) has {CHUNK} of {len(data)} bytes; "
        "finish uploading it first")
    unknown = wp.post("jobs", json={"kind": "import", "source": {
        "type": "export", "upload_ids": ["no-such-upload-0123456789"]}})
    assert error_of(unknown) == (422, "unknown_upload")
    wp.delete(f"uploads/{upload['upload_id']}")


def test_the_limits_are_the_sidecars(stack: Stack, wp: httpx.Client) -> None:
    listed = wp.get("uploads")
    assert listed.status_code == 200
    limits = listed.json()["limits"]
    assert set(limits) == {"max_file_bytes", "max_chunk_bytes", "free_bytes", "retention_days"}
    assert limits["max_chunk_bytes"] >= 8 * 1024 * 1024  # what the plugin sends fits
    assert limits["free_bytes"] > 0
    assert limits["retention_days"] == 30
    too_big = wp.post("uploads", json={"name": "huge.zip", "size": limits["max_file_bytes"] + 1})
    assert error_of(too_big) == (413, "upload_too_large")


# ---------------------------------------------------------------- nobody else gets it


def test_no_anonymous_request_can_fetch_an_uploaded_export(
        stack: Stack, wp: httpx.Client, tmp_path: Path) -> None:
    data = padded_export(tmp_path, CHUNK)
    upload = start_upload(wp, "private-export.zip", data)
    answers = [json.dumps(upload), json.dumps(send_rest(wp, upload, data)),
               wp.get(f"uploads/{upload['upload_id']}").text, wp.get("uploads").text]
    on_disk = stored_file(stack, "private-export.zip")
    admin = cookie_login(stack, stack.wp_admin_user, stack.wp_admin_password)
    try:
        pages = [admin.get(f"{stack.wp_url}/wp-admin/admin.php", params={"page": "igbridge"}).text,
                 admin.get(f"{stack.wp_url}/wp-admin/options-general.php",
                           params={"page": "igbridge-settings"}).text]
    finally:
        admin.close()
    # Nothing WordPress shows names where the file is.
    for text in answers + pages:
        assert on_disk.parent.name not in text
        assert str(on_disk.parent) not in text
    shown = {u for text in answers + pages for u in re.findall(r"""(?:href|src)=["']([^"']+)""",
                                                             text)}
    shown |= {f"{stack.wp_url}/{p}" for p in re.findall(r'"(wp-content/[^"]+)"', " ".join(answers))}
    guesses = [f"{stack.wp_url}/wp-content/uploads/igbridge/private-export.zip",
               f"{stack.wp_url}/wp-content/uploads/igbridge/",
               f"{stack.wp_url}/wp-content/uploads/private-export.zip",
               f"{stack.wp_url}/wp-json/igbridge/v1/uploads/{upload['upload_id']}",
               f"{stack.wp_url}/?rest_route=/igbridge/v1/uploads/{upload['upload_id']}",
               f"{stack.sidecar_url}/api/uploads/{upload['upload_id']}",
               f"{stack.sidecar_url}/api/uploads"]
    local = sorted({str(httpx.URL(stack.wp_url + "/").join(html.unescape(u))) for u in shown})
    # Only this machine's servers: the admin footer links to wordpress.org, never fetched.
    local = [u for u in local if u.startswith((stack.wp_url, stack.sidecar_url))]
    assert len(local) > 20, local  # the pages' own links, scripts and styles
    with httpx.Client(timeout=30, follow_redirects=False) as anonymous:
        for url in local + guesses:
            response = anonymous.get(url)
            assert data[:64] not in response.content, url
            assert data[-64:] not in response.content, url
        assert anonymous.get(guesses[3]).status_code == 401
        assert anonymous.get(guesses[5]).status_code == 401
    wp.delete(f"uploads/{upload['upload_id']}")


def test_an_upgrade_removes_what_the_old_version_left_in_the_uploads_dir(
        stack: Stack, tmp_path: Path) -> None:
    legacy = stack.wp_dir / "wp-content" / "uploads" / "igbridge"
    legacy.mkdir(parents=True, exist_ok=True)
    name = "Xr4nd0mPr3f1x0123456-my-export.zip"
    data = padded_export(tmp_path, 1024)
    (legacy / name).write_bytes(data)
    (legacy / ".htaccess").write_text("Require all denied\n")
    stack.wp_php("delete_option('igbridge_legacy_uploads_removed');")
    url = f"{stack.wp_url}/wp-content/uploads/igbridge/{name}"
    # What issue 11 found: PHP's built-in server ignores .htaccess and hands it out.
    assert httpx.get(url, timeout=30).content == data
    admin = cookie_login(stack, stack.wp_admin_user, stack.wp_admin_password)
    try:
        assert admin.get(f"{stack.wp_url}/wp-admin/").status_code == 200
    finally:
        admin.close()
    assert not legacy.exists()
    missing = httpx.get(url, timeout=30)
    assert data[:64] not in missing.content
    assert missing.status_code == 404
    done = stack.wp_php("echo (int) get_option('igbridge_legacy_uploads_removed');")
    assert int(done.strip().splitlines()[-1]) > 0
    assert os.path.exists(stack.wp_dir / "wp-content" / "uploads")  # only ours went


def test_an_import_that_fails_keeps_its_upload_for_another_try(
        stack: Stack, wp: httpx.Client, tmp_path: Path) -> None:
    """The person may fix what failed and run it again: the export stays (at most the
    retention period, see tests/unit/test_upload_storage.py)."""
    path = tmp_path / "not-instagram.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes/readme.txt", "nothing from Instagram in here")
    data = path.read_bytes()
    upload = send_rest(wp, start_upload(wp, "not-instagram.zip", data), data)
    started = wp.post("jobs", json={"kind": "import", "source": {
        "type": "export", "upload_ids": [upload["upload_id"]]}})
    assert started.status_code == 202, started.text
    job = SidecarApi(stack.sidecar_url, stack.sidecar_secret).finish(started.json()["job_id"])
    assert job["status"] == "error", job
    assert "not-instagram.zip" in job["error"]  # named as the person knows it
    assert stored_file(stack, "not-instagram.zip").read_bytes() == data
    kept = wp.get(f"uploads/{upload['upload_id']}").json()
    assert (kept["complete"], kept["offset"]) == (True, len(data))
    wp.delete(f"uploads/{upload['upload_id']}")


def test_a_split_export_uploaded_in_parts_imports_as_one(
        stack: Stack, wp: httpx.Client, tmp_path: Path) -> None:
    """Instagram's large exports come as several ZIPs; a post's media may be in another
    part than its JSON. Here part 1 holds the JSON and part 2 every media file."""
    whole = zipfile.ZipFile(fresh_sample_export(tmp_path))
    parts = {1: tmp_path / "instagram-part1.zip", 2: tmp_path / "instagram-part2.zip"}
    with zipfile.ZipFile(parts[1], "w") as first, zipfile.ZipFile(parts[2], "w") as second:
        for info in whole.infolist():
            (first if info.filename.endswith(".json") else second).writestr(
                info, whole.read(info))
    ids = []
    for path in parts.values():
        data = path.read_bytes()
        done = send_rest(wp, start_upload(wp, path.name, data), data)
        assert done["complete"] is True
        ids.append(done["upload_id"])
    started = wp.post("jobs", json={"kind": "import",
                                    "source": {"type": "export", "upload_ids": ids}})
    assert started.status_code == 202, started.text
    job = SidecarApi(stack.sidecar_url, stack.sidecar_secret).finish(started.json()["job_id"])
    assert job["status"] == "complete", job
    assert job["source"]["names"] == ["instagram-part1.zip", "instagram-part2.zip"]
    assert {i["state"] for i in job["items"]} == {"imported"}, job["items"]
    assert [error_of(wp.get(f"uploads/{u}")) for u in ids] == [(404, "not_found")] * 2
