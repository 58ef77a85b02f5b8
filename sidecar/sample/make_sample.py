"""Build ``instagram-export-sample.zip``: a small, realistic Instagram JSON export.

Run ``python -m sidecar.sample.make_sample`` to regenerate the committed file. The
export follows the 2024+ layout (``your_instagram_activity/media/posts_1.json``)
and encodes text the way Instagram does (UTF-8 bytes written as ``\\u00XX``), so the
demo exercises the same code paths as a real export. Every image is generated
here: PNGs with zlib/struct, JPEGs with Pillow when it is installed (it comes with
the dev tools) and as PNG bytes behind a ``.jpg`` name otherwise.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

SAMPLE_NAME = "instagram-export-sample.zip"
SAMPLE_USERNAME = "igbridge.demo"
ZIP_DATE = (2024, 6, 1, 12, 0, 0)

Color = tuple[int, int, int]


def sample_export_path() -> Path:
    """Where the packaged sample export lives (works from a wheel or a checkout)."""
    return Path(str(files("sidecar.sample").joinpath(SAMPLE_NAME)))


def gradient_pixels(width: int, height: int, corners: Sequence[Color]) -> list[bytes]:
    """Rows of RGB bytes blending four corner colours (TL, TR, BL, BR)."""
    tl, tr, bl, br = corners
    rows = []
    for y in range(height):
        fy = y / max(height - 1, 1)
        row = bytearray()
        for x in range(width):
            fx = x / max(width - 1, 1)
            for c in range(3):
                top = tl[c] + (tr[c] - tl[c]) * fx
                bottom = bl[c] + (br[c] - bl[c]) * fx
                row.append(int(top + (bottom - top) * fy))
        rows.append(bytes(row))
    return rows


def png_bytes(width: int, height: int, corners: Sequence[Color]) -> bytes:
    """A valid RGB PNG of a four-corner gradient, written with zlib and struct only."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + row for row in gradient_pixels(width, height, corners))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def encoded_image(width: int, height: int, corners: Sequence[Color], fmt: str) -> bytes:
    """JPEG or WebP bytes via Pillow; PNG bytes when Pillow is missing."""
    if fmt == "png":
        return png_bytes(width, height, corners)
    try:
        from PIL import Image
    except ImportError:
        return png_bytes(width, height, corners)
    pixels = b"".join(gradient_pixels(width, height, corners))
    image = Image.frombytes("RGB", (width, height), pixels)
    out = io.BytesIO()
    image.save(out, format="JPEG" if fmt == "jpeg" else "WEBP", quality=80)
    return out.getvalue()


def instagram_text(text: str) -> str:
    """Text as Instagram's export writes it: each UTF-8 byte as one Latin-1 character."""
    return text.encode("utf-8").decode("latin-1")


# (caption, unix timestamp, [(file stem, corners)]): newest first, as Instagram lists them.
_POSTS: list[tuple[str, int, list[tuple[str, list[Color]]]]] = [
    (
        "First seedlings of the year 🌱\nThey came up after four days.\n\n#garden #spring",
        1717000000,
        [("seedlings", [(34, 139, 34), (173, 255, 47), (0, 100, 0), (240, 230, 140)])],
    ),
    (
        "Weekend in the mountains ⛰️ three views from the ridge\n#hiking #mountains",
        1716500000,
        [
            ("ridge-1", [(70, 130, 180), (176, 224, 230), (47, 79, 79), (255, 250, 240)]),
            ("ridge-2", [(255, 140, 0), (255, 215, 0), (139, 69, 19), (72, 61, 139)]),
            ("ridge-3", [(25, 25, 112), (123, 104, 238), (0, 0, 0), (70, 130, 180)]),
        ],
    ),
    (
        "東京の夜景 🌃 きれいでした！\n#日本 #東京 #夜景",
        1716000000,
        [("tokyo", [(10, 10, 60), (200, 0, 120), (255, 200, 0), (30, 30, 90)])],
    ),
    (
        "Coffee with @ana.gomes this morning ☕️ thank you for the recommendation!",
        1715500000,
        [("coffee", [(111, 78, 55), (210, 180, 140), (60, 40, 30), (245, 222, 179)])],
    ),
    (
        "A very long caption about the old harbour, the fishing boats coming back at dusk "
        "and the gulls that followed them all the way in\nSecond line\n#harbour",
        1715000000,
        [("harbour", [(0, 105, 148), (135, 206, 235), (0, 51, 102), (255, 127, 80)])],
    ),
    (
        "#sunset #nofilter",
        1714500000,
        [("sunset", [(255, 94, 77), (255, 195, 113), (106, 27, 154), (255, 111, 145)])],
    ),
    (
        "Line one 💛\nLine two ✨\nLine three 🎉",
        1714000000,
        [("lines", [(255, 223, 0), (255, 105, 180), (138, 43, 226), (0, 191, 255)])],
    ),
    (
        "Café crème & croissant, Paris 🇫🇷 #paris #café",
        1713500000,
        [("paris", [(245, 245, 220), (222, 184, 135), (139, 0, 0), (0, 35, 149)])],
    ),
]


def _media_entry(uri: str, timestamp: int, title: str) -> dict[str, Any]:
    return {
        "uri": uri,
        "creation_timestamp": timestamp,
        "media_metadata": {"camera_metadata": {"has_camera_metadata": False}},
        "title": instagram_text(title),
        "cross_post_source": {"source_app": "FB"},
        "backup_uri": "",
    }


def build_sample(size: int = 320) -> bytes:
    """The sample export as ZIP bytes (deterministic for a given Pillow version)."""
    posts: list[dict[str, Any]] = []
    media_files: dict[str, bytes] = {}
    for index, (caption, timestamp, images) in enumerate(_POSTS):
        month = datetime.fromtimestamp(timestamp, UTC).strftime("%Y%m")
        uris = []
        for stem, corners in images:
            fmt = "png" if stem == "lines" else "jpeg"
            uri = f"media/posts/{month}/{index:02d}_{stem}.{'png' if fmt == 'png' else 'jpg'}"
            media_files[uri] = encoded_image(size, size, corners, fmt)
            uris.append(uri)
        if len(uris) == 1:
            posts.append({"media": [_media_entry(uris[0], timestamp, caption)]})
        else:
            posts.append(
                {
                    "media": [_media_entry(uri, timestamp, "") for uri in uris],
                    "title": instagram_text(caption),
                    "creation_timestamp": timestamp,
                }
            )
    story_uri = "media/stories/202405/story.jpg"
    media_files[story_uri] = encoded_image(90, 160, [(0, 0, 0)] * 4, "jpeg")
    documents: dict[str, Any] = {
        "your_instagram_activity/media/posts_1.json": posts,
        # Stories and profile photos are in every export but are not posts.
        "your_instagram_activity/media/stories.json": {
            "ig_stories": [_media_entry(story_uri, 1716900000, "a story, not a post")]
        },
        "personal_information/personal_information/personal_information.json": {
            "profile_user": [
                {"string_map_data": {"Username": {"value": SAMPLE_USERNAME, "timestamp": 0}}}
            ]
        },
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, document in documents.items():
            # ensure_ascii writes the Latin-1 characters as \u00XX, as Instagram does.
            text = json.dumps(document, indent=2, ensure_ascii=True)
            archive.writestr(zipfile.ZipInfo(name, ZIP_DATE), text)
        for name, data in sorted(media_files.items()):
            info = zipfile.ZipInfo(name, ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED  # JPEGs do not compress
            archive.writestr(info, data)
    return out.getvalue()


def main() -> None:
    target = Path(__file__).with_name(SAMPLE_NAME)
    target.write_bytes(build_sample())
    print(f"wrote {target} ({target.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
