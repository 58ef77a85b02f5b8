"""Import a profile through the real apify-client (fake Apify) into the real WordPress.

Each post is read back through the WordPress REST API with ``context=edit`` and
compared whole: block markup, title, date, tags, featured image, attachments' alt
text and the igbridge meta.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tests.e2e.conftest import SidecarApi, WordPressApi
from tests.fakes.apify_server import FakeApify
from tests.fakes.instagram_items import ItemFactory

Fresh = Callable[[FakeApify, list[dict[str, Any]]], list[dict[str, Any]]]


# -- the markup the importer is expected to write ------------------------------------------


def image_block(media: dict[str, Any], alt: str) -> str:
    media_id, src = media["id"], html.escape(media["source_url"], quote=True)
    return (f'<!-- wp:image {{"id":{media_id},"sizeSlug":"large","linkDestination":"none"}} -->\n'
            f'<figure class="wp-block-image size-large"><img src="{src}" '
            f'alt="{html.escape(alt, quote=True)}" class="wp-image-{media_id}"/></figure>\n'
            "<!-- /wp:image -->")


def video_block(media: dict[str, Any]) -> str:
    return (f'<!-- wp:video {{"id":{media["id"]}}} -->\n<figure class="wp-block-video">'
            f'<video controls src="{html.escape(media["source_url"], quote=True)}"></video>'
            "</figure>\n<!-- /wp:video -->")


def paragraph(inner: str) -> str:
    return f"<!-- wp:paragraph -->\n<p>{inner}</p>\n<!-- /wp:paragraph -->"


def view_on_instagram(item: dict[str, Any]) -> str:
    return paragraph(f'<a href="{item["url"]}">View on Instagram</a>')


def gmt(timestamp: str) -> str:
    moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00")).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def check_post(wp: WordPressApi, item: dict[str, Any], *, title: str, content: list[str],
               tags: list[str], media_kinds: list[str], alts: list[str]) -> dict[str, Any]:
    """The one WordPress post of ``item`` equals what is expected; returns it."""
    post = wp.post_of(item["id"])
    attachments = wp.attachments_of(post["id"])
    assert [a["mime_type"].split("/")[0] for a in attachments] == media_kinds
    assert [a["alt_text"] for a in attachments if a["media_type"] == "image"] == alts
    first_image = next((a["id"] for a in attachments if a["media_type"] == "image"), 0)
    assert {
        "status": post["status"],
        "title": post["title"]["raw"],
        "content": post["content"]["raw"],
        "date_gmt": post["date_gmt"],
        "tags": sorted(wp.tag_names(post["tags"])),
        "featured_media": post["featured_media"],
        "meta": {k: post["meta"][k] for k in ("_igbridge_source_id", "_igbridge_permalink")},
    } == {
        "status": "publish",
        "title": title,
        "content": "\n\n".join(content),
        "date_gmt": gmt(item["timestamp"]),
        "tags": sorted(tags),
        "featured_media": first_image,
        "meta": {"_igbridge_source_id": item["id"], "_igbridge_permalink": item["url"]},
    }
    return post


def test_profile_import_then_rerun_adds_nothing(
    import_api: SidecarApi, import_wp: WordPressApi, import_apify: FakeApify,
    import_fresh: Fresh,
) -> None:
    factory = ItemFactory(import_apify, "alice")
    feed = import_fresh(import_apify, factory.feed())
    pinned, newest, reel, carousel, collab, japanese, hostile, no_display, _repeat = feed
    import_apify.add_profile("alice", feed)

    job_id = import_api.start_job({"type": "apify", "username": "@alice", "limit": 20})
    events = import_api.follow(job_id)
    job = import_api.job(job_id)

    assert (job["status"], job["error"]) == ("complete", None), job
    assert events[-1]["message"] == (
        "Imported 7 of 9 posts: 2 skipped (collab post by @partner.brand, duplicate in feed)")
    assert any(e["message"].startswith("Apify: Crawled 1/3 pages") for e in events)
    assert job["counts"] == {"pending": 0, "imported": 7,
                             "already_imported": 0, "skipped": 2, "failed": 0, "total": 9}
    states = {i["source_id"]: (i["state"], i["reason"]) for i in job["items"]}
    assert states[collab["id"]] == ("skipped", "collab post by @partner.brand")
    assert ("skipped", "duplicate in feed") in states.values()
    for item in (pinned, newest, reel, carousel, japanese, hostile, no_display):
        assert states[item["id"]] == ("imported", None)
    wp = import_wp
    assert wp.posts_of(collab["id"]) == []

    # A photo with a mention, a line break and a location.
    post = wp.post_of(newest["id"])
    [photo] = wp.attachments_of(post["id"])
    check_post(wp, newest, title="Coffee with @ana.gomes ☕️", tags=[], media_kinds=["image"],
               alts=[newest["alt"]], content=[
                   image_block(photo, newest["alt"]),
                   paragraph('Coffee with <a href="https://www.instagram.com/ana.gomes/">'
                             "@ana.gomes</a> ☕️<br>Second line"),
                   paragraph("📍 Lisboa"),
                   view_on_instagram(newest),
               ])

    # A carousel with a video child: Instagram's order (image, video, image), kept.
    post = wp.post_of(carousel["id"])
    first, clip, third = wp.attachments_of(post["id"])
    check_post(wp, carousel, title="Three views from the ridge ⛰️", tags=["hiking"],
               media_kinds=["image", "video", "image"],
               alts=["Photo 1 of the ridge", "Photo 3 of the ridge"], content=[
                   image_block(first, "Photo 1 of the ridge"),
                   video_block(clip),
                   image_block(third, "Photo 3 of the ridge"),
                   paragraph("Three views from the ridge ⛰️ #hiking"),
                   view_on_instagram(carousel),
               ])
    assert wp.media(third["id"])["mime_type"] == "image/webp"  # sniffed, not from ".jpg"

    # A reel: a video block and no featured image.
    post = wp.post_of(reel["id"])
    [video] = wp.attachments_of(post["id"])
    check_post(wp, reel, title="Waves 🌊", tags=["reels"], media_kinds=["video"], alts=[],
               content=[video_block(video), paragraph("Waves 🌊 #reels"),
                        view_on_instagram(reel)])
    assert video["mime_type"] == "video/mp4"

    # Emoji and Japanese: text, tags and location intact.
    post = wp.post_of(japanese["id"])
    [photo] = wp.attachments_of(post["id"])
    check_post(wp, japanese, title="桜が満開でした 🌸🇯🇵", tags=["日本", "桜", "spring"],
               media_kinds=["image"], alts=[""], content=[
                   image_block(photo, ""),
                   paragraph("桜が満開でした 🌸🇯🇵<br>今年もきれい！<br>#日本 #桜 #spring"),
                   paragraph("📍 京都市"),
                   view_on_instagram(japanese),
               ])

    # HTML in a caption and in alt text stays text: escaped, never markup.
    post = wp.post_of(hostile["id"])
    [photo] = wp.attachments_of(post["id"])
    escaped = ('&lt;script&gt;alert("x")&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt; &amp; '
               '&lt;a href="javascript:0"&gt;link&lt;/a&gt;')
    # The title is stored as its text ("&" stays "&": WordPress escapes it when it shows
    # it); only "<" and ">" are escaped, since themes print titles as HTML.
    title = escaped.replace("&amp;", "&")
    check_post(wp, hostile, title=title, tags=["html"], media_kinds=["image"],
               alts=['&lt;img src=x onerror="alert(1)"&gt;'], content=[
                   image_block(photo, hostile["alt"]),
                   paragraph(escaped + " #html"),
                   view_on_instagram(hostile),
               ])
    assert "<script" not in post["content"]["raw"]
    shown = wp.get(f"/wp/v2/posts/{post['id']}", context="view")  # what visitors get
    assert "&lt;script&gt;alert" in shown["content"]["rendered"]
    assert "<script" not in shown["content"]["rendered"] + shown["title"]["rendered"]
    assert "<b>" not in shown["content"]["rendered"] + shown["title"]["rendered"]

    # The pinned post keeps its old date; an item without displayUrl uses images[0].
    post = wp.post_of(pinned["id"])
    [photo] = wp.attachments_of(post["id"])
    check_post(wp, pinned, title="Pinned: our shop opened! 🎉", tags=[], media_kinds=["image"],
               alts=[pinned["alt"]], content=[
                   image_block(photo, pinned["alt"]), paragraph("Pinned: our shop opened! 🎉"),
                   view_on_instagram(pinned)])
    assert post["date_gmt"].startswith("2022-")
    post = wp.post_of(no_display["id"])
    [photo] = wp.attachments_of(post["id"])
    assert photo["mime_type"] == "image/png"
    check_post(wp, no_display, title="No display url here", tags=[], media_kinds=["image"],
               alts=[no_display["alt"]], content=[
                   image_block(photo, no_display["alt"]), paragraph("No display url here"),
                   view_on_instagram(no_display)])

    # A rerun imports nothing new: every post is found by its source id.
    downloads = len(import_apify.media_requests)
    again = import_api.start_job({"type": "apify", "username": "alice", "limit": 20})
    rerun = import_api.finish(again)
    assert rerun["status"] == "complete"
    assert rerun["counts"] == {"pending": 0, "imported": 0, "already_imported": 7,
                               "skipped": 2, "failed": 0, "total": 9}
    assert sorted((i["state"], i["reason"]) for i in rerun["items"]) == (
        [("already_imported", None)] * 7 + [("skipped", "collab post by @partner.brand"),
                                            ("skipped", "duplicate in feed")])
    assert rerun["progress"]["message"] == (
        "Nothing new: 7 already in WordPress; 2 skipped (collab post by @partner.brand, "
        "duplicate in feed)")
    for item in rerun["items"]:
        if item["state"] == "already_imported":
            assert item["wp_post_id"] == wp.post_of(item["source_id"])["id"]
    for item in (pinned, newest, reel, carousel, japanese, hostile, no_display):
        assert len(wp.posts_of(item["id"])) == 1
    assert len(import_apify.media_requests) == downloads  # not one media file was fetched
    assert len(import_apify.runs) >= 2


def test_private_account_fails_the_job_with_a_reason(
    import_api: SidecarApi, import_apify: FakeApify
) -> None:
    import_apify.add_private("hidden.person")

    job = import_api.finish(import_api.start_job({"type": "apify", "username": "hidden.person"}))

    assert job["status"] == "error"
    assert job["error"] == ("Instagram account @hidden.person is private or empty "
                            "(Apify: Empty or private data for provided input)")
    assert job["counts"] == {"pending": 0, "imported": 0,
                             "already_imported": 0, "skipped": 0, "failed": 0, "total": 0}


def test_failed_apify_run_fails_the_job_with_apifys_message(
    import_api: SidecarApi, import_apify: FakeApify
) -> None:
    import_apify.add_profile("blocked.account", [], final_status="FAILED",
                             final_message="Instagram answered 429 three times; giving up")

    job = import_api.finish(import_api.start_job({"type": "apify",
                                                  "username": "blocked.account"}))

    run = import_apify.run_for("blocked.account")
    assert job["status"] == "error"
    assert job["error"] == (f"Apify run {run.id} ended FAILED while scraping @blocked.account: "
                            "Instagram answered 429 three times; giving up")


def test_cancel_during_the_scrape_aborts_the_apify_run(
    import_api: SidecarApi, import_apify: FakeApify, import_fresh: Fresh,
    import_waiter: Callable[..., None],
) -> None:
    factory = ItemFactory(import_apify, "slow.scrape")
    import_apify.add_profile("slow.scrape",
                             import_fresh(import_apify, [factory.image(), factory.image()]),
                             hold=True)
    job_id = import_api.start_job({"type": "apify", "username": "slow.scrape"})
    import_waiter(lambda: "slow.scrape" in {r.profile.username for r in
                                            import_apify.runs.values()}
                  and import_apify.run_for("slow.scrape").polls >= 2, "the run to be polled")

    reply = import_api.post(f"/api/jobs/{job_id}/cancel")

    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "cancelled"
    run = import_apify.run_for("slow.scrape")
    assert run.id in import_apify.aborted
    assert import_api.job(job_id)["progress"]["status"] == "cancelled"


def test_bulk_import_command_end_to_end(
    import_api: SidecarApi, import_wp: WordPressApi, import_apify: FakeApify,
    import_fresh: Fresh,
) -> None:
    factory = ItemFactory(import_apify, "cmd.user")
    feed = import_fresh(import_apify, [factory.image(f"Command post {n} #cmd") for n in range(3)])
    import_apify.add_profile("cmd.user", feed)

    reply = import_api.post("/api/commands", {"text": "bulk import @cmd.user limit 2"})

    assert reply.status_code == 202, reply.text
    assert reply.json()["reply"] == "Importing @cmd.user (up to 2 posts)"
    job = import_api.finish(reply.json()["job_id"])
    assert job["status"] == "complete", job
    assert [i["source_id"] for i in job["items"]] == [feed[0]["id"], feed[1]["id"]]
    for item in feed[:2]:
        post = import_wp.post_of(item["id"])
        assert (post["status"], post["title"]["raw"]) == ("publish", item["caption"][:-5])
        assert import_wp.tag_names(post["tags"]) == ["cmd"]
    assert import_wp.posts_of(feed[2]["id"]) == []
