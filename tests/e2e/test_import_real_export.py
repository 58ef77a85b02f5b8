"""Real-shaped exports (tests/fixtures/real) through the stack's sidecar into the real
WordPress: a mixed carousel with an extensionless video, a HEIC photo, a reel, a photo
missing from the ZIP, and a split export."""

from __future__ import annotations

import random
import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from sidecar.domain.models import export_source_id
from tests.e2e.conftest import SidecarApi, WordPressApi, unique_media
from tests.fixtures.real import exports

P25 = "media/posts/202502/"
CAROUSEL_CAPTION = "Milano in cinque scatti — Duomo, tram e un caffè #milano #carousel"
BLOCK = re.compile(r"<!-- wp:(gallery|image|video) (\{[^}]*\})")


def fresh_media(uri: str) -> bytes:
    """Bytes of the real type that no other test uploaded (the importer reuses equal
    bytes), so each post's own attachments can be checked."""
    suffix = PurePosixPath(uri).suffix.lower()
    if suffix == ".heic":
        return exports.heic(color=(random.randrange(256), random.randrange(256), 40))
    types = {".jpg": "image/jpeg", ".webp": "image/webp", ".srt": ""}
    content_type = types.get(suffix, "video/mp4")
    return unique_media(content_type) if content_type else exports.media_for(uri)


def blocks(content: str) -> list[str]:
    """The media blocks of a post's content in order: gallery, image, video."""
    return [match[1] for match in BLOCK.finditer(content)]


def content_media_ids(content: str) -> list[int]:
    return [int(n) for n in re.findall(r'<!-- wp:(?:image|video) \{"id":(\d+)', content)]


def item(job: dict[str, Any], source_id: str) -> dict[str, Any]:
    return next(i for i in job["items"] if i["source_id"] == source_id)


def test_a_2025_export_arrives_whole_and_in_instagrams_order(
    tmp_path: Path, import_api: SidecarApi, import_wp: WordPressApi,
) -> None:
    export = exports.build("export_2025_activity_media", tmp_path / "instagram-2025.zip",
                           missing=[exports.LOST_IN_2025], make_media=fresh_media)

    job = import_api.finish(import_api.start_job({"type": "export", "path": str(export)}))

    assert job["status"] == "complete", job
    assert sorted(i["state"] for i in job["items"]) == ["imported"] * 4, job["items"]
    # Stories, archived and recently deleted posts are not part of the job at all.
    assert len(job["items"]) == 4

    # The carousel: webp, jpg, extensionless mp4, jpg, mp4, in that order.
    first = P25 + "476542110_18101927302427294_1198812348012741095_n_18101927299427294.webp"
    carousel = import_wp.post_of(export_source_id(1739289600, CAROUSEL_CAPTION, first))
    attachments = import_wp.attachments_of(carousel["id"])
    by_id = {a["id"]: a for a in attachments}
    ordered = [by_id[i] for i in content_media_ids(carousel["content"]["raw"])]
    assert [a["mime_type"] for a in ordered] == [
        "image/webp", "image/jpeg", "video/mp4", "image/jpeg", "video/mp4"]
    assert blocks(carousel["content"]["raw"]) == ["gallery", "image", "image", "video",
                                                  "image", "video"]
    assert ordered[2]["source_url"].endswith(".mp4")  # named by its bytes, not its name
    assert carousel["meta"]["geo_latitude"] == pytest.approx(45.4641)
    assert carousel["meta"]["geo_longitude"] == pytest.approx(9.19)
    assert item(job, carousel["meta"]["_igbridge_source_id"])["reason"] in (None, "")

    # The HEIC photo: a JPEG now, upright (stored 48×32 with EXIF orientation 6).
    heic_uri = ("media/posts/202501/472918334_18099188302427294_3327140195813367118_n_"
                "18099188299427294.heic")
    heic_source = export_source_id(1736935200, "Snö i Stockholm ❄️", heic_uri)
    photo_post = import_wp.post_of(heic_source)
    [photo] = import_wp.attachments_of(photo_post["id"])
    assert photo["mime_type"] == "image/jpeg"
    assert (photo["media_details"]["width"], photo["media_details"]["height"]) == (32, 48)
    assert blocks(photo_post["content"]["raw"]) == ["image"]
    assert photo_post["featured_media"] == photo["id"]
    assert "converted from HEIC to JPEG" in (item(job, heic_source)["reason"] or "")
    assert (photo_post["meta"]["geo_latitude"], photo_post["meta"]["geo_longitude"]) == (
        pytest.approx(59.3293), pytest.approx(18.0686))

    # The reel: a video post.
    reel_uri = ("media/reels/202501/AQPz0Lm5Nq8rT2u4vW6xY8zA0bC2dE4fG6hI8jK0_"
                "18099877123427294.mp4")
    reel = import_wp.post_of(export_source_id(
        1737547200, "Reel: de eerste sneeuw ❄ #reels #winter", reel_uri))
    [clip] = import_wp.attachments_of(reel["id"])
    assert (clip["mime_type"], blocks(reel["content"]["raw"])) == ("video/mp4", ["video"])

    # One photo of two was missing from the ZIP: the post came with the other, and its
    # outcome names the lost file.
    kept_uri = ("media/posts/202412/470011227_18096310012427294_5561109847713320094_n_"
                "18096310009427294.jpg")
    partial_source = export_source_id(1734000000, "Two photos, one of them lost on the way",
                                      kept_uri)
    partial = import_wp.post_of(partial_source)
    assert [a["mime_type"] for a in import_wp.attachments_of(partial["id"])] == ["image/jpeg"]
    assert blocks(partial["content"]["raw"]) == ["image"]
    assert exports.LOST_IN_2025 in item(job, partial_source)["reason"]
    assert "geo_latitude" not in partial["meta"] or not partial["meta"]["geo_latitude"]


def test_a_split_2024_export_without_its_reels(
    tmp_path: Path, import_api: SidecarApi, import_wp: WordPressApi,
) -> None:
    whole = exports.build("export_2024_activity_content", tmp_path / "instagram-2024.zip",
                          make_media=fresh_media)
    parts = exports.split(whole, 3)

    job = import_api.finish(import_api.start_job(
        {"type": "export", "paths": [str(p) for p in parts]}, options={"include_reels": False}))

    assert job["status"] == "complete", job
    states = sorted((i["state"], i["reason"] or "") for i in job["items"])
    assert [s for s, _r in states] == ["imported", "imported", "skipped"], states
    assert "include_reels" in states[2][1]
    caption = ("Een weekend Amsterdam 🇳🇱 grachten, fietsen & stroopwafels\n\n"
               "#amsterdam #weekendje #grachten")
    first = ("media/posts/202403/431279845_18074751888427294_5210743917519306481_n_"
             "18074751895427294.webp")
    carousel = import_wp.post_of(export_source_id(1710086400, caption, first))
    by_id = {a["id"]: a for a in import_wp.attachments_of(carousel["id"])}
    ordered = [by_id[i]["mime_type"] for i in content_media_ids(carousel["content"]["raw"])]
    assert ordered == ["image/webp"] * 3 + ["video/mp4"] + ["image/webp"] * 2
    assert blocks(carousel["content"]["raw"]) == ["gallery", "image", "image", "image",
                                                  "video", "gallery", "image", "image"]
