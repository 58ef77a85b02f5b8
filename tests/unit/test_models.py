"""The normalized Post: titles, hashtags, mentions, ids and its JSON round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from sidecar.domain.models import (
    Media,
    Post,
    Skipped,
    export_source_id,
    extract_hashtags,
    extract_mentions,
    title_from_caption,
)

WHEN = datetime(2024, 5, 18, 2, 40, tzinfo=UTC)


def make_post(**changes: object) -> Post:
    fields: dict[str, object] = {
        "source_id": "3300000000000000001",
        "short_code": "CabcDEF123",
        "permalink": "https://www.instagram.com/p/CabcDEF123/",
        "owner": "alice",
        "taken_at": WHEN,
        "caption": "東京の夜景 🌃\n#日本 #東京 with @bob.s",
        "hashtags": ("日本", "東京"),
        "mentions": ("bob.s",),
        "location": "東京",
        "alt": "Night view",
        "media": (
            Media("image", "https://cdn.example/a.jpg?oh=1", None, 1080, 1350, "first"),
            Media("video", None, "media/posts/202405/b.mp4", None, None, ""),
        ),
        "is_pinned": True,
        "origin": "apify",
        "zip_path": None,
    }
    fields.update(changes)
    return Post(**fields)  # type: ignore[arg-type]


def test_post_round_trips_through_json_text() -> None:
    post = make_post()

    text = json.dumps(post.to_json(), ensure_ascii=False)

    assert Post.from_json(json.loads(text)) == post


def test_round_trip_normalizes_other_offsets_to_utc() -> None:
    post = make_post(taken_at=datetime(2024, 5, 18, 11, 40, tzinfo=timezone(timedelta(hours=9))))

    again = Post.from_json(post.to_json())

    assert again.taken_at == WHEN
    assert again.taken_at.utcoffset() == timedelta(0)


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        make_post(taken_at=datetime(2024, 5, 18))


def test_from_json_refuses_unknown_kinds() -> None:
    data = make_post().to_json()
    data["media"][0]["kind"] = "audio"
    with pytest.raises(ValueError, match="unknown media kind 'audio'"):
        Post.from_json(data)


@pytest.mark.parametrize(
    ("caption", "title"),
    [
        ("東京の夜景 🌃\n#日本 #東京", "東京の夜景 🌃"),
        ("#sunset #nofilter", "Instagram post 2024-05-18"),
        ("", "Instagram post 2024-05-18"),
        ("#only #tags\nSecond line is the title", "Second line is the title"),
        ("Coffee #morning with friends", "Coffee with friends"),
        ("  \n\nFirst real line\nnext", "First real line"),
        (
            "A very long caption about the old harbour, the fishing boats coming back at dusk "
            "and the gulls",
            "A very long caption about the old harbour, the fishing boats coming back at…",
        ),
        ("x" * 120, "x" * 79 + "…"),
    ],
)
def test_title(caption: str, title: str) -> None:
    assert title_from_caption(caption, WHEN) == title
    assert make_post(caption=caption).title == title
    assert len(title) <= 80


@pytest.mark.parametrize(
    ("caption", "hashtags"),
    [
        ("#日本 #東京 #夜景", ("日本", "東京", "夜景")),
        ("Tag at end#notatag and #real_one.", ("real_one",)),
        ("#Spring #spring #SPRING", ("Spring",)),
        ("#हिन्दी #ภาษาไทย", ("हिन्दी", "ภาษาไทย")),
        ("Number #1 is not a tag but #2024trip is", ("2024trip",)),
        ("Entities &#39; stay text", ()),
        ("emoji #🌱 is not a tag, #café is", ("café",)),
    ],
)
def test_hashtags(caption: str, hashtags: tuple[str, ...]) -> None:
    assert extract_hashtags(caption) == hashtags


@pytest.mark.parametrize(
    ("caption", "mentions"),
    [
        ("Coffee with @ana.gomes.", ("ana.gomes",)),
        ("mail me at someone@example.com", ()),
        ("@a_b and @A_B and @c.d", ("a_b", "c.d")),
        ("@東京 is not a username", ()),
    ],
)
def test_mentions(caption: str, mentions: tuple[str, ...]) -> None:
    assert extract_mentions(caption) == mentions


def test_export_ids_are_stable_and_distinct() -> None:
    one = export_source_id(1716000000, "caption", "media/posts/202405/a.jpg")

    assert one == export_source_id(1716000000, "caption", "media/posts/202405/a.jpg")
    assert one.startswith("export:")
    assert len(one) == len("export:") + 24
    assert one != export_source_id(1716000001, "caption", "media/posts/202405/a.jpg")
    assert one != export_source_id(1716000000, "caption!", "media/posts/202405/a.jpg")
    assert one != export_source_id(1716000000, "caption", "media/posts/202405/b.jpg")


def test_skipped_to_json() -> None:
    assert Skipped("123", "duplicate in feed").to_json() == {
        "source_id": "123",
        "reason": "duplicate in feed",
    }
