"""A saved source's mapping applied to one post: title rules, hashtags, templates,
reels; and when a schedule's next run falls."""

from __future__ import annotations

from datetime import UTC, datetime

from sidecar.domain.content import UploadedMedia, render_content
from sidecar.domain.mapping import Mapping
from sidecar.domain.models import Media, Post, extract_hashtags
from sidecar.jobs.scheduler import following_run

CAPTION = "Sunrise over {date} the bay & the <pier>\nsecond line #sea #Morning"


def post(caption: str = CAPTION, *, media: tuple[Media, ...] = (Media("image", url="u"),),
         location: str | None = "Porto", is_reel: bool = False) -> Post:
    return Post(source_id="1", short_code="Cabc", permalink="https://www.instagram.com/p/Cabc/",
                owner="alice", taken_at=datetime(2024, 5, 1, 7, 30, tzinfo=UTC),
                caption=caption, hashtags=extract_hashtags(caption), mentions=(),
                location=location, alt="", media=media, is_pinned=False, origin="apify",
                is_reel=is_reel)


def paragraph(inner: str) -> str:
    return f"<!-- wp:paragraph -->\n<p>{inner}</p>\n<!-- /wp:paragraph -->"


def test_the_defaults_are_the_import_as_it_always_was() -> None:
    found, mapping = post(), Mapping.from_json({})
    assert mapping == Mapping()
    assert mapping.title_of(found) == found.title
    assert mapping.tags_of(found) == ("sea", "Morning")
    assert render_content(found, [], caption=mapping.caption_of(found),
                          template=mapping.content_template) == render_content(found, [])
    assert mapping.include_reels


def test_title_rules() -> None:
    found = post()
    assert Mapping.from_json({"title": {"rule": "date"}}).title_of(found) == "2024-05-01"
    assert Mapping.from_json({"title": {"rule": "first_line", "max_length": 14}}).title_of(
        found) == "Sunrise over…"
    templated = Mapping.from_json({"title": {"rule": "template",
                                             "template": "{username} on {date}: {first_line}",
                                             "max_length": 80}})
    # A placeholder inside a filled-in value stays text: one pass only.
    assert templated.title_of(found) == (
        "alice on 2024-05-01: Sunrise over {date} the bay & the <pier>")


def test_hashtag_modes() -> None:
    found = post()
    assert Mapping(hashtags="text").tags_of(found) == ()
    assert Mapping(hashtags="text").caption_of(found) == CAPTION
    assert Mapping(hashtags="tags").tags_of(found) == ("sea", "Morning")
    assert Mapping(hashtags="tags").caption_of(found) == (
        "Sunrise over {date} the bay & the <pier>\nsecond line")


def test_a_content_template_fills_escaped_values_in_its_escaped_text() -> None:
    found = post()
    media = [UploadedMedia("image", 7, "http://wp.test/7.jpg", "")]
    content = render_content(found, media, caption="Hi @bob <b>", template=(
        "From {username} in {location} <on> {date}\n\n{caption}\n\nOriginal: {link} {other}"))
    blocks = content.split("\n\n")
    assert blocks[0].startswith("<!-- wp:image")
    assert blocks[1:] == [
        paragraph("From alice in Porto &lt;on&gt; 2024-05-01"),
        paragraph('Hi <a href="https://www.instagram.com/bob/">@bob</a> &lt;b&gt;'),
        paragraph('Original: <a href="https://www.instagram.com/p/Cabc/">'
                  'https://www.instagram.com/p/Cabc/</a> {other}'),
    ]


def test_the_next_run_keeps_the_beat_and_never_makes_up_missed_runs() -> None:
    due = 1_000_000.0
    assert following_run(due, 1, due + 0.4) == due + 60  # on time: no drift
    assert following_run(due, 60, due + 2) == due + 3600
    # Down for ten intervals: one catch-up now, the next one interval from now.
    assert following_run(due, 1, due + 600.5) == due + 600.5 + 60
