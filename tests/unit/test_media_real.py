"""What a file is, from its bytes; HEIC to JPEG; carousel order in the post's content."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from sidecar.domain.content import UploadedMedia, media_runs, render_content
from sidecar.domain.models import Media, Post
from sidecar.errors import MediaError
from sidecar.media.convert import heic_to_jpeg
from sidecar.media.sniff import kind_of, sniff_content_type
from tests.fakes import media_files
from tests.fixtures.real import exports

EXTENSIONLESS = ("media/posts/202403/FQIoAkMzXv9gP1kTsjDGwP3bdGdNbGhfYmFzZWxpbmVfMV92MREAdeoHAA_"
                 "18074751904427294")


@pytest.mark.parametrize(("uri", "content_type"), [
    (EXTENSIONLESS, "video/mp4"),
    ("media/posts/202502/a_1.webp", "image/webp"),
    ("media/posts/202502/b_2.jpg", "image/jpeg"),
    ("media/posts/202501/c_3.heic", "image/heic"),
    ("media/reels/202501/d_4.mp4", "video/mp4"),
])
def test_the_type_comes_from_the_bytes(uri: str, content_type: str) -> None:
    data = exports.media_for(uri)

    assert sniff_content_type(data[:64]) == content_type
    assert kind_of(content_type) == content_type.split("/")[0].replace("image", "image")


def test_a_jpeg_named_mp4_is_a_photo() -> None:
    # Instagram wraps some still images as ".mp4" that are JFIF inside.
    assert sniff_content_type(media_files.jpeg(8, 8)[:64]) == "image/jpeg"
    assert kind_of("image/jpeg") == "image"


def test_heic_becomes_an_upright_jpeg_that_keeps_its_exif(tmp_path: Path) -> None:
    source = tmp_path / "photo.heic"
    source.write_bytes(exports.heic(48, 32, orientation=6))

    jpeg = heic_to_jpeg(source)

    assert sniff_content_type(jpeg[:64]) == "image/jpeg"
    image = Image.open(io.BytesIO(jpeg))
    assert image.size == (32, 48)  # turned as the orientation said: shown as before
    assert image.getexif().get(0x0112, 1) == 1
    # The left half of the stored photo was red: after a quarter turn clockwise it is
    # the top half.
    red, _green, blue = image.getpixel((16, 4))  # type: ignore[misc]
    assert red > 150
    assert blue < 100


def test_a_damaged_heic_names_the_file(tmp_path: Path) -> None:
    source = tmp_path / "broken.heic"
    source.write_bytes(exports.heic()[:200])

    with pytest.raises(MediaError, match=r"^media/posts/x\.heic is a HEIC photo that cannot"):
        heic_to_jpeg(source, "media/posts/x.heic")


def uploaded(kind: str, wp_id: int) -> UploadedMedia:
    return UploadedMedia(kind, wp_id, f"https://site.test/{wp_id}", "")


def test_carousel_blocks_keep_instagrams_order() -> None:
    media = [uploaded(k, n) for n, k in enumerate(
        ["image", "image", "video", "image", "video"], start=1)]
    post = Post(source_id="export:1", short_code=None, permalink=None, owner=None,
                taken_at=datetime(2025, 2, 11, tzinfo=UTC), caption="", hashtags=(),
                mentions=(), location=None, alt="",
                media=tuple(Media("image") for _m in media), is_pinned=False, origin="export")

    content = render_content(post, media)

    assert [[m.wp_id for m in run] for run in media_runs(media)] == [[1, 2], [3], [4], [5]]
    order = [content.index(f'"id":{n}') for n in range(1, 6)]
    assert order == sorted(order)
    assert content.startswith('<!-- wp:gallery {"linkTo":"none"} -->')
    assert content.count("<!-- wp:gallery") == 1
    assert content.count("<!-- wp:video") == 2


def test_a_heic_too_large_to_convert_is_refused_by_its_size(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "huge.heic"
    source.write_bytes(exports.heic(48, 32))
    monkeypatch.setattr("sidecar.media.convert.MAX_PIXELS", 1000)  # shown 32 × 48 = 1536

    with pytest.raises(MediaError) as caught:
        heic_to_jpeg(source, "media/posts/huge.heic")

    assert caught.value.message == (
        "media/posts/huge.heic is a HEIC photo of 32 × 48 pixels, more than the 1,000 "
        "igbridge converts")
