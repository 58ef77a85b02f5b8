"""Job kind ``scrape``: fetch the posts and cache their media; nothing goes to WordPress."""

from __future__ import annotations

from ...errors import MediaError
from ..context import JobContext
from ..stages import (
    download_media,
    fetch_source,
    new_items,
    plan_phases,
    record_skipped,
    summary_tail,
)


async def run_scrape(ctx: JobContext) -> str:
    """Fetch the posts and cache their media; nothing is written to WordPress."""
    plan_phases(ctx, to_wordpress=False)
    posts, skipped = await fetch_source(ctx)
    plan_phases(ctx, to_wordpress=False, posts=posts, media=sum(len(p.media) for p in posts))
    await ctx.add_items(new_items(posts))
    await record_skipped(ctx, posts, skipped)
    fetched = await download_media(ctx, posts, mark_done=True)
    cached = len(fetched.cached)
    failed = sum(1 for i in (await ctx.items()).values() if i["state"] == "failed")
    if posts and failed == len(posts):
        raise MediaError(f"no media of the {len(posts)} post(s) could be downloaded")
    return (f"Fetched {len(posts)} post(s), {cached} media file(s) cached"
            + summary_tail(skipped, failed))
