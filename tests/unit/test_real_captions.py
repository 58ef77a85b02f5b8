"""Hashtags and mentions of real Apify items, by Instagram's rule (issue 10, item 5).

The items are copied field by field from published runs (see
``tests/fakes/apify_real_captions.py``); each keeps the scraper's own ``hashtags``
and ``mentions`` lists, whose quirks the source must not take over.
"""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.domain.models import Post
from sidecar.sources.apify import item_to_post
from tests.fakes.apify_real_captions import (
    BOSTON_BARBER,
    NATGEOTV_RHINOS,
    PIXXIE_TOPPO,
    QUOTED_TAG_AND_EMAIL,
)

MEDIA = {"displayUrl": "https://cdn.example/x.jpg", "images": ["https://cdn.example/x.jpg"],
         "videoUrl": "https://cdn.example/x.mp4", "timestamp": "2025-08-24T16:00:37.000Z"}


@pytest.mark.parametrize(("item", "hashtags", "mentions"), [
    (NATGEOTV_RHINOS, ("TheLastRhinosANewHope",), ("DisneyPlus", "hulu")),
    (PIXXIE_TOPPO, tuple(PIXXIE_TOPPO["hashtags"]), ()),
    (BOSTON_BARBER, tuple(BOSTON_BARBER["hashtags"]),
     ("e.oliveirahair_b3g", "barba_district", "rockyourbarber", "sosmooth_cuts")),
    (QUOTED_TAG_AND_EMAIL, ("samenkoken", "teamuitje", "goeduitje"), ()),
], ids=["hulu-full-stop", "thai-combining-marks", "mention-before-comma", "quote-and-email"])
def test_tags_and_mentions_follow_instagrams_rule(
        item: dict[str, Any], hashtags: tuple[str, ...], mentions: tuple[str, ...]) -> None:
    post = item_to_post({**MEDIA, **item}, "3706348645359165044", "someone")
    assert isinstance(post, Post), post
    assert (post.hashtags, post.mentions) == (hashtags, mentions)


def test_the_scrapers_own_lists_differ_where_the_rule_matters() -> None:
    """The fixtures keep the quirks they were copied for (else the test above proves
    nothing about them)."""
    assert 'samenkoken"' in QUOTED_TAG_AND_EMAIL["hashtags"]
    assert "goeduitje.nl" in QUOTED_TAG_AND_EMAIL["mentions"]
    assert "hulu." in NATGEOTV_RHINOS["mentions"]
