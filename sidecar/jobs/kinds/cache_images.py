"""Job kind ``cache_images``: download image URLs into the media cache."""

from __future__ import annotations

import asyncio

from ...errors import MediaError, SourceError
from ...media.cache import CachedMedia, MediaCache
from ...progress.phases import PhasePlan
from ..context import JobContext
from ..stages import fetch_with_retries

CDN_FILE_GUESS_SECONDS = 0.1  # a first guess of one download; the job measures its own


async def run_cache_images(ctx: JobContext) -> str:
    """Job kind ``cache_images``: source ``{"type": "urls", "urls": [...]}``."""
    urls: list[str] = list(dict.fromkeys(ctx.source.get("urls") or []))
    only = ctx.options.get("only")
    if only:  # a retry: just the items that failed before
        urls = [u for u in urls if u in set(only)]
    if not urls:
        raise SourceError("no image URLs given")
    ctx.plan([PhasePlan("Downloading media", "files", CDN_FILE_GUESS_SECONDS, len(urls))])
    cache = MediaCache(ctx.config, ctx.backend.media, ctx.http)
    await ctx.add_items(urls)
    ledger = await ctx.items()
    todo = [u for u in urls if ledger.get(u, {}).get("state") in (None, "pending", "failed")]
    finished = len(urls) - len(todo)
    total = len(urls)
    ctx.report(f"Downloading {total} image(s)", phase="Downloading media", done=finished,
               total=total)
    slots = asyncio.Semaphore(ctx.config.download_concurrency)

    async def fetch_in_a_slot(url: str) -> CachedMedia:
        # A slot per attempt: an image waiting to be retried lets others download.
        async with slots:
            return await cache.fetch(url)

    async def one(url: str) -> None:
        nonlocal finished
        try:
            media = await fetch_with_retries(ctx, lambda: fetch_in_a_slot(url))
        except MediaError as exc:
            await ctx.set_item(url, "failed", reason=exc.message)
            finished += 1
            ctx.report(f"Failed image {finished} of {total}: {exc.message}",
                       phase="Downloading media", done=finished)
            return
        detail = {"sha256": media.sha256, "content_type": media.content_type,
                  "size": media.size}
        if media.cached:
            await ctx.set_item(url, "skipped", reason="already cached", detail=detail)
        else:
            await ctx.set_item(url, "imported", detail=detail)
        finished += 1
        ctx.report(f"Downloading image {finished} of {total}", phase="Downloading media",
                   done=finished, details={"last": detail})

    await asyncio.gather(*(one(u) for u in todo))
    outcome = await ctx.items()
    failed = sum(1 for i in outcome.values() if i["state"] == "failed")
    cached = sum(1 for i in outcome.values() if i["state"] == "skipped")
    fetched = sum(1 for i in outcome.values() if i["state"] == "imported")
    if failed == total:
        raise MediaError(f"all {total} image(s) failed; first error: "
                         f"{next(iter(outcome.values()))['reason']}")
    parts = [f"{fetched} downloaded"]
    if cached:
        parts.append(f"{cached} already cached")
    if failed:
        parts.append(f"{failed} failed")
    return f"Cached {total - failed} of {total} image(s): " + ", ".join(parts)
