"""Job kind ``sync``: a saved source's new posts, imported with its mapping.

The job's source already asks Apify only for posts newer than the newest one imported
from the saved source (``jobs/saved_sources.py``); the import itself is the ``import``
kind's, duplicates of the overlap found in WordPress as always. Apify answers a date
filter that matches nothing with the same ``no_items`` item as a private account: for
an account that was reachable before, that is "no new posts", a success. The outcome
is recorded on the saved source as its ``last_sync``.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

from ...domain.models import ItemState, Post
from ...errors import Conflict, IgbridgeError, SourceError
from ...progress.engine import iso
from ...sources.apify import NO_ITEMS_CODE
from ..context import RECORDED_ITEM_STATES, JobContext
from .import_posts import import_tally, run_import

NO_NEW_POSTS = "No new posts"
# Posts whose outcome is settled for good: a later sync need not ask for them again.
SETTLED = (ItemState.IMPORTED, ItemState.ALREADY_IMPORTED, ItemState.SKIPPED)


async def run_sync(ctx: JobContext) -> str:
    source_id = str(ctx.options["saved_source_id"])
    sources = ctx.backend.sources
    row = await sources.get(source_id)
    if row is None:
        raise SourceError(f"the saved source {source_id} was deleted")
    # Holds already for a sync started through its source; a retry of a sync job (a new
    # job over the same source) must take the claim too, or wait for the next trigger.
    if not await sources.claim_sync(source_id, ctx.job_id):
        holder = (await sources.get(source_id) or {}).get("sync_job_id")
        raise Conflict(f"another sync of this source is running (job {holder})")
    try:
        try:
            message = await run_import(ctx)
            tally = import_tally(await ctx.items())
            if tally.imported == 0 and tally.failed == 0:  # only the overlap came back
                message = NO_NEW_POSTS + message.removeprefix("Nothing new")
        except SourceError as exc:
            if exc.code != NO_ITEMS_CODE:
                raise
            if not (row["reachable"] and ctx.source.get("only_newer_than")):
                raise SourceError(f"account @{ctx.source.get('username')} is private or gone "
                                  "(Apify found no posts for it)") from exc
            message = NO_NEW_POSTS
        await _record(ctx, source_id, "complete", message)
        return message
    except IgbridgeError as exc:
        with contextlib.suppress(IgbridgeError):
            await _record(ctx, source_id, "error", exc.message)
        raise
    except asyncio.CancelledError:
        with contextlib.suppress(IgbridgeError):
            await _record(ctx, source_id, "cancelled", "Cancelled")
        raise
    finally:
        with contextlib.suppress(IgbridgeError):
            await sources.release_sync(source_id, ctx.job_id)


async def _record(ctx: JobContext, source_id: str, status: str, message: str) -> None:
    ledger = await ctx.items()
    counts = {str(s): sum(1 for i in ledger.values() if i["state"] == s)
              for s in RECORDED_ITEM_STATES}
    counts["total"] = len(ledger)
    posts = [Post.from_json(p) for p in ctx.state.get("posts", [])]
    settled = [p.taken_at for p in posts
               if ledger.get(p.source_id, {}).get("state") in SETTLED]
    last_sync: dict[str, Any] = {"at": iso(datetime.now().timestamp()), "job_id": ctx.job_id,
                                 "status": status, "counts": counts, "message": message}
    await ctx.backend.sources.record_sync(
        source_id, last_sync,
        newest_taken_at=max(settled).timestamp() if settled else None,
        # Apify gave posts (or said "nothing newer" after a filter): the account answers.
        reachable=bool(posts) or message == NO_NEW_POSTS,
    )
