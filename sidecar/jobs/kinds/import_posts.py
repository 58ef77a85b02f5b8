"""Job kind ``import``: source → posts → media → WordPress, idempotent per Instagram post.

Two stages, each with honest N/M progress: first every post's media is fetched
into the content-addressed cache (``jobs/stages.py``; a scrape job stops there),
then posts go to WordPress with bounded concurrency, in waves of several posts
that share one lookup, one batch request that creates their drafts and one
that publishes them (a WordPress request costs both sides far more than the
work it carries). Each post is looked up by its source id in WordPress (the
plugin's ``_igbridge_source_id`` meta) before it is created, under a per-post
lock, so a rerun, two overlapping jobs, or a crash between "post created" and
"ledger written" never makes a duplicate. Posts are created as drafts and
published once their media are attached.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from ...domain.content import UploadedMedia
from ...domain.mapping import Mapping, content_hash
from ...domain.models import ItemState, Media, Post
from ...domain.outcomes import ImportTally, import_message
from ...errors import (
    JOB_LEVEL_FAULTS,
    IgbridgeError,
    StorageError,
    TransientError,
    WordPressAuthError,
    WordPressError,
)
from ...media.cache import CachedMedia, MediaCache
from ...wordpress.client import (
    LOOKUP_IDS,
    POSTS_ROUTE,
    SOURCE_ID_META,
    Answer,
    Json,
    WordPressClient,
)
from ..concurrency import keyed_lock, run_together
from ..context import ItemOutcome, JobContext
from ..stages import (
    IMPORTING,
    LOOKING_UP,
    CachedByPost,
    download_media,
    fetch_media,
    fetch_source,
    new_items,
    plan_phases,
    record_skipped,
)
from ..uploaded import release_uploads

PERMALINK_META = "_igbridge_permalink"
# On each attachment the import uploads: the source id of the post it was uploaded for.
# Repair deletes a broken attachment only if it is igbridge's own.
MEDIA_OF_META = "_igbridge_media_of"
# What the import wrote, hashed (``content_hash``): repair updates a changed caption only
# where the content (and the title) is still what the import wrote.
CONTENT_HASH_META = "_igbridge_content_hash"
CAPTION_HASH_META = "_igbridge_caption_hash"
TITLE_HASH_META = "_igbridge_title_hash"
# Media files up to this size are uploaded from memory; larger ones are streamed from
# the cache file (see upload_once).
INLINE_READ_BYTES = 1 << 20

_post_locks: dict[str, tuple[asyncio.Lock, int]] = {}
_media_locks: dict[str, tuple[asyncio.Lock, int]] = {}


async def run_import(ctx: JobContext) -> str:
    plan_phases(ctx, to_wordpress=True)
    posts, skipped = await fetch_source(ctx)
    await ctx.add_items(new_items(posts))
    await record_skipped(ctx, posts, skipped)
    ledger = await ctx.items()
    # The ledger first: what an earlier attempt of this job finished is done.
    todo = [p for p in posts if ledger[p.source_id]["state"] in ("pending", "failed")]
    plan_phases(ctx, to_wordpress=True, posts=posts, media=sum(len(p.media) for p in todo))
    if todo:
        async with WordPressClient.from_config(ctx.config) as wp:
            # Then WordPress, before any media is read: a rerun of an export that is
            # all imported already reads none of its files.
            # The mapping's post type: its posts, and the lookup, live under its route.
            route = await wp.post_type_route(mapping_of(ctx).post_type)
            try:
                todo = await settle_known_posts(ctx, wp, todo, route=route)
            except TransientError as exc:
                message = f"WordPress keeps failing: {exc.message}"
                await _fail_unfinished(ctx, todo, message)
                raise TransientError(message) from exc
            if todo:
                fetched = await download_media(ctx, todo, mark_done=False)
                # Each post as it goes on: without the media that could not be had.
                await import_posts(ctx, wp, [fetched.ready[p.source_id] for p in todo
                                             if p.source_id in fetched.ready],
                                   total=len(posts), cached=fetched.cached, route=route)
    tally = import_tally(await ctx.items())
    if posts and tally.failed == len(posts):
        raise WordPressError(f"every post failed to import; first error: "
                             f"{tally.failed_reasons[0]}")
    if not tally.failed:
        await release_uploads(ctx)  # personal data: kept only while a retry may need it
    return import_message(tally)


def import_tally(ledger: dict[str, dict[str, Any]]) -> ImportTally:
    """The job's ledger as counts and reasons (skipped items included: they are posts
    of the source too)."""
    def reasons(state: ItemState) -> list[str]:
        return [i["reason"] or "" for i in ledger.values() if i["state"] == state]

    return ImportTally(
        imported=sum(1 for i in ledger.values() if i["state"] == ItemState.IMPORTED),
        already_imported=sum(1 for i in ledger.values()
                             if i["state"] == ItemState.ALREADY_IMPORTED),
        skipped_reasons=reasons(ItemState.SKIPPED), failed_reasons=reasons(ItemState.FAILED))


# The reasons given for a post its owner trashed, or deleted for good (the plugin
# remembers its source id): deleted stays deleted, for syncs and imports alike.
IN_TRASH = "deleted in WordPress: in the trash"
DELETED = "deleted in WordPress"


def known_outcome(source_id: str, found: Json, *, finished: bool = False) -> ItemOutcome | None:
    """The outcome of a post WordPress has already, by the status its owner left it in;
    None for a draft that a crash left between "created" and "published" (the import
    finishes it). A draft some job of this sidecar ``finished`` is a draft by choice."""
    status, post_id = str(found.get("status") or ""), int(found.get("id") or 0)
    if status == "draft" and not finished:
        return None
    if status == "trash":
        return ItemOutcome(source_id, ItemState.SKIPPED, post_id, reason=IN_TRASH)
    if status == "deleted":
        return ItemOutcome(source_id, ItemState.SKIPPED, None, reason=DELETED)
    return ItemOutcome(source_id, ItemState.ALREADY_IMPORTED, post_id,
                       post_url=str(found.get("link") or "") or None)


async def settle_known_posts(ctx: JobContext, wp: WordPressClient, posts: list[Post], *,
                             route: str = POSTS_ROUTE) -> list[Post]:
    """Record the posts WordPress has already (one lookup per 100 source ids, answered
    by the plugin's index); returns the others, still to import."""
    phase = LOOKING_UP
    ctx.report(f"Looking up {len(posts)} posts in WordPress", phase=phase, done=0,
               total=len(posts))
    todo: list[Post] = []
    for first in range(0, len(posts), LOOKUP_IDS):
        chunk = posts[first:first + LOOKUP_IDS]
        found = await wp.find_posts_by_source_ids([p.source_id for p in chunk], route=route)
        # Posts deleted for good are gone from WordPress; the plugin remembers them.
        unknown = [p.source_id for p in chunk if p.source_id not in found]
        for source_id in await wp.find_deleted_source_ids(unknown) if unknown else ():
            found[source_id] = {"id": 0, "status": "deleted"}
        finished = await ctx.ledger.finished_source_ids(
            [p.source_id for p in chunk if p.source_id in found])
        outcomes = []
        for post in chunk:
            outcome = (known_outcome(post.source_id, found[post.source_id],
                                     finished=post.source_id in finished)
                       if post.source_id in found else None)
            if outcome is None:
                todo.append(post)
            else:
                outcomes.append(outcome)
        await ctx.set_items(outcomes)
        done = first + len(chunk)
        ctx.report(f"Looked up {done} of {len(posts)} posts in WordPress", phase=phase,
                   done=done)
    return todo


@dataclass
class _Outage:
    """The passing fault that outlived a request's retries (``jobs/retry.py``): WordPress
    is down, so no worker starts another wave and the job runner's attempts take over."""

    fault: str | None = None


async def import_posts(
    ctx: JobContext, wp: WordPressClient, posts: list[Post], *, total: int,
    cached: CachedByPost | None = None, route: str = POSTS_ROUTE,
) -> None:
    """Send ``posts`` (their media already cached) to WordPress; the rest of ``total``
    is finished already (imported by an earlier attempt, or its media failed).

    ``concurrency`` workers (at most that many WordPress requests at once) each take a
    wave of up to ``batch`` posts at a time; waves shrink as the queue runs low, so no
    worker idles while another still has a long wave to go.
    """
    done = total - len(posts)
    phase = IMPORTING
    ctx.report(f"Imported {done} of {total} posts", phase=phase, done=done, total=total)
    workers = int(ctx.options.get("concurrency") or ctx.config.import_concurrency)
    batch = int(ctx.options.get("batch") or ctx.config.import_batch)
    queue = list(posts)
    outage = _Outage()
    cache = MediaCache(ctx.config, ctx.backend.media, ctx.http)

    async def worker() -> None:
        nonlocal done
        while queue and outage.fault is None:
            size = wave_size(len(queue), workers, batch)
            wave, queue[:size] = queue[:size], []
            known: dict[str, ItemOutcome] = {}  # filled as the wave goes; kept if it ends early
            fault: str | None = None
            try:
                await import_wave(ctx, wp, cache, wave, cached or {}, known, route=route)
            except WordPressAuthError:
                await ctx.set_items(list(known.values()))
                raise
            except TransientError as exc:
                outage.fault = fault = exc.message
            except StorageError:
                raise  # the ledger cannot take the wave's outcomes: the runner waits, resumes
            except IgbridgeError as exc:  # the whole wave was refused (say, no plugin)
                known.update({p.source_id: ItemOutcome(p.source_id, "failed", reason=exc.message)
                              for p in wave if p.source_id not in known})
            outcomes = [known.get(p.source_id) or ItemOutcome(p.source_id, "failed", reason=fault)
                        for p in wave]
            await ctx.set_items(outcomes)
            done += len(known)  # posts cut off by a passing fault are not done: retry them
            ctx.report(f"Imported {done} of {total} posts", phase=phase, done=done,
                       details={"wp_post_ids": [o.wp_post_id for o in outcomes
                                                if o.wp_post_id is not None]})

    try:
        await run_together(worker() for _ in range(workers))
    except StorageError:
        raise  # the ledger is what failed: the runner waits for it, then resumes from it
    except Exception as exc:
        reason = exc.message if isinstance(exc, IgbridgeError) else (
            f"the import stopped: {type(exc).__name__}")
        with contextlib.suppress(Exception):  # the ledger may be what failed
            await _fail_unfinished(ctx, posts, reason)
        raise
    if outage.fault is not None:
        message = f"WordPress keeps failing: {outage.fault}"
        await _fail_unfinished(ctx, posts, message)
        raise TransientError(message)


def wave_size(remaining: int, workers: int, batch: int) -> int:
    """Up to ``batch`` posts, fewer once the queue runs low: every worker still gets a
    share of the last posts instead of one worker taking them all."""
    return max(1, min(batch, -(-remaining // workers)))


async def _fail_unfinished(ctx: JobContext, posts: list[Post], reason: str) -> None:
    """Mark what did not get through as ``failed`` so a retry picks exactly those up."""
    ledger = await ctx.items()
    await ctx.set_items([ItemOutcome(p.source_id, "failed", reason=reason) for p in posts
                         if ledger.get(p.source_id, {}).get("state") == "pending"])


async def import_wave(
    ctx: JobContext, wp: WordPressClient, cache: MediaCache, wave: list[Post],
    cached: CachedByPost, outcomes: dict[str, ItemOutcome], *, route: str = POSTS_ROUTE,
) -> None:
    """Import ``wave`` with few requests: one lookup and one batch of drafts for all its
    posts, each post's media, then one batch that publishes them. Each post's outcome
    goes into ``outcomes`` as soon as it is known.

    Every post of the wave is locked (in a fixed order, so two overlapping jobs never
    wait on each other in a circle) from its lookup to its publish: in this process,
    and with an engine several processes share, in all of them (``post_locks``: held
    past the create's answer too, so no other process finishes this wave's drafts
    while it uploads their media). A passing fault or
    a refused password ends the wave (raised; the posts without an outcome are the
    caller's to settle); a post WordPress refuses alone fails alone.
    """
    async with AsyncExitStack() as locks:
        for source_id in sorted({p.source_id for p in wave}):
            await locks.enter_async_context(keyed_lock(_post_locks, source_id))
        if ctx.backend.post_locks is not None:
            await locks.enter_async_context(
                ctx.backend.post_locks.hold(ctx.config.wp_url, [p.source_id for p in wave]))
        existing = await wp.find_posts_by_source_ids([p.source_id for p in wave], route=route)
        tags: dict[str, list[int]] = {}
        for post in wave:
            found = existing.get(post.source_id)
            known = known_outcome(post.source_id, found) if found is not None else None
            if known is not None:  # made meanwhile by another job, or trashed
                outcomes[post.source_id] = known
                continue
            try:
                tags[post.source_id] = [await wp.ensure_tag(t)
                                        for t in mapping_of(ctx).tags_of(post)[:50]]
            except JOB_LEVEL_FAULTS:
                raise
            except IgbridgeError as exc:
                outcomes[post.source_id] = ItemOutcome(post.source_id, "failed", reason=exc.message)
        todo = [p for p in wave if p.source_id in tags]
        # A draft left by a crash between create and publish is finished, not made again.
        post_ids = {p.source_id: int(existing[p.source_id]["id"]) for p in todo
                    if p.source_id in existing}
        drafts = [p for p in todo if p.source_id not in existing]
        # The titles as WordPress stored them (it may filter what it is sent), for their
        # hash; a draft left by a crash keeps the title it was sent.
        titles = {p.source_id: mapping_of(ctx).stored_title(p) for p in todo}
        if drafts:
            answers = await wp.create_posts(
                [_draft_fields(p, tags[p.source_id], mapping_of(ctx)) for p in drafts],
                answer="id,title", route=route)
            for post, answer in _settle(drafts, answers, outcomes):
                # The plugin names the post that won a race for this source id; one its
                # owner published or trashed is not this job's to finish.
                known = known_outcome(post.source_id, answer) if "status" in answer else None
                if known is not None:
                    outcomes[post.source_id] = known
                else:
                    post_ids[post.source_id] = int(answer["id"])
                    titles[post.source_id] = stored_title_of(answer, titles[post.source_id])
        publish: list[tuple[Post, int, dict[str, Any]]] = []
        thumbnails: dict[str, str | None] = {}
        for post in todo:
            post_id = post_ids.get(post.source_id)
            if post_id is None:
                continue
            try:
                uploaded = [await upload_once(ctx, wp, cache, post, media, index, post_id,
                                              cached.get((post.source_id, index)))
                            for index, media in enumerate(post.media)]
            except JOB_LEVEL_FAULTS:
                raise
            except IgbridgeError as exc:
                outcomes[post.source_id] = ItemOutcome(post.source_id, "failed", reason=exc.message)
                continue
            fields = _final_fields(ctx, post, uploaded, tags[post.source_id],
                                   titles[post.source_id])
            thumbnails[post.source_id] = next(
                (m.url for m in uploaded if m.kind == "image" and m.url), None)
            publish.append((post, post_id, fields))
        if publish:
            answers = await wp.update_posts([(pid, f) for _p, pid, f in publish],
                                            answer="id,link", route=route)
            published = _settle([p for p, _pid, _f in publish], answers, outcomes)
            for post, answer in published:
                # Imported, and said so in words when a file was left out or converted.
                outcomes[post.source_id] = ItemOutcome(
                    post.source_id, "imported", post_ids[post.source_id],
                    reason="; ".join(post.notes) or None,
                    detail={"title": post.title, "media": len(post.media),
                            "notes": list(post.notes)},
                    post_url=str(answer.get("link") or "") or None,
                    thumbnail_url=thumbnails.get(post.source_id))


def _settle(posts: list[Post], answers: list[Answer],
            outcomes: dict[str, ItemOutcome]) -> list[tuple[Post, Json]]:
    """The posts WordPress accepted, with its answers; a refused post is recorded failed.
    A refused password or missing rights end the import, once every answer is noted."""
    accepted, stop = [], None
    for post, answer in zip(posts, answers, strict=True):
        if isinstance(answer, IgbridgeError):
            outcomes[post.source_id] = ItemOutcome(post.source_id, "failed",
                                                   reason=answer.message)
            if isinstance(answer, WordPressAuthError) and stop is None:
                stop = answer
        else:
            accepted.append((post, answer))
    if stop is not None:
        raise stop
    return accepted


def mapping_of(ctx: JobContext) -> Mapping:
    """The saved source's mapping the job carries (``options.mapping``); today's rules
    without one."""
    return Mapping.from_json(ctx.options.get("mapping"))


def _draft_fields(post: Post, tag_ids: list[int], mapping: Mapping) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "status": "draft",
        "title": mapping.stored_title(post),
        "date_gmt": post.taken_at.strftime("%Y-%m-%dT%H:%M:%S"),
        "tags": tag_ids,
        "meta": {SOURCE_ID_META: post.source_id, PERMALINK_META: post.permalink or "",
                 **geo_meta(post)},
    }
    if mapping.category_ids:
        fields["categories"] = list(mapping.category_ids)
    if mapping.author_id is not None:
        fields["author"] = mapping.author_id
    return fields


def geo_meta(post: Post) -> dict[str, Any]:
    """WordPress's Geodata keys for where the post was taken (the plugin registers them):
    the place's name and its coordinates, each only where the source has it."""
    meta: dict[str, Any] = {}
    if post.location:
        meta["geo_address"] = post.location
    if post.latitude is not None and post.longitude is not None:
        meta["geo_latitude"], meta["geo_longitude"] = post.latitude, post.longitude
    if meta:
        meta["geo_public"] = 1
    return meta


def _final_fields(ctx: JobContext, post: Post, uploaded: list[UploadedMedia],
                  tag_ids: list[int], title: str) -> dict[str, Any]:
    """Content, tags and featured image; the mapping's status (published by default)
    unless the job says not to publish. ``title`` is the draft's, as stored."""
    mapping = mapping_of(ctx)
    rendered = mapping.render(post, uploaded)
    fields: dict[str, Any] = {"content": rendered.content, "tags": tag_ids,
                              "meta": imported_hashes(post, rendered.content, title)}
    if rendered.featured is not None:
        fields["featured_media"] = rendered.featured.wp_id
    if ctx.options.get("publish", True) and mapping.status != "draft":
        fields["status"] = mapping.status
    return fields


def imported_hashes(post: Post, content: str, title: str | None = None) -> dict[str, str]:
    """The post meta that tells repair what the import wrote (the title's only when it
    wrote one)."""
    hashes = {CONTENT_HASH_META: content_hash(content),
              CAPTION_HASH_META: content_hash(post.caption)}
    if title is not None:
        hashes[TITLE_HASH_META] = content_hash(title)
    return hashes


def stored_title_of(answer: Json, sent: str) -> str:
    """The title WordPress stored, from its answer to a write (``title.raw``, which a user
    without ``unfiltered_html`` finds filtered: "&" becomes "&amp;"), else what was sent."""
    title = answer.get("title")
    raw = title.get("raw") if isinstance(title, dict) else None
    return raw if isinstance(raw, str) else sent


async def upload_once(
    ctx: JobContext, wp: WordPressClient, cache: MediaCache, post: Post, media: Media,
    index: int, post_id: int, cached: CachedMedia | None = None, name_suffix: str = "",
) -> UploadedMedia:
    """Upload a media file unless this site already has it (same bytes, same hash).
    ``cached`` is the file stage 1 put in the cache, when it is known; ``name_suffix``
    goes at the end of the file's name (before its extension)."""
    if cached is None or not await asyncio.to_thread(cached.path.exists):
        cached = await fetch_media(ctx, cache, post, media)
    alt = media.alt or post.alt or ""
    site = ctx.config.wp_url
    async with keyed_lock(_media_locks, cached.sha256):
        known = await ctx.backend.media.uploaded(site, cached.sha256)
        # What the file is comes from its bytes (sniffed into the cache), never from
        # its name or the source's word for it.
        if known is not None:
            return UploadedMedia(cached.kind, known[0], known[1], alt)
        # A photo is read whole (in a worker thread: no file I/O on the event loop); a
        # video is not read whole at all but streamed from the cache file.
        data = (await asyncio.to_thread(cached.path.read_bytes)
                if cached.size <= INLINE_READ_BYTES else cached.path)
        stem = post.short_code or post.source_id.replace(":", "-")[:32]
        # WordPress strips tags from alt text (sanitize_text_field): escaped, an alt
        # text that looks like HTML is kept as the text it is, as captions are. Alt
        # text, parent and igbridge's tag ride on the upload itself: one request per
        # file, not two.
        uploaded = await wp.upload_media(
            data, filename=f"{stem}-{index + 1}{name_suffix}.{cached.extension}",
            content_type=cached.content_type, alt_text=html.escape(alt, quote=False),
            parent=post_id, meta={MEDIA_OF_META: post.source_id}, answer="id,source_url",
        )
        wp_id, url = int(uploaded["id"]), str(uploaded.get("source_url") or "")
        await ctx.backend.media.record_uploaded(site, cached.sha256, wp_id, url)
        return UploadedMedia(cached.kind, wp_id, url, alt)
