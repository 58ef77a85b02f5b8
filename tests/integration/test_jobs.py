"""The job runner and the cache_images job against a real sidecar and a local media server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.media_files import jpeg, mp4, png, webp
from tests.support.media_server import MediaServer, wait_for
from tests.support.sidecar_process import SidecarProcess
from tests.support.sse import iter_frames


@pytest.fixture
def media() -> Iterator[MediaServer]:
    server = MediaServer().start()
    yield server
    server.stop()


def start_job(api: httpx.Client, urls: list[str]) -> str:
    reply = api.post("/api/jobs", json={"kind": "cache_images",
                                        "source": {"type": "urls", "urls": urls}})
    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert body["stream_url"].endswith(f"/api/progress/stream/{body['session_id']}")
    assert body["job_id"] == body["session_id"]
    return str(body["job_id"])


def wait_finished(sidecar: SidecarProcess, job_id: str) -> list[dict[str, Any]]:
    """Follow the job's stream to its terminal event; returns every event."""
    events = []
    with httpx.stream("GET", f"{sidecar.url}/api/progress/stream/{job_id}",
                      params={"last_event_id": 0}, headers=sidecar.headers,
                      timeout=30) as response:
        for frame in iter_frames(response):
            if frame.data and frame.data["type"] != "snapshot":
                events.append(frame.data)
    return events


def test_cache_images_sniffs_types_and_reports_each_file(
    sidecar: SidecarProcess, api: httpx.Client, media: MediaServer
) -> None:
    urls = {
        "png_as_jpg": media.add("/a/photo.jpg", png()),
        "jpeg_as_png": media.add("/b/photo.png", jpeg(), content_type="image/png"),
        "webp_as_jpg": media.add("/c/photo.jpg?sig=abc", webp()),
        "mp4_as_bin": media.add("/d/clip.bin", mp4(), content_type="application/octet-stream"),
        "missing": media.url + "/gone.jpg",
        "html": media.add("/e/login.jpg", b"<!DOCTYPE html><html>log in</html>",
                          content_type="text/html"),
    }
    job_id = start_job(api, list(urls.values()))
    events = wait_finished(sidecar, job_id)
    messages = [e["message"] for e in events]
    assert any(m.startswith("Downloading image ") and m.endswith(" of 6") for m in messages)
    assert events[-1]["type"] == "complete"
    assert events[-1]["message"] == "Cached 4 of 6 image(s): 4 downloaded, 2 failed"
    assert [e["done"] for e in events if e["type"] == "progress"][-1] == 6

    job = api.get(f"/api/jobs/{job_id}").json()
    assert job["status"] == "complete"
    assert job["counts"] == {"pending": 0, "imported": 4,
                             "already_imported": 0, "skipped": 0, "failed": 2, "total": 6}
    items = {i["source_id"]: i for i in job["items"]}
    types = {name: (items[url]["detail"] or {}).get("content_type") for name, url in urls.items()}
    assert types == {"png_as_jpg": "image/png", "jpeg_as_png": "image/jpeg",
                     "webp_as_jpg": "image/webp", "mp4_as_bin": "video/mp4",
                     "missing": None, "html": None}
    assert items[urls["missing"]]["reason"] == f"HTTP 404 from {media.url}/gone.jpg"
    assert items[urls["html"]]["reason"] == f"{media.url}/e/login.jpg is an HTML page, not media"
    stored = sorted(p.name for p in (sidecar.data_dir / "media").rglob("*") if p.is_file())
    assert sorted(n.rsplit(".", 1)[1] for n in stored) == ["jpg", "mp4", "png", "webp"]
    for item in job["items"]:
        if item["state"] == "imported":
            sha = item["detail"]["sha256"]
            assert any(n.startswith(sha) for n in stored)

    # The same URLs again: nothing is downloaded twice.
    before = dict(media.hits)
    again = start_job(api, [urls["png_as_jpg"], urls["webp_as_jpg"]])
    wait_finished(sidecar, again)
    counts = api.get(f"/api/jobs/{again}").json()["counts"]
    assert counts == {"pending": 0, "imported": 0, "already_imported": 0, "skipped": 2, "failed": 0,
                      "total": 2}
    assert media.hits == before


def test_oversized_file_is_refused(tmp_path: Path, media: MediaServer) -> None:
    sidecar = SidecarProcess(tmp_path / "data", env={"IGBRIDGE_MEDIA_MAX_BYTES": "5000"}).start()
    try:
        with httpx.Client(base_url=sidecar.url, headers=sidecar.headers) as api:
            small = media.add("/small.jpg", jpeg(16, 16))
            big = media.add("/big.jpg", mp4(payload_bytes=20_000))
            job_id = start_job(api, [small, big])
            wait_finished(sidecar, job_id)
            items = {i["source_id"]: i for i in api.get(f"/api/jobs/{job_id}").json()["items"]}
            assert items[small]["state"] == "imported"
            assert items[big]["state"] == "failed"
            assert items[big]["reason"] == f"{media.url}/big.jpg is 0.0 MB, over the 0.0 MB limit"
    finally:
        sidecar.kill()


def test_every_item_failing_fails_the_job(
    sidecar: SidecarProcess, api: httpx.Client, media: MediaServer
) -> None:
    job_id = start_job(api, [media.url + "/nope1.jpg", media.url + "/nope2.jpg"])
    events = wait_finished(sidecar, job_id)
    assert events[-1]["type"] == "error"
    assert events[-1]["message"].startswith("all 2 image(s) failed; first error: HTTP 404")
    job = api.get(f"/api/jobs/{job_id}").json()
    assert (job["status"], job["error"]) == ("error", events[-1]["message"])


def test_cancel_stops_a_running_job_promptly(
    sidecar: SidecarProcess, api: httpx.Client, media: MediaServer
) -> None:
    fast = media.add("/fast.jpg", jpeg())
    hanging = [media.add(f"/hang{i}.jpg", jpeg(), delay=60) for i in range(3)]
    job_id = start_job(api, [fast, *hanging])
    wait_for(lambda: api.get(f"/api/jobs/{job_id}").json()["counts"]["imported"] == 1)
    # The grace is 1.5 s; a client timeout of 2 s makes "within 2 s" a hard bound.
    reply = api.post(f"/api/jobs/{job_id}/cancel", timeout=2.0)
    assert reply.status_code == 200
    job = reply.json()
    assert job["status"] == "cancelled"
    assert job["counts"]["imported"] == 1  # what was done is kept
    snapshot = api.get(f"/api/progress/status/{job_id}").json()
    assert snapshot["status"] == "cancelled"
    assert "kept" in snapshot["message"]
    again = api.post(f"/api/jobs/{job_id}/cancel")
    assert again.status_code == 409


def test_job_is_resumed_after_kill_9(tmp_path: Path, media: MediaServer) -> None:
    sidecar = SidecarProcess(tmp_path / "data",
                             env={"IGBRIDGE_DOWNLOAD_CONCURRENCY": "1"}).start()
    urls = [media.add(f"/slow{i}.jpg", jpeg(8 + i, 8), delay=0.3) for i in range(8)]
    try:
        api = httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=10)
        job_id = start_job(api, urls)
        wait_for(lambda: api.get(f"/api/jobs/{job_id}").json()["counts"]["imported"] >= 3)
        sidecar.kill()
        api.close()
        sidecar.start()
        api = httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=10)
        events = wait_finished(sidecar, job_id)
        assert events[-1]["type"] == "complete"
        job = api.get(f"/api/jobs/{job_id}").json()
        assert job["status"] == "complete"
        assert job["attempts"] == 2
        assert job["counts"] == {"pending": 0, "imported": 8,
                                 "already_imported": 0, "skipped": 0, "failed": 0, "total": 8}
        # Finished items were not fetched again (at most the one in flight at the kill).
        assert sum(media.hits.values()) <= len(urls) + 1
        api.close()
    finally:
        sidecar.kill()


def test_retry_reruns_only_failed_items(
    sidecar: SidecarProcess, api: httpx.Client, media: MediaServer
) -> None:
    good = media.add("/good.jpg", jpeg())
    later = media.url + "/later.jpg"
    job_id = start_job(api, [good, later])
    wait_finished(sidecar, job_id)
    assert api.get(f"/api/jobs/{job_id}").json()["counts"]["failed"] == 1
    media.add("/later.jpg", png())
    reply = api.post(f"/api/jobs/{job_id}/retry")
    assert reply.status_code == 202
    retry_id = reply.json()["job_id"]
    assert retry_id != job_id
    wait_finished(sidecar, retry_id)
    retried = api.get(f"/api/jobs/{retry_id}").json()
    assert retried["options"] == {"only": [later], "retry_of": job_id, "publish": True}
    assert [(i["source_id"], i["state"]) for i in retried["items"]] == [(later, "imported")]
    assert media.hits["/good.jpg"] == 1
    assert api.post(f"/api/jobs/{retry_id}/retry").status_code == 409


@pytest.mark.parametrize(("kind", "source", "message"), [
    ("import", {"type": "urls", "urls": ["https://example.com/a.jpg"]},
     "a job of kind 'import' cannot read a source of type 'urls'; it reads 'apify' or 'export'"),
    ("scrape", {"type": "urls", "urls": ["https://example.com/a.jpg"]},
     "a job of kind 'scrape' cannot read a source of type 'urls'; it reads 'apify' or 'export'"),
    ("cache_images", {"type": "apify", "username": "someone"},
     "a job of kind 'cache_images' cannot read a source of type 'apify'; it reads 'urls'"),
    ("cache_images", {"type": "export", "path": "/tmp/export.zip"},
     "a job of kind 'cache_images' cannot read a source of type 'export'; it reads 'urls'"),
])
def test_a_source_the_kind_cannot_read_is_refused_at_submit(
    api: httpx.Client, kind: str, source: dict[str, Any], message: str
) -> None:
    reply = api.post("/api/jobs", json={"kind": kind, "source": source})
    assert (reply.status_code, reply.json()) == (
        422, {"error": {"code": "validation_error", "message": message}})
    assert api.get("/api/jobs").json()["jobs"] == []  # nothing was queued


def test_an_image_waiting_to_be_retried_leaves_its_download_slot_to_others(
    tmp_path: Path, media: MediaServer
) -> None:
    """One download at a time; the first URL keeps failing with 503. While it waits for
    its next attempt, the second URL is downloaded."""
    sidecar = SidecarProcess(tmp_path / "data", env={"IGBRIDGE_DOWNLOAD_CONCURRENCY": "1",
                                                     "IGBRIDGE_BACKOFF_SECONDS": "2"})
    sidecar.start()
    try:
        flaky = media.add("/busy.jpg", b"busy", status=503)
        good = media.add("/good.jpg", jpeg(8, 8))
        with httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=10) as api:
            job_id = start_job(api, [flaky, good])
            messages = [e["message"] for e in wait_finished(sidecar, job_id)
                        if e["message"].startswith(("Downloading image", "Failed image"))]
    finally:
        sidecar.kill()
    assert messages == ["Downloading image 1 of 2",
                        f"Failed image 2 of 2: HTTP 503 from {media.url}/busy.jpg"
                        " (after 3 attempts)"]
