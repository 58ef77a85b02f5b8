"""Issue 10, the WordPress side: real captions, titles, locations and honest counts,
imported by the stack's sidecar into the real WordPress.

The Apify items' captions, hashtags and mentions are copied from published runs
(``tests/fakes/apify_real_captions.py`` names each source); exports are written in
the 2024 layout with pictures of their own.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from sidecar.sample.make_sample import instagram_text
from tests.e2e.conftest import SidecarApi, WordPressApi, unique_media
from tests.fakes.apify_real_captions import real_caption_items
from tests.fakes.apify_server import FakeApify
from tests.fakes.instagram_items import ItemFactory

Fresh = Callable[[FakeApify, list[dict[str, Any]]], list[dict[str, Any]]]
WriteExport = Callable[[Path, dict[str, Any]], Path]


def profile_link(name: str) -> str:
    return f'<a href="https://www.instagram.com/{name}/">@{name}</a>'


def test_real_captions_give_instagrams_tags_and_mentions(
    import_api: SidecarApi, import_wp: WordPressApi, import_apify: FakeApify,
    import_fresh: Fresh,
) -> None:
    factory = ItemFactory(import_apify, "realcaptions")
    rhinos, toppo, barber, quoted = import_fresh(import_apify, real_caption_items(factory))
    import_apify.add_profile("realcaptions", [rhinos, toppo, barber, quoted])

    job = import_api.finish(import_api.start_job({"type": "apify",
                                                  "username": "realcaptions"}))

    assert (job["status"], job["error"]) == ("complete", None), job
    tags = {item["id"]: sorted(import_wp.tag_names(import_wp.post_of(item["id"])["tags"]))
            for item in (rhinos, toppo, barber, quoted)}
    assert tags[rhinos["id"]] == ["TheLastRhinosANewHope"]
    # Thai vowels are combining marks: they belong to the tag, as on Instagram.
    assert tags[toppo["id"]] == sorted(toppo["hashtags"])
    assert tags[barber["id"]] == sorted(barber["hashtags"])
    # The scraper's 'samenkoken"' kept the caption's closing quote; Instagram's tag has none.
    assert tags[quoted["id"]] == ["goeduitje", "samenkoken", "teamuitje"]

    content = import_wp.post_of(rhinos["id"])["content"]["raw"]
    # "@hulu." ends a sentence: the full stop is not part of the name.
    assert f"Stream next day on {profile_link('DisneyPlus')} and {profile_link('hulu')}." \
        in content
    content = import_wp.post_of(barber["id"])["content"]["raw"]
    assert f"Posted up with my guy {profile_link('e.oliveirahair_b3g')} , had to" in content
    assert f"{profile_link('rockyourbarber')} {profile_link('sosmooth_cuts')}" in content
    # An e-mail address is not a mention: its domain stays text, linked to nobody.
    content = import_wp.post_of(quoted["id"])["content"]["raw"]
    assert "Mail naar info@goeduitje.nl #teamuitje" in content
    assert "instagram.com/goeduitje" not in content


def test_a_title_is_stored_as_its_text(
    tmp_path: Path, import_api: SidecarApi, import_wp: WordPressApi,
    import_write_export: WriteExport,
) -> None:
    """WordPress escapes a title when it shows it: "&" is stored as "&", not "&amp;".
    Only "<" and ">" are kept from becoming markup (themes print titles as HTML)."""
    captions = ["Café au lait & croissant ☕🥐\n#ontbijt", "I <3 Lisboa & Porto"]
    export = _photos_export(tmp_path / "titles.zip", captions, start=1_650_000_000,
                            write=import_write_export)

    job = import_api.finish(import_api.start_job({"type": "export", "path": str(export)}))

    assert job["status"] == "complete", job
    posts = [import_wp.post_of(i["source_id"]) for i in job["items"]]
    titles = sorted((p["title"]["raw"], p["title"]["rendered"]) for p in posts)
    assert titles == [("Café au lait & croissant ☕🥐", "Café au lait &#038; croissant ☕🥐"),
                      ("I &lt;3 Lisboa & Porto", "I &lt;3 Lisboa &#038; Porto")]


def test_a_location_becomes_geodata_and_shows_in_the_post(
    import_api: SidecarApi, import_wp: WordPressApi, import_apify: FakeApify,
    import_fresh: Fresh,
) -> None:
    factory = ItemFactory(import_apify, "placed")
    placed, nowhere = import_fresh(import_apify, [
        factory.image("Sunset over the river", location="Lisboa, Portugal"),
        factory.image("Somewhere at home")])
    import_apify.add_profile("placed", [placed, nowhere])

    job = import_api.finish(import_api.start_job({"type": "apify", "username": "placed"}))

    assert job["status"] == "complete", job
    post = import_wp.post_of(placed["id"])
    geo = {k: v for k, v in post["meta"].items() if k.startswith("geo_")}
    # This item names the place only (most Apify items do); coordinates, where a
    # source has them, are the Geodata tests' of the export reader.
    assert geo == {"geo_address": "Lisboa, Portugal", "geo_latitude": 0, "geo_longitude": 0,
                   "geo_public": 1}  # unset coordinates read back as REST's default
    assert "<p>📍 Lisboa, Portugal</p>" in post["content"]["raw"]
    post = import_wp.post_of(nowhere["id"])
    assert {k: v for k, v in post["meta"].items() if k.startswith("geo_")} == {
        "geo_address": "", "geo_latitude": 0, "geo_longitude": 0, "geo_public": 0}
    assert "📍" not in post["content"]["raw"]


def test_counts_add_up_and_a_rerun_reads_no_media(
    tmp_path: Path, import_api: SidecarApi, import_wp: WordPressApi,
    import_write_export: WriteExport,
) -> None:
    """Five posts, three of whose pictures are unreadable: 2 imported, 3 failed, and the
    message says so. Then the same export with every picture spoilt: the two imported
    posts are found in WordPress before a single media file is read (one read would
    fail its post). A post its owner trashed stays in the trash."""
    captions = [f"Counted post {n} 🧮" for n in range(5)]
    export = _photos_export(tmp_path / "counted.zip", captions, start=1_640_000_000,
                            write=import_write_export, unreadable={2, 3, 4})

    job = import_api.finish(import_api.start_job({"type": "export", "path": str(export)}))

    assert job["status"] == "complete", job
    states = sorted(i["state"] for i in job["items"])
    assert states == ["failed"] * 3 + ["imported"] * 2
    assert _counted(job) == {"imported": 2, "already_imported": 0, "skipped": 0,
                             "failed": 3, "pending": 0}
    message = job_message(import_api, job)
    assert message.startswith("Imported 2 of 5 posts: 3 failed ("), message
    # It names files, in words a site owner can act on (two reasons, then "1 more").
    named = [f"media/posts/202405/{1_640_000_000 + n * 3600}.jpg" in message for n in (2, 3, 4)]
    assert sorted(named) == [False, True, True], message
    assert message.count("could not be read") == 2, message
    assert message.endswith("Retry the failed ones from the job"), message
    imported = [i["source_id"] for i in job["items"] if i["state"] == "imported"]

    _spoil_media(export)
    rerun = import_api.finish(import_api.start_job({"type": "export", "path": str(export)}))

    assert rerun["status"] == "complete", rerun
    assert _counted(rerun) == {"imported": 0, "already_imported": 2, "skipped": 0,
                               "failed": 3, "pending": 0}
    assert job_message(import_api, rerun).startswith(
        "Imported 0 of 5 posts: 2 already in WordPress; 3 failed (")
    found = {i["source_id"]: i for i in rerun["items"] if i["state"] == "already_imported"}
    assert sorted(found) == sorted(imported)
    for source_id, item in found.items():
        assert item["wp_post_id"] == import_wp.post_of(source_id)["id"]

    # Only the two imported posts, their pictures spoilt, one of them trashed meanwhile.
    trashed = import_wp.post_of(imported[0])
    reply = import_wp_delete(import_wp, trashed["id"])
    assert reply["status"] == "trash"
    only_done = _photos_export(tmp_path / "done.zip", captions[:2], start=1_640_000_000,
                               write=import_write_export, unreadable={0, 1})
    again = import_api.finish(import_api.start_job({"type": "export",
                                                    "path": str(only_done)}))

    assert again["status"] == "complete", again
    assert _counted(again) == {"imported": 0, "already_imported": 1, "skipped": 1,
                               "failed": 0, "pending": 0}
    [skipped] = [i for i in again["items"] if i["state"] == "skipped"]
    assert skipped["source_id"] == imported[0]
    assert "trash" in (skipped["reason"] or ""), skipped
    assert import_wp.get(f"/wp/v2/posts/{trashed['id']}")["status"] == "trash"
    assert job_message(import_api, again) == (
        "Nothing new: 1 already in WordPress; 1 skipped (deleted in WordPress: in the trash)")


def test_nothing_new_says_so(
    tmp_path: Path, import_api: SidecarApi, import_write_export: WriteExport,
) -> None:
    captions = [f"Already here {n}" for n in range(3)]
    export = _photos_export(tmp_path / "here.zip", captions, start=1_630_000_000,
                            write=import_write_export)
    first = import_api.finish(import_api.start_job({"type": "export", "path": str(export)}))
    assert job_message(import_api, first) == "Imported 3 of 3 posts"

    again = import_api.finish(import_api.start_job({"type": "export", "path": str(export)}))

    assert again["status"] == "complete", again
    assert job_message(import_api, again) == "Nothing new: 3 posts already in WordPress"
    assert _counted(again) == {"imported": 0, "already_imported": 3, "skipped": 0,
                               "failed": 0, "pending": 0}


# -- helpers ---------------------------------------------------------------------------------


def _photos_export(path: Path, captions: list[str], *, start: int, write: WriteExport,
                   unreadable: set[int] | None = None) -> Path:
    """A 2024-layout export of single-photo posts an hour apart; the "pictures" of the
    posts numbered in ``unreadable`` are bytes no reader takes for an image."""
    posts, members = [], {}
    for n, caption in enumerate(captions):
        stamp = start + n * 3600
        uri = f"media/posts/202405/{stamp}.jpg"
        posts.append({"media": [{"uri": uri, "creation_timestamp": stamp,
                                 "title": instagram_text(caption)}]})
        members[uri] = (SPOILT if n in (unreadable or set())
                        else unique_media("image/jpeg"))
    return write(path, {"your_instagram_activity/media/posts_1.json": posts, **members})


SPOILT = b"these bytes are no picture: reading them fails the post\n" * 4


def _spoil_media(export: Path) -> None:
    """Rewrite the export with every media file's bytes spoilt (names and JSON kept)."""
    spoilt = export.with_name(export.stem + "-spoilt.zip")
    with zipfile.ZipFile(export) as source, zipfile.ZipFile(spoilt, "w") as target:
        for info in source.infolist():
            json_file = info.filename.endswith(".json")
            target.writestr(info, source.read(info) if json_file else SPOILT)
    spoilt.replace(export)


def _counted(job: dict[str, Any]) -> dict[str, int]:
    """The job's counts by state; ``total`` is their sum (checked here once)."""
    counts = dict(job["counts"])
    total = counts.pop("total", None)
    if total is not None:
        assert total == sum(counts.values()), job["counts"]
    return counts


def job_message(api: SidecarApi, job: dict[str, Any]) -> str:
    """The message of the job's terminal progress event."""
    snapshot = api.get(f"/api/progress/status/{job['session_id']}").json()
    return str(snapshot["message"])


def import_wp_delete(wp: WordPressApi, post_id: int) -> dict[str, Any]:
    """Move a post to the trash (as its owner would in wp-admin)."""
    reply = httpx.delete(f"{wp.url}/wp-json/wp/v2/posts/{post_id}", auth=wp.auth, timeout=30)
    assert reply.status_code == 200, reply.text[:300]
    body: dict[str, Any] = reply.json()
    return body

