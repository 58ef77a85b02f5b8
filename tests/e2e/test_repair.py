"""Repair jobs, the mapping preview and post types other than ``post`` (issue 14), against
the real WordPress, with the real apify-client talking to the fake Apify. One sidecar for
this module (its media index and job history are its own); WordPress and the fake Apify
are the session's. A test-only mu-plugin adds the post types (``tests/fixtures/wp``).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from dev.stack import Stack
from tests.e2e.conftest import SidecarApi, WordPressApi
from tests.e2e.sources import Fresh, account, api_of, counts, create_source, own_sidecar, sync, wp
from tests.fakes.apify_server import FakeApify

MU_PLUGIN = Path(__file__).parent.parent / "fixtures" / "wp" / "igbridge-test-post-types.php"
MEDIA_BLOCK = re.compile(r"<!-- wp:(image|video|gallery) .*?<!-- /wp:\1 -->\s*", re.DOTALL)


@pytest.fixture(scope="module")
def post_types(stack: Stack) -> Iterator[None]:
    """The test post types, for every request WordPress answers from now on."""
    target = stack.wp_dir / "wp-content" / "mu-plugins" / MU_PLUGIN.name
    shutil.copyfile(MU_PLUGIN, target)
    try:
        yield
    finally:
        target.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, stack: Stack,
        import_sidecar_env: dict[str, str], post_types: None) -> Iterator[SidecarApi]:
    with own_sidecar(tmp_path_factory.mktemp("repair") / "data", stack,
                     import_sidecar_env) as process:
        yield api_of(process)


def repair(api: SidecarApi, source_id: str) -> dict[str, Any]:
    reply = api.post(f"/api/sources/{source_id}/repair")
    assert reply.status_code == 202, reply.text
    return api.finish(reply.json()["job_id"])


def reasons(job: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {i["source_id"]: (i["state"], i["reason"]) for i in job["items"]}


def media_ids(content: str) -> list[int]:
    return [int(m) for m in re.findall(r'<!-- wp:(?:image|video) \{"id":(\d+)', content)]


def media_status(stack: Stack, media_id: int) -> int:
    """What WordPress answers for the attachment: 200, or 404 once it is deleted."""
    return httpx.get(f"{stack.wp_url}/wp-json/wp/v2/media/{media_id}",
                     auth=(stack.wp_app_user, stack.wp_app_password), timeout=30).status_code


def lose_file(stack: Stack, import_wp: WordPressApi, media_id: int) -> None:
    """The attachment's file gone from the uploads folder; its record stays."""
    path = urlsplit(import_wp.media(media_id)["source_url"]).path
    (stack.wp_dir / path.lstrip("/")).unlink()


def text_of(content: str) -> str:
    """The content without its media blocks: what a preview and an import share."""
    return MEDIA_BLOCK.sub("", content).strip()


def test_repair_uploads_again_a_deleted_attachment_and_a_lost_file(
    api: SidecarApi, stack: Stack, import_apify: FakeApify, import_wp: WordPressApi,
    import_fresh: Fresh,
) -> None:
    factory, items = account(import_apify, import_fresh, 3,
                             newest=datetime(2024, 3, 9, 9, 0, tzinfo=UTC))
    saved = create_source(api, {"type": "apify", "username": factory.username, "limit": 10})
    assert counts(sync(api, saved["source_id"])) == {"imported": 3, "total": 3}
    deleted, lost, fine = (import_wp.post_of(item["id"]) for item in items)
    [deleted_media] = media_ids(deleted["content"]["raw"])
    assert deleted["featured_media"] == deleted_media
    # One attachment deleted from the media library, one file gone from the uploads folder.
    wp(stack, "DELETE", f"/wp/v2/media/{deleted_media}", {"force": "true"})
    assert import_wp.post_of(items[0]["id"])["featured_media"] == 0  # WordPress drops it
    [lost_media] = media_ids(lost["content"]["raw"])
    lost_file = urlsplit(import_wp.media(lost_media)["source_url"]).path
    (stack.wp_dir / lost_file.lstrip("/")).unlink()

    job = repair(api, saved["source_id"])

    assert (job["kind"], job["status"]) == ("repair", "complete"), job
    assert reasons(job) == {
        items[0]["id"]: ("imported", "repaired media: 1 re-uploaded"),
        items[1]["id"]: ("imported", "repaired media: 1 re-uploaded; "
                                     f"broken attachment {lost_media} deleted"),
        items[2]["id"]: ("already_imported", "nothing to do"),
    }
    for item, old in ((items[0], deleted_media), (items[1], lost_media)):
        post = import_wp.post_of(item["id"])
        [new] = media_ids(post["content"]["raw"])
        assert new != old
        assert post["featured_media"] == new
        attachment = import_wp.media(new)
        assert attachment["meta"]["_igbridge_media_of"] == item["id"]
        assert f"wp-image-{new}" in post["content"]["raw"]
        assert attachment["source_url"] in post["content"]["raw"]
        assert httpx.get(attachment["source_url"], timeout=30).status_code == 200
    # The record whose file was lost is gone from the media library with it.
    assert media_status(stack, lost_media) == 404
    assert import_wp.post_of(items[2]["id"])["content"]["raw"] == fine["content"]["raw"]
    # Repaired is repaired: a second run has nothing to do.
    again = repair(api, saved["source_id"])
    assert {state for state, _reason in reasons(again).values()} == {"already_imported"}


def test_repair_keeps_a_broken_attachment_another_post_uses_or_igbridge_did_not_upload(
    api: SidecarApi, stack: Stack, import_apify: FakeApify, import_wp: WordPressApi,
    import_fresh: Fresh,
) -> None:
    factory, items = account(import_apify, import_fresh, 4,
                             newest=datetime(2024, 3, 20, 9, 0, tzinfo=UTC))
    saved = create_source(api, {"type": "apify", "username": factory.username, "limit": 10})
    sync(api, saved["source_id"])
    shared, foreign, own, stuck = (media_ids(import_wp.post_of(item["id"])["content"]["raw"])[0]
                                   for item in items)
    # A post written in WordPress shows the first one too; the second was not igbridge's.
    other = wp(stack, "POST", "/wp/v2/posts", status="draft", title="Not from Instagram",
               content=f'<!-- wp:image {{"id":{shared}}} -->\n<figure class="wp-block-image">'
                       f'<img src="x.jpg" class="wp-image-{shared}"/></figure>\n'
                       "<!-- /wp:image -->")
    wp(stack, "POST", f"/wp/v2/media/{foreign}", meta={"_igbridge_media_of": ""})
    # The test's mu-plugin refuses to delete this one.
    wp(stack, "POST", f"/wp/v2/media/{stuck}", title="igbridge-test: not deletable")
    for media_id in (shared, foreign, own, stuck):
        lose_file(stack, import_wp, media_id)

    job = repair(api, saved["source_id"])

    assert reasons(job) == {
        items[0]["id"]: ("imported", f"repaired media: 1 re-uploaded; broken attachment "
                                     f"{shared} left in the media library: used by post "
                                     f"{other['id']}"),
        items[1]["id"]: ("imported", f"repaired media: 1 re-uploaded; broken attachment "
                                     f"{foreign} left in the media library: not tagged as "
                                     "igbridge's (uploaded in WordPress, or by an igbridge "
                                     "that did not tag its uploads yet)"),
        items[2]["id"]: ("imported", f"repaired media: 1 re-uploaded; broken attachment "
                                     f"{own} deleted"),
        # A failed delete is not a failed repair.
        items[3]["id"]: ("imported", f"repaired media: 1 re-uploaded; broken attachment "
                                     f"{stuck} left in the media library: WordPress refused "
                                     f"to delete attachment {stuck}: Refused by the test "
                                     "[igbridge_test_refused]"),
    }
    assert [media_status(stack, m) for m in (shared, foreign, own, stuck)] == [
        200, 200, 404, 200]
    for item, old in zip(items, (shared, foreign, own, stuck), strict=True):
        [new] = media_ids(import_wp.post_of(item["id"])["content"]["raw"])
        assert new != old
        assert httpx.get(import_wp.media(new)["source_url"], timeout=30).status_code == 200


def test_repair_updates_a_changed_caption_but_not_on_a_post_edited_in_wordpress(
    api: SidecarApi, stack: Stack, import_apify: FakeApify, import_wp: WordPressApi,
    import_fresh: Fresh,
) -> None:
    factory, items = account(import_apify, import_fresh, 2,
                             newest=datetime(2024, 4, 2, 9, 0, tzinfo=UTC))
    saved = create_source(api, {"type": "apify", "username": factory.username, "limit": 10})
    sync(api, saved["source_id"])
    untouched, edited = (import_wp.post_of(item["id"]) for item in items)
    edited_content = edited["content"]["raw"] + (
        "\n\n<!-- wp:paragraph -->\n<p>Added in WordPress.</p>\n<!-- /wp:paragraph -->")
    wp(stack, "POST", f"/wp/v2/posts/{edited['id']}", content=edited_content)
    # Both captions change on Instagram.
    items[0]["caption"] = "Day 0 at the lake, fixed a typo #lake"
    items[1]["caption"] = "Day 1 at the lake, also fixed #lake"

    job = repair(api, saved["source_id"])

    assert reasons(job) == {
        items[0]["id"]: ("imported", "caption updated; title updated"),
        # The title, made from the caption and not edited, follows it on its own.
        items[1]["id"]: ("imported", "content edited in WordPress since import: caption "
                                     "left as is; title updated"),
    }
    updated = import_wp.post_of(items[0]["id"])
    assert "Day 0 at the lake, fixed a typo" in updated["content"]["raw"]
    assert updated["title"]["raw"] == "Day 0 at the lake, fixed a typo"
    assert media_ids(updated["content"]["raw"]) == media_ids(untouched["content"]["raw"])
    kept = import_wp.post_of(items[1]["id"])
    assert kept["content"]["raw"] == edited_content
    assert kept["title"]["raw"] == "Day 1 at the lake, also fixed"
    # The updated post is the import's own again: the next repair finds nothing to do.
    assert reasons(repair(api, saved["source_id"]))[items[0]["id"]] == (
        "already_imported", "nothing to do")


def test_repair_writes_a_title_made_from_the_caption_anew_but_keeps_one_edited_in_wordpress(
    api: SidecarApi, stack: Stack, import_apify: FakeApify, import_wp: WordPressApi,
    import_fresh: Fresh,
) -> None:
    factory, items = account(import_apify, import_fresh, 4,
                             newest=datetime(2024, 4, 20, 9, 0, tzinfo=UTC))
    mapping = {"title": {"rule": "template", "template": "{first_line} ({date})"}}
    saved = create_source(api, {"type": "apify", "username": factory.username, "limit": 10,
                                "mapping": mapping})
    sync(api, saved["source_id"])
    posts = [import_wp.post_of(item["id"]) for item in items]
    assert posts[0]["title"]["raw"] == "Day 0 at the lake #lake (2024-04-20)"
    wp(stack, "POST", f"/wp/v2/posts/{posts[1]['id']}", title="A title of my own")
    # Imported before the import kept its title's hash: the sync's job still has the
    # caption that title was made from ...
    wp(stack, "POST", f"/wp/v2/posts/{posts[2]['id']}", meta={"_igbridge_title_hash": ""})
    # ... and here it has not: no job read the caption the post's hash names.
    unknown = hashlib.sha256(b"a caption no job of this sidecar read").hexdigest()
    wp(stack, "POST", f"/wp/v2/posts/{posts[3]['id']}",
       meta={"_igbridge_title_hash": "", "_igbridge_caption_hash": unknown})
    for n, item in enumerate(items):
        item["caption"] = f"Day {n} by the lake #lake"

    job = repair(api, saved["source_id"])

    assert reasons(job) == {
        items[0]["id"]: ("imported", "caption updated; title updated"),
        items[1]["id"]: ("imported", "caption updated; title edited in WordPress since "
                                     "import: kept"),
        items[2]["id"]: ("imported", "caption updated; title updated"),
        items[3]["id"]: ("imported", "caption updated; title left as is: imported before "
                                     "igbridge kept the title it wrote, and the caption it "
                                     "was made from is not known"),
    }
    titles = [import_wp.post_of(item["id"])["title"]["raw"] for item in items]
    assert titles == ["Day 0 by the lake #lake (2024-04-20)", "A title of my own",
                      "Day 2 by the lake #lake (2024-04-18)", posts[3]["title"]["raw"]]
    # Written anew, a title is the import's own again: the next caption change follows.
    items[2]["caption"] = "Day 2, once more #lake"
    assert reasons(repair(api, saved["source_id"]))[items[2]["id"]] == (
        "imported", "caption updated; title updated")
    assert import_wp.post_of(items[2]["id"])["title"]["raw"] == (
        "Day 2, once more #lake (2024-04-18)")


def test_the_mapping_preview_renders_what_the_import_then_creates(
    api: SidecarApi, import_apify: FakeApify, import_wp: WordPressApi, import_fresh: Fresh,
) -> None:
    factory, items = account(import_apify, import_fresh, 2,
                             newest=datetime(2024, 5, 5, 9, 0, tzinfo=UTC))
    mapping = {"status": "draft", "hashtags": "tags",
               "title": {"rule": "template", "template": "{date}: {first_line}"},
               "content_template": "{caption}\n\nSeen at {link}"}
    sample = api.post("/api/sources/preview-mapping", {"mapping": mapping})
    assert sample.status_code == 200, sample.text
    assert sample.json()["post"]["from"] == "sample"
    saved = create_source(api, {"type": "apify", "username": factory.username, "limit": 10,
                                "mapping": mapping})
    sync(api, saved["source_id"])

    reply = api.post("/api/sources/preview-mapping",
                     {"mapping": mapping, "source_id": saved["source_id"]})

    assert reply.status_code == 200, reply.text
    preview = reply.json()
    newest = import_wp.post_of(items[0]["id"])
    assert preview["post"] == {"source_id": items[0]["id"], "from": "source",
                               "taken_at": "2024-05-05T09:00:00+00:00"}
    assert (preview["title"], preview["status"], preview["tags"]) == (
        newest["title"]["raw"], newest["status"], import_wp.tag_names(newest["tags"]))
    assert preview["title"] == "2024-05-05: Day 0 at the lake #lake"
    assert text_of(preview["content"]) == text_of(newest["content"]["raw"])
    assert "#lake" not in text_of(preview["content"])
    # The site's own copy, never Instagram's address: the preview asks nothing of a CDN.
    featured = import_wp.media(newest["featured_media"])
    assert preview["featured_image"]["url"] == featured["source_url"]
    assert items[0]["displayUrl"] not in reply.text
    bad = api.post("/api/sources/preview-mapping", {"mapping": {"status": "gone"}})
    assert bad.status_code == 422, bad.text


def test_a_source_of_a_custom_post_type_imports_is_found_again_and_deleted_stays_deleted(
    api: SidecarApi, stack: Stack, import_apify: FakeApify, import_wp: WordPressApi,
    import_fresh: Fresh,
) -> None:
    factory, items = account(import_apify, import_fresh, 3,
                             newest=datetime(2024, 6, 6, 9, 0, tzinfo=UTC))
    mapping = {"post_type": "igbridge_photo"}
    saved = create_source(api, {"type": "apify", "username": factory.username, "limit": 10,
                                "mapping": mapping})
    assert counts(sync(api, saved["source_id"])) == {"imported": 3, "total": 3}

    def photos_of(source_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = import_wp.get(
            "/wp/v2/ig-photos", igbridge_source_id=source_id, status="any", per_page=100)
        return found

    photos = [photos_of(item["id"]) for item in items]
    assert [len(p) for p in photos] == [1, 1, 1]
    assert all(p[0]["type"] == "igbridge_photo" for p in photos)
    assert import_wp.posts_of(items[0]["id"]) == []  # not a "post"
    # A full import of the same account finds them again: no second copy.
    source = {"type": "apify", "username": factory.username, "limit": 10}
    rerun = api.finish(api.start_job(source, options={"mapping": mapping}))
    assert counts(rerun) == {"already_imported": 3, "total": 3}
    # Deleted for good stays deleted.
    wp(stack, "DELETE", f"/wp/v2/ig-photos/{photos[2][0]['id']}", {"force": "true"})
    after = api.finish(api.start_job(source, options={"mapping": mapping}))
    assert reasons(after)[items[2]["id"]] == ("skipped", "deleted in WordPress")
    assert [len(photos_of(item["id"])) for item in items] == [1, 1, 0]
    # Repair works on the post type too.
    [media] = media_ids(photos[0][0]["content"]["raw"])
    wp(stack, "DELETE", f"/wp/v2/media/{media}", {"force": "true"})
    job = repair(api, saved["source_id"])
    assert reasons(job) == {
        items[0]["id"]: ("imported", "repaired media: 1 re-uploaded"),
        items[1]["id"]: ("already_imported", "nothing to do"),
        items[2]["id"]: ("skipped", "deleted in WordPress: left deleted"),
    }
    [new] = media_ids(photos_of(items[0]["id"])[0]["content"]["raw"])
    assert new != media


@pytest.mark.parametrize(("post_type", "says"), [
    ("igbridge_none", "mapping.post_type: WordPress has no post type 'igbridge_none'"),
    ("igbridge_note", "mapping.post_type: the post type 'igbridge_note' does not support "
                      "the editor"),
    ("Not A Type", "post_type"),
])
def test_a_post_type_wordpress_cannot_take_is_a_422_naming_it(
    api: SidecarApi, post_type: str, says: str,
) -> None:
    reply = api.post("/api/sources", {"type": "apify", "username": "someone",
                                      "mapping": {"post_type": post_type}})
    assert reply.status_code == 422, reply.text
    assert says in reply.json()["error"]["message"]


def test_a_whole_site_repair_names_every_post_it_looked_at(
    api: SidecarApi, stack: Stack, import_apify: FakeApify, import_wp: WordPressApi,
    import_fresh: Fresh,
) -> None:
    factory, items = account(import_apify, import_fresh, 1,
                             newest=datetime(2024, 7, 7, 9, 0, tzinfo=UTC) - timedelta(days=1))
    saved = create_source(api, {"type": "apify", "username": factory.username, "limit": 10})
    sync(api, saved["source_id"])
    [media] = media_ids(import_wp.post_of(items[0]["id"])["content"]["raw"])
    wp(stack, "DELETE", f"/wp/v2/media/{media}", {"force": "true"})
    runs = len(import_apify.runs)

    job = api.finish(api.start_job({"type": "site"}, kind="repair"))

    assert job["status"] == "complete", job
    assert reasons(job)[items[0]["id"]] == ("imported", "repaired media: 1 re-uploaded")
    assert len(import_apify.runs) == runs  # the site's own record: no new scrape
    assert {i["source_id"] for i in job["items"]} >= {i["id"] for i in items}


def test_a_repair_is_a_job_like_any_other_live_and_cancellable(
    api: SidecarApi, import_apify: FakeApify, import_fresh: Fresh,
    import_waiter: Any,
) -> None:
    factory, items = account(import_apify, import_fresh, 1,
                             newest=datetime(2024, 8, 8, 9, 0, tzinfo=UTC))
    import_apify.add_profile(factory.username, items, hold=True)  # Apify keeps running
    saved = create_source(api, {"type": "apify", "username": factory.username})
    reply = api.post(f"/api/sources/{saved['source_id']}/repair")
    assert reply.status_code == 202, reply.text
    job_id = reply.json()["job_id"]
    import_waiter(lambda: any(r.profile.username == factory.username and r.polls >= 2
                              for r in import_apify.runs.values()), "the run to be polled")

    cancelled = api.post(f"/api/jobs/{job_id}/cancel")

    assert cancelled.status_code == 200, cancelled.text
    assert api.job(job_id)["status"] == "cancelled"
    assert import_apify.run_for(factory.username).id in import_apify.aborted
    events = api.follow(job_id)
    assert events[-1]["type"] == "cancelled"
    assert events[0]["operation"] == "Repairing imported posts"
