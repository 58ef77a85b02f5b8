"""Job kind ``preview``: fetch a source's posts and describe them; nothing goes to WordPress.

For Apify the run's cost estimate comes first (results × the actor's price per result,
capped by the run's ``maxTotalChargeUsd``), in the job's ``cost`` before the run starts,
and the real charge joins it once the run has ended (``sources/apify.py``). Then each
post is one ledger item: its caption's start and date, its kind (photo, video,
carousel, reel), whether WordPress has it (the import's own lookup-first, so "already
imported" and "deleted" mean exactly what an import would make of them) and one image
in the media cache for its thumbnail, served by the sidecar (``web/routes/jobs.py``):
a browser is never pointed at Instagram's CDN. On an engine several processes share,
the thumbnails are kept there too for as long as the preview is of use
(``media/thumbnails.py``), so whichever process a browser reaches serves them.

The posts stay in the job's saved state (``fetch_source``): "import selected"
(``jobs/picked.py``) imports from them without a second scrape.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from ...domain.models import PREVIEW_TTL_SECONDS, ItemState, Media, Post
from ...errors import MediaError
from ...media import thumbnails
from ...media.cache import CachedMedia, MediaCache
from ...progress.phases import PhasePlan
from ...sources.apify import estimate_run_cost
from ...wordpress.client import WordPressClient
from ..concurrency import run_together
from ..context import ItemOutcome, JobContext
from ..stages import (
    EXPORT_CHUNK,
    LOOKING_UP,
    PHASE_GUESSES,
    READING_EXPORT,
    SCRAPING,
    copy_from_export,
    fetch_media,
    fetch_source,
    new_items,
    record_skipped,
    source_config,
)
from .import_posts import DELETED, mapping_of, settle_known_posts

THUMBNAILS = "Caching thumbnails"
# What a preview says of each post (an item's ``preview``).
NEW, ALREADY_IMPORTED, DELETED_IN_WORDPRESS = "new", "already_imported", "deleted"


def post_kind(post: Post) -> str:
    """photo, video, carousel or reel: what a person calls the post."""
    if post.is_reel:
        return "reel"
    if len(post.media) > 1:
        return "carousel"
    return "video" if post.media and post.media[0].kind == "video" else "photo"


def thumbnail_url(ctx: JobContext, sha256: str) -> str:
    """Where a browser gets the thumbnail: the sidecar's path (a stream token reads it),
    relative, since only the client knows the sidecar's address as it reaches it."""
    return f"/api/jobs/{ctx.job_id}/thumbnails/{sha256}"


def _plan(ctx: JobContext, posts: int = 0, images: int = 0) -> None:
    first = READING_EXPORT if ctx.source.get("type") == "export" else SCRAPING
    ctx.plan([
        PhasePlan(first, *PHASE_GUESSES[first], 1.0),
        PhasePlan(LOOKING_UP, *PHASE_GUESSES[LOOKING_UP], float(posts)),
        PhasePlan(THUMBNAILS, "files", 0.05, float(images)),
    ])


async def run_preview(ctx: JobContext) -> str:
    _plan(ctx)
    if ctx.source.get("type") == "apify" and "cost" not in ctx.state:
        cost = await estimate_run_cost(await source_config(ctx), int(ctx.source.get("limit") or 20))
        await ctx.save_state(cost=cost)
        ctx.report(_estimate_words(cost), phase=SCRAPING, details={"cost": cost})
    posts, skipped = await fetch_source(ctx)
    _plan(ctx, len(posts), sum(1 for p in posts if _thumbnail_media(p) is not None))
    await ctx.add_items(new_items(posts))
    await record_skipped(ctx, posts, skipped)
    async with WordPressClient.from_config(ctx.config) as wp:
        # Looked up where the import would put them: the mapping's post type.
        route = await wp.post_type_route(mapping_of(ctx).post_type)
        await settle_known_posts(ctx, wp, posts, route=route)
    thumbnails = await cache_thumbnails(ctx, posts)
    ledger = await ctx.items()
    verdicts: dict[str, int] = {}
    outcomes = []
    for post in posts:
        row = ledger[post.source_id]
        verdict = _verdict(row)
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
        cached = thumbnails.get(post.source_id)
        outcomes.append(ItemOutcome(
            post.source_id, row["state"], row["wp_post_id"], row["reason"],
            detail={"preview": verdict, "kind": post_kind(post),
                    "media": len(post.media)},
            thumbnail_url=thumbnail_url(ctx, cached.sha256) if cached else None))
    await ctx.set_items(outcomes)
    spent = ctx.state.get("cost")
    if spent:
        ctx.report(_charge_words(spent), details={"cost": spent})
    return (f"Previewed {len(posts)} post(s): {verdicts.get(NEW, 0)} new, "
            f"{verdicts.get(ALREADY_IMPORTED, 0)} already imported, "
            f"{verdicts.get(DELETED_IN_WORDPRESS, 0)} deleted in WordPress"
            + (f"; {len(skipped)} skipped" if skipped else "")
            + (f"; {_charge_words(spent)}" if spent else ""))


def _verdict(row: dict[str, Any]) -> str:
    if row["state"] == ItemState.ALREADY_IMPORTED:
        return ALREADY_IMPORTED
    if row["state"] == ItemState.SKIPPED and str(row["reason"] or "").startswith(DELETED):
        return DELETED_IN_WORDPRESS
    return NEW


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.4f}"


def _estimate_words(cost: dict[str, Any]) -> str:
    fee = cost.get("start_fee_usd") or 0
    start = f"{_money(fee)} to start + " if fee else ""
    return (f"Apify run estimated at {_money(cost.get('estimate_usd'))} at most "
            f"({start}{cost['results']} results × {_money(cost.get('price_per_result_usd'))}, "
            f"capped at {_money(cost['max_total_charge_usd'])})")


def _charge_words(cost: dict[str, Any]) -> str:
    words = f"estimated {_money(cost.get('estimate_usd'))}"
    if "charged_usd" in cost:
        words += f", charged {_money(cost.get('charged_usd'))}"
    return "Apify run " + words


def _thumbnail_media(post: Post) -> Media | None:
    """The post's first photo, or else its first video's still frame (Apify gives one;
    an export gives none: its JSON names the video file alone, and no frame is cut)."""
    photo = next((m for m in post.media if m.kind == "image"), None)
    if photo is not None:
        return photo
    poster = next((m.poster_url for m in post.media if m.poster_url), None)
    return Media(kind="image", url=poster) if poster else None


async def cache_thumbnails(ctx: JobContext, posts: list[Post]) -> dict[str, CachedMedia]:
    """One image of each post into the media cache (the import finds it there by URL),
    and its thumbnail where every process serves it; a thumbnail that cannot be had
    leaves the post without one, nothing more."""
    cache = MediaCache(ctx.config, ctx.backend.media, ctx.http)
    wanted = [(p, m) for p in posts if (m := _thumbnail_media(p)) is not None]
    found: dict[str, CachedMedia] = {}
    done, total = 0, len(wanted)
    ctx.report(f"Caching thumbnails 0/{total}", phase=THUMBNAILS, done=0, total=total)
    in_export = [replace(p, media=(m,)) for p, m in wanted if p.zip_path and m.zip_member]
    elsewhere = [(p, m) for p, m in wanted if not (p.zip_path and m.zip_member)]
    slots = asyncio.Semaphore(ctx.config.download_concurrency)

    def settled(count: int) -> None:
        nonlocal done
        done += count
        ctx.report(f"Caching thumbnails {done}/{total}", phase=THUMBNAILS, done=done)

    async def from_export(group: list[Post]) -> None:
        async with slots:
            answers = await copy_from_export(ctx, cache, group)
        for post, [answer] in zip(group, answers, strict=True):
            if isinstance(answer, CachedMedia) and answer.kind == "image":
                found[post.source_id] = answer
        settled(len(group))

    async def from_url(post: Post, media: Media) -> None:
        try:
            async with slots:
                answer = await fetch_media(ctx, cache, post, media)
            if answer.kind == "image":
                found[post.source_id] = answer
        except MediaError:
            pass  # no thumbnail; the import will say what is wrong with the file
        settled(1)

    await run_together([
        *(from_export(in_export[i:i + EXPORT_CHUNK])
          for i in range(0, len(in_export), EXPORT_CHUNK)),
        *(from_url(p, m) for p, m in elsewhere)])
    return await thumbnails.prepare(cache, ctx.backend.thumbnails, found, PREVIEW_TTL_SECONDS)
