"""How repair reads and rewrites a post's media blocks (``jobs/kinds/repair.py``): the
attachment ids of the blocks the import writes, and an edited post's blocks pointed at
new attachments with everything else in them kept."""

from __future__ import annotations

from datetime import UTC, datetime

from sidecar.domain.content import UploadedMedia, render_content
from sidecar.domain.models import Post
from sidecar.jobs.kinds.repair import media_ids_in, point_at


def post(caption: str = "Two photos and a clip") -> Post:
    return Post(source_id="1", short_code="C1", permalink=None, owner="someone",
                taken_at=datetime(2024, 1, 2, tzinfo=UTC), caption=caption, hashtags=(),
                mentions=(), location=None, alt="", media=(), is_pinned=False,
                origin="apify")


MEDIA = [UploadedMedia("image", 11, "http://wp/a.jpg", "a"),
         UploadedMedia("image", 12, "http://wp/b.jpg", "b"),
         UploadedMedia("video", 13, "http://wp/c.mp4", "")]


def test_the_ids_of_the_media_blocks_the_import_writes_in_their_order() -> None:
    content = render_content(post(), MEDIA)
    assert media_ids_in(content) == [11, 12, 13]
    assert media_ids_in("<!-- wp:paragraph -->\n<p>text</p>\n<!-- /wp:paragraph -->") == []


def test_an_edited_post_points_at_the_new_attachment_and_keeps_its_own_words() -> None:
    imported = render_content(post(), MEDIA)
    edited = imported.replace('alt="b" class="wp-image-12"/>',
                              'alt="b" class="wp-image-12"/><figcaption>Mine</figcaption>')
    new = UploadedMedia("image", 42, "http://wp/b-1.jpg", "b")

    repaired = point_at(edited, {12: new})

    assert media_ids_in(repaired) == [11, 42, 13]
    assert ('<img src="http://wp/b-1.jpg" alt="b" class="wp-image-42"/>'
            "<figcaption>Mine</figcaption>") in repaired
    assert "wp-image-12" not in repaired
    assert "http://wp/b.jpg" not in repaired
    # Only the replaced block changed.
    assert repaired.replace("42", "12").replace("b-1.jpg", "b.jpg") == edited
    assert point_at(edited, {}) == edited
