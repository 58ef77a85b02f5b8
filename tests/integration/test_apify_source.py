"""``fetch_posts`` with the real apify-client v3 against the fake Apify server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from apify_client import ApifyClientAsync

from sidecar.config import Config
from sidecar.domain.models import Media, Post, Skipped
from sidecar.errors import SourceError, TransientError
from sidecar.sources.apify import FetchResult, fetch_posts, run_input
from tests.fakes.apify_server import FakeApify
from tests.fakes.instagram_items import EMOJI_JAPANESE_CAPTION, HTML_CAPTION, ItemFactory


@pytest.fixture
def fake() -> Iterator[FakeApify]:
    with FakeApify() as server:
        yield server


@pytest.fixture
def config(fake: FakeApify, tmp_path: Path) -> Config:
    return Config(
        data_dir=tmp_path,
        apify_token=fake.token,
        apify_api_url=fake.url,
        apify_poll_seconds=0.01,
        backoff_base_seconds=0.02,
    )


class StatusLog:
    def __init__(self) -> None:
        self.messages: list[str] = []
        self.run_ids: list[str] = []

    async def status(self, message: str) -> None:
        self.messages.append(message)

    async def started(self, run_id: str) -> None:
        self.run_ids.append(run_id)


async def fetch(config: Config, username: str, limit: int = 20, **kwargs: object) -> FetchResult:
    log = kwargs.pop("log", None) or StatusLog()
    assert isinstance(log, StatusLog)
    return await fetch_posts(
        config, username, limit, on_status=log.status, on_run_started=log.started, **kwargs
    )  # type: ignore[arg-type]


def parse(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).astimezone(UTC)


async def test_feed_maps_every_item_type_and_skips_collabs_and_duplicates(
    fake: FakeApify, config: Config
) -> None:
    items = ItemFactory(fake, "alice")
    feed = items.feed()
    fake.add_profile("alice", feed)
    log = StatusLog()

    result = await fetch(config, "@Alice", log=log)

    run = fake.run_for("alice")
    assert result.run_id == run.id
    assert log.run_ids == [run.id]
    assert log.messages == [
        "Starting the crawler.",
        "Crawled 1/3 pages, 0 failed requests.",
        "Crawled 3/3 pages, 0 failed requests.",
        "Finished! Total 3 requests: 3 succeeded, 0 failed.",
    ]
    assert run.input == {
        "directUrls": ["https://www.instagram.com/Alice/"],
        "resultsType": "posts",
        "resultsLimit": 20,
    }
    assert run.max_items == 20
    assert run.max_total_charge_usd is not None
    assert run.max_total_charge_usd > 0

    pinned, newest, reel, carousel, collab, japanese, html, no_display, repeat = feed
    assert result.skipped == [
        Skipped(collab["id"], "collab post by @partner.brand"),
        Skipped(repeat["id"], "duplicate in feed"),
    ]
    assert [p.source_id for p in result.posts] == [
        pinned["id"], newest["id"], reel["id"], carousel["id"], japanese["id"], html["id"],
        no_display["id"],
    ]  # fmt: skip
    by_id = {p.source_id: p for p in result.posts}

    assert by_id[newest["id"]] == Post(
        source_id=newest["id"],
        short_code=newest["shortCode"],
        permalink=newest["url"],
        owner="alice",
        taken_at=parse(newest["timestamp"]),
        caption="Coffee with @ana.gomes ☕️\nSecond line",
        hashtags=(),
        mentions=("ana.gomes",),
        location="Lisboa",
        alt="Photo by Alice on June 01, 2024. May be an image of ocean.",
        media=(
            Media(
                kind="image",
                url=newest["displayUrl"],
                width=1080,
                height=1350,
                alt="Photo by Alice on June 01, 2024. May be an image of ocean.",
            ),
        ),
        is_pinned=False,
        origin="apify",
    )
    assert by_id[pinned["id"]].is_pinned is True
    assert by_id[reel["id"]].media == (
        Media(kind="video", url=reel["videoUrl"], width=1080, height=1920, alt="",
              poster_url=reel["displayUrl"]),
    )
    assert by_id[reel["id"]].hashtags == ("reels",)

    children = carousel["childPosts"]
    assert by_id[carousel["id"]].media == (
        Media("image", children[0]["displayUrl"], None, 1080, 1080, "Photo 1 of the ridge"),
        Media("video", children[1]["videoUrl"], None, 1080, 1080, "",
              poster_url=children[1]["displayUrl"]),
        Media("image", children[2]["displayUrl"], None, 1080, 1080, "Photo 3 of the ridge"),
    )
    assert by_id[japanese["id"]].caption == EMOJI_JAPANESE_CAPTION
    assert by_id[japanese["id"]].hashtags == ("日本", "桜", "spring")
    assert by_id[japanese["id"]].location == "京都市"
    assert by_id[japanese["id"]].title == "桜が満開でした 🌸🇯🇵"
    assert by_id[html["id"]].caption == HTML_CAPTION  # kept verbatim; escaping is the importer's
    assert by_id[no_display["id"]].media == (
        Media("image", no_display["images"][0], None, 1080, 1350, no_display["alt"]),
    )


async def test_media_urls_lead_to_the_fake_cdn_with_lying_extensions(
    fake: FakeApify, config: Config
) -> None:
    items = ItemFactory(fake, "bob")
    fake.add_profile("bob", [items.image(fmt="webp"), items.video()])

    result = await fetch(config, "bob")

    async with httpx.AsyncClient() as client:
        image = await client.get(result.posts[0].media[0].url or "")
        video = await client.get(result.posts[1].media[0].url or "")
    assert (image.status_code, image.headers["content-type"], image.content[8:12]) == (
        200, "image/webp", b"WEBP",
    )  # fmt: skip
    assert ".jpg?" in str(image.url)
    assert (video.status_code, video.content[4:8]) == (200, b"ftyp")


async def test_private_account_is_a_source_error_with_apifys_words(
    fake: FakeApify, config: Config
) -> None:
    fake.add_private("secretive")

    with pytest.raises(SourceError) as caught:
        await fetch(config, "secretive")

    assert caught.value.message == (
        "Instagram account @secretive is private or empty "
        "(Apify: Empty or private data for provided input)"
    )


async def test_unknown_account_reads_like_a_private_one(fake: FakeApify, config: Config) -> None:
    with pytest.raises(SourceError, match=r"@nobody_here is private or empty"):
        await fetch(config, "nobody_here")


async def test_a_run_without_items_is_a_clear_error(fake: FakeApify, config: Config) -> None:
    fake.add_profile("quiet", [])

    with pytest.raises(SourceError) as caught:
        await fetch(config, "quiet")

    assert caught.value.message == "Apify found no posts for @quiet (the run returned no items)"


async def test_failed_run_reports_apifys_status_message(fake: FakeApify, config: Config) -> None:
    fake.add_profile(
        "carol",
        [],
        final_status="FAILED",
        final_message="Instagram blocked the request (HTTP 429) after 3 retries",
    )

    with pytest.raises(SourceError) as caught:
        await fetch(config, "carol")

    run_id = fake.run_for("carol").id
    assert caught.value.message == (
        f"Apify run {run_id} ended FAILED while scraping @carol: "
        "Instagram blocked the request (HTTP 429) after 3 retries"
    )


async def test_wrong_token_is_a_clear_error(fake: FakeApify, config: Config) -> None:
    wrong = config.with_overrides(apify_token="not-the-token")

    with pytest.raises(SourceError) as caught:
        await fetch(wrong, "alice")

    assert caught.value.message == (
        "Apify rejected the token (user-or-token-not-found): check the Apify token under "
        "Settings → igbridge (or APIFY_TOKEN)"
    )
    assert caught.value.code == "apify_auth"
    assert fake.runs == {}


async def test_missing_token_and_bad_username_fail_before_any_request(
    fake: FakeApify, config: Config
) -> None:
    with pytest.raises(SourceError, match=r"enter the Apify token under Settings → igbridge "
                                          r"in wp-admin \(or set APIFY_TOKEN\)"):
        await fetch(config.with_overrides(apify_token=""), "alice")
    with pytest.raises(SourceError, match="is not an Instagram username"):
        await fetch(config, "alice; rm -rf /")
    assert fake.requests == []


async def test_unknown_actor_is_a_source_error(fake: FakeApify, config: Config) -> None:
    with pytest.raises(SourceError, match="Actor was not found"):
        await fetch(config.with_overrides(apify_actor="someone/else"), "alice")


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_rate_limits_and_server_errors_are_retried_by_the_client(
    fake: FakeApify, config: Config, status: int
) -> None:
    items = ItemFactory(fake, "dave")
    fake.add_profile("dave", [items.image(), items.image()])
    fake.fail_next(2, status=status)

    result = await fetch(config, "dave")

    assert len(result.posts) == 2
    assert [r.path for r in fake.requests[:3]] == ["/v2/actors/apify~instagram-scraper/runs"] * 3


async def test_persistent_server_errors_become_transient(fake: FakeApify, config: Config) -> None:
    fake.add_profile("erin", [])
    fake.fail_next(10, status=502)

    with pytest.raises(TransientError, match=r"Apify is unavailable \(502\)"):
        await fetch(config, "erin")


async def test_unreachable_api_is_transient(config: Config) -> None:
    with FakeApify() as closed:
        url = closed.url
    with pytest.raises(TransientError, match="cannot reach Apify"):
        await fetch(config.with_overrides(apify_api_url=url), "alice")


async def test_dataset_is_read_page_by_page(fake: FakeApify, config: Config) -> None:
    items = ItemFactory(fake, "frank")
    fake.add_profile("frank", [items.image(f"post {n}") for n in range(250)])

    result = await fetch(config, "frank", limit=250)

    assert [p.caption for p in result.posts] == [f"post {n}" for n in range(250)]
    pages = [
        (r.query["offset"], r.query["limit"]) for r in fake.requests if r.path.endswith("/items")
    ]
    assert pages == [(["0"], ["100"]), (["100"], ["100"]), (["200"], ["100"]), (["250"], ["100"])]


async def test_limit_caps_the_run_with_max_items(fake: FakeApify, config: Config) -> None:
    items = ItemFactory(fake, "gina")
    fake.add_profile("gina", [items.image(f"post {n}") for n in range(10)])

    result = await fetch(config, "gina", limit=3)

    assert [p.caption for p in result.posts] == ["post 0", "post 1", "post 2"]
    assert fake.requests[0].query["maxItems"] == ["3"]


async def test_cancel_aborts_the_apify_run_and_keeps_its_items(
    fake: FakeApify, config: Config
) -> None:
    items = ItemFactory(fake, "hank")
    fake.add_profile("hank", [items.image() for _ in range(4)], hold=True)
    log = StatusLog()
    task = asyncio.create_task(fetch(config, "hank", log=log))
    while len(log.messages) < 1 or fake.run_for("hank").polls < 3:
        await asyncio.sleep(0.01)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    run = fake.run_for("hank")
    assert fake.aborted == [run.id]
    assert run.status == "ABORTING"
    run.polls += 1  # the next poll would see the abort through
    assert run.status == "ABORTED"
    assert len(run.visible_items()) > 0


async def test_resume_continues_the_stored_run_without_starting_another(
    fake: FakeApify, config: Config
) -> None:
    items = ItemFactory(fake, "ivy")
    fake.add_profile("ivy", [items.image("one"), items.image("two")])
    # The process that started this run crashed after storing its id.
    client = ApifyClientAsync(fake.token, api_url=fake.url)
    started = await client.actor("apify/instagram-scraper").start(run_input=run_input("ivy", 5))
    await client.http_client.aclose()
    log = StatusLog()

    result = await fetch(config, "ivy", log=log, resume_run_id=started.id)

    assert result.run_id == started.id
    assert [p.caption for p in result.posts] == ["one", "two"]
    assert list(fake.runs) == [started.id]
    assert log.run_ids == []
    assert log.messages[-1] == "Finished! Total 3 requests: 3 succeeded, 0 failed."


async def test_resuming_a_run_that_is_gone_says_so(fake: FakeApify, config: Config) -> None:
    with pytest.raises(SourceError, match="Apify run nope no longer exists"):
        await fetch(config, "ivy", resume_run_id="nope")


# ---- the fake speaks the protocol the real client expects ------------------------------


async def test_fake_accepts_gzip_bodies_and_every_actor_route(fake: FakeApify) -> None:
    fake.add_private("jo")
    big_input = {**run_input("jo", 5), "padding": "x" * 4000}  # v3 gzips bodies >= 1 KiB
    client = ApifyClientAsync(fake.token, api_url=fake.url)
    try:
        started = await client.actor("apify/instagram-scraper").start(run_input=big_input)
        finished = await client.run(started.id).wait_for_finish()
        dataset = await client.dataset(started.default_dataset_id).get()
        missing_run = await client.run("does-not-exist").get()
    finally:
        await client.http_client.aclose()

    assert fake.runs[started.id].input == big_input
    assert finished is not None
    assert finished.status == "SUCCEEDED"
    assert dataset is not None
    assert (dataset.id, dataset.item_count) == (started.default_dataset_id, 1)
    assert missing_run is None

    headers = {"Authorization": f"Bearer {fake.token}"}
    async with httpx.AsyncClient(base_url=fake.url, headers=headers) as http:
        by_acts = await http.post("/v2/acts/apify~instagram-scraper/runs", json=run_input("jo", 1))
        encoded = await http.post("/v2/acts/apify%2Finstagram-scraper/runs", json={})
        unknown = await http.get("/v2/nothing-here")
        no_token = await http.get(f"/v2/actor-runs/{started.id}", headers={"Authorization": ""})
    assert (by_acts.status_code, encoded.status_code) == (201, 201)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "page-not-found"
    assert no_token.status_code == 401
    assert no_token.json()["error"]["type"] == "user-or-token-not-found"


async def test_fake_runs_on_the_clock_for_demos(fake: FakeApify, config: Config) -> None:
    items = ItemFactory(fake, "kim")
    fake.add_profile("kim", [items.image()], step_seconds=0.02)

    result = await fetch(config, "kim")

    assert [p.source_id for p in result.posts] == [fake.run_for("kim").profile.items[0]["id"]]


async def test_expired_cdn_links_answer_403(fake: FakeApify) -> None:
    url = fake.add_media("old_n.jpg", b"\xff\xd8\xff\xe0", "image/jpeg")
    fake.expire_media("old_n.jpg")

    async with httpx.AsyncClient() as client:
        response = await client.get(url)

    assert (response.status_code, response.text) == (403, "URL signature expired")
