"""Saved sources and their syncs (issue 14) against the real WordPress, with the real
apify-client talking to the fake Apify (which honours ``onlyPostsNewerThan`` as the
real scraper does). Each test runs a sidecar of its own, so its sources, schedules and
restarts are its own; WordPress and the fake Apify are the session's.
"""

# The sidecar and api fixtures are imported from tests/e2e/sources.py; pytest uses them
# by name.
# ruff: noqa: F811

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from dev.stack import Stack
from tests.e2e.conftest import SidecarApi, WordPressApi
from tests.e2e.sources import (  # noqa: F401 - api and sidecar are the fixtures
    Fresh,
    account,
    api,
    counts,
    create_source,
    sidecar,
    sync,
    wp,
)
from tests.fakes.apify_server import FakeApify
from tests.fakes.instagram_items import ItemFactory
from tests.support.sidecar_process import SidecarProcess


def source(api: SidecarApi, source_id: str) -> dict[str, Any]:
    reply = api.get(f"/api/sources/{source_id}")
    assert reply.status_code == 200, reply.text
    found: dict[str, Any] = reply.json()
    return found


def patch(api: SidecarApi, path: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = httpx.patch(api.url + path, json=body, headers=api.headers, timeout=30)
    assert reply.status_code == 200, reply.text
    found: dict[str, Any] = reply.json()
    return found


def run_inputs(fake: FakeApify, username: str) -> list[dict[str, Any]]:
    return [run.input for run in fake.runs.values() if run.profile.username == username]


def test_a_source_with_a_mapping_syncs_its_posts_then_only_new_ones(
    api: SidecarApi, stack: Stack, import_apify: FakeApify, import_wp: WordPressApi,
    import_fresh: Fresh,
) -> None:
    newest = datetime(2024, 5, 20, 9, 30, tzinfo=UTC)
    factory, items = account(import_apify, import_fresh, 3, newest=newest)
    category = wp(stack, "POST", "/wp/v2/categories", name=f"Lake {factory.username}")["id"]
    created = create_source(api, {
        "type": "apify", "username": factory.username, "limit": 50,
        "mapping": {"status": "draft", "category_ids": [category], "title": {"rule": "date"}},
    })
    assert created["mapping"]["status"] == "draft"
    assert (created["next_run_at"], created["last_sync"], created["schedule"]) == (
        None, None, None)

    first = sync(api, created["source_id"])

    assert (first["kind"], first["status"]) == ("sync", "complete"), first
    assert counts(first) == {"imported": 3, "total": 3}
    assert "onlyPostsNewerThan" not in run_inputs(import_apify, factory.username)[0]
    for n, item in enumerate(items):
        post = import_wp.post_of(item["id"])
        assert (post["status"], post["categories"], post["title"]["raw"]) == (
            "draft", [category], f"{newest - timedelta(days=n):%Y-%m-%d}")
    saved = source(api, created["source_id"])
    assert saved["last_sync"]["job_id"] == first["job_id"]
    assert (saved["last_sync"]["status"], saved["last_sync"]["counts"]["imported"]) == (
        "complete", 3)

    # Two new posts upstream: the next sync asks only for what is newer than the newest
    # imported post, less an hour of overlap, and imports just the two.
    new = import_fresh(import_apify, [
        factory.image("Back at the lake #lake", taken_at=newest + timedelta(days=2)),
        factory.image("Evening swim", taken_at=newest + timedelta(days=1))])
    import_apify.profiles[factory.username.casefold()].items[:0] = new

    second = sync(api, created["source_id"])

    assert run_inputs(import_apify, factory.username)[-1]["onlyPostsNewerThan"] == (
        "2024-05-20T08:30:00Z")
    assert second["status"] == "complete", second
    assert counts(second) == {"imported": 2, "already_imported": 1, "total": 3}
    assert {i["source_id"] for i in second["items"] if i["state"] == "imported"} == {
        n["id"] for n in new}
    assert import_wp.post_of(new[0]["id"])["status"] == "draft"

    # Nothing new: only the overlap comes back, already in WordPress.
    third = sync(api, created["source_id"])

    assert run_inputs(import_apify, factory.username)[-1]["onlyPostsNewerThan"] == (
        f"{newest + timedelta(days=2) - timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}")
    assert (third["status"], counts(third)) == (
        "complete", {"already_imported": 1, "total": 1}), third
    assert third["progress"]["message"] == "No new posts: 1 post already in WordPress"
    assert source(api, created["source_id"])["last_sync"]["message"] == (
        "No new posts: 1 post already in WordPress")


def test_a_date_filter_that_matches_nothing_is_no_new_posts_not_a_private_account(
    api: SidecarApi, import_apify: FakeApify, import_fresh: Fresh,
) -> None:
    factory, _items = account(import_apify, import_fresh, 2,
                             newest=datetime(2024, 4, 1, 12, 0, tzinfo=UTC))
    created = create_source(api, {"type": "apify", "username": factory.username})
    assert sync(api, created["source_id"])["status"] == "complete"
    # The newest post was removed on Instagram: the filter now matches nothing, and
    # Apify answers with the error item a private account gets.
    del import_apify.profiles[factory.username.casefold()].items[0]

    job = sync(api, created["source_id"])

    assert (job["status"], job["error"], counts(job)) == ("complete", None, {}), job
    assert job["progress"]["message"] == "No new posts"

    never = create_source(api, {"type": "apify", "username": "nobody.here.at.all"})
    gone = sync(api, never["source_id"])
    assert gone["status"] == "error"
    assert gone["error"] == ("account @nobody.here.at.all is private or gone "
                             "(Apify found no posts for it)")
    assert source(api, never["source_id"])["last_sync"]["status"] == "error"


def test_a_trashed_post_is_not_imported_again_by_a_sync_nor_a_full_import(
    api: SidecarApi, stack: Stack, import_apify: FakeApify, import_wp: WordPressApi,
    import_fresh: Fresh,
) -> None:
    factory, items = account(import_apify, import_fresh, 2,
                             newest=datetime(2024, 3, 1, 12, 0, tzinfo=UTC))
    created = create_source(api, {"type": "apify", "username": factory.username})
    assert counts(sync(api, created["source_id"])) == {"imported": 2, "total": 2}
    newest_post = import_wp.post_of(items[0]["id"])
    assert wp(stack, "DELETE", f"/wp/v2/posts/{newest_post['id']}")["status"] == "trash"

    again = sync(api, created["source_id"])
    full = api.finish(api.start_job({"type": "apify", "username": factory.username}))

    for job in (again, full):
        assert job["status"] == "complete", job
        [item] = [i for i in job["items"] if i["source_id"] == items[0]["id"]]
        assert (item["state"], item["reason"]) == (
            "skipped", "deleted in WordPress: in the trash"), job["kind"]
    assert [p["status"] for p in import_wp.posts_of(items[0]["id"])] == ["trash"]


def test_two_overlapping_triggers_make_one_sync(
    api: SidecarApi, import_apify: FakeApify, import_fresh: Fresh,
) -> None:
    factory, _items = account(import_apify, import_fresh, 1,
                              newest=datetime(2024, 2, 1, 12, 0, tzinfo=UTC))
    import_apify.profiles[factory.username.casefold()].hold = True  # the run keeps going
    created = create_source(api, {"type": "apify", "username": factory.username})
    replies: list[httpx.Response] = []

    def trigger() -> None:
        replies.append(api.post(f"/api/sources/{created['source_id']}/sync"))

    threads = [threading.Thread(target=trigger) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.status_code for r in replies) == [200, 202], [r.text for r in replies]
    assert len({r.json()["job_id"] for r in replies}) == 1
    job_id = replies[0].json()["job_id"]
    assert source(api, created["source_id"])["sync_job_id"] == job_id
    assert len(run_inputs(import_apify, factory.username)) <= 1
    cancelled = api.post(f"/api/jobs/{job_id}/cancel")
    assert cancelled.json()["status"] == "cancelled", cancelled.text
    # The sync ended: a new trigger starts a new one.
    import_apify.profiles[factory.username.casefold()].hold = False
    assert sync(api, created["source_id"])["job_id"] != job_id


def _set_next_run(sidecar: SidecarProcess, source_id: str, moment: float) -> None:
    """What a sidecar that was down finds in its database: a run long overdue."""
    with sqlite3.connect(sidecar.data_dir / "igbridge.sqlite3") as conn:
        conn.execute("UPDATE sources SET next_run_at = ? WHERE source_id = ?",
                     (moment, source_id))


def _sync_jobs(api: SidecarApi) -> list[dict[str, Any]]:
    """The sync jobs, newest first, whole (the jobs list carries no options)."""
    listed = api.get("/api/jobs", limit=100).json()["jobs"]
    return [api.get(f"/api/jobs/{j['job_id']}").json() for j in listed if j["kind"] == "sync"]


def test_a_schedule_fires_by_itself_survives_a_restart_and_catches_up_once(
    api: SidecarApi, sidecar: SidecarProcess, import_apify: FakeApify, import_fresh: Fresh,
    import_waiter: Callable[..., None],
) -> None:
    factory, _items = account(import_apify, import_fresh, 1,
                              newest=datetime(2024, 1, 10, 12, 0, tzinfo=UTC))
    created = create_source(api, {"type": "apify", "username": factory.username,
                                  "schedule": {"every_minutes": 1}})
    due = datetime.fromisoformat(created["next_run_at"])
    assert 55 <= (due - datetime.fromisoformat(created["created_at"])).total_seconds() <= 61

    import_waiter(lambda: len(_sync_jobs(api)) == 1, "the first scheduled sync", timeout=75)
    [first] = _sync_jobs(api)
    assert first["options"]["scheduled_for"] == created["next_run_at"]
    started = datetime.fromisoformat(first["created_at"])
    assert timedelta(0) <= started - due < timedelta(seconds=5)
    assert api.finish(first["job_id"])["status"] == "complete"
    after_first = source(api, created["source_id"])
    assert after_first["next_run_at"] == (due + timedelta(minutes=1)).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")

    # Down for ten intervals: the restarted sidecar runs one catch-up sync, not ten, and
    # counts the next run from now.
    sidecar.stop()
    _set_next_run(sidecar, created["source_id"], time.time() - 600)
    sidecar.start()
    import_waiter(lambda: len(_sync_jobs(api)) == 2, "the catch-up sync", timeout=20)
    catch_up = api.finish(_sync_jobs(api)[0]["job_id"])
    assert catch_up["status"] == "complete", catch_up
    time.sleep(3)  # ticks of the scheduler that must start nothing more
    assert len(_sync_jobs(api)) == 2
    next_run = datetime.fromisoformat(source(api, created["source_id"])["next_run_at"])
    assert timedelta(seconds=50) < next_run - datetime.now(UTC) <= timedelta(minutes=1)

    paused = patch(api, f"/api/sources/{created['source_id']}", {"paused": True})
    assert paused["next_run_at"] is None
    assert paused["paused"] is True


@pytest.mark.parametrize(("body", "message"), [
    ({"mapping": {"status": "published"}}, "mapping.status"),
    ({"mapping": {"title": {"rule": "template"}}},
     "title.template is required when title.rule is 'template'"),
    ({"mapping": {"hashtags": "none"}}, "mapping.hashtags"),
    # Any public post type with the editor is fine ("page" too); one WordPress lacks is not.
    ({"mapping": {"post_type": "no_such_type"}},
     "mapping.post_type: WordPress has no post type 'no_such_type'"),
    ({"mapping": {"category_ids": [987654]}},
     "mapping.category_ids: WordPress has no category 987654"),
    ({"mapping": {"author_id": 987654}}, "mapping.author_id: WordPress has no user 987654"),
    ({"schedule": {"every_minutes": 0}}, "schedule.every_minutes"),
    ({"colour": "blue"}, "colour"),
])
def test_bad_values_are_refused_naming_them(
    api: SidecarApi, body: dict[str, Any], message: str,
) -> None:
    reply = api.post("/api/sources", {"type": "apify", "username": "someone", **body})
    assert reply.status_code == 422, reply.text
    assert message in reply.json()["error"]["message"]
    assert api.get("/api/sources").json() == {"sources": []}


def test_patch_merges_the_mapping_and_refuses_a_bad_value(api: SidecarApi) -> None:
    created = create_source(api, {"type": "apify", "username": "someone",
                                  "mapping": {"status": "draft", "title": {"rule": "date"}}})
    path = f"/api/sources/{created['source_id']}"

    changed = patch(api, path, {"mapping": {"hashtags": "tags",
                                                  "title": {"max_length": 40}}})

    assert {k: changed["mapping"][k] for k in ("status", "hashtags", "title")} == {
        "status": "draft", "hashtags": "tags",
        "title": {"rule": "date", "max_length": 40, "template": ""}}
    refused = httpx.patch(api.url + path, json={"mapping": {"featured": "last"}},
                          headers=api.headers, timeout=30)
    assert refused.status_code == 422
    assert "mapping.featured" in refused.text
    assert source(api, created["source_id"])["mapping"] == changed["mapping"]
    deleted = httpx.delete(api.url + path, headers=api.headers, timeout=30)
    assert deleted.status_code == 200
    assert api.get(path).status_code == 404


def test_a_post_deleted_for_good_stays_deleted_until_restored(
    api: SidecarApi, stack: Stack, import_apify: FakeApify, import_wp: WordPressApi,
    import_fresh: Fresh,
) -> None:
    factory, items = account(import_apify, import_fresh, 2,
                             newest=datetime(2023, 12, 1, 12, 0, tzinfo=UTC))
    created = create_source(api, {"type": "apify", "username": factory.username})
    assert counts(sync(api, created["source_id"])) == {"imported": 2, "total": 2}
    gone = import_wp.post_of(items[0]["id"])
    assert wp(stack, "DELETE", f"/wp/v2/posts/{gone['id']}?force=true")["deleted"] is True
    assert import_wp.posts_of(items[0]["id"]) == []

    again = sync(api, created["source_id"])
    full = api.finish(api.start_job({"type": "apify", "username": factory.username}))

    for job in (again, full):
        assert job["status"] == "complete", job
        [item] = [i for i in job["items"] if i["source_id"] == items[0]["id"]]
        assert (item["state"], item["reason"], item["wp_post_id"]) == (
            "skipped", "deleted in WordPress", None), job["kind"]
    assert import_wp.posts_of(items[0]["id"]) == []
    # Even a create that skips the lookup is refused by the plugin, naming why.
    refused = httpx.post(f"{stack.wp_url}/wp-json/wp/v2/posts",
                         json={"title": "again", "meta": {"_igbridge_source_id": items[0]["id"]}},
                         auth=(stack.wp_app_user, stack.wp_app_password), timeout=30)
    assert (refused.status_code, refused.json()["code"]) == (409, "igbridge_source_deleted")

    restored = wp(stack, "POST", "/igbridge/v1/deleted/restore", source_ids=[items[0]["id"]])
    assert restored == {"restored": 1}
    back = api.finish(api.start_job({"type": "apify", "username": factory.username}))
    assert counts(back) == {"imported": 1, "already_imported": 1, "total": 2}, back
    assert import_wp.post_of(items[0]["id"])["status"] == "publish"


def test_the_rest_of_the_mapping_reaches_wordpress(
    api: SidecarApi, stack: Stack, import_apify: FakeApify, import_wp: WordPressApi,
    import_fresh: Fresh,
) -> None:
    username = f"sync.mapping.{int(time.time() * 1000) % 1_000_000}"
    factory = ItemFactory(import_apify, username)
    photo, reel = import_fresh(import_apify, [
        factory.image("Harbour lights\nat dusk #harbour #Dusk", location="Porto",
                      taken_at=datetime(2023, 11, 5, 18, 0, tzinfo=UTC)),
        factory.video("A reel #waves", taken_at=datetime(2023, 11, 4, 18, 0, tzinfo=UTC))])
    import_apify.add_profile(username, [photo, reel])
    author = import_wp.get("/wp/v2/users/me")["id"]
    created = create_source(api, {"type": "apify", "username": username, "mapping": {
        "status": "private", "author_id": author, "hashtags": "tags", "featured": "none",
        "include_reels": False, "content_template": "{caption}\n\nSeen in {location}: {link}",
        "title": {"rule": "template", "template": "{username}: {first_line}"}}})

    job = sync(api, created["source_id"])

    assert job["status"] == "complete", job
    assert {i["source_id"]: (i["state"], i["reason"]) for i in job["items"]} == {
        photo["id"]: ("imported", None),
        reel["id"]: ("skipped", "a reel, left out (include_reels is false)")}
    post = import_wp.post_of(photo["id"])
    assert (post["status"], post["author"], post["featured_media"]) == ("private", author, 0)
    assert post["title"]["raw"] == f"{username}: Harbour lights"
    assert sorted(import_wp.tag_names(post["tags"])) == ["Dusk", "harbour"]
    paragraphs = [block for block in post["content"]["raw"].split("\n\n")
                  if block.startswith("<!-- wp:paragraph")]
    link = photo["url"]
    assert paragraphs == [
        "<!-- wp:paragraph -->\n<p>Harbour lights<br>at dusk</p>\n<!-- /wp:paragraph -->",
        f'<!-- wp:paragraph -->\n<p>Seen in Porto: <a href="{link}">{link}</a></p>\n'
        "<!-- /wp:paragraph -->"]
    assert import_wp.posts_of(reel["id"]) == []
