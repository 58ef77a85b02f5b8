"""Preview and pick (issue 14 item 6) against the real WordPress, with the real
apify-client talking to the fake Apify (whose actor and runs carry pricing as the real
API does: ``pricingInfos`` on the actor, ``pricingInfo``/``chargedEventCounts``/
``usageTotalUsd`` on the run). Each test runs a sidecar of its own; WordPress and the
fake Apify are the session's.
"""

# The sidecar and api fixtures are imported from tests/e2e/sources.py; pytest uses them
# by name.
# ruff: noqa: F811

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from dev.stack import Stack
from tests.e2e.conftest import SidecarApi, WordPressApi
from tests.e2e.sources import Fresh, api, new_username, sidecar  # noqa: F401 - fixtures
from tests.fakes.apify_server import (
    DEFAULT_PRICE_PER_RESULT_USD,
    FakeApify,
    pay_per_event,
    price_per_result,
)
from tests.fakes.instagram_items import ItemFactory, iso


@pytest.fixture
def pricing(import_apify: FakeApify) -> Iterator[list[dict[str, Any]]]:
    """The actor's pricing records, as this test sets them; restored after it."""
    before = list(import_apify.pricing_infos)
    yield import_apify.pricing_infos
    import_apify.pricing_infos[:] = before


def runs_of(fake: FakeApify, username: str) -> list[Any]:
    return [run for run in fake.runs.values() if run.profile.username == username]


def wp_total(stack: Stack, path: str) -> int:
    reply = httpx.get(f"{stack.wp_url}/wp-json{path}", params={"status": "any", "per_page": 1}
                      if path == "/wp/v2/posts" else {"per_page": 1},
                      auth=(stack.wp_app_user, stack.wp_app_password), timeout=30)
    assert reply.status_code == 200, reply.text[:300]
    return int(reply.headers["X-WP-Total"])


def wp_counts(stack: Stack) -> tuple[int, int]:
    return wp_total(stack, "/wp/v2/posts"), wp_total(stack, "/wp/v2/media")


def preview(api: SidecarApi, source: dict[str, Any]) -> dict[str, Any]:
    return api.finish(api.start_job(source, kind="preview"))


def import_selected(api: SidecarApi, preview_id: str, select: list[str]) -> httpx.Response:
    return api.post("/api/jobs", {"kind": "import", "source": {
        "type": "preview", "job_id": preview_id, "select": select}})


def account(fake: FakeApify, fresh: Fresh) -> tuple[ItemFactory, list[dict[str, Any]]]:
    """A profile of its own: three photos, a video, a carousel, a reel, newest first."""
    username = new_username("preview")
    factory = ItemFactory(fake, username)
    newest = datetime(2024, 6, 10, 9, 0, tzinfo=UTC)
    items = [factory.image(f"Photo {n} at the lake #lake", taken_at=newest - timedelta(days=n))
             for n in range(3)]
    carousel = factory.carousel()
    for node in [carousel, *carousel["childPosts"]]:
        node["timestamp"] = iso(newest - timedelta(days=4))
    items += [{**factory.video("Waves", taken_at=newest - timedelta(days=3)),
               "productType": "feed"},
              carousel,
              factory.video("A reel", taken_at=newest - timedelta(days=5))]
    items = fresh(fake, items)
    fake.add_profile(username, items)
    return factory, items


def test_a_preview_writes_nothing_says_what_each_post_is_and_import_selected_takes_exactly_those(
    api: SidecarApi, stack: Stack, import_apify: FakeApify, import_wp: WordPressApi,
    import_fresh: Fresh,
) -> None:
    factory, items = account(import_apify, import_fresh)
    ids = [i["id"] for i in items]
    source = {"type": "apify", "username": factory.username, "limit": 50}
    # Two posts are in WordPress already; the second of them its owner deleted for good.
    first = api.finish(api.start_job(source, options={"only": ids[:2]}))
    assert first["counts"]["imported"] == 2, first
    gone = import_wp.post_of(ids[1])["id"]
    reply = httpx.delete(f"{stack.wp_url}/wp-json/wp/v2/posts/{gone}", params={"force": "true"},
                         auth=(stack.wp_app_user, stack.wp_app_password), timeout=30)
    assert reply.status_code == 200, reply.text[:300]
    before = wp_counts(stack)

    job = preview(api, source)

    assert job["status"] == "complete", job
    assert wp_counts(stack) == before  # not a post, not a file
    assert len(runs_of(import_apify, factory.username)) == 2
    page = api.get(f"/api/jobs/{job['job_id']}/items", limit=50).json()["items"]
    assert [(i["source_id"], i["preview"], i["kind"]) for i in page] == [
        (ids[0], "already_imported", "photo"), (ids[1], "deleted", "photo"),
        (ids[2], "new", "photo"), (ids[3], "new", "video"), (ids[4], "new", "carousel"),
        (ids[5], "new", "reel")]
    assert [i["caption_excerpt"] for i in page[:3]] == [
        "Photo 0 at the lake #lake", "Photo 1 at the lake #lake", "Photo 2 at the lake #lake"]
    assert page[2]["taken_at"] == "2024-06-08T09:00:00+00:00"
    assert job["progress"]["message"].startswith(
        "Previewed 6 post(s): 4 new, 1 already imported, 1 deleted in WordPress")
    # Thumbnails come from the sidecar's media cache (a photo, a carousel's first, a
    # video's still frame), never from Instagram's CDN.
    assert all(i["thumbnail_url"].startswith(f"/api/jobs/{job['job_id']}/thumbnails/")
               for i in page)
    poster = httpx.get(api.url + page[3]["thumbnail_url"], headers=api.headers, timeout=30)
    assert (poster.status_code, poster.headers["content-type"]) == (200, "image/jpeg")
    thumb = httpx.get(api.url + page[2]["thumbnail_url"], headers=api.headers, timeout=30)
    assert (thumb.status_code, thumb.headers["content-type"]) == (200, "image/jpeg")
    other = api.post("/api/stream-tokens", {"sessions": [first["job_id"]], "ttl": 60})
    refused = httpx.get(api.url + page[2]["thumbnail_url"], params={"token": other.json()["token"]},
                        timeout=30)
    assert refused.status_code == 403
    mine = api.post("/api/stream-tokens", {"sessions": [job["job_id"]], "ttl": 60})
    assert httpx.get(api.url + page[2]["thumbnail_url"], params={"token": mine.json()["token"]},
                     timeout=30).content == thumb.content
    # The estimate came before the run, the real charge after it.
    run = runs_of(import_apify, factory.username)[-1]
    assert job["cost"] == {
        "pricing_model": "PRICE_PER_DATASET_ITEM",
        "price_per_result_usd": DEFAULT_PRICE_PER_RESULT_USD, "start_fee_usd": 0.0,
        "results": 50, "max_total_charge_usd": 0.5,
        "estimate_usd": pytest.approx(50 * DEFAULT_PRICE_PER_RESULT_USD),
        "charged_usd": pytest.approx(6 * DEFAULT_PRICE_PER_RESULT_USD),
        "charged_event_counts": {}, "usage_total_usd": run.to_json(import_apify)["usageTotalUsd"],
        "apify_run_id": run.id,
    }
    assert run.charged_usd() == pytest.approx(job["cost"]["charged_usd"])

    picked = import_selected(api, job["job_id"], [ids[2], ids[4]])

    assert picked.status_code == 202, picked.text
    imported = api.finish(picked.json()["job_id"])
    assert imported["status"] == "complete", imported
    assert (imported["kind"], imported["options"]["from_preview"]) == ("import", job["job_id"])
    assert sorted((i["source_id"], i["state"]) for i in imported["items"]) == [
        (ids[2], "imported"), (ids[4], "imported")]
    assert len(runs_of(import_apify, factory.username)) == 2  # no second scrape
    assert len(import_wp.attachments_of(import_wp.post_of(ids[4])["id"])) == 3
    assert [import_wp.posts_of(i) for i in (ids[1], ids[3], ids[5])] == [[], [], []]


def test_import_selected_refuses_what_the_preview_cannot_give_naming_it(
    api: SidecarApi, import_apify: FakeApify, import_fresh: Fresh,
) -> None:
    factory, items = account(import_apify, import_fresh)
    job = preview(api, {"type": "apify", "username": factory.username, "limit": 3})
    scrape = api.start_job({"type": "apify", "username": factory.username, "limit": 1},
                           kind="scrape")
    api.finish(scrape)

    unknown = import_selected(api, "0123456789abcdef", [items[0]["id"]])
    not_a_preview = import_selected(api, scrape, [items[0]["id"]])
    not_in_it = import_selected(api, job["job_id"], [items[0]["id"], "nope-1", items[5]["id"]])

    assert [(r.status_code, r.json()["error"]["message"]) for r in (
        unknown, not_a_preview, not_in_it)] == [
        (422, "source.job_id: no preview job 0123456789abcdef"),
        (422, f"source.job_id: no preview job {scrape}"),
        (422, f"source.select: preview {job['job_id']} has no post nope-1, {items[5]['id']}"),
    ]
    empty = import_selected(api, job["job_id"], [])
    assert empty.status_code == 422


def test_the_estimate_is_capped_by_max_total_charge_and_pay_per_event_is_charged_per_event(
    api: SidecarApi, import_apify: FakeApify, import_fresh: Fresh,
    pricing: list[dict[str, Any]],
) -> None:
    factory, _items = account(import_apify, import_fresh)
    source = {"type": "apify", "username": factory.username, "limit": 20}
    # An older, cheaper record stays in the actor's history; the newest started one counts.
    pricing[:] = [price_per_result(0.001, started_at="2023-01-01T00:00:00.000Z"),
                  price_per_result(0.05, started_at="2025-01-01T00:00:00.000Z"),
                  price_per_result(9.0, started_at="2999-01-01T00:00:00.000Z")]

    job_id = api.start_job(source, kind="preview")
    events = api.follow(job_id)
    capped = api.job(job_id)

    # The estimate is told before the run starts; the charge once it has ended.
    messages = [e["message"] for e in events]
    estimate = next(n for n, e in enumerate(events) if (e.get("details") or {}).get("cost"))
    assert messages[estimate] == ("Apify run estimated at $0.2000 at most "
                                  "(20 results × $0.0500, capped at $0.2000)")
    assert "charged_usd" not in events[estimate]["details"]["cost"]
    assert estimate < messages.index("Apify: Starting the crawler.")
    assert messages[-1].endswith("Apify run estimated $0.2000, charged $0.2000")

    # 20 results × $0.05 = $1.00, but every run is started with maxTotalChargeUsd $0.20.
    assert capped["cost"]["estimate_usd"] == pytest.approx(0.2)
    assert (capped["cost"]["price_per_result_usd"], capped["cost"]["max_total_charge_usd"]) == (
        0.05, pytest.approx(0.2))
    assert capped["cost"]["charged_usd"] == pytest.approx(0.2)  # 6 × $0.05, capped
    assert runs_of(import_apify, factory.username)[-1].charged_usd() == pytest.approx(0.2)

    # Pay per event: the actor's own start fee once, the platform's start event once per
    # GB of the run's memory (the actor's default: igbridge sets none), a price a result.
    pricing[:] = [pay_per_event({"apify-actor-start": 0.001, "actor-start": 0.005,
                                 "result": 0.0027}, "result")]
    import_apify.memory_mbytes = 4096
    try:
        job_id = api.start_job(source, kind="preview")
        told = [e["message"] for e in api.follow(job_id)]
        per_event = api.job(job_id)
    finally:
        import_apify.memory_mbytes = 1024

    assert per_event["cost"]["pricing_model"] == "PAY_PER_EVENT"
    assert per_event["cost"]["start_fee_usd"] == pytest.approx(4 * 0.001 + 0.005)
    assert per_event["cost"]["estimate_usd"] == pytest.approx(0.009 + 20 * 0.0027)
    assert ("Apify run estimated at $0.0630 at most "
            "($0.0090 to start + 20 results × $0.0027, capped at $0.2000)") in told
    assert per_event["cost"]["charged_event_counts"] == {
        "apify-actor-start": 4, "actor-start": 1, "result": 6}
    assert per_event["cost"]["charged_usd"] == pytest.approx(0.009 + 6 * 0.0027)


def test_a_saved_sources_preview_imports_the_picked_posts_with_its_mapping(
    api: SidecarApi, stack: Stack, import_apify: FakeApify, import_wp: WordPressApi,
    import_fresh: Fresh,
) -> None:
    factory, items = account(import_apify, import_fresh)
    saved = api.post("/api/sources", {"type": "apify", "username": factory.username,
                                      "mapping": {"status": "draft", "post_type": "page",
                                                  "title": {"rule": "date"}}})
    assert saved.status_code == 201, saved.text
    before = wp_counts(stack)

    started = api.post(f"/api/sources/{saved.json()['source_id']}/preview")

    assert started.status_code == 202, started.text
    job = api.finish(started.json()["job_id"])
    assert (job["kind"], job["status"]) == ("preview", "complete"), job
    assert wp_counts(stack) == before
    picked = import_selected(api, job["job_id"], [items[1]["id"]])
    assert picked.status_code == 202, picked.text
    assert api.finish(picked.json()["job_id"])["counts"]["imported"] == 1
    [page] = import_wp.get("/wp/v2/pages", igbridge_source_id=items[1]["id"], status="any")
    assert (page["status"], page["title"]["raw"]) == ("draft", "2024-06-09")
    assert import_wp.posts_of(items[1]["id"]) == []
    # The next preview looks where the mapping puts posts: the page is found.
    again = api.finish(api.post(f"/api/sources/{saved.json()['source_id']}/preview")
                       .json()["job_id"])
    verdicts = {i["source_id"]: i["preview"]
                for i in api.get(f"/api/jobs/{again['job_id']}/items").json()["items"]}
    assert verdicts[items[1]["id"]] == "already_imported"
    assert list(verdicts.values()).count("new") == 5


def test_an_uploaded_export_preview_reads_the_zip_and_imports_the_picked_ones(
    api: SidecarApi, stack: Stack, tmp_path: Path, import_wp: WordPressApi,
    import_export_photos: Callable[..., Path],
) -> None:
    start = 1_700_000_000 + int(time.time()) % 10_000_000 * 10
    export = import_export_photos(tmp_path / "export.zip", ["Sunrise", "Noon", "Dusk"],
                                  start=start).read_bytes()
    # Uploaded as the plugin does it: the sidecar keeps the file, the job names its id.
    created = api.post("/api/uploads", {"name": "export.zip", "size": len(export)})
    assert created.status_code == 201, created.text
    upload_id = created.json()["upload_id"]
    sent = httpx.patch(f"{api.url}/api/uploads/{upload_id}", content=export, timeout=30,
                       headers={**api.headers, "Upload-Offset": "0",
                                "Content-Type": "application/offset+octet-stream"})
    assert sent.status_code == 200, sent.text
    before = wp_counts(stack)

    job = preview(api, {"type": "export", "upload_ids": [upload_id]})

    assert job["status"] == "complete", job
    assert job["cost"] is None
    assert wp_counts(stack) == before
    page = sorted(api.get(f"/api/jobs/{job['job_id']}/items").json()["items"],
                  key=lambda i: i["caption_excerpt"])
    assert [(i["caption_excerpt"], i["preview"], i["kind"]) for i in page] == [
        ("Dusk", "new", "photo"), ("Noon", "new", "photo"), ("Sunrise", "new", "photo")]
    assert [httpx.get(api.url + i["thumbnail_url"], headers=api.headers, timeout=30).status_code
            for i in page] == [200, 200, 200]
    picked = import_selected(api, job["job_id"], [page[0]["source_id"]])
    done = api.finish(picked.json()["job_id"])
    assert [(i["source_id"], i["state"]) for i in done["items"]] == [
        (page[0]["source_id"], "imported")]
    assert import_wp.post_of(page[0]["source_id"])["status"] == "publish"
    # The preview can still be picked from: its upload outlived that import, and the
    # next pick reads the same ZIP.
    assert api.get(f"/api/uploads/{upload_id}").status_code == 200
    second = api.finish(import_selected(api, job["job_id"], [page[1]["source_id"]]
                                        ).json()["job_id"])
    assert (second["status"], second["error"]) == ("complete", None), second
    assert [(i["source_id"], i["state"]) for i in second["items"]] == [
        (page[1]["source_id"], "imported")]
    assert import_wp.post_of(page[1]["source_id"])["status"] == "publish"
