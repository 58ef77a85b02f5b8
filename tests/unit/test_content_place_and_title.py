"""A post's stored title, its Geodata meta and the place paragraph it shows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from sidecar.domain.content import render_content, title_text
from sidecar.domain.models import Media, Post
from sidecar.jobs.kinds.import_posts import geo_meta

BASE = Post(source_id="1", short_code=None, permalink=None, owner="alice",
            taken_at=datetime(2024, 5, 1, tzinfo=UTC), caption="", hashtags=(), mentions=(),
            location=None, alt="", media=(Media("image", url="u"),), is_pinned=False,
            origin="export")


@pytest.mark.parametrize(("title", "stored"), [
    ("Café au lait & croissant", "Café au lait & croissant"),  # issue 10's own example
    # Text that looks like an entity is escaped, so that it shows as that text.
    ("Tom &amp; Jerry", "Tom &amp;amp; Jerry"),
    ("R&D &#9731;", "R&amp;D &amp;#9731;"),
    ('I <3 "Lisboa"', 'I &lt;3 "Lisboa"'),
    ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
])
def test_a_title_is_stored_as_its_text_without_markup(title: str, stored: str) -> None:
    assert title_text(title) == stored


def test_a_named_place_with_coordinates() -> None:
    # Coordinates as a 2024 export's exif_data has them (latitude 48.8566, Paris).
    placed = replace(BASE, location="Paris, France", latitude=48.8566, longitude=2.3522)
    assert geo_meta(placed) == {"geo_address": "Paris, France", "geo_latitude": 48.8566,
                                "geo_longitude": 2.3522, "geo_public": 1}
    assert render_content(placed, []) == (
        '<!-- wp:paragraph -->\n<p>📍 <a href="https://www.openstreetmap.org/?mlat=48.856600'
        '&amp;mlon=2.352200#map=16/48.856600/2.352200">Paris, France</a></p>\n'
        "<!-- /wp:paragraph -->")


def test_coordinates_without_a_name_are_the_place() -> None:
    placed = replace(BASE, latitude=-33.8688, longitude=151.2093)
    assert geo_meta(placed) == {"geo_latitude": -33.8688, "geo_longitude": 151.2093,
                                "geo_public": 1}
    assert ">-33.86880, 151.20930</a>" in render_content(placed, [])


def test_a_name_alone_is_text_and_no_coordinates() -> None:
    placed = replace(BASE, location='Café "Zé" & <Filhos>')
    assert geo_meta(placed) == {"geo_address": 'Café "Zé" & <Filhos>', "geo_public": 1}
    assert render_content(placed, []) == (
        "<!-- wp:paragraph -->\n<p>📍 Café &quot;Zé&quot; &amp; &lt;Filhos&gt;</p>\n"
        "<!-- /wp:paragraph -->")


def test_no_place_no_geodata() -> None:
    assert geo_meta(BASE) == {}
    assert render_content(BASE, []) == ""
