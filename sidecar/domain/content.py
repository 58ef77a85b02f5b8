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

    The media keep Instagram's order, images and videos mixed: images next to each
    other become one gallery (a gallery holds only images), a lone image an image
    block, each video a video block in its place.
    """
    blocks: list[str] = []
    for run in media_runs(media):
        if run[0].kind != "image":
            blocks.extend(_video_block(item) for item in run)
        elif len(run) == 1:
            blocks.append(_image_block(run[0]))
        else:
            blocks.append(_gallery_block(run))
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
    when it shows it ("&" stays "&", not "&amp;"). Themes print titles as HTML, so what
    would not read back as the same text is escaped: "<" and ">" (a caption's "<script>"
    stays text), and an "&" that starts what looks like an entity ("&amp;" written in a
    caption shows as "&amp;", not "&")."""
    return _ENTITY_START.sub("&amp;", title).replace("<", "&lt;").replace(">", "&gt;")


# An "&" a browser could read as the start of a character reference.
_ENTITY_START = re.compile(r"&(?=[#A-Za-z0-9])")


def _place(post: Post) -> str:
    """The place as HTML: its name, linked to a map where the coordinates are known."""
    if post.latitude is None or post.longitude is None:
        return html.escape(post.location or "")
    name = post.location or f"{post.latitude:.5f}, {post.longitude:.5f}"
    lat, lng = f"{post.latitude:.6f}", f"{post.longitude:.6f}"
    link = f"https://www.openstreetmap.org/?mlat={lat}&mlon={lng}#map=16/{lat}/{lng}"
    return f'<a href="{html.escape(link, quote=True)}">{html.escape(name)}</a>'


def media_runs(media: list[UploadedMedia]) -> list[list[UploadedMedia]]:
    """``media`` cut where the kind changes: [img, img, video, img] → [[img, img],
    [video], [img]]."""
    runs: list[list[UploadedMedia]] = []
    for item in media:
        if runs and runs[-1][0].kind == item.kind:
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


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
