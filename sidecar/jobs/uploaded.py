"""Jobs over uploaded exports: ``{"type": "export", "upload_ids": [...]}``.

The job keeps the upload ids (what WordPress and the browser are shown); the files
they name are found only when the source is read, and deleted once an import of them
completed with nothing failed. An import with failed items keeps them, so a retry
can read them again; the retention pass deletes what nobody used for that long.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ValidationFailed
from ..uploads.storage import UploadStore
from .context import JobContext

ACTIVE_STATUSES = ("queued", "running")


def upload_ids_of(source: Mapping[str, Any]) -> list[str]:
    ids = source.get("upload_ids") if source.get("type") == "export" else None
    return [str(i) for i in ids] if isinstance(ids, list) else []


async def check_uploads(source: dict[str, Any], uploads: UploadStore | None) -> dict[str, Any]:
    """The source as a job keeps it: an upload that is unknown or unfinished is refused
    at submit (422 naming it), and the files' own names are added for people to read."""
    ids = upload_ids_of(source)
    if not ids:
        return source
    if uploads is None:
        raise ValidationFailed("this sidecar keeps no uploads; name the export by its path")
    return {**source, "names": [u.name for u in await uploads.ready(ids)]}


async def readable_source(ctx: JobContext) -> dict[str, Any]:
    """The job's source as the export reader takes it: upload ids become the files."""
    ids = upload_ids_of(ctx.source)
    if not ids:
        return dict(ctx.source)
    if ctx.uploads is None:
        raise ValidationFailed("this sidecar keeps no uploads; name the export by its path")
    paths = [str(p) for p in await ctx.uploads.paths_for(ids)]
    # One file stays a plain `path`; the parts of a split export are read as one.
    return {"type": "export", "path": paths[0]} if len(paths) == 1 else \
        {"type": "export", "paths": paths}


async def release_uploads(ctx: JobContext) -> None:
    """Deletes the job's uploads once its import completed with nothing failed, unless
    another queued or running job reads them too."""
    ids = upload_ids_of(ctx.source)
    if not ids or ctx.uploads is None:
        return
    active = await ctx.jobs.find(statuses=ACTIVE_STATUSES, limit=10_000)
    in_use = {u for job in active if job["job_id"] != ctx.job_id
              for u in upload_ids_of(job["source"])}
    await ctx.uploads.delete_quietly([u for u in ids if u not in in_use])
