"""A saved source's mapping: how its posts land in WordPress (status, author, title…).

Every key is optional; ``Mapping()`` is the import as it has always been (published,
the caption's first line as title, hashtags as tags and in the text, the first image
featured, reels in). The web layer validates the shape; this module applies it.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Mapping as ReadOnly
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Literal

from .content import PLACEHOLDER, UploadedMedia, render_content, title_text
from .models import Post, strip_hashtags, title_from_caption

PostStatus = Literal["publish", "draft", "pending", "private"]
TitleRule = Literal["first_line", "date", "template"]
HashtagMode = Literal["tags", "text", "both"]
FeaturedRule = Literal["first", "none"]

# The placeholders a title or caption template may use, and what each one means.
TEMPLATE_FIELDS = ("caption", "date", "location", "link", "username", "first_line")
DEFAULT_TITLE_LENGTH = 80


@dataclass(frozen=True)
class Mapping:
    status: PostStatus = "publish"
    post_type: str = "post"
    category_ids: tuple[int, ...] = ()
    author_id: int | None = None
    title_rule: TitleRule = "first_line"
    title_max_length: int = DEFAULT_TITLE_LENGTH
    title_template: str = ""
    content_template: str | None = None
    hashtags: HashtagMode = "both"
    featured: FeaturedRule = "first"
    include_reels: bool = True

    @classmethod
    def from_json(cls, data: ReadOnly[str, Any] | None) -> Mapping:
        """From a source's stored ``mapping`` (already validated by the web layer)."""
        data = data or {}
        title = data.get("title") or {}
        return cls(
            status=data.get("status") or "publish",
            post_type=data.get("post_type") or "post",
            category_ids=tuple(int(c) for c in data.get("category_ids") or ()),
            author_id=data.get("author_id"),
            title_rule=title.get("rule") or "first_line",
            title_max_length=int(title.get("max_length") or DEFAULT_TITLE_LENGTH),
            title_template=title.get("template") or "",
            content_template=data.get("content_template"),
            hashtags=data.get("hashtags") or "both",
            featured=data.get("featured") or "first",
            include_reels=data.get("include_reels", True) is not False,
        )

    @property
    def title_follows_caption(self) -> bool:
        """Whether the title is made from the caption: its first line, or a template
        that names the caption or its first line."""
        if self.title_rule == "template":
            return any(m[1] in ("caption", "first_line")
                       for m in PLACEHOLDER.finditer(self.title_template))
        return self.title_rule == "first_line"

    def stored_title(self, post: Post) -> str:
        return title_text(self.title_of(post))

    def title_of(self, post: Post) -> str:
        if self.title_rule == "date":
            return f"{post.taken_at.astimezone(UTC):%Y-%m-%d}"
        if self.title_rule == "template":
            return cut(fill_template(self.title_template, post, escape=False),
                       self.title_max_length)
        if self.title_max_length == DEFAULT_TITLE_LENGTH:
            return post.title  # today's rule, exactly
        return cut(title_from_caption(post.caption, post.taken_at), self.title_max_length)

    def render(self, post: Post, media: list[UploadedMedia]) -> RenderedPost:
        """The post as WordPress gets it: what the import writes, what repair rewrites
        and what the mapping preview shows, from this one place."""
        featured = next((m for m in media if m.kind == "image"), None)
        return RenderedPost(
            title=self.stored_title(post),
            content=render_content(post, media, caption=self.caption_of(post),
                                   template=self.content_template),
            status=self.status,
            tags=self.tags_of(post),
            category_ids=self.category_ids,
            featured=featured if self.featured == "first" else None,
        )

    def tags_of(self, post: Post) -> tuple[str, ...]:
        return () if self.hashtags == "text" else post.hashtags

    def caption_of(self, post: Post) -> str:
        """The caption as the post's text shows it: without hashtags in ``tags`` mode."""
        if self.hashtags != "tags":
            return post.caption
        return "\n".join(strip_hashtags(line) if line.strip() else line
                         for line in post.caption.splitlines())


@dataclass(frozen=True)
class RenderedPost:
    """A post with a mapping applied: the title as stored, the block markup, and the
    status, tags, categories and featured image it gets."""

    title: str
    content: str
    status: PostStatus
    tags: tuple[str, ...]
    category_ids: tuple[int, ...]
    featured: UploadedMedia | None


def content_hash(text: str) -> str:
    """What the import keeps of a caption and of the content it wrote (post meta), so
    repair can tell an upstream change from an edit in WordPress."""
    return hashlib.sha256(text.encode()).hexdigest()


def cut(text: str, max_length: int) -> str:
    text = " ".join(text.split())
    if len(text) <= max_length:
        return text
    head = text[: max_length - 1]
    boundary = head.rfind(" ")
    if boundary >= max_length // 2:
        head = head[:boundary]
    return head.rstrip(" ,;:-–—") + "…"


def fill_template(template: str, post: Post, *, escape: bool, caption: str | None = None) -> str:
    """``{caption}``, ``{date}``, ``{location}``, ``{link}``, ``{username}``,
    ``{first_line}`` filled in; any other brace text stays as written."""
    first_line = next((line for line in post.caption.splitlines() if line.strip()), "")
    values = {
        "caption": post.caption if caption is None else caption,
        "date": f"{post.taken_at.astimezone(UTC):%Y-%m-%d}",
        "location": post.location or "",
        "link": post.permalink or "",
        "username": post.owner or "",
        "first_line": first_line,
    }
    return PLACEHOLDER.sub(
        lambda m: (html.escape(values[m[1]], quote=True) if escape else values[m[1]])
        if m[1] in values else m[0], template)
