"""The mapping preview on a saved source's settings form: one post with the mapping
applied, rendered by the import's own code (``Mapping.render``), never a second renderer.

The post is the one given, else the newest one the source's last sync read, else a
bundled sample. Media are shown from the site's own copies (the import's media index:
the file downloaded from that URL, then its attachment in this site); a file the site
does not have yet is shown as its alt text, never from Instagram's servers, which
would tell them who opened wp-admin and whose addresses expire within days.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..backends.base import JobQueue, MediaIndex, SourceStore
from ..domain.content import UploadedMedia
from ..domain.mapping import Mapping
from ..domain.models import Media, Post
from ..errors import NotFound, ValidationFailed

SAMPLE_POST = Post(
    source_id="sample", short_code="C0SAMPLE", permalink="https://www.instagram.com/p/C0SAMPLE/",
    owner="igbridge.sample", taken_at=datetime(2024, 6, 1, 8, 30, tzinfo=UTC),
    caption="Morning light over the harbour 🌅\n\nFirst swim of the year with @a.friend.\n"
            "#harbour #summer",
    hashtags=("harbour", "summer"), mentions=("a.friend",), location="Old Harbour",
    alt="", media=(Media("image", url=None, alt="Boats in the harbour at sunrise"),),
    is_pinned=False, origin="export",
)


async def preview(sources: SourceStore, jobs: JobQueue, media_index: MediaIndex, site: str,
                  mapping: dict[str, Any], *, source_id: str | None = None,
                  post: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the import would make of one post with ``mapping`` (already validated)."""
    chosen, origin = await _post_to_show(sources, jobs, source_id, post)
    applied = Mapping.from_json(mapping)
    media = [UploadedMedia(m.kind, 0, await _site_copy(media_index, site, m.url),
                           m.alt or chosen.alt) for m in chosen.media]
    rendered = applied.render(chosen, media)
    featured = rendered.featured
    return {
        "post": {"source_id": chosen.source_id, "taken_at": chosen.taken_at.isoformat(),
                 "from": origin},
        "title": rendered.title,
        "content": rendered.content,
        "status": rendered.status,
        "post_type": applied.post_type,
        "author_id": applied.author_id,
        "category_ids": list(rendered.category_ids),
        "tags": list(rendered.tags),
        "featured_image": ({"url": featured.url or None, "alt": featured.alt}
                           if featured is not None else None),
    }


async def _post_to_show(sources: SourceStore, jobs: JobQueue, source_id: str | None,
                        post: dict[str, Any] | None) -> tuple[Post, str]:
    if post is not None:
        try:
            return Post.from_json(post), "given"
        except (KeyError, ValueError, TypeError) as exc:
            raise ValidationFailed(f"post: not a post as the sidecar keeps it ({exc})") from None
    if source_id is not None:
        row = await sources.get(source_id)
        if row is None:
            raise NotFound(f"no saved source {source_id}")
        job_id = (row["last_sync"] or {}).get("job_id")
        job = await jobs.get(job_id) if job_id else None
        known = [Post.from_json(p) for p in ((job or {}).get("state") or {}).get("posts", [])]
        if known:
            return max(known, key=lambda p: p.taken_at), "source"
    return SAMPLE_POST, "sample"


async def _site_copy(media_index: MediaIndex, site: str, url: str | None) -> str:
    """The address of the site's own copy of the file from ``url``, or "" (none yet)."""
    cached = await media_index.cached(url) if url else None
    uploaded = await media_index.uploaded(site, cached["sha256"]) if cached else None
    return uploaded[1] if uploaded else ""
