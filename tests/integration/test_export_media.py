"""Real-shaped exports (tests/fixtures/real) through a real sidecar's ``scrape`` job: the
media stage alone (no WordPress), over HTTP, with the real SQLite and media cache."""

from __future__ import annotations

import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from sidecar.domain.models import export_source_id
from tests.fixtures.real import exports
from tests.integration.test_jobs import wait_finished
from tests.support.media_server import MediaServer
from tests.support.sidecar_process import SidecarProcess

HEIC_URI = ("media/posts/202501/472918334_18099188302427294_3327140195813367118_n_"
            "18099188299427294.heic")
HEIC_SOURCE = export_source_id(1736935200, "Snö i Stockholm ❄️", HEIC_URI)
KEPT_URI = ("media/posts/202412/470011227_18096310012427294_5561109847713320094_n_"
            "18096310009427294.jpg")
PARTIAL_SOURCE = export_source_id(1734000000, "Two photos, one of them lost on the way",
                                  KEPT_URI)
REEL_URI = "media/reels/202501/AQPz0Lm5Nq8rT2u4vW6xY8zA0bC2dE4fG6hI8jK0_18099877123427294.mp4"
REEL_SOURCE = export_source_id(1737547200, "Reel: de eerste sneeuw ❄ #reels #winter", REEL_URI)


def scrape(sidecar: SidecarProcess, api: httpx.Client, source: dict[str, Any],
           options: dict[str, Any] | None = None) -> dict[str, Any]:
    reply = api.post("/api/jobs", json={"kind": "scrape", "source": source,
                                        "options": options or {}})
    assert reply.status_code == 202, reply.text
    job_id = reply.json()["job_id"]
    wait_finished(sidecar, job_id)
    job: dict[str, Any] = api.get(f"/api/jobs/{job_id}").json()
    return job


def items(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["source_id"]: i for i in job["items"]}


def cached_files(sidecar: SidecarProcess) -> list[Path]:
    return sorted(p for p in (sidecar.data_dir / "media").rglob("*") if p.is_file())


def test_every_post_comes_with_what_could_be_read(
    tmp_path: Path, sidecar: SidecarProcess, api: httpx.Client,
) -> None:
    export = exports.build("export_2025_activity_media", tmp_path / "export.zip",
                           missing=[exports.LOST_IN_2025])

    job = scrape(sidecar, api, {"type": "export", "path": str(export)})

    assert job["status"] == "complete", job
    by_id = items(job)
    assert sorted(i["state"] for i in by_id.values()) == ["imported"] * 4
    assert by_id[PARTIAL_SOURCE]["reason"] == (
        f"imported without media 2 of 2: {exports.LOST_IN_2025} is missing from the export "
        "(export.zip)")
    assert by_id[HEIC_SOURCE]["reason"] == (
        "photo 1 converted from HEIC to JPEG so every browser shows it")
    assert sorted(i["detail"]["media"] for i in by_id.values()) == [1, 1, 1, 5]
    # Kinds from the bytes: the extensionless video is an .mp4 in the cache, the HEIC a
    # JPEG (upright: 48×32 stored with orientation 6), and nothing is kept as HEIC.
    files = cached_files(sidecar)
    assert Counter(p.suffix for p in files) == {".jpg": 4, ".webp": 1, ".mp4": 3}
    assert (32, 48) in [image_size(p) for p in files if p.suffix == ".jpg"]


def image_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def test_a_post_with_no_readable_media_fails_naming_the_file_and_can_be_retried(
    tmp_path: Path, sidecar: SidecarProcess, api: httpx.Client,
) -> None:
    video = ("media/posts/201911/PxUCKAJDMywXQEJ7peNT988YEmRhc2hfYmFzZWxpbmVfMV92MREAdeoHAA_"
             "17861590900598972")
    export = exports.build("export_2020_content", tmp_path / "export.zip",
                           replace={video: b"<html><body>Sorry, this page isn't available."})
    caption = "Found my crowhammybar.\n\n#houndeye #HalfLife #BlackMesa #guitar #whammy"
    source_id = export_source_id(1574610830, caption, video)

    job = scrape(sidecar, api, {"type": "export", "path": str(export)})

    assert job["status"] == "complete", job
    assert items(job)[source_id]["state"] == "failed"
    assert items(job)[source_id]["reason"] == (
        f"its media could not be read: {video} is an HTML page, not media")
    assert sorted(i["state"] for i in job["items"]) == ["failed", "imported", "imported"]

    exports.build("export_2020_content", export)  # the file is fixed: retry that post
    reply = api.post(f"/api/jobs/{job['job_id']}/retry")
    assert reply.status_code == 202, reply.text
    retry_id = reply.json()["job_id"]
    wait_finished(sidecar, retry_id)
    retried = api.get(f"/api/jobs/{retry_id}").json()
    assert [(i["source_id"], i["state"]) for i in retried["items"]] == [(source_id, "imported")]


def test_reels_can_be_left_out(
    tmp_path: Path, sidecar: SidecarProcess, api: httpx.Client,
) -> None:
    export = exports.build("export_2025_activity_media", tmp_path / "export.zip")

    job = scrape(sidecar, api, {"type": "export", "path": str(export)},
                 options={"include_reels": False})

    assert job["status"] == "complete", job
    assert items(job)[REEL_SOURCE]["state"] == "skipped"
    assert items(job)[REEL_SOURCE]["reason"] == (
        "a reel, left out (include_reels is false)")
    assert sorted(i["state"] for i in job["items"]) == ["imported", "imported", "imported",
                                                        "skipped"]


def test_a_split_export_is_one_source(
    tmp_path: Path, sidecar: SidecarProcess, api: httpx.Client,
) -> None:
    parts = exports.split(exports.build("export_2025_activity_media", tmp_path / "e.zip"), 3)
    assert all(zipfile.ZipFile(p).namelist() for p in parts)

    job = scrape(sidecar, api, {"type": "export", "paths": [str(p) for p in parts]})

    assert job["status"] == "complete", job
    assert sorted(i["state"] for i in job["items"]) == ["imported"] * 4
    assert sorted(i["detail"]["media"] for i in job["items"]) == [1, 1, 2, 5]


def test_a_source_naming_both_path_and_paths_is_refused(
    tmp_path: Path, api: httpx.Client,
) -> None:
    reply = api.post("/api/jobs", json={"kind": "scrape", "source": {
        "type": "export", "path": str(tmp_path / "a.zip"), "paths": [str(tmp_path / "b.zip")]}})

    assert reply.status_code == 422, reply.text
    assert "exactly one of" in reply.text


def test_an_html_export_fails_the_job_with_the_fix(
    tmp_path: Path, sidecar: SidecarProcess, api: httpx.Client,
) -> None:
    export = exports.build("export_html", tmp_path / "instagram-html.zip")

    job = scrape(sidecar, api, {"type": "export", "path": str(export)})

    assert job["status"] == "error"
    assert "request the export again in JSON format" in job["error"]
    assert job["error"].startswith("instagram-html.zip is Instagram's HTML export")


def test_a_heic_photo_downloaded_from_a_url_is_kept_as_jpeg(
    sidecar: SidecarProcess, api: httpx.Client,
) -> None:
    media = MediaServer().start()
    try:
        url = media.add("/v/t51.29350-15/472918334_n.heic?oe=68A1", exports.heic(),
                        content_type="image/heic")
        reply = api.post("/api/jobs", json={"kind": "cache_images",
                                            "source": {"type": "urls", "urls": [url]}})
        assert reply.status_code == 202, reply.text
        wait_finished(sidecar, reply.json()["job_id"])
        job = api.get(f"/api/jobs/{reply.json()['job_id']}").json()
    finally:
        media.stop()

    [only] = job["items"]
    assert (only["state"], only["detail"]["content_type"]) == ("imported", "image/jpeg")
    [stored] = cached_files(sidecar)
    assert (stored.suffix, image_size(stored)) == (".jpg", (32, 48))
