"""Jobs over uploaded exports: ``{"type": "export", "upload_ids": [...]}``.

The job keeps the upload ids (what WordPress and the browser are shown); the files
they name are found only when the source is read, and deleted once an import of them
completed with nothing failed. An import with failed items keeps them, so a retry
can read them again, and so does an import of posts picked from a preview while the
preview can still be imported from (the next "import selected" reads the same files);
the retention pass deletes what nobody used for that long.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ..domain.models import PREVIEW_TTL_SECONDS
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
    if not ids or ctx.uploads is None or await _preview_still_open(ctx):
        return
    active = await ctx.jobs.find(statuses=ACTIVE_STATUSES, limit=10_000)
    in_use = {u for job in active if job["job_id"] != ctx.job_id
              for u in upload_ids_of(job["source"])}
    await ctx.uploads.delete_quietly([u for u in ids if u not in in_use])


async def _preview_still_open(ctx: JobContext) -> bool:
    """Whether this import came from a preview that more posts may still be picked from."""
    preview_id = ctx.options.get("from_preview")
    preview = await ctx.jobs.get(str(preview_id)) if preview_id else None
    return preview is not None and (
        time.time() - float(preview["finished_at"] or 0) <= PREVIEW_TTL_SECONDS)
