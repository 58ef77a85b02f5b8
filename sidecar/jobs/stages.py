"""The stages the post kinds share (scrape, import): reading the source once per job,
then fetching every post's media into the content-addressed cache.

CDN links expire, so media are fetched first; a scrape job stops after this.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from ..config import Config
from ..domain.mapping import Mapping
from ..domain.models import Media, Post, Skipped
from ..errors import MediaError, SourceError, TransientError
from ..media.cache import CachedMedia, MediaCache
from ..progress.phases import UNCOUNTED, PhasePlan
from ..sources.export_zip import REELS_EXCLUDED, copy_members
from ..sources.registry import open_source
from .concurrency import run_together
from .context import ItemOutcome, JobContext, NewItem
from .retry import request_policy
from .uploaded import readable_source

# The phases of a scrape or import, in order (their names are what the sources and
# stages report), with a first guess of each one's cost in seconds per unit, measured
# on the local stack (bench/eta.py); each phase measures its own cost as it runs.
READING_EXPORT = "Reading export"
SCRAPING = "Scraping via Apify"
LOOKING_UP = "Looking up posts in WordPress"  # what it has already, before any media
DOWNLOADING = "Downloading media"
IMPORTING = "Importing into WordPress"
PHASE_GUESSES = {
    READING_EXPORT: (UNCOUNTED, 1.0),
    SCRAPING: (UNCOUNTED, 60.0),
    LOOKING_UP: ("posts", 0.001),  # one request answers 100
    DOWNLOADING: ("files", 0.005),  # copied out of the export
    IMPORTING: ("posts", 0.03),
}
CDN_DOWNLOAD_GUESS = 0.1  # seconds for one file from Instagram's CDN


def plan_phases(ctx: JobContext, *, to_wordpress: bool, posts: list[Post] | None = None,
                media: int = 0) -> None:
    """Declare the job's phases with what is known of their size so far."""
    first = READING_EXPORT if ctx.source.get("type") == "export" else SCRAPING
    count = float(len(posts or []))
    totals = {first: 1.0, LOOKING_UP: count, DOWNLOADING: float(media), IMPORTING: count}
    plans = []
    phases = [first, LOOKING_UP, DOWNLOADING, IMPORTING] if to_wordpress else [first, DOWNLOADING]
    for name in phases:
        unit, cost = PHASE_GUESSES[name]
        if name == DOWNLOADING and first == SCRAPING:
            cost = CDN_DOWNLOAD_GUESS
        plans.append(PhasePlan(name, unit, cost, totals[name]))
    ctx.plan(plans)


def new_items(posts: list[Post]) -> list[NewItem]:
    """The ledger's first word on each post: its caption's start and its date."""
    return [NewItem(p.source_id, caption_excerpt(p.caption), p.taken_at.isoformat())
            for p in posts]


def caption_excerpt(caption: str, limit: int = 80) -> str | None:
    """The caption's first words on one line, cut at a word."""
    words = " ".join(caption.split())
    if len(words) <= limit:
        return words or None
    head = words[:limit]
    cut = head.rsplit(" ", 1)[0] if " " in head else head
    return cut.rstrip(" ,.;:") + "…"


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


def summary_tail(skipped: list[Skipped], failed: int) -> str:
    """The end of a job's closing message: what was skipped and why, what failed."""
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


# -- the source ---------------------------------------------------------------------


async def source_config(ctx: JobContext) -> Config:
    """The config a source reads with: the Apify token as it is now (an admin may have
    set it from wp-admin since the sidecar started; APIFY_TOKEN wins)."""
    if ctx.apify_token is None:
        return ctx.config
    return ctx.config.with_overrides(apify_token=await ctx.apify_token.current())


async def fetch_source(ctx: JobContext) -> tuple[list[Post], list[Skipped]]:
    """Posts and skipped items; kept in the job's state so a resumed job does not refetch."""
    if "posts" in ctx.state:
        posts = [Post.from_json(p) for p in ctx.state["posts"]]
        skipped = [Skipped(**s) for s in ctx.state.get("skipped", [])]
    else:
        posts, skipped = await open_source(await readable_source(ctx),
                                           await source_config(ctx)).read(ctx)
        await ctx.save_state(posts=[p.to_json() for p in posts],
                             skipped=[s.to_json() for s in skipped])
    only = ctx.options.get("only")
    if only:
        wanted = set(only)
        posts = [p for p in posts if p.source_id in wanted]
        skipped = []
    # The job's own option, or the saved source's mapping a sync or import carries.
    if (ctx.options.get("include_reels") is False
            or not Mapping.from_json(ctx.options.get("mapping")).include_reels):
        skipped = skipped + [Skipped(p.source_id, REELS_EXCLUDED) for p in posts if p.is_reel]
        posts = [p for p in posts if not p.is_reel]
    if not posts:
        if skipped:
            reasons = "; ".join(sorted({s.reason for s in skipped})[:3])
            raise SourceError(f"nothing to import: all {len(skipped)} item(s) were skipped "
                              f"({reasons})")
        raise SourceError("the source has no posts to import")
    return posts, skipped


# -- media ---------------------------------------------------------------------------


# Posts whose media are copied out of an export in one worker-thread trip: the ZIP is
# opened once for them, and the event loop is woken once instead of once a file.
EXPORT_CHUNK = 10

# What stage 1 cached, for stage 2: (source id, media index) → the cached file.
CachedByPost = dict[tuple[str, int], CachedMedia]


@dataclass(frozen=True)
class FetchedMedia:
    """What stage 1 leaves for stage 2."""

    cached: CachedByPost
    # Posts none of whose media could be had: recorded failed, named by their files.
    failed: set[str]
    # Each post that goes on, as it goes on: without the media that could not be had,
    # with ``notes`` saying which (and which photos were converted); indexes in
    # ``cached`` are those of these posts' media.
    ready: dict[str, Post]


async def download_media(
    ctx: JobContext, posts: list[Post], *, mark_done: bool
) -> FetchedMedia:
    """Fetch every media of ``posts`` into the cache. A post goes on with the media that
    could be had; one with none is ``failed`` (a retry tries it again). With
    ``mark_done`` (scrape jobs) a post that goes on is recorded as done.
    """
    cache = MediaCache(ctx.config, ctx.backend.media, ctx.http)
    total = sum(len(p.media) for p in posts)
    done = 0
    phase = DOWNLOADING
    ctx.report(f"Downloading media 0/{total}", phase=phase, done=0, total=total)
    slots = asyncio.Semaphore(ctx.config.download_concurrency)
    fetched = FetchedMedia({}, set(), {})

    async def settle(group: list[tuple[Post, list[CachedMedia | MediaError]]]) -> None:
        """Record a group of posts whose media are all fetched or failed."""
        nonlocal done
        outcomes = []
        for post, results in group:
            kept = [(m, r) for m, r in zip(post.media, results, strict=True)
                    if isinstance(r, CachedMedia)]
            lost = [(i, r) for i, r in enumerate(results) if isinstance(r, MediaError)]
            if not kept:
                fetched.failed.add(post.source_id)
                outcomes.append(ItemOutcome(post.source_id, "failed",
                                            reason=no_media_reason(post, lost)))
                continue
            ready = replace(post, media=tuple(m for m, _r in kept),
                            notes=post.notes + media_notes(post, results))
            fetched.ready[post.source_id] = ready
            fetched.cached.update({(post.source_id, i): r for i, (_m, r) in enumerate(kept)})
            if mark_done:
                outcomes.append(ItemOutcome(
                    post.source_id, "imported", reason="; ".join(ready.notes) or None,
                    detail={"media": len(ready.media), "title": post.title}))
        await ctx.set_items(outcomes)
        done += sum(len(post.media) for post, _results in group)
        ctx.report(f"Downloading media {done}/{total}", phase=phase, done=done)

    async def from_export(group: list[Post]) -> None:
        async with slots:
            results = await copy_from_export(ctx, cache, group)
        await settle(list(zip(group, results, strict=True)))

    async def from_urls(post: Post) -> None:
        results: list[CachedMedia | MediaError] = []
        for media in post.media:  # one lost file costs that file, not the post's others
            try:
                async with slots:
                    results.append(await fetch_media(ctx, cache, post, media))
            except MediaError as exc:
                results.append(exc)
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
    return fetched


def media_label(post: Post, index: int) -> str:
    """How a post's outcome names one of its media (the error names the file)."""
    return f"media {index + 1} of {len(post.media)}" if len(post.media) > 1 else "its media"


def no_media_reason(post: Post, lost: list[tuple[int, MediaError]]) -> str:
    if len(post.media) == 1:
        return f"its media could not be read: {lost[0][1].message}"
    return (f"none of its {len(post.media)} media could be read: "
            + "; ".join(error.message for _i, error in lost))


def media_notes(post: Post, results: list[CachedMedia | MediaError]) -> tuple[str, ...]:
    """What the site owner should hear about a post that goes on: files left out, HEIC
    photos converted."""
    notes = []
    for index, result in enumerate(results):
        if isinstance(result, MediaError):
            notes.append(f"imported without {media_label(post, index)}: {result.message}")
        elif result.converted_from:
            notes.append(f"photo {index + 1} converted from {result.converted_from} to JPEG "
                         "so every browser shows it")
    return tuple(notes)


async def copy_from_export(
    ctx: JobContext, cache: MediaCache, posts: list[Post]
) -> list[list[CachedMedia | MediaError]]:
    """Copy the media of ``posts`` into the cache in one worker-thread trip, opening each
    part of the export once and streaming each file in chunks (memory stays bounded
    whatever its size); one answer per media of each post."""
    def work() -> list[list[CachedMedia | MediaError]]:
        answers: list[dict[int, CachedMedia | MediaError]] = [{} for _post in posts]
        by_zip: dict[str, list[tuple[int, int, str]]] = {}
        for index, post in enumerate(posts):
            for position, media in enumerate(post.media):
                # A split export: the file may sit in another part than the post's JSON.
                part = media.zip_path or post.zip_path or ""
                by_zip.setdefault(part, []).append((index, position, media.zip_member or ""))
        for zip_path, wanted in by_zip.items():
            found = copy_members(zip_path, [member for _i, _p, member in wanted],
                                 ctx.config.media_max_bytes,
                                 lambda member, stream: cache.keep_stream(stream, member))
            for (index, position, _member), answer in zip(wanted, found, strict=True):
                answers[index][position] = answer
        return [[kept[p] for p in sorted(kept)] for kept in answers]

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
    return await fetch_with_retries(ctx, lambda: cache.fetch(media.url or ""))


async def fetch_with_retries(
    ctx: JobContext, action: Callable[[], Awaitable[CachedMedia]]
) -> CachedMedia:
    """``action`` under the request-level policy (``retry.py``); a download that still
    fails is a ``MediaError``: the item fails, the job is not retried for it."""
    tries = 0
    try:
        async for attempt in request_policy(ctx.config).retrying():
            with attempt:
                tries += 1
                return await action()
    except TransientError as exc:
        raise MediaError(f"{exc.message} (after {tries} attempts)") from exc
    raise AssertionError("unreachable: the retry loop returns or raises")
