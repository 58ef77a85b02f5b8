"""A post's WordPress content: Gutenberg block markup from a post and its uploaded media."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass

from .models import MENTION_PATTERN, Post


@dataclass(frozen=True)
class UploadedMedia:
    """A media file as WordPress keeps it, for the post's content."""

    kind: str
    wp_id: int
    url: str
    alt: str


def render_content(post: Post, media: list[UploadedMedia]) -> str:
    """Gutenberg block markup: the media, then the caption as paragraphs, the location,
    and a link to the original.

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
    blocks.extend(_paragraph(p) for p in caption_paragraphs(post.caption))
    if post.location:
        blocks.append(_paragraph("📍 " + html.escape(post.location)))
    if post.permalink:
        link = html.escape(post.permalink, quote=True)
        blocks.append(_paragraph(f'<a href="{link}">View on Instagram</a>'))
    return "\n\n".join(blocks)


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
