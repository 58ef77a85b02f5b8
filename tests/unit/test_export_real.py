"""The export reader against exports shaped exactly like published ones (tests/fixtures/real)."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sidecar.domain.models import Post
from sidecar.errors import MediaError, SourceError
from sidecar.sources.export_zip import copy_members, read_export
from tests.fixtures.real import exports

P24 = "media/posts/202403/"
P25 = "media/posts/202502/"


def at(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def summary(post: Post) -> dict[str, Any]:
    """What a reader decides about a post, whole, without the fields every post shares."""
    return {
        "taken_at": post.taken_at,
        "caption": post.caption,
        "reel": post.is_reel,
        "media": [(m.kind, m.zip_member, m.zip_path) for m in post.media],
        "place": (post.location, post.latitude, post.longitude),
    }


def test_2019_media_json(tmp_path: Path) -> None:
    path = exports.build("export_2019_media_json", tmp_path / "2019.zip")

    result = read_export(path)

    assert result.skipped == []
    assert [summary(p) for p in result.posts] == [
        {"taken_at": datetime(2019, 3, 2, 9, 12, 44, tzinfo=UTC),
         "caption": "Café au lait & croissant 🥐", "reel": False,
         "media": [("video", "videos/201903/5b7a1e0c4f7f2d8d0e8b2f3a1c6d9e44.mp4", None)],
         "place": (None, None, None)},
        {"taken_at": datetime(2018, 12, 31, 8, 5, 13, tzinfo=UTC), "caption": "text",
         "reel": False,
         "media": [("image", "photos/201812/3e02b2be0d7abbdb7c2bae1fee544665.jpg", None)],
         "place": ("West End, Vancouver", None, None)},
        {"taken_at": datetime(2018, 9, 20, 3, 40, 4, tzinfo=UTC),
         "caption": "In 1994, Gilbert Baker and a team of volunteers created a mile-long "
                    "rainbow flag. #GilbertBaker #RainbowFlag #ALegacyofPride",
         "reel": False,
         "media": [("image", "photos/201809/0ebfa6dda7247127fb67475768299db2.jpg", None)],
         "place": ("San Francisco International Airport (SFO)", None, None)},
    ]
    assert result.posts[2].hashtags == ("GilbertBaker", "RainbowFlag", "ALegacyofPride")


def test_2020_content_with_an_extensionless_video(tmp_path: Path) -> None:
    path = exports.build("export_2020_content", tmp_path / "2020.zip")

    result = read_export(path)

    assert result.skipped == []
    assert [summary(p) for p in result.posts] == [
        {"taken_at": at(1575388926),
         "caption": "You know if I don't drop the staff, and maybe do my punches more clearly, "
                    "then it's almost there 😂\n#martialarts #tricking #hapkido",
         "reel": False,
         "media": [("video", "media/posts/201912/80041955_166699531104799_746025938224980092_n_"
                    "17856715594629257.mp4", None)],
         "place": (None, 55.71835, 11.72495)},
        {"taken_at": at(1574610830),
         "caption": "Found my crowhammybar.\n\n#houndeye #HalfLife #BlackMesa #guitar #whammy",
         "reel": False,
         # No extension: the video_metadata hints a video, the bytes will decide.
         "media": [("video", "media/posts/201911/PxUCKAJDMywXQEJ7peNT988YEmRhc2hfYmFzZWxpbmVf"
                    "MV92MREAdeoHAA_17861590900598972", None)],
         "place": (None, 33.60827255249, -112.11474609375)},
        {"taken_at": at(1554996051), "caption": "Anyone else feel spring around the corner? 🙌",
         "reel": False,
         "media": [("image", "media/posts/201904/56560768_1970692303053594_6309902514592175656_n_"
                    "18025938001189213.jpg", None)],
         "place": (None, 36.0, 128.0)},
    ]


def test_2024_activity_content_with_reels_and_heic(tmp_path: Path) -> None:
    path = exports.build("export_2024_activity_content", tmp_path / "2024.zip")

    result = read_export(path)

    assert result.skipped == []  # the story is not a post: never read, never counted
    heic, reel, carousel = result.posts
    assert summary(heic) == {
        "taken_at": at(1725373798), "caption": "Pâtes fraîches, Paris #pasta", "reel": False,
        "media": [("image", "media/posts/202409/459371268_18091573243427294_8811537160364112257_"
                   "n_18091573240427294.heic", None)],
        "place": (None, 48.8566, 2.3522)}
    assert summary(reel) == {
        "taken_at": at(1715612400), "caption": "Zondag op de markt #reels #markt", "reel": True,
        "media": [("video", "media/reels/202405/AQM4fjvY3xqZQk2Xb0s1TjHkL8m9nPqRsTuVwXyZ_"
                   "18043211457427294", None)],
        "place": (None, None, None)}
    assert carousel.caption == ("Een weekend Amsterdam 🇳🇱 grachten, fietsen & stroopwafels\n\n"
                                "#amsterdam #weekendje #grachten")
    assert [(m.kind, m.zip_member) for m in carousel.media] == [
        ("image", P24 + "431279845_18074751888427294_5210743917519306481_n_18074751895427294.webp"),
        ("image", P24 + "431156725_18074751897427294_6911487129361880193_n_18074751898427294.webp"),
        ("image", P24 + "431301986_18074751900427294_2713649080142215733_n_18074751901427294.webp"),
        ("video", P24 + "FQIoAkMzXv9gP1kTsjDGwP3bdGdNbGhfYmFzZWxpbmVfMV92MREAdeoHAA_"
                        "18074751904427294"),
        ("image", P24 + "431240338_18074751906427294_4417853318823446009_n_18074751907427294.webp"),
        ("image", P24 + "431190744_18074751909427294_3353962237004317811_n_18074751910427294.webp"),
    ]
    assert (carousel.latitude, carousel.longitude) == (52.37022, 4.89517)


def test_2025_activity_media_keeps_instagrams_order_and_leaves_stories_out(
        tmp_path: Path) -> None:
    path = exports.build("export_2025_activity_media", tmp_path / "2025.zip",
                         missing=[exports.LOST_IN_2025])

    result = read_export(path)

    assert result.skipped == []
    assert [(p.caption, p.is_reel) for p in result.posts] == [
        ("Milano in cinque scatti — Duomo, tram e un caffè #milano #carousel", False),
        ("Reel: de eerste sneeuw ❄ #reels #winter", True),
        ("Snö i Stockholm ❄️", False),
        ("Two photos, one of them lost on the way", False),
    ]
    carousel = result.posts[0]
    assert [(m.kind, m.zip_member) for m in carousel.media] == [
        ("image", P25 + "476542110_18101927302427294_1198812348012741095_n_18101927299427294.webp"),
        ("image", P25 + "476612237_18101927311427294_4096518735512247201_n_18101927308427294.jpg"),
        ("video", P25 + "AQNx4Hm2Zp9qQ7r8sT1uV3wX5yZ0aB2cD4eF6gH8_18101927314427294"),
        ("image", P25 + "476601985_18101927317427294_7784202398716542314_n_18101927316427294.jpg"),
        ("video", P25 + "AQOb7Kc1Yq3rS5t7uV9wX1yZ3aB5cD7eF9gH1iJ3_18101927320427294.mp4"),
    ]
    # The lost photo stays listed: reading it fails that file alone, not the post.
    assert [m.zip_member for m in result.posts[3].media][1] == exports.LOST_IN_2025


def test_a_re_zipped_export_inside_one_folder(tmp_path: Path) -> None:
    path = exports.build("export_2025_activity_media", tmp_path / "nested.zip",
                         prefix="instagram-someone-2025-02-11-AbCd/")

    result = read_export(path)

    assert len(result.posts) == 4
    assert all(m.zip_member and m.zip_member.startswith("instagram-someone-2025-02-11-AbCd/")
               for p in result.posts for m in p.media)


def test_html_export_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = exports.build("export_html", tmp_path / "html.zip")

    with pytest.raises(SourceError) as caught:
        read_export(path)

    assert caught.value.message == (
        "html.zip is Instagram's HTML export, which does not say which photo belongs to which "
        "post; request the export again in JSON format (Instagram: Your activity → Download "
        "your information → Format: JSON) and import that")


def test_a_split_export_is_read_as_one(tmp_path: Path) -> None:
    whole = exports.build("export_2025_activity_media", tmp_path / "export.zip")
    part1, part2, part3 = exports.split(whole, 3)

    result = read_export([part1, part2, part3])

    assert [summary(p) for p in result.posts] == [
        {**summary(p), "media": [(m.kind, m.zip_member, _part_of(m.zip_member, part1, part2,
                                                                 part3)) for m in p.media]}
        for p in read_export(whole).posts
    ]
    assert {p.zip_path for p in result.posts} == {str(part1)}
    by_part: dict[str, list[str]] = {}
    for post in result.posts:
        for media in post.media:
            by_part.setdefault(media.zip_path or post.zip_path or "", []).append(
                media.zip_member or "")
    for part, members in by_part.items():
        assert copy_members(part, members, 1 << 20, lambda _m, s: s.read()[:4]) == [
            _head(part, m) for m in members]


def _part_of(member: str | None, first: Path, *others: Path) -> str | None:
    for part in others:
        if member in zipfile.ZipFile(part).namelist():
            return str(part)
    assert member in zipfile.ZipFile(first).namelist()
    return None


def _head(part: str, member: str) -> bytes:
    return zipfile.ZipFile(part).read(member)[:4]


def test_a_split_export_whose_part_is_missing_names_it(tmp_path: Path) -> None:
    whole = exports.build("export_2020_content", tmp_path / "export.zip")
    part1, _part2 = exports.split(whole, 2)

    with pytest.raises(SourceError, match=r"^export file not found: .*export-part3\.zip$"):
        read_export([part1, tmp_path / "export-part3.zip"])


def test_copy_members_streams_and_names_what_it_cannot_give(tmp_path: Path) -> None:
    path = exports.build("export_2025_activity_media", tmp_path / "2025.zip",
                         missing=[exports.LOST_IN_2025])
    video = P25 + "AQNx4Hm2Zp9qQ7r8sT1uV3wX5yZ0aB2cD4eF6gH8_18101927314427294"
    reads: list[int] = []

    def sink(_member: str, stream: Any) -> int:
        total = 0
        while chunk := stream.read(1024):
            reads.append(len(chunk))
            total += len(chunk)
        return total

    answers = copy_members(path, [video, exports.LOST_IN_2025, "../escape.jpg"], 1 << 20, sink)

    assert answers[0] == len(exports.media_for(video))
    assert max(reads) <= 1024  # handed out in the caller's chunks, never whole
    assert isinstance(answers[1], MediaError)
    assert answers[1].message == f"{exports.LOST_IN_2025} is missing from the export (2025.zip)"
    assert isinstance(answers[2], MediaError)
    assert answers[2].message == "refusing unsafe ZIP member name '../escape.jpg'"


def test_copy_members_refuses_a_member_lying_about_its_size(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("media/posts/big", b"\0" * 300_000)
    # Lie about the size in the central directory, as a hostile ZIP would.
    data = bytearray(path.read_bytes())
    entry = data.rfind(b"PK\x01\x02")
    data[entry + 24:entry + 28] = (1000).to_bytes(4, "little")
    path.write_bytes(bytes(data))

    [answer] = copy_members(path, ["media/posts/big"], 100_000, lambda _m, s: sink_all(s))

    # zipfile stops at the declared size, and the checksum then tells the lie.
    assert isinstance(answer, MediaError)
    assert answer.message == ("cannot read media/posts/big from bomb.zip (BadZipFile: Bad "
                              "CRC-32 for file 'media/posts/big')")


def sink_all(stream: Any) -> int:
    out = io.BytesIO()
    while chunk := stream.read(8192):
        out.write(chunk)
    return out.tell()


def test_the_parts_of_a_split_export_share_one_size_limit(tmp_path: Path) -> None:
    parts = exports.split(exports.build("export_2025_activity_media", tmp_path / "e.zip"), 2)
    sizes = [sum(i.file_size for i in zipfile.ZipFile(p).infolist()) for p in parts]

    assert len(read_export(parts, max_uncompressed=sum(sizes)).posts) == 4
    with pytest.raises(SourceError) as caught:
        read_export(parts, max_uncompressed=sum(sizes) - 1)

    assert caught.value.message == (
        f"the 2 parts of this export would unpack to more than {sum(sizes) - 1} bytes; "
        "refusing them as a possible ZIP bomb")
