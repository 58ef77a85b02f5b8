"""The import pipeline: source → posts → media → WordPress, idempotent per Instagram post.

Two stages, each with honest N/M progress: first every post's media is fetched
into the content-addressed cache (CDN links expire; a scrape job stops here),
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
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import store as db
from .domain.outcomes import ImportTally, import_message
from .errors import (
    IgbridgeError,
    MediaError,
    SourceError,
    TransientError,
    WordPressAuthError,
    WordPressError,
)
from .jobs import ItemOutcome, JobContext, backoff_delay
from .media import CachedMedia, MediaCache
from .models import MENTION_PATTERN, Media, Post, Skipped
from .sources import apify as apify_source
from .sources.export_zip import iter_members, read_export
from .timing import waiting_on
from .wordpress import LOOKUP_IDS, SOURCE_ID_META, Answer, Json, WordPressClient

PERMALINK_META = "_igbridge_permalink"
# After this many waves in a row fail with a passing fault, WordPress is down: stop
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
    cached_media, _failed = await download_media(ctx, posts, mark_done=True)
    cached = len(cached_media)
    failed = sum(1 for i in (await ctx.items()).values() if i["state"] == "failed")
    if posts and failed == len(posts):
        raise MediaError(f"no media of the {len(posts)} post(s) could be downloaded")
    return (f"Fetched {len(posts)} post(s), {cached} media file(s) cached"
            + scrape_tail(skipped, failed))


async def run_import(ctx: JobContext) -> str:
    posts, skipped = await fetch_source(ctx)
    await ctx.add_items([p.source_id for p in posts])
    await record_skipped(ctx, posts, skipped)
    ledger = await ctx.items()
    # The ledger first: what an earlier attempt of this job finished is done.
    todo = [p for p in posts if ledger[p.source_id]["state"] in ("pending", "failed")]
    if todo:
        async with WordPressClient.from_config(ctx.config) as wp:
            # Then WordPress, before any media is read: a rerun of an export that is
            # all imported already reads none of its files.
            todo = await settle_known_posts(ctx, wp, todo)
            if todo:
                cached, media_failed = await download_media(ctx, todo, mark_done=False)
                await import_posts(ctx, wp, [p for p in todo if p.source_id not in media_failed],
                                   total=len(posts), cached=cached)
    tally = import_tally(await ctx.items())
    if posts and tally.failed == len(posts):
        raise WordPressError(f"every post failed to import; first error: "
                             f"{tally.failed_reasons[0]}")
    return import_message(tally)


def import_tally(ledger: dict[str, dict[str, Any]]) -> ImportTally:
    """The job's ledger as counts and reasons (skipped items included: they are posts
    of the source too)."""
    def reasons(state: str) -> list[str]:
        return [i["reason"] or "" for i in ledger.values() if i["state"] == state]

    return ImportTally(
        imported=sum(1 for i in ledger.values() if i["state"] == "imported"),
        already_imported=sum(1 for i in ledger.values() if i["state"] == "already_imported"),
        skipped_reasons=reasons("skipped"), failed_reasons=reasons("failed"))


# What a post already in WordPress becomes, by the status its owner left it in.
IN_TRASH = ("in the trash in WordPress: restore it there, or delete it for good to import "
            "it again")


def known_outcome(source_id: str, found: Json) -> ItemOutcome | None:
    """The outcome of a post WordPress has already; None for a draft, which a crash left
    between "created" and "published": the import finishes it."""
    status, post_id = str(found.get("status") or ""), int(found["id"])
    if status == "draft":
        return None
    if status == "trash":
        return ItemOutcome(source_id, "skipped", post_id, reason=IN_TRASH)
    return ItemOutcome(source_id, "already_imported", post_id)


async def settle_known_posts(ctx: JobContext, wp: WordPressClient, posts: list[Post]) -> list[Post]:
    """Record the posts WordPress has already (one lookup per 100 source ids, through the
    plugin's index); returns the others, still to import."""
    phase = "Looking up posts in WordPress"
    ctx.report(f"Looking up {len(posts)} posts in WordPress", phase=phase, done=0,
               total=len(posts))
    todo: list[Post] = []
    for first in range(0, len(posts), LOOKUP_IDS):
        chunk = posts[first:first + LOOKUP_IDS]
        found = await wp.find_posts_by_source_ids([p.source_id for p in chunk])
        outcomes = []
        for post in chunk:
            outcome = (known_outcome(post.source_id, found[post.source_id])
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


def scrape_tail(skipped: list[Skipped], failed: int) -> str:
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

        with waiting_on("apify"):  # a run of the scraper on Apify's machines
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


# Posts whose media are copied out of an export in one worker-thread trip: the ZIP is
# opened once for them, and the event loop is woken once instead of once a file.
EXPORT_CHUNK = 10

INLINE_READ_BYTES = 1 << 20

# What stage 1 cached, for stage 2: (source id, media index) → the cached file.
CachedByPost = dict[tuple[str, int], CachedMedia]


async def download_media(
    ctx: JobContext, posts: list[Post], *, mark_done: bool
) -> tuple[CachedByPost, set[str]]:
    """Fetch every media of ``posts`` into the cache; a post whose media fail is ``failed``.

    Returns the cached files and the source ids of the posts whose media could not all be
    fetched in this pass. With ``mark_done`` (scrape jobs) a post whose media all
    arrived is recorded as done.
    """
    cache = MediaCache(ctx.config, ctx.store, ctx.http)
    total = sum(len(p.media) for p in posts)
    done = 0
    phase = "Downloading media"
    ctx.report(f"Downloading media 0/{total}", phase=phase, done=0, total=total)
    slots = asyncio.Semaphore(ctx.config.download_concurrency)
    cached: CachedByPost = {}
    failed: set[str] = set()

    async def settle(group: list[tuple[Post, list[CachedMedia | MediaError]]]) -> None:
        """Record a group of posts whose media are all fetched or failed."""
        nonlocal done
        outcomes = []
        for post, results in group:
            errors = [(i, r) for i, r in enumerate(results) if isinstance(r, MediaError)]
            if errors:
                index, error = errors[0]
                failed.add(post.source_id)
                outcomes.append(ItemOutcome(post.source_id, "failed",
                                            reason=f"media {index + 1}: {error.message}"))
            else:
                cached.update({(post.source_id, i): r for i, r in enumerate(results)
                               if isinstance(r, CachedMedia)})
                if mark_done:
                    outcomes.append(ItemOutcome(post.source_id, "imported", detail={
                        "media": len(post.media), "title": post.title}))
        await ctx.set_items(outcomes)
        done += sum(len(post.media) for post, _results in group)
        ctx.report(f"Downloading media {done}/{total}", phase=phase, done=done)

    async def from_export(group: list[Post]) -> None:
        async with slots:
            results = await copy_from_export(ctx, cache, group)
        await settle(list(zip(group, results, strict=True)))

    async def from_urls(post: Post) -> None:
        results: list[CachedMedia | MediaError] = []
        for media in post.media:
            try:
                async with slots:
                    results.append(await fetch_media(ctx, cache, post, media))
            except MediaError as exc:
                results.append(exc)
                break  # the post has failed; its other media are not needed
        results += [MediaError("not fetched")] * (len(post.media) - len(results))
        await settle([(post, results)])

    in_export: list[Post] = []
    elsewhere: list[Post] = []
    for post in posts:
        fits = post.zip_path and all(m.zip_member for m in post.media)
        (in_export if fits else elsewhere).append(post)
    await run_together([
        *(from_export(in_export[i:i + EXPORT_CHUNK])
          for i in range(0, len(in_export), EXPORT_CHUNK)),
        *(from_urls(p) for p in elsewhere)])
    return cached, failed


async def copy_from_export(
    ctx: JobContext, cache: MediaCache, posts: list[Post]
) -> list[list[CachedMedia | MediaError]]:
    """Copy the media of ``posts`` into the cache in one worker-thread trip, opening each
    export once and holding one file in memory at a time; one answer per media of each
    post."""
    def work() -> list[list[CachedMedia | MediaError]]:
        answers: list[list[CachedMedia | MediaError]] = [[] for _post in posts]
        by_zip: dict[str, list[int]] = {}
        for index, post in enumerate(posts):
            by_zip.setdefault(post.zip_path or "", []).append(index)
        for zip_path, indexes in by_zip.items():
            wanted = [(i, m.zip_member or "") for i in indexes for m in posts[i].media]
            found = iter_members(zip_path, [member for _i, member in wanted],
                                 ctx.config.media_max_bytes)
            for (index, member), data in zip(wanted, found, strict=True):
                try:
                    answers[index].append(data if isinstance(data, MediaError)
                                          else cache.keep(data, label=member))
                except MediaError as exc:
                    answers[index].append(exc)
        return answers

    answers = await asyncio.to_thread(work)
    await cache.record([(m, f"zip:{media.zip_member}")
                        for post, kept in zip(posts, answers, strict=True)
                        for media, m in zip(post.media, kept, strict=True)
                        if isinstance(m, CachedMedia)])
    return answers


async def fetch_media(
    ctx: JobContext, cache: MediaCache, post: Post, media: Media
) -> CachedMedia:
    """One media into the cache, from a URL (with retries) or from inside the export."""
    if media.zip_member:
        if not post.zip_path:
            raise MediaError(f"{media.zip_member}: the post does not say which export it is in")
        [answer] = await copy_from_export(ctx, cache, [replace(post, media=(media,))])
        if isinstance(answer[0], MediaError):
            raise answer[0]
        return answer[0]
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
    ctx: JobContext, wp: WordPressClient, posts: list[Post], *, total: int,
    cached: CachedByPost | None = None,
) -> None:
    """Send ``posts`` (their media already cached) to WordPress; the rest of ``total``
    is finished already (imported by an earlier attempt, or its media failed).

    ``concurrency`` workers (at most that many WordPress requests at once) each take a
    wave of up to ``batch`` posts at a time; waves shrink as the queue runs low, so no
    worker idles while another still has a long wave to go.
    """
    done = total - len(posts)
    phase = "Importing into WordPress"
    ctx.report(f"Imported {done} of {total} posts", phase=phase, done=done, total=total)
    workers = int(ctx.options.get("concurrency") or ctx.config.import_concurrency)
    batch = int(ctx.options.get("batch") or ctx.config.import_batch)
    queue = list(posts)
    faults = _Faults()
    cache = MediaCache(ctx.config, ctx.store, ctx.http)

    async def worker() -> None:
        nonlocal done
        while queue and faults.consecutive < CONSECUTIVE_FAULTS_TO_PAUSE:
            size = wave_size(len(queue), workers, batch)
            wave, queue[:size] = queue[:size], []
            known: dict[str, ItemOutcome] = {}  # filled as the wave goes; kept if it ends early
            fault: str | None = None
            try:
                await import_wave(ctx, wp, cache, wave, cached or {}, known)
            except WordPressAuthError:
                await ctx.set_items(list(known.values()))
                raise
            except TransientError as exc:
                faults.consecutive += 1
                faults.last = fault = exc.message
            except IgbridgeError as exc:  # the whole wave was refused (say, no plugin)
                known.update({p.source_id: ItemOutcome(p.source_id, "failed", reason=exc.message)
                              for p in wave if p.source_id not in known})
            outcomes = [known.get(p.source_id) or ItemOutcome(p.source_id, "failed", reason=fault)
                        for p in wave]
            if fault is None and any(o.state != "failed" for o in outcomes):
                faults.consecutive = 0
            await ctx.set_items(outcomes)
            done += len(known)  # posts cut off by a passing fault are not done: retry them
            ctx.report(f"Imported {done} of {total} posts", phase=phase, done=done,
                       details={"wp_post_ids": [o.wp_post_id for o in outcomes
                                                if o.wp_post_id is not None]})

    try:
        await run_together(worker() for _ in range(workers))
    except Exception as exc:
        reason = exc.message if isinstance(exc, IgbridgeError) else (
            f"the import stopped: {type(exc).__name__}")
        with contextlib.suppress(Exception):  # the ledger may be what failed
            await _fail_unfinished(ctx, posts, reason)
        raise
    if faults.consecutive >= CONSECUTIVE_FAULTS_TO_PAUSE:
        message = f"WordPress keeps failing: {faults.last}"
        await _fail_unfinished(ctx, posts, message)
        raise TransientError(message)


def wave_size(remaining: int, workers: int, batch: int) -> int:
    """Up to ``batch`` posts, fewer once the queue runs low: every worker still gets a
    share of the last posts instead of one worker taking them all."""
    return max(1, min(batch, -(-remaining // workers)))


async def run_together(coroutines: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run ``coroutines`` as tasks that stand or fall together: the first failure cancels
    the others and is raised as itself (a refused password before anything else)."""
    try:
        async with asyncio.TaskGroup() as group:
            for coroutine in coroutines:
                group.create_task(coroutine)
    except BaseExceptionGroup as failed:
        errors = list(failed.exceptions)
        raise next((e for e in errors if isinstance(e, WordPressAuthError)), errors[0]) from None


async def _fail_unfinished(ctx: JobContext, posts: list[Post], reason: str) -> None:
    """Mark what did not get through as ``failed`` so a retry picks exactly those up."""
    ledger = await ctx.items()
    await ctx.set_items([ItemOutcome(p.source_id, "failed", reason=reason) for p in posts
                         if ledger.get(p.source_id, {}).get("state") == "pending"])


async def import_wave(
    ctx: JobContext, wp: WordPressClient, cache: MediaCache, wave: list[Post],
    cached: CachedByPost, outcomes: dict[str, ItemOutcome],
) -> None:
    """Import ``wave`` with few requests: one lookup and one batch of drafts for all its
    posts, each post's media, then one batch that publishes them. Each post's outcome
    goes into ``outcomes`` as soon as it is known.

    Every post of the wave is locked (in a fixed order, so two overlapping jobs never
    wait on each other in a circle) from its lookup to its publish. A passing fault or
    a refused password ends the wave (raised; the posts without an outcome are the
    caller's to settle); a post WordPress refuses alone fails alone.
    """
    async with AsyncExitStack() as locks:
        for source_id in sorted({p.source_id for p in wave}):
            await locks.enter_async_context(_locked(_post_locks, source_id))
        existing = await wp.find_posts_by_source_ids([p.source_id for p in wave])
        tags: dict[str, list[int]] = {}
        for post in wave:
            found = existing.get(post.source_id)
            known = known_outcome(post.source_id, found) if found is not None else None
            if known is not None:  # made meanwhile by another job, or trashed
                outcomes[post.source_id] = known
                continue
            try:
                tags[post.source_id] = [await wp.ensure_tag(t) for t in post.hashtags[:50]]
            except (TransientError, WordPressAuthError):
                raise
            except IgbridgeError as exc:
                outcomes[post.source_id] = ItemOutcome(post.source_id, "failed", reason=exc.message)
        todo = [p for p in wave if p.source_id in tags and p.source_id not in outcomes]
        # A draft left by a crash between create and publish is finished, not made again.
        post_ids = {p.source_id: int(existing[p.source_id]["id"]) for p in todo
                    if p.source_id in existing}
        drafts = [p for p in todo if p.source_id not in existing]
        if drafts:
            answers = await wp.create_posts(
                [_draft_fields(p, tags[p.source_id]) for p in drafts], answer="id")
            for post, answer in _settle(drafts, answers, outcomes):
                # The plugin names the post that won a race for this source id; one its
                # owner published or trashed is not ours to finish.
                known = known_outcome(post.source_id, answer) if "status" in answer else None
                if known is not None:
                    outcomes[post.source_id] = known
                else:
                    post_ids[post.source_id] = int(answer["id"])
        publish: list[tuple[Post, int, dict[str, Any]]] = []
        for post in todo:
            post_id = post_ids.get(post.source_id)
            if post_id is None:
                continue
            try:
                uploaded = [await upload_once(ctx, wp, cache, post, media, index, post_id,
                                              cached.get((post.source_id, index)))
                            for index, media in enumerate(post.media)]
            except (TransientError, WordPressAuthError):
                raise
            except IgbridgeError as exc:
                outcomes[post.source_id] = ItemOutcome(post.source_id, "failed", reason=exc.message)
                continue
            fields = _final_fields(ctx, post, uploaded, tags[post.source_id])
            publish.append((post, post_id, fields))
        if publish:
            answers = await wp.update_posts([(pid, f) for _p, pid, f in publish], answer="id")
            published = _settle([p for p, _pid, _f in publish], answers, outcomes)
            for post, _answer in published:
                outcomes[post.source_id] = ItemOutcome(
                    post.source_id, "imported", post_ids[post.source_id],
                    detail={"title": post.title})


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


def _draft_fields(post: Post, tag_ids: list[int]) -> dict[str, Any]:
    return {
        "status": "draft",
        "title": title_text(post.title),
        "date_gmt": post.taken_at.strftime("%Y-%m-%dT%H:%M:%S"),
        "tags": tag_ids,
        "meta": {SOURCE_ID_META: post.source_id, PERMALINK_META: post.permalink or "",
                 **geodata(post)},
    }


def title_text(title: str) -> str:
    """The title as WordPress should store it: the text itself, which WordPress escapes
    when it shows it ("&" stays "&", not "&amp;"). Only "<" and ">" are escaped: themes
    print titles as HTML, and a caption's "<script>" must stay text."""
    return title.replace("<", "&lt;").replace(">", "&gt;")


def geodata(post: Post) -> dict[str, str]:
    """WordPress's Geodata meta for the post's place: the name where there is one, the
    coordinates where the source has them (the plugin registers these keys)."""
    if not post.location and post.latitude is None:
        return {}
    meta = {"geo_address": post.location or "", "geo_public": "1"}
    if post.latitude is not None and post.longitude is not None:
        meta.update(geo_latitude=f"{post.latitude:.6f}", geo_longitude=f"{post.longitude:.6f}")
    return meta


def _final_fields(ctx: JobContext, post: Post, uploaded: list[UploadedMedia],
                  tag_ids: list[int]) -> dict[str, Any]:
    """Content, tags and featured image; published unless the job says otherwise."""
    fields: dict[str, Any] = {"content": render_content(post, uploaded), "tags": tag_ids}
    featured = next((m.wp_id for m in uploaded if m.kind == "image"), None)
    if featured is not None:
        fields["featured_media"] = featured
    if ctx.options.get("publish", True):
        fields["status"] = "publish"
    return fields


@dataclass(frozen=True)
class UploadedMedia:
    kind: str
    wp_id: int
    url: str
    alt: str


async def upload_once(
    ctx: JobContext, wp: WordPressClient, cache: MediaCache, post: Post, media: Media,
    index: int, post_id: int, cached: CachedMedia | None = None,
) -> UploadedMedia:
    """Upload a media file unless this site already has it (same bytes, same hash).
    ``cached`` is the file stage 1 put in the cache, when it is known."""
    if cached is None or not cached.path.exists():
        cached = await fetch_media(ctx, cache, post, media)
    alt = media.alt or post.alt or ""
    site = ctx.config.wp_url
    async with _locked(_media_locks, cached.sha256):
        known = await db.fetch_wp_media(ctx.store.reader, site, cached.sha256)
        if known is not None:
            return UploadedMedia(media.kind, known[0], known[1], alt)
        # A photo is read faster than a worker thread is woken; a video is not.
        data = (cached.path.read_bytes() if cached.size <= INLINE_READ_BYTES
                else await asyncio.to_thread(cached.path.read_bytes))
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
    place = _place(post)
    if place:
        blocks.append(_paragraph("📍 " + place))
    if post.permalink:
        link = html.escape(post.permalink, quote=True)
        blocks.append(_paragraph(f'<a href="{link}">View on Instagram</a>'))
    return "\n\n".join(blocks)


def _place(post: Post) -> str:
    """The place as HTML: its name, linked to a map where the coordinates are known."""
    if post.latitude is None or post.longitude is None:
        return html.escape(post.location or "", quote=False)
    name = post.location or f"{post.latitude:.5f}, {post.longitude:.5f}"
    link = (f"https://www.openstreetmap.org/?mlat={post.latitude:.6f}&mlon={post.longitude:.6f}"
            "#map=16")
    return f'<a href="{html.escape(link, quote=True)}">{html.escape(name, quote=False)}</a>'


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
