"""An export import into the real WordPress as the dashboard sees it (issue 11): its
items page with the caption's start, the date, the post's link and its thumbnail, and
one bar over the job's three phases that only moves forward."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import SidecarApi, WordPressApi

PHASES = ["Reading export", "Downloading media", "Importing into WordPress"]


def test_items_show_caption_date_link_and_thumbnail(
    tmp_path: Path, import_api: SidecarApi, import_wp: WordPressApi,
    import_export_photos: Callable[..., Path],
) -> None:
    start = 1_712_000_000
    captions = [
        "Morning swim at the lake 🌊 with @ana.gomes and the whole crew, before the rain came "
        "down over the hills #lake #summer",
        "Short one",
        "Line one\nline two",
    ]
    export = import_export_photos(tmp_path / "live.zip", captions, start=start)

    job_id = import_api.start_job({"type": "export", "path": str(export)})
    events = import_api.follow(job_id)

    shown = [e["percentage"] for e in events]
    assert shown == sorted(shown), shown
    assert shown[-1] == 100.0
    assert [p["name"] for p in events[-1]["phases"]] == PHASES
    importing = [e for e in events if e["phase"] == PHASES[2] and e["rate"] is not None]
    assert {e["rate_unit"] for e in importing} <= {"posts/s"}

    page = import_api.get(f"/api/jobs/{job_id}/items", limit=2).json()
    rest = import_api.get(f"/api/jobs/{job_id}/items", cursor=page["next_cursor"]).json()
    assert rest["next_cursor"] is None
    items = page["items"] + rest["items"]
    assert len(items) == 3
    for item in items:
        post = import_wp.post_of(item["source_id"])
        featured = import_wp.media(post["featured_media"])
        assert item == {
            "source_id": item["source_id"], "state": "imported", "reason": None,
            "wp_post_id": post["id"], "post_url": post["link"],
            "thumbnail_url": featured["source_url"],
            "caption_excerpt": item["caption_excerpt"], "taken_at": item["taken_at"],
        }
        assert httpx.get(item["thumbnail_url"], timeout=10).status_code == 200
    # Newest first, as the export lists them.
    assert [(i["caption_excerpt"], i["taken_at"]) for i in items] == [
        ("Line one line two", datetime.fromtimestamp(start + 7200, UTC).isoformat()),
        ("Short one", datetime.fromtimestamp(start + 3600, UTC).isoformat()),
        ("Morning swim at the lake 🌊 with @ana.gomes and the whole crew, before the rain…",
         datetime.fromtimestamp(start, UTC).isoformat()),
    ]

    # A rerun finds every post in WordPress and still links to it.
    again = import_api.finish(import_api.start_job({"type": "export", "path": str(export)}))
    rerun: list[dict[str, Any]] = import_api.get(f"/api/jobs/{again['job_id']}/items").json()[
        "items"]
    assert [i["post_url"] for i in rerun] == [i["post_url"] for i in items]
    assert {i["state"] for i in rerun} <= {"skipped", "already_imported"}
