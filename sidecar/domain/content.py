"""A post's WordPress content: Gutenberg block markup from a post and its uploaded media."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import UTC

from .models import MENTION_PATTERN, Post


@dataclass(frozen=True)
class UploadedMedia:
    """A media file as WordPress keeps it, for the post's content."""

    kind: str
    wp_id: int
    url: str
    alt: str


def render_content(post: Post, media: list[UploadedMedia], *, caption: str | None = None,
                   template: str | None = None) -> str:
    """Gutenberg block markup: the media, then the caption as paragraphs, the location,
    and a link to the original. A saved source's mapping may give the ``caption`` to
    show (its hashtags taken out) and a ``template`` for the text after the media.

    A carousel's images become one gallery, placed where its first image was; videos
    (a gallery holds only images) become video blocks in their own places.
    """
    images = [m for m in media if m.kind == "image"]
    blocks: list[str] = []
    for item in media:
        if item.kind != "image":
            blocks.append(_video_block(item))
        elif len(images) == 1:
            blocks.append(_image_block(item))
        elif item is images[0]:
            blocks.append(_gallery_block(images))
    text = post.caption if caption is None else caption
    if template is not None:
        blocks.extend(_paragraph(p) for p in template_paragraphs(template, post, text))
        return "\n\n".join(blocks)
    blocks.extend(_paragraph(p) for p in caption_paragraphs(text))
    place = _place(post)
    if place:
        blocks.append(_paragraph("📍 " + place))
    if post.permalink:
        link = html.escape(post.permalink, quote=True)
        blocks.append(_paragraph(f'<a href="{link}">View on Instagram</a>'))
    return "\n\n".join(blocks)


def title_text(title: str) -> str:
    """The title as WordPress should store it: the text itself, which WordPress escapes
    when it shows it ("&" stays "&", not "&amp;"). Only "<" and ">" are escaped: themes
    print titles as HTML, and a caption's "<script>" must stay text."""
    return title.replace("<", "&lt;").replace(">", "&gt;")


def geodata(post: Post) -> dict[str, str]:
    """WordPress's Geodata meta for the post's place: its name where there is one, the
    coordinates where the source has them (the plugin registers these keys)."""
    if not post.location and post.latitude is None:
        return {}
    meta = {"geo_address": post.location or "", "geo_public": "1"}
    if post.latitude is not None and post.longitude is not None:
        meta.update(geo_latitude=f"{post.latitude:.6f}", geo_longitude=f"{post.longitude:.6f}")
    return meta


def _place(post: Post) -> str:
    """The place as HTML: its name, linked to a map where the coordinates are known."""
    if post.latitude is None or post.longitude is None:
        return html.escape(post.location or "")
    name = post.location or f"{post.latitude:.5f}, {post.longitude:.5f}"
    lat, lng = f"{post.latitude:.6f}", f"{post.longitude:.6f}"
    link = f"https://www.openstreetmap.org/?mlat={lat}&mlon={lng}#map=16/{lat}/{lng}"
    return f'<a href="{html.escape(link, quote=True)}">{html.escape(name)}</a>'


PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def template_paragraphs(template: str, post: Post, caption: str) -> list[str]:
    """A caption template's paragraphs as HTML: its own text escaped, ``{caption}`` as
    the caption's paragraphs, ``{link}`` as a link to the original, the other
    placeholders (``domain/mapping.py``) as escaped text."""
    link = html.escape(post.permalink or "", quote=True)
    values = {
        "date": f"{post.taken_at.astimezone(UTC):%Y-%m-%d}",
        "location": html.escape(post.location or ""),
        "username": html.escape(post.owner or ""),
        "link": f'<a href="{link}">{link}</a>' if link else "",
        "caption": "<br>".join(caption_paragraphs(caption)),
    }
    paragraphs: list[str] = []
    for chunk in template.replace("\r\n", "\n").split("\n\n"):
        if chunk.strip() == "{caption}":
            paragraphs.extend(caption_paragraphs(caption))
            continue
        text = "<br>".join(html.escape(line, quote=False) for line in chunk.split("\n"))
        # One pass: a placeholder's value is never read as a placeholder itself.
        text = PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), text).strip()
        if text:
            paragraphs.append(text)
    return paragraphs


def caption_paragraphs(caption: str) -> list[str]:
    """Escaped HTML paragraphs: blank lines split them, single line breaks stay."""
    paragraphs = []
    for chunk in caption.replace("\r\n", "\n").split("\n\n"):
        lines = [link_mentions(html.escape(line, quote=False)) for line in chunk.split("\n")]
        text = "<br>".join(lines).strip()
        if text:
            paragraphs.append(text)
    return paragraphs


def link_mentions(escaped: str) -> str:
    """``@name`` → a link to the profile; a sentence's full stop stays outside the link."""

    def link(match: re.Match[str]) -> str:
        name = match[1].rstrip(".")
        if not name:
            return match[0]
        tail = match[1][len(name):]
        return f'<a href="https://www.instagram.com/{name}/">@{name}</a>{tail}'

    return MENTION_PATTERN.sub(link, escaped)


def _paragraph(inner_html: str) -> str:
    return f"<!-- wp:paragraph -->\n<p>{inner_html}</p>\n<!-- /wp:paragraph -->"


def _gallery_block(images: list[UploadedMedia]) -> str:
    inner = "\n\n".join(_image_block(m) for m in images)
    return ('<!-- wp:gallery {"linkTo":"none"} -->\n'
            '<figure class="wp-block-gallery has-nested-images columns-default is-cropped">'
            f"\n{inner}\n</figure>\n<!-- /wp:gallery -->")


def _image_block(item: UploadedMedia) -> str:
    attrs = json.dumps({"id": item.wp_id, "sizeSlug": "large", "linkDestination": "none"},
                       separators=(",", ":"))
    return (f"<!-- wp:image {attrs} -->\n<figure class=\"wp-block-image size-large\">"
            f"<img src=\"{html.escape(item.url, quote=True)}\" "
            f"alt=\"{html.escape(item.alt, quote=True)}\" class=\"wp-image-{item.wp_id}\"/>"
            "</figure>\n<!-- /wp:image -->")


def _video_block(item: UploadedMedia) -> str:
    attrs = json.dumps({"id": item.wp_id}, separators=(",", ":"))
    return (f"<!-- wp:video {attrs} -->\n<figure class=\"wp-block-video\">"
            f"<video controls src=\"{html.escape(item.url, quote=True)}\"></video>"
            "</figure>\n<!-- /wp:video -->")
