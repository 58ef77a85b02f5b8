"""Import Instagram export ZIPs (every layout, broken and hostile ones, the bundled
sample) through the stack's sidecar into the real WordPress."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sidecar.domain.models import export_source_id
from sidecar.sample.make_sample import instagram_text, sample_export_path
from tests.e2e.conftest import SidecarApi, WordPressApi, unique_media

WriteExport = Callable[[Path, dict[str, Any]], Path]


def at(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def posts_json_export(posts_file: str, prefix: str, base: int) -> dict[str, Any]:
    """A single photo and a carousel (photo + video) in one of the posts-list layouts."""
    single, first, clip = (f"media/posts/202401/{base}-{name}" for name in
                           ("single.jpg", "first.jpg", "clip.mp4"))
    posts = [
        {"media": [{"uri": single, "creation_timestamp": base,
                    "title": instagram_text(f"Layout {base} 🌱 with @ana.gomes\nline two #layout"),
                    }]},
        {"media": [{"uri": first, "creation_timestamp": base - 60, "title": ""},
                   {"uri": clip, "creation_timestamp": base - 60, "title": ""}],
         "title": instagram_text(f"Carousel {base} ⛰️"), "creation_timestamp": base - 60},
    ]
    return {prefix + posts_file: posts, prefix + single: unique_media("image/jpeg"),
            prefix + first: unique_media("image/jpeg"), prefix + clip: unique_media("video/mp4")}


LAYOUTS = [
    # (id, posts file, folder the export sits in)
    ("2024", "your_instagram_activity/media/posts_1.json", ""),
    ("2022", "your_instagram_activity/content/posts_1.json", ""),
    ("2020", "content/posts_1.json", ""),
    ("rezipped", "your_instagram_activity/media/posts_1.json", "instagram-alice-2024/"),
]


@pytest.mark.parametrize(("layout", "posts_file", "prefix"), LAYOUTS,
                         ids=[name for name, _f, _p in LAYOUTS])
def test_each_export_layout_imports_its_posts(
    tmp_path: Path, import_api: SidecarApi, import_wp: WordPressApi,
    import_write_export: WriteExport, layout: str, posts_file: str, prefix: str,
) -> None:
    base = 1_700_000_000 + 100_000 * [n for n, _f, _p in LAYOUTS].index(layout)
    export = import_write_export(tmp_path / f"{layout}.zip",
                                 posts_json_export(posts_file, prefix, base))

    job = import_api.finish(import_api.start_job({"type": "export", "path": str(export)}))

    assert job["status"] == "complete", job
    assert job["counts"] == {"pending": 0, "imported": 2,
                             "already_imported": 0, "skipped": 0, "failed": 0, "total": 2}
    caption = f"Layout {base} 🌱 with @ana.gomes\nline two #layout"
    single = import_wp.post_of(
        export_source_id(base, caption, f"media/posts/202401/{base}-single.jpg"))
    [photo] = import_wp.attachments_of(single["id"])
    assert (single["status"], single["title"]["raw"], single["date_gmt"]) == (
        "publish", f"Layout {base} 🌱 with @ana.gomes", at(base))
    assert single["featured_media"] == photo["id"]
    assert import_wp.tag_names(single["tags"]) == ["layout"]
    assert single["content"]["raw"].endswith(
        f'<p>Layout {base} 🌱 with <a href="https://www.instagram.com/ana.gomes/">@ana.gomes</a>'
        "<br>line two #layout</p>\n<!-- /wp:paragraph -->")
    assert single["meta"]["_igbridge_permalink"] == ""

    carousel = import_wp.post_of(export_source_id(base - 60, f"Carousel {base} ⛰️",
                                                  f"media/posts/202401/{base}-first.jpg"))
    image, video = import_wp.attachments_of(carousel["id"])
    assert (image["mime_type"], video["mime_type"]) == ("image/jpeg", "video/mp4")
    assert carousel["content"]["raw"].startswith(f'<!-- wp:image {{"id":{image["id"]},')
    assert f'<!-- wp:video {{"id":{video["id"]}}} -->' in carousel["content"]["raw"]
    assert carousel["date_gmt"] == at(base - 60)


def test_2019_media_json_layout(
    tmp_path: Path, import_api: SidecarApi, import_wp: WordPressApi,
    import_write_export: WriteExport,
) -> None:
    export = import_write_export(tmp_path / "2019.zip", {
        "media.json": {"photos": [{"caption": "Old times 📷", "taken_at": "2019-03-04T05:06:07",
                                   "path": "photos/201903/old.jpg", "location": "Porto"}],
                       "videos": []},
        "photos/201903/old.jpg": unique_media("image/jpeg"),
    })

    job = import_api.finish(import_api.start_job({"type": "export", "path": str(export)}))

    assert (job["status"], job["counts"]["imported"]) == ("complete", 1), job
    post = import_wp.post_of(job["items"][0]["source_id"])
    assert (post["title"]["raw"], post["date_gmt"]) == ("Old times 📷", "2019-03-04T05:06:07")
    assert "<p>📍 Porto</p>" in post["content"]["raw"]


def test_corrupt_zip_fails_the_job_naming_the_file(
    tmp_path: Path, import_api: SidecarApi
) -> None:
    broken = tmp_path / "broken-export.zip"
    broken.write_bytes(b"PK\x03\x04 this is not really a zip file " * 10)

    job = import_api.finish(import_api.start_job({"type": "export", "path": str(broken)}))

    assert job["status"] == "error"
    assert job["error"].startswith("broken-export.zip is not a readable ZIP file")


def test_zip_with_escaping_names_is_refused(
    tmp_path: Path, import_api: SidecarApi, import_wp: WordPressApi,
) -> None:
    hostile = tmp_path / "hostile.zip"
    with zipfile.ZipFile(hostile, "w") as archive:
        archive.writestr("your_instagram_activity/media/posts_1.json",
                         '[{"media": [{"uri": "../../evil.jpg", "creation_timestamp": 1,'
                         ' "title": "x"}]}]')
        archive.writestr("../../evil.jpg", unique_media("image/jpeg"))

    job = import_api.finish(import_api.start_job({"type": "export", "path": str(hostile)}))

    assert job["status"] == "error"
    assert job["error"] == ("hostile.zip contains an unsafe file name '../../evil.jpg' "
                            "(absolute or escaping the archive); refusing to read it")
    assert not (tmp_path.parent / "evil.jpg").exists()


def test_missing_export_file_is_a_clear_error(tmp_path: Path, import_api: SidecarApi) -> None:
    job = import_api.finish(import_api.start_job(
        {"type": "export", "path": str(tmp_path / "nowhere.zip")}))

    assert (job["status"], job["error"]) == (
        "error", f"export file not found: {tmp_path / 'nowhere.zip'}")


def test_bundled_sample_export_imports_every_post(
    import_api: SidecarApi, import_wp: WordPressApi,
) -> None:
    job = import_api.finish(import_api.start_job(
        {"type": "export", "path": str(sample_export_path())}))

    assert job["status"] == "complete", job
    assert job["counts"]["failed"] == 0
    assert job["counts"]["imported"] + job["counts"]["already_imported"] == 8  # a rerun
    posts = [import_wp.post_of(i["source_id"]) for i in job["items"]]
    titles = [p["title"]["raw"] for p in posts]
    assert titles[:3] == ["First seedlings of the year 🌱",
                          "Weekend in the mountains ⛰️ three views from the ridge",
                          "東京の夜景 🌃 きれいでした！"]
    ridge = posts[1]
    assert ridge["content"]["raw"].startswith('<!-- wp:gallery {"linkTo":"none"} -->')
    # Three images in the gallery, each a real attachment. (Not counted by parent: the
    # same bytes imported earlier by another test are reused, keeping their first parent.)
    image_ids = [int(i) for i in re.findall(r'<!-- wp:image \{"id":(\d+)', ridge["content"]["raw"])]
    assert len(image_ids) == 3
    assert all(import_wp.media(i)["media_type"] == "image" for i in image_ids)
    assert sorted(import_wp.tag_names(posts[2]["tags"])) == sorted(["日本", "東京", "夜景"])
    assert all(p["status"] == "publish" for p in posts)


def test_overlapping_jobs_over_the_same_posts_make_each_post_once(
    tmp_path: Path, import_api: SidecarApi, import_wp: WordPressApi,
    import_export_photos: Callable[..., Path],
) -> None:
    # Three jobs over the same 12 posts at once, cut into waves differently: one post a
    # wave, the default waves, and waves of 5 with one worker. Each post is created by
    # exactly one of them; the others find it and skip it.
    export = import_export_photos(tmp_path / "overlap.zip",
                                  [f"Overlap photo {n}" for n in range(12)],
                                  start=1_630_000_000)
    source = {"type": "export", "path": str(export)}
    job_ids = [import_api.start_job(source, options=options) for options in (
        {"batch": 1}, {}, {"concurrency": 1, "batch": 5})]
    jobs = [import_api.finish(job_id) for job_id in job_ids]

    assert [job["status"] for job in jobs] == ["complete"] * 3, jobs
    sources = sorted(i["source_id"] for i in jobs[0]["items"])
    assert len(sources) == 12
    for source_id in sources:
        post = import_wp.post_of(source_id)  # exactly one, published
        assert post["status"] == "publish"
        assert len(import_wp.attachments_of(post["id"])) == 1
        outcomes = sorted(next(i for i in job["items"] if i["source_id"] == source_id)["state"]
                          for job in jobs)
        # The job that got the post's lock first made it, and held the lock until it was
        # published: the others found it published.
        assert outcomes == ["already_imported", "already_imported", "imported"], (
            source_id, outcomes)
        ids = {next(i for i in job["items"] if i["source_id"] == source_id)["wp_post_id"]
               for job in jobs}
        assert ids == {post["id"]}
