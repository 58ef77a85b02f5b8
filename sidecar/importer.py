"""The import pipeline: source → posts → media → WordPress, idempotent per Instagram post.

Two stages, each with honest N/M progress: first every post's media is fetched
into the content-addressed cache (CDN links expire; a scrape job stops here),
then posts go to WordPress with bounded concurrency. Each post is looked up by
its source id in WordPress (the plugin's ``_igbridge_source_id`` meta) before
it is created, under a per-post lock, so a rerun, two overlapping jobs, or a
crash between "post created" and "ledger written" never makes a duplicate.
Posts are created as drafts and published once their media are attached.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import store as db
from .errors import (
    IgbridgeError,
    MediaError,
    SourceError,
    TransientError,
    WordPressAuthError,
    WordPressError,
)
from .jobs import JobContext, backoff_delay
from .media import CachedMedia, MediaCache
from .models import MENTION_PATTERN, Media, Post, Skipped
from .sources import apify as apify_source
from .sources.export_zip import read_export, read_member
from .wordpress import SOURCE_ID_META, WordPressClient

PERMALINK_META = "_igbridge_permalink"
# After this many posts in a row fail with a passing fault, WordPress is down: stop
# hammering it and let the job runner retry the whole job later.
CONSECUTIVE_FAULTS_TO_PAUSE = 3

_post_locks: dict[str, tuple[asyncio.Lock, int]] = {}
_media_locks: dict[str, tuple[asyncio.Lock, int]] = {}


@asynccontextmanager
async def _locked(table: dict[str, tuple[asyncio.Lock, int]], key: str) -> AsyncIterator[None]:
    """One holder per key in this process (one sidecar owns a data dir); the entry
    goes away with its last user."""
    lock, users = table.get(key, (asyncio.Lock(), 0))
    table[key] = (lock, users + 1)
    try:
        async with lock:
            yield
    finally:
        lock, users = table[key]
        if users == 1:
            del table[key]
        else:
            table[key] = (lock, users - 1)


# -- job kinds ------------------------------------------------------------------------


async def run_scrape(ctx: JobContext) -> str:
    """Fetch the posts and cache their media; nothing is written to WordPress."""
    posts, skipped = await fetch_source(ctx)
    await ctx.add_items([p.source_id for p in posts])
    await record_skipped(ctx, posts, skipped)
    cached, _failed = await download_media(ctx, posts, mark_done=True)
    failed = sum(1 for i in (await ctx.items()).values() if i["state"] == "failed")
    if posts and failed == len(posts):
        raise MediaError(f"no media of the {len(posts)} post(s) could be downloaded")
    return (f"Fetched {len(posts)} post(s), {cached} media file(s) cached"
            + _tail(skipped, failed))


async def run_import(ctx: JobContext) -> str:
    posts, skipped = await fetch_source(ctx)
    await ctx.add_items([p.source_id for p in posts])
    await record_skipped(ctx, posts, skipped)
    ledger = await ctx.items()
    todo = [p for p in posts if ledger[p.source_id]["state"] in ("pending", "failed")]
    if todo:
        _cached, media_failed = await download_media(ctx, todo, mark_done=False)
        async with WordPressClient.from_config(ctx.config) as wp:
            await import_posts(ctx, wp, [p for p in todo if p.source_id not in media_failed],
                               total=len(posts))
    outcome = await ctx.items()
    counts = {s: sum(1 for i in outcome.values() if i["state"] == s)
              for s in ("imported", "skipped", "failed")}
    if posts and counts["failed"] == len(posts):
        first = next(i["reason"] for i in outcome.values() if i["state"] == "failed")
        raise WordPressError(f"every post failed to import; first error: {first}")
    return (f"Imported {counts['imported']} of {len(posts)} post(s)"
            + _tail([Skipped(s, i["reason"] or "") for s, i in outcome.items()
                     if i["state"] == "skipped"], counts["failed"]))


async def record_skipped(ctx: JobContext, posts: list[Post], skipped: list[Skipped]) -> None:
    """One ledger row per skipped item. A duplicate in the feed carries the id of the
    post it repeats; under that id it would overwrite the post's own row (and the
    post, now "skipped", would never be imported), so it gets a row of its own."""
    taken = {p.source_id for p in posts}
    for item in skipped:
        key, copy = item.source_id, 1
        while key in taken:
            copy += 1
            key = f"{item.source_id} (copy {copy})"
        taken.add(key)
        await ctx.set_item(key, "skipped", reason=item.reason)


def _tail(skipped: list[Skipped], failed: int) -> str:
    parts = []
    if skipped:
        reasons: dict[str, int] = {}
        for item in skipped:
            reason = item.reason.split(" (post ")[0]
            reasons[reason] = reasons.get(reason, 0) + 1
        parts.append(f"{len(skipped)} skipped ("
                     + ", ".join(f"{n} {r}" for r, n in sorted(reasons.items())) + ")")
    if failed:
        parts.append(f"{failed} failed: retry them from the job")
    return "; " + "; ".join(parts) if parts else ""


# -- stage 0: the source ----------------------------------------------------------------


async def fetch_source(ctx: JobContext) -> tuple[list[Post], list[Skipped]]:
    """Posts and skipped items; kept in the job's state so a resumed job does not refetch."""
    if "posts" in ctx.state:
        posts = [Post.from_json(p) for p in ctx.state["posts"]]
        skipped = [Skipped(**s) for s in ctx.state.get("skipped", [])]
    else:
        posts, skipped = await _read_source(ctx)
        await ctx.save_state(posts=[p.to_json() for p in posts],
                             skipped=[s.to_json() for s in skipped])
    only = ctx.options.get("only")
    if only:
        wanted = set(only)
        posts = [p for p in posts if p.source_id in wanted]
        skipped = []
    if not posts:
        if skipped:
            reasons = "; ".join(sorted({s.reason for s in skipped})[:3])
            raise SourceError(f"nothing to import: all {len(skipped)} item(s) were skipped "
                              f"({reasons})")
        raise SourceError("the source has no posts to import")
    return posts, skipped


async def _read_source(ctx: JobContext) -> tuple[list[Post], list[Skipped]]:
    source = ctx.source
    if source.get("type") == "apify":
        username = str(source.get("username", ""))
        phase = "Scraping via Apify"
        ctx.report(f"Starting the Apify scraper for @{username.lstrip('@')}", phase=phase)

        async def on_status(message: str) -> None:
            ctx.report(f"Apify: {message}", phase=phase)

        async def on_run_started(run_id: str) -> None:
            await ctx.save_state(apify_run_id=run_id)

        result = await apify_source.fetch_posts(
            ctx.config, username, int(source.get("limit") or 20), on_status=on_status,
            on_run_started=on_run_started, resume_run_id=ctx.state.get("apify_run_id"),
        )
        ctx.report(f"Apify returned {len(result.posts)} post(s)", phase=phase)
        return result.posts, result.skipped
    if source.get("type") == "export":
        path = Path(str(source.get("path", "")))
        ctx.report(f"Reading the export {path.name}", phase="Reading export")
        export = await asyncio.to_thread(read_export, path)
        ctx.report(f"Found {len(export.posts)} post(s) in {path.name}", phase="Reading export")
        return export.posts, export.skipped
    raise SourceError(f"unknown source type {source.get('type')!r}; use 'apify' or 'export'")


# -- stage 1: media -------------------------------------------------------------------------


async def download_media(
    ctx: JobContext, posts: list[Post], *, mark_done: bool
) -> tuple[int, set[str]]:
    """Fetch every media of ``posts`` into the cache; a post whose media fail is ``failed``.

    Returns the number of media files now cached and the source ids of the posts whose
    media could not all be fetched in this pass. With ``mark_done`` (scrape jobs) a post
    whose media all arrived is recorded as done.
    """
    cache = MediaCache(ctx.config, ctx.store, ctx.http)
    total = sum(len(p.media) for p in posts)
    done = 0
    phase = "Downloading media"
    ctx.report(f"Downloading media 0/{total}", phase=phase, done=0, total=total)
    slots = asyncio.Semaphore(ctx.config.download_concurrency)
    failed: set[str] = set()

    async def one_post(post: Post) -> int:
        nonlocal done
        fetched = 0
        for index, media in enumerate(post.media):
            try:
                async with slots:
                    cached = await fetch_media(ctx, cache, post, media)
            except MediaError as exc:
                failed.add(post.source_id)
                await ctx.set_item(post.source_id, "failed",
                                   reason=f"media {index + 1}: {exc.message}")
                done += len(post.media) - index
                ctx.report(f"Downloading media {done}/{total}", phase=phase, done=done)
                return fetched
            fetched += 1
            done += 1
            ctx.report(f"Downloading media {done}/{total}", phase=phase, done=done,
                       details={"post": post.source_id, "cached": cached.cached})
        if mark_done:
            await ctx.set_item(post.source_id, "imported",
                               detail={"media": len(post.media), "title": post.title})
        return fetched

    counts = await asyncio.gather(*(one_post(p) for p in posts))
    return sum(counts), failed


async def fetch_media(
    ctx: JobContext, cache: MediaCache, post: Post, media: Media
) -> CachedMedia:
    """One media into the cache, from a URL (with retries) or from inside the export."""
    if media.zip_member:
        if not post.zip_path:
            raise MediaError(f"{media.zip_member}: the post does not say which export it is in")
        data = await asyncio.to_thread(read_member, post.zip_path, media.zip_member,
                                       ctx.config.media_max_bytes)
        return await cache.store_bytes(data, source_url=f"zip:{media.zip_member}")
    if not media.url:
        raise MediaError("media without a URL or file")
    return await _with_retries(ctx, lambda: cache.fetch(media.url or ""))


async def _with_retries(
    ctx: JobContext, action: Callable[[], Awaitable[CachedMedia]]
) -> CachedMedia:
    attempt = 0
    while True:
        attempt += 1
        try:
            return await action()
        except TransientError as exc:
            if attempt >= ctx.config.job_attempts:
                raise MediaError(f"{exc.message} (after {attempt} attempts)") from exc
            await asyncio.sleep(backoff_delay(attempt, ctx.config.backoff_base_seconds))


# -- stage 2: WordPress ------------------------------------------------------------------------


@dataclass
class _Faults:
    consecutive: int = 0
    last: str = ""


async def import_posts(
    ctx: JobContext, wp: WordPressClient, posts: list[Post], *, total: int
) -> None:
    """Send ``posts`` (their media already cached) to WordPress; the rest of ``total``
    is finished already (imported by an earlier attempt, or its media failed)."""
    done = total - len(posts)
    phase = "Importing into WordPress"
    ctx.report(f"Imported {done} of {total} posts", phase=phase, done=done, total=total)
    concurrency = int(ctx.options.get("concurrency") or ctx.config.import_concurrency)
    slots = asyncio.Semaphore(concurrency)
    faults = _Faults()
    paused = asyncio.Event()
    cache = MediaCache(ctx.config, ctx.store, ctx.http)

    async def one(post: Post) -> None:
        nonlocal done
        async with slots:
            if paused.is_set():
                return
            try:
                post_id, reused = await import_post(ctx, wp, cache, post)
            except WordPressAuthError:
                paused.set()
                raise
            except TransientError as exc:
                faults.consecutive += 1
                faults.last = exc.message
                await ctx.set_item(post.source_id, "failed", reason=exc.message)
                if faults.consecutive >= CONSECUTIVE_FAULTS_TO_PAUSE:
                    paused.set()
                return
            except IgbridgeError as exc:
                await ctx.set_item(post.source_id, "failed", reason=exc.message)
                done += 1
                ctx.report(f"Imported {done} of {total} posts", phase=phase, done=done)
                return
            faults.consecutive = 0
            if reused:
                await ctx.set_item(post.source_id, "skipped", wp_post_id=post_id,
                                   reason=f"already in WordPress (post {post_id})")
            else:
                await ctx.set_item(post.source_id, "imported", wp_post_id=post_id,
                                   detail={"title": post.title})
            done += 1
            ctx.report(f"Imported {done} of {total} posts", phase=phase, done=done,
                       details={"post": post.source_id, "wp_post_id": post_id})

    try:
        await asyncio.gather(*(one(p) for p in posts))
    except WordPressAuthError as exc:
        await _fail_unfinished(ctx, posts, exc.message)
        raise
    if paused.is_set():
        message = f"WordPress keeps failing: {faults.last}"
        await _fail_unfinished(ctx, posts, message)
        raise TransientError(message)


async def _fail_unfinished(ctx: JobContext, posts: list[Post], reason: str) -> None:
    """Mark what did not get through as ``failed`` so a retry picks exactly those up."""
    ledger = await ctx.items()
    for post in posts:
        if ledger.get(post.source_id, {}).get("state") == "pending":
            await ctx.set_item(post.source_id, "failed", reason=reason)


async def import_post(
    ctx: JobContext, wp: WordPressClient, cache: MediaCache, post: Post
) -> tuple[int, bool]:
    """The WordPress post id for ``post``, and whether it already existed."""
    async with _locked(_post_locks, post.source_id):
        existing = await wp.find_post_by_source_id(post.source_id)
        if existing is not None and existing.get("status") == "publish":
            return int(existing["id"]), True
        tag_ids = [await wp.ensure_tag(tag) for tag in post.hashtags[:50]]
        if existing is None:
            draft = await wp.create_post(
                answer="id",
                status="draft",
                title=html.escape(post.title, quote=False),
                date_gmt=post.taken_at.strftime("%Y-%m-%dT%H:%M:%S"),
                tags=tag_ids,
                meta={SOURCE_ID_META: post.source_id,
                      PERMALINK_META: post.permalink or ""},
            )
            post_id = int(draft["id"])
        else:  # a draft left by a crash between create and publish: finish it
            post_id = int(existing["id"])
        uploaded = [await upload_once(ctx, wp, cache, post, media, index, post_id)
                    for index, media in enumerate(post.media)]
        featured = next((m.wp_id for m in uploaded if m.kind == "image"), None)
        fields: dict[str, Any] = {"content": render_content(post, uploaded), "tags": tag_ids}
        if featured is not None:
            fields["featured_media"] = featured
        if ctx.options.get("publish", True):
            fields["status"] = "publish"
        await wp.update_post(post_id, answer="id", **fields)
        return post_id, False


@dataclass(frozen=True)
class UploadedMedia:
    kind: str
    wp_id: int
    url: str
    alt: str


async def upload_once(
    ctx: JobContext, wp: WordPressClient, cache: MediaCache, post: Post, media: Media,
    index: int, post_id: int,
) -> UploadedMedia:
    """Upload a media file unless this site already has it (same bytes, same hash)."""
    cached = await fetch_media(ctx, cache, post, media)
    alt = media.alt or post.alt or ""
    site = ctx.config.wp_url
    async with _locked(_media_locks, cached.sha256):
        known = await db.fetch_wp_media(ctx.store.reader, site, cached.sha256)
        if known is not None:
            return UploadedMedia(media.kind, known[0], known[1], alt)
        data = await asyncio.to_thread(cached.path.read_bytes)
        stem = post.short_code or post.source_id.replace(":", "-")[:32]
        # WordPress strips tags from alt text (sanitize_text_field): escaped, an alt
        # text that looks like HTML is kept as the text it is, as captions are. Alt
        # text and parent ride on the upload itself: one request per file, not two.
        uploaded = await wp.upload_media(
            data, filename=f"{stem}-{index + 1}.{cached.extension}",
            content_type=cached.content_type, alt_text=html.escape(alt, quote=False),
            parent=post_id, answer="id,source_url",
        )
        wp_id, url = int(uploaded["id"]), str(uploaded.get("source_url") or "")
        await ctx.store.write([(
            "INSERT OR REPLACE INTO wp_media (site, sha256, wp_media_id, wp_url)"
            " VALUES (?, ?, ?, ?)", (site, cached.sha256, wp_id, url),
        )])
        return UploadedMedia(media.kind, wp_id, url, alt)


# -- content ----------------------------------------------------------------------------------


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
