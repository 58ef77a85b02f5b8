"""Job kind ``cache_images``: download image URLs into the media cache."""

from __future__ import annotations

import asyncio

from ...errors import MediaError, SourceError, TransientError
from ...media.cache import MediaCache
from ...progress.phases import PhasePlan
from ..context import JobContext
from ..retry import backoff_delay

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
    cache = MediaCache(ctx.config, ctx.store, ctx.http)
    await ctx.add_items(urls)
    ledger = await ctx.items()
    todo = [u for u in urls if ledger.get(u, {}).get("state") in (None, "pending", "failed")]
    finished = len(urls) - len(todo)
    total = len(urls)
    ctx.report(f"Downloading {total} image(s)", phase="Downloading media", done=finished,
               total=total)
    slots = asyncio.Semaphore(ctx.config.download_concurrency)

    async def one(url: str) -> None:
        nonlocal finished
        async with slots:
            attempt = 0
            while True:
                attempt += 1
                try:
                    media = await cache.fetch(url)
                    break
                except TransientError as exc:
                    if attempt >= ctx.config.job_attempts:
                        await ctx.set_item(url, "failed", reason=exc.message)
                        finished += 1
                        ctx.report(f"Failed image {finished} of {total}: {exc.message}",
                                   phase="Downloading media", done=finished)
                        return
                    await asyncio.sleep(backoff_delay(attempt, ctx.config.backoff_base_seconds))
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
