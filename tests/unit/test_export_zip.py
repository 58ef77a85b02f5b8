"""The export ZIP reader: every layout since 2019, Instagram's mojibake, hostile ZIPs."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sidecar.domain.models import Media, Post, Skipped, export_source_id
from sidecar.errors import MediaError, SourceError
from sidecar.sample.make_sample import instagram_text, sample_export_path
from sidecar.sources.export_zip import read_export, read_member
from tests.fakes import media_files

JPEG = media_files.jpeg(8, 8)
MP4 = media_files.mp4(512)
T1, T2, T3 = 1716000000, 1715000000, 1714000000


def at(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def write_zip(path: Path, members: dict[str, Any]) -> Path:
    """A ZIP with JSON documents (non-bytes values) and raw files (bytes values)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, value in members.items():
            data = value if isinstance(value, bytes) else json.dumps(value).encode()
            archive.writestr(name, data)
    return path


def single(uri: str, timestamp: int, caption: str) -> dict[str, Any]:
    return {"media": [{"uri": uri, "creation_timestamp": timestamp, "title": caption}]}


def carousel(uris: list[str], timestamp: int, caption: str) -> dict[str, Any]:
    return {
        "media": [{"uri": u, "creation_timestamp": timestamp, "title": ""} for u in uris],
        "title": caption,
        "creation_timestamp": timestamp,
    }


def export_post(
    zip_path: Path, timestamp: int, caption: str, members: list[str], **changes: Any
) -> Post:
    kinds = {m: ("video" if m.endswith(".mp4") else "image") for m in members}
    fields: dict[str, Any] = {
        "source_id": export_source_id(timestamp, caption, members[0]),
        "short_code": None,
        "permalink": None,
        "owner": None,
        "taken_at": at(timestamp),
        "caption": caption,
        "hashtags": (),
        "mentions": (),
        "location": None,
        "alt": "",
        "media": tuple(Media(kinds[m], zip_member=m) for m in members),  # type: ignore[arg-type]
        "is_pinned": False,
        "origin": "export",
        "zip_path": str(zip_path),
    }
    fields.update(changes)
    return Post(**fields)


@pytest.mark.parametrize(
    "posts_file",
    [
        "your_instagram_activity/media/posts_1.json",
        "your_instagram_activity/content/posts_1.json",
        "content/posts_1.json",
    ],
)
def test_posts_json_layouts(tmp_path: Path, posts_file: str) -> None:
    path = write_zip(
        tmp_path / "export.zip",
        {
            posts_file: [
                single("media/posts/202405/a.jpg", T1, "Single #one"),
                carousel(
                    ["media/posts/202405/b.jpg", "media/posts/202405/c.mp4"], T2, "Two @friend"
                ),
            ],
            "media/posts/202405/a.jpg": JPEG,
            "media/posts/202405/b.jpg": JPEG,
            "media/posts/202405/c.mp4": MP4,
        },
    )

    result = read_export(path)

    assert result.skipped == []
    assert result.posts == [
        export_post(path, T1, "Single #one", ["media/posts/202405/a.jpg"], hashtags=("one",)),
        export_post(
            path,
            T2,
            "Two @friend",
            ["media/posts/202405/b.jpg", "media/posts/202405/c.mp4"],
            mentions=("friend",),
        ),
    ]


def test_several_posts_files_are_all_read(tmp_path: Path) -> None:
    folder = "your_instagram_activity/media"
    path = write_zip(
        tmp_path / "export.zip",
        {
            f"{folder}/posts_1.json": [single("media/posts/a.jpg", T1, "one")],
            f"{folder}/posts_2.json": [single("media/posts/b.jpg", T2, "two")],
            f"{folder}/posts_10.json": [single("media/posts/c.jpg", T3, "ten")],
            f"{folder}/stories.json": {"ig_stories": [single("media/stories/s.jpg", T1, "s")]},
            "media/posts/a.jpg": JPEG,
            "media/posts/b.jpg": JPEG,
            "media/posts/c.jpg": JPEG,
            "media/stories/s.jpg": JPEG,
        },
    )

    result = read_export(path)

    assert [p.caption for p in result.posts] == ["one", "two", "ten"]


def test_old_media_json_layout(tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "old.zip",
        {
            "media.json": {
                "photos": [
                    {
                        "caption": "Old photo #berlin",
                        "taken_at": "2019-05-04T12:34:56",
                        "path": "photos/201905/abc.jpg",
                        "location": "Berlin",
                    }
                ],
                "videos": [
                    {"caption": "", "taken_at": "2019-06-01T08:00:00+02:00", "path": "videos/v.mp4"}
                ],
                "stories": [{"caption": "", "taken_at": "2019-06-02T08:00:00", "path": "s.jpg"}],
            },
            "photos/201905/abc.jpg": JPEG,
            "videos/v.mp4": MP4,
        },
    )

    result = read_export(path)

    photo_time = datetime(2019, 5, 4, 12, 34, 56, tzinfo=UTC)
    video_time = datetime(2019, 6, 1, 6, 0, tzinfo=UTC)
    assert result.posts == [
        export_post(path, int(video_time.timestamp()), "", ["videos/v.mp4"]),
        export_post(
            path,
            int(photo_time.timestamp()),
            "Old photo #berlin",
            ["photos/201905/abc.jpg"],
            hashtags=("berlin",),
            location="Berlin",
        ),
    ]


def test_export_inside_a_top_level_folder(tmp_path: Path) -> None:
    root = "instagram-alice-2024-06-01-AbCdEf/"
    path = write_zip(
        tmp_path / "nested.zip",
        {
            root + "your_instagram_activity/media/posts_1.json": [
                single("media/posts/a.jpg", T1, "nested")
            ],
            root + "media/posts/a.jpg": JPEG,
        },
    )

    (post,) = read_export(path).posts

    assert post.media == (Media("image", zip_member=root + "media/posts/a.jpg"),)
    assert read_member(path, root + "media/posts/a.jpg", 10_000) == JPEG


def test_instagram_mojibake_is_repaired(tmp_path: Path) -> None:
    # Exactly what Instagram writes for "🌱 Café 日本": UTF-8 bytes as \u00XX escapes.
    raw = (
        b'[{"media": [{"uri": "media/posts/a.jpg", "creation_timestamp": 1716000000, '
        b'"title": "\\u00f0\\u009f\\u008c\\u00b1 Caf\\u00c3\\u00a9 \\u00e6\\u0097\\u00a5'
        b'\\u00e6\\u009c\\u00ac\\n#\\u00e6\\u0097\\u00a5\\u00e6\\u009c\\u00ac"}]}]'
    )
    path = write_zip(
        tmp_path / "moji.zip",
        {"your_instagram_activity/media/posts_1.json": raw, "media/posts/a.jpg": JPEG},
    )

    (post,) = read_export(path).posts

    assert post.caption == "🌱 Café 日本\n#日本"
    assert post.hashtags == ("日本",)
    assert post.title == "🌱 Café 日本"


def test_text_that_is_already_right_is_left_alone(tmp_path: Path) -> None:
    caption = "Café crème, ½ price ¡olé!"  # Latin-1 characters that are not UTF-8 bytes
    path = write_zip(
        tmp_path / "plain.zip",
        {
            "content/posts_1.json": [single("media/posts/a.jpg", T1, caption)],
            "media/posts/a.jpg": JPEG,
        },
    )

    assert read_export(path).posts[0].caption == caption


def test_the_packaged_sample_export(tmp_path: Path) -> None:
    result = read_export(sample_export_path())

    assert result.skipped == []
    assert len(result.posts) == 8
    assert [len(p.media) for p in result.posts] == [1, 3, 1, 1, 1, 1, 1, 1]
    titles = [p.title for p in result.posts]
    assert titles[0] == "First seedlings of the year 🌱"
    assert "東京の夜景 🌃 きれいでした！" in titles
    assert "Instagram post 2024-04-30" in titles
    assert result.posts[2].hashtags == ("日本", "東京", "夜景")
    assert result.posts[3].mentions == ("ana.gomes",)
    assert "\n" in result.posts[0].caption
    for post in result.posts:
        for media in post.media:
            assert media.zip_member is not None
            data = read_member(sample_export_path(), media.zip_member, 1_000_000)
            assert data[:3] == b"\xff\xd8\xff" or data[:8] == b"\x89PNG\r\n\x1a\n"
    assert instagram_text("🌱") == "\u00f0\u009f\u008c\u00b1"


# ---- bad input ---------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"export file not found: .*nope\.zip"):
        read_export(tmp_path / "nope.zip")


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "photo.zip"
    path.write_bytes(JPEG)

    with pytest.raises(SourceError) as caught:
        read_export(path)

    assert caught.value.message == "photo.zip is not a readable ZIP file (File is not a zip file)"


def test_truncated_zip(tmp_path: Path) -> None:
    whole = write_zip(
        tmp_path / "whole.zip",
        {"content/posts_1.json": [single("media/posts/a.jpg", T1, "x")], "media/posts/a.jpg": JPEG},
    ).read_bytes()
    path = tmp_path / "cut.zip"
    path.write_bytes(whole[: len(whole) // 2])

    with pytest.raises(SourceError, match=r"^cut\.zip is not a readable ZIP file"):
        read_export(path)


def test_zip_that_is_not_an_export(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "holiday.zip", {"IMG_0001.jpg": JPEG, "notes.txt": b"hi"})

    with pytest.raises(SourceError) as caught:
        read_export(path)

    assert caught.value.message == (
        "holiday.zip does not look like an Instagram export: expected one of "
        "your_instagram_activity/media/posts_1.json, your_instagram_activity/content/posts_1.json, "
        "content/posts_1.json, media.json"
    )


def test_html_export_asks_for_json(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "html.zip", {"your_instagram_activity/media/posts_1.html": b"<p>"})

    with pytest.raises(
        SourceError, match=r"HTML export; request the export again with format JSON"
    ):
        read_export(path)


@pytest.mark.parametrize(
    "bad_name",
    [
        "../evil.json",
        "media/../../etc/passwd",
        "/etc/passwd",
        "C:/Windows/x.jpg",
        "media\\..\\..\\x.jpg",
    ],
)
def test_names_escaping_the_archive_are_refused(tmp_path: Path, bad_name: str) -> None:
    path = write_zip(
        tmp_path / "evil.zip",
        {
            "content/posts_1.json": [single("media/posts/a.jpg", T1, "x")],
            "media/posts/a.jpg": JPEG,
            bad_name: b"gotcha",
        },
    )

    with pytest.raises(SourceError) as caught:
        read_export(path)

    assert caught.value.message.startswith(f"evil.zip contains an unsafe file name {bad_name!r}")


def test_posts_pointing_outside_the_archive_are_skipped(tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "export.zip",
        {
            "content/posts_1.json": [
                single("../../etc/passwd", T1, "sneaky"),
                single("media/posts/a.jpg", T2, "fine"),
            ],
            "media/posts/a.jpg": JPEG,
        },
    )

    result = read_export(path)

    assert [p.caption for p in result.posts] == ["fine"]
    assert result.skipped == [
        Skipped(
            export_source_id(T1, "sneaky", "../../etc/passwd"), "unsafe media path ../../etc/passwd"
        )
    ]


def test_missing_media_skips_only_that_post(tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "export.zip",
        {
            "content/posts_1.json": [
                single("media/posts/gone.jpg", T1, "lost"),
                single("media/posts/a.jpg", T2, "kept"),
            ],
            "media/posts/a.jpg": JPEG,
        },
    )

    result = read_export(path)

    assert [p.caption for p in result.posts] == ["kept"]
    assert result.skipped == [
        Skipped(
            export_source_id(T1, "lost", "media/posts/gone.jpg"),
            "missing media file media/posts/gone.jpg",
        )
    ]


def test_nothing_usable_left_fails_with_the_reasons(tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "export.zip",
        {"content/posts_1.json": [single("media/posts/gone.jpg", T1, "lost")]},
    )

    with pytest.raises(SourceError) as caught:
        read_export(path)

    assert caught.value.message == (
        "export.zip has no usable posts: missing media file media/posts/gone.jpg"
    )


def test_an_empty_export_is_an_error(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "empty.zip", {"your_instagram_activity/media/posts_1.json": []})

    with pytest.raises(SourceError) as caught:
        read_export(path)

    assert caught.value.message == (
        "empty.zip contains no posts (your_instagram_activity/media/posts_1.json list none)"
    )


def test_duplicates_and_bad_timestamps_are_skipped_with_reasons(tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "export.zip",
        {
            "content/posts_1.json": [
                single("media/posts/a.jpg", T1, "same"),
                single("media/posts/a.jpg", T1, "same"),
                single("media/posts/a.jpg", "yesterday", "when?"),  # type: ignore[arg-type]
            ],
            "media/posts/a.jpg": JPEG,
        },
    )

    result = read_export(path)

    assert [p.caption for p in result.posts] == ["same"]
    assert [s.reason for s in result.skipped] == [
        "duplicate in export",
        "no usable timestamp ('yesterday')",
    ]


def test_malformed_json_names_the_member_and_the_error(tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "export.zip",
        {"your_instagram_activity/media/posts_1.json": b'[{"media": [}]'},
    )

    with pytest.raises(SourceError) as caught:
        read_export(path)

    assert caught.value.message == (
        "your_instagram_activity/media/posts_1.json in export.zip is not valid JSON "
        "(Expecting value at line 1 column 13)"
    )


def test_wrong_json_shape_names_the_member(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "export.zip", {"content/posts_1.json": {"a": 1, "b": 2}})

    with pytest.raises(
        SourceError, match=r"^content/posts_1.json in export.zip should hold a list"
    ):
        read_export(path)


def test_zip_bomb_refused_by_declared_size(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("content/posts_1.json", b"[]")
        archive.writestr("media/posts/zeros.jpg", bytes(20 * 1024 * 1024))
    assert path.stat().st_size < 100_000

    with pytest.raises(SourceError) as caught:
        read_export(path, max_uncompressed=10 * 1024 * 1024)

    assert caught.value.message == (
        "bomb.zip would unpack to more than 10485760 bytes; refusing it as a possible ZIP bomb"
    )


def _lie_about_size(data: bytes, member: str, size: int) -> bytes:
    """Rewrite a member's uncompressed size in both its headers, as a hostile ZIP would."""
    buffer = bytearray(data)
    name = member.encode()
    local = buffer.find(b"PK\x03\x04" + bytes(0))
    while local != -1:
        name_len = struct.unpack_from("<H", buffer, local + 26)[0]
        if bytes(buffer[local + 30 : local + 30 + name_len]) == name:
            struct.pack_into("<I", buffer, local + 22, size)
        local = buffer.find(b"PK\x03\x04", local + 4)
    central = buffer.find(b"PK\x01\x02")
    while central != -1:
        name_len = struct.unpack_from("<H", buffer, central + 28)[0]
        if bytes(buffer[central + 46 : central + 46 + name_len]) == name:
            struct.pack_into("<I", buffer, central + 24, size)
        central = buffer.find(b"PK\x01\x02", central + 4)
    return bytes(buffer)


def test_zip_bomb_with_lying_sizes_is_not_unpacked(tmp_path: Path) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("content/posts_1.json", b"[" + b" " * 5_000_000 + b"]")
    path = tmp_path / "liar.zip"
    path.write_bytes(_lie_about_size(out.getvalue(), "content/posts_1.json", 100))

    with pytest.raises(SourceError) as caught:
        read_export(path)

    # zipfile reads no more than the declared 100 bytes, then the CRC check fails.
    assert caught.value.message == (
        "liar.zip is not a readable ZIP file (Bad CRC-32 for file 'content/posts_1.json')"
    )


def test_read_member_errors_are_per_media(tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "export.zip",
        {"content/posts_1.json": [single("media/posts/a.jpg", T1, "x")], "media/posts/a.jpg": JPEG},
    )

    assert read_member(path, "media/posts/a.jpg", len(JPEG)) == JPEG
    with pytest.raises(MediaError, match=r"^media/posts/b.jpg is missing from export.zip$"):
        read_member(path, "media/posts/b.jpg", 1000)
    with pytest.raises(MediaError, match=rf"is {len(JPEG)} bytes, over the 10 byte limit"):
        read_member(path, "media/posts/a.jpg", 10)
    with pytest.raises(MediaError, match=r"refusing unsafe ZIP member name '\.\./a\.jpg'"):
        read_member(path, "../a.jpg", 1000)
    with pytest.raises(MediaError, match="export file not found"):
        read_member(tmp_path / "gone.zip", "media/posts/a.jpg", 1000)
