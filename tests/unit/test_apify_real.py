"""Apify items copied field by field from a real run (tests/fixtures/real/apify_items.json)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sidecar.domain.models import Skipped
from sidecar.sources.apify import map_items
from tests.fixtures.real import exports


def test_real_items_keep_order_kinds_place_and_reels() -> None:
    items = exports.apify_items()

    result = map_items(items, "pixxie_official", "run-1")

    sidecar, reel = result.posts
    children = items[0]["childPosts"]
    assert [(m.kind, m.url, m.width, m.height, m.alt) for m in sidecar.media] == [
        ("image", children[0]["displayUrl"], 1080, 1080, children[0]["alt"]),
        ("video", children[1]["videoUrl"], 1080, 1920, ""),
        ("image", children[2]["displayUrl"], 1080, 1350, ""),
    ]
    assert (sidecar.location, sidecar.latitude, sidecar.longitude, sidecar.is_reel,
            sidecar.is_pinned) == ("Siam Paragon", None, None, False, True)
    assert (reel.is_reel, [m.kind for m in reel.media], reel.location) == (
        True, ["video"], None)
    assert reel.taken_at == datetime(2025, 8, 11, 11, 0, tzinfo=UTC)
    assert result.skipped == [Skipped("3697530457723744357", "collab post by @loveis_ent")]


def test_coordinates_where_an_item_has_them() -> None:
    item: dict[str, Any] = {**exports.apify_items()[2], "ownerUsername": "loveis_ent",
                            "location": {"lat": 13.7563, "lng": 100.5018}}
    broken: dict[str, Any] = {**item, "id": "2", "location": {"lat": "13.7", "lng": None}}

    first, second = map_items([item, broken], "loveis_ent", "run-1").posts

    assert (first.location, first.latitude, first.longitude) == (
        "Bangkok, Thailand", 13.7563, 100.5018)
    assert (second.latitude, second.longitude) == (None, None)
