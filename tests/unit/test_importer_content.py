"""The block markup the importer writes: media blocks, caption paragraphs, escaping."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sidecar.domain.content import UploadedMedia, caption_paragraphs, link_mentions, render_content
from sidecar.domain.models import Media, Post


def post(caption: str = "", *, location: str | None = None,
         permalink: str | None = "https://www.instagram.com/p/Cabc/") -> Post:
    return Post(source_id="1", short_code="Cabc", permalink=permalink, owner="alice",
                taken_at=datetime(2024, 5, 1, tzinfo=UTC), caption=caption, hashtags=(),
                mentions=(), location=location, alt="", media=(Media("image", url="u"),),
                is_pinned=False, origin="apify")


def image(n: int, alt: str = "") -> UploadedMedia:
    return UploadedMedia("image", n, f"http://wp.test/wp-content/uploads/{n}.jpg", alt)


def video(n: int) -> UploadedMedia:
    return UploadedMedia("video", n, f"http://wp.test/wp-content/uploads/{n}.mp4", "")


def image_block(n: int, alt: str = "") -> str:
    return (f'<!-- wp:image {{"id":{n},"sizeSlug":"large","linkDestination":"none"}} -->\n'
            f'<figure class="wp-block-image size-large"><img src="http://wp.test/wp-content/'
            f'uploads/{n}.jpg" alt="{alt}" class="wp-image-{n}"/></figure>\n<!-- /wp:image -->')


def video_block(n: int) -> str:
    return (f'<!-- wp:video {{"id":{n}}} -->\n<figure class="wp-block-video"><video controls '
            f'src="http://wp.test/wp-content/uploads/{n}.mp4"></video></figure>\n'
            "<!-- /wp:video -->")


def gallery(*blocks: str) -> str:
    return ('<!-- wp:gallery {"linkTo":"none"} -->\n<figure class="wp-block-gallery '
            'has-nested-images columns-default is-cropped">\n' + "\n\n".join(blocks)
            + "\n</figure>\n<!-- /wp:gallery -->")


def paragraph(inner: str) -> str:
    return f"<!-- wp:paragraph -->\n<p>{inner}</p>\n<!-- /wp:paragraph -->"


LINK = paragraph('<a href="https://www.instagram.com/p/Cabc/">View on Instagram</a>')


def test_single_photo_then_caption_location_and_link() -> None:
    content = render_content(post("Hello ☀️\nsecond line", location="Lisboa & Porto"),
                             [image(7, 'a "quoted" <alt>')])

    assert content == "\n\n".join([
        image_block(7, "a &quot;quoted&quot; &lt;alt&gt;"),
        paragraph("Hello ☀️<br>second line"),
        paragraph("📍 Lisboa &amp; Porto"),
        LINK,
    ])


def test_carousel_images_form_one_gallery_and_videos_keep_their_blocks() -> None:
    content = render_content(post(permalink=None),
                             [image(1, "one"), video(2), image(3, "three"), video(4)])

    assert content == "\n\n".join([
        gallery(image_block(1, "one"), image_block(3, "three")), video_block(2), video_block(4),
    ])


def test_carousel_starting_with_a_video_puts_the_gallery_where_the_first_image_was() -> None:
    content = render_content(post(permalink=None), [video(1), image(2), image(3)])

    assert content == "\n\n".join([video_block(1), gallery(image_block(2), image_block(3))])


def test_reel_is_a_video_block() -> None:
    assert render_content(post("Waves"), [video(9)]) == "\n\n".join(
        [video_block(9), paragraph("Waves"), LINK])


@pytest.mark.parametrize(("caption", "paragraphs"), [
    ("one\ntwo\n\nthree", ["one<br>two", "three"]),
    ("windows\r\nline\r\n\r\nends", ["windows<br>line", "ends"]),
    ("\n\n  \n\nonly this\n\n\n\n", ["only this"]),
    ("", []),
    ("桜 🌸🇯🇵 #日本", ["桜 🌸🇯🇵 #日本"]),
    ('<script>alert("x")</script> & <b>', ['&lt;script&gt;alert("x")&lt;/script&gt; &amp; '
                                          "&lt;b&gt;"]),
    ("Thanks @ana.gomes.", ['Thanks <a href="https://www.instagram.com/ana.gomes/">'
                            "@ana.gomes</a>."]),
    ("mail me@example.com", ["mail me@example.com"]),
    ("<@bob>", ['&lt;<a href="https://www.instagram.com/bob/">@bob</a>&gt;']),
])
def test_caption_paragraphs(caption: str, paragraphs: list[str]) -> None:
    assert caption_paragraphs(caption) == paragraphs


def test_a_lone_at_sign_or_dots_are_not_links() -> None:
    assert link_mentions("@ and @... and @_x.") == (
        '@ and @... and <a href="https://www.instagram.com/_x/">@_x</a>.')
