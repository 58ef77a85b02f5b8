"""Saved sources (issue 14): create, read, change and delete them; start their syncs.

A saved source is an account (Apify) or an uploaded export with its mapping and
schedule. Its syncs are ordinary jobs of kind ``sync`` (``kinds/sync.py``): the job's
source asks Apify only for posts newer than the newest one imported from it, and its
options carry the mapping as it was when the sync started.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from ..backends.base import SourceStore
from ..config import Config
from ..errors import Conflict, IgbridgeError, NotFound, ValidationFailed
from ..progress.engine import iso
from ..wordpress.client import WordPressClient
from .runner import JobRunner

# Asked for again on every sync: posts up to this much older than the newest one
# imported (a post published while the last sync ran, a clock a little off). The
# duplicates are found in WordPress and cost no write.
SYNC_OVERLAP = timedelta(hours=1)
SPEC_KEYS = ("type", "username", "limit", "path", "name")

# One process starts one sync per source at a time (``claim_sync`` makes that hold
# across processes sharing one backend too).
_sync_locks: dict[str, asyncio.Lock] = {}


def public(row: dict[str, Any]) -> dict[str, Any]:
    """A saved source as the API shows it."""
    spec = row["spec"]
    return {
        "source_id": row["source_id"],
        "type": spec["type"],
        "username": spec.get("username"),
        "limit": int(spec.get("limit") or 20),
        "path": spec.get("path"),
        "name": spec.get("name"),
        "mapping": row["mapping"],
        "schedule": ({"every_minutes": row["every_minutes"]}
                     if row["every_minutes"] is not None else None),
        "paused": row["paused"],
        "next_run_at": (iso(row["next_run_at"])
                        if row["every_minutes"] is not None and not row["paused"] else None),
        "last_sync": row["last_sync"],
        "sync_job_id": row["sync_job_id"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


async def list_all(sources: SourceStore) -> list[dict[str, Any]]:
    return [public(row) for row in await sources.all()]


async def require(sources: SourceStore, source_id: str) -> dict[str, Any]:
    found = await sources.get(source_id)
    if found is None:
        raise NotFound(f"no saved source {source_id}")
    return found


async def check_mapping_against_wordpress(config: Config, mapping: dict[str, Any]) -> None:
    """An unknown category, author or post type is refused when the source is saved, by
    name."""
    categories = [int(c) for c in mapping.get("category_ids") or []]
    author = mapping.get("author_id")
    post_type = str(mapping.get("post_type") or "post")
    if not categories and author is None and post_type == "post":
        return
    try:
        async with WordPressClient.from_config(config) as wp:
            if post_type != "post":
                await check_post_type(wp, post_type)
            if categories:
                missing = sorted(set(categories) - await wp.existing_category_ids(categories))
                if missing:
                    raise ValidationFailed(
                        "mapping.category_ids: WordPress has no category "
                        + ", ".join(str(c) for c in missing))
            if author is not None and not await wp.user_exists(int(author)):
                raise ValidationFailed(f"mapping.author_id: WordPress has no user {author}")
    except ValidationFailed:
        raise
    except IgbridgeError as exc:
        raise ValidationFailed(
            f"mapping: could not check the categories and author in WordPress: {exc.message}"
        ) from exc


async def check_post_type(wp: WordPressClient, name: str) -> None:
    """Posts may go to any public post type that supports the editor (their content is
    block markup), never to one WordPress does not have."""
    found = await wp.post_type(name)
    if found is None:
        raise ValidationFailed(f"mapping.post_type: WordPress has no post type {name!r} "
                               "(or it is not in the REST API)")
    if not (found.get("supports") or {}).get("editor"):
        raise ValidationFailed(f"mapping.post_type: the post type {name!r} does not support "
                               "the editor, so it cannot hold an imported post's content")
    if not found.get("viewable"):
        raise ValidationFailed(f"mapping.post_type: the post type {name!r} is not public")


def _first_run(every_minutes: int | None, paused: bool) -> float | None:
    return time.time() + every_minutes * 60 if every_minutes is not None and not paused else None


async def create(sources: SourceStore, config: Config, body: dict[str, Any]) -> dict[str, Any]:
    mapping = body["mapping"]
    await check_mapping_against_wordpress(config, mapping)
    source_id = uuid.uuid4().hex
    every = (body.get("schedule") or {}).get("every_minutes")
    spec = {k: body.get(k) for k in SPEC_KEYS if body.get(k) is not None}
    await sources.add(source_id, spec, mapping, every, bool(body["paused"]),
                      _first_run(every, bool(body["paused"])))
    return public(await require(sources, source_id))


async def update(sources: SourceStore, config: Config, source_id: str, changes: dict[str, Any],
                 merged_mapping: dict[str, Any] | None) -> dict[str, Any]:
    """``changes`` holds only the keys the request gave; ``merged_mapping`` is the saved
    mapping with the request's keys laid over it, already validated."""
    row = await require(sources, source_id)
    spec = dict(row["spec"])
    for key in ("username", "limit", "name"):
        if key in changes:
            spec[key] = changes[key]
    if "username" in changes and spec["type"] != "apify":
        raise ValidationFailed("username: only an apify source has one")
    mapping = merged_mapping if merged_mapping is not None else row["mapping"]
    if merged_mapping is not None:
        await check_mapping_against_wordpress(config, mapping)
    every = row["every_minutes"]
    if "schedule" in changes:
        every = (changes["schedule"] or {}).get("every_minutes")
        if every is not None and spec["type"] != "apify":
            raise ValidationFailed("schedule: an export does not change; only apify sources sync")
    paused = bool(changes["paused"]) if changes.get("paused") is not None else row["paused"]
    next_run = row["next_run_at"]
    if every != row["every_minutes"] or paused != row["paused"] or next_run is None:
        next_run = _first_run(every, paused)  # a new interval counts from now
    await sources.update_settings(source_id, spec, mapping, every, paused, next_run)
    return public(await require(sources, source_id))


async def delete(sources: SourceStore, runner: JobRunner, source_id: str) -> None:
    """Delete a saved source; a sync of it that is still running is cancelled first."""
    row = await require(sources, source_id)
    job = await _claimed_job(runner, row)
    if job is not None and job["status"] in ("queued", "running"):
        await runner.cancel(job["job_id"])
    await sources.delete(source_id)


async def _claimed_job(runner: JobRunner, row: dict[str, Any]) -> dict[str, Any] | None:
    """The job holding the source's sync claim; None for no claim, or for a claim whose
    job is not written yet (or never will be: its process died, and the claim goes stale
    after ``STALE_CLAIM_SECONDS``)."""
    if not row["sync_job_id"]:
        return None
    try:
        return await runner.describe(row["sync_job_id"])
    except NotFound:
        return None


def sync_job_source(row: dict[str, Any], *, only_new: bool = True) -> dict[str, Any]:
    """What a sync job reads: the account, and only what is newer than the newest post
    imported from it so far (less the overlap); everything with ``only_new`` false."""
    spec = row["spec"]
    if spec["type"] != "apify":
        return {"type": "export", "path": spec["path"]}
    source: dict[str, Any] = {"type": "apify", "username": spec["username"],
                              "limit": int(spec.get("limit") or 20)}
    if row["newest_taken_at"] and only_new:
        since = datetime.fromtimestamp(row["newest_taken_at"], UTC) - SYNC_OVERLAP
        source["only_newer_than"] = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    return source


async def start_sync(
    sources: SourceStore, runner: JobRunner, source_id: str, *, scheduled_for: float | None = None,
) -> tuple[dict[str, Any], bool]:
    """The source's sync job, and whether this call started it: a sync already queued
    or running is the answer to a second trigger (two triggers make one sync).
    ``scheduled_for`` is the time a scheduled run was due (kept in the job's options)."""
    lock = _sync_locks.setdefault(source_id, asyncio.Lock())
    async with lock:
        row = await require(sources, source_id)
        job_id = uuid.uuid4().hex
        if not await sources.claim_sync(source_id, job_id):
            running = await _claimed_job(runner, (await require(sources, source_id)))
            if running is None:
                raise Conflict(f"source {source_id} is changing; try again")
            return running, False
        options: dict[str, Any] = {"mapping": row["mapping"], "saved_source_id": source_id}
        if scheduled_for is not None:
            options["scheduled_for"] = iso(scheduled_for)
        job = await runner.submit("sync", sync_job_source(row), options, job_id=job_id)
        return job, True


async def start_preview(sources: SourceStore, runner: JobRunner,
                        source_id: str) -> dict[str, Any]:
    """A preview of the saved source: every post up to its limit (not only the new
    ones: a preview shows what is imported already too), described with its mapping,
    which an "import selected" from it then uses."""
    row = await require(sources, source_id)
    return await runner.submit("preview", sync_job_source(row, only_new=False),
                               {"mapping": row["mapping"], "saved_source_id": source_id})


async def start_repair(sources: SourceStore, runner: JobRunner,
                       source_id: str) -> dict[str, Any]:
    """A ``repair`` job over the source's posts as the source has them now, with its
    mapping (``kinds/repair.py``)."""
    row = await require(sources, source_id)
    options = {"mapping": row["mapping"], "saved_source_id": source_id}
    return await runner.submit("repair", sync_job_source(row, only_new=False), options)
