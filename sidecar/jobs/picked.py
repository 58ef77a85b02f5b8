""""Import selected": an import of exactly the posts a person picked from a preview.

``POST /api/jobs {"kind": "import", "source": {"type": "preview", "job_id", "select"}}``
becomes an ordinary ``import`` job over the preview's own source, whose saved state
holds the preview's fetched posts (only the selected ones): ``fetch_source`` reads
them from there, so there is no second scrape (and no second Apify bill), the way a
retry reuses what its first job fetched. A preview of a saved source hands on its
mapping. The import job keeps ``options.from_preview`` so its origin stays visible.
"""

from __future__ import annotations

import time
from typing import Any

from ..domain.models import PREVIEW_TTL_SECONDS, JobStatus
from ..errors import ValidationFailed
from .runner import JobRunner


async def import_selected(runner: JobRunner, preview_job_id: str, select: list[str],
                          options: dict[str, Any]) -> dict[str, Any]:
    """Start the import of ``select`` from the preview ``preview_job_id``; a 422 naming
    the preview or the source ids when they cannot be imported from it."""
    preview = await runner.jobs.get(preview_job_id)
    if preview is None or preview["kind"] != "preview":
        raise ValidationFailed(f"source.job_id: no preview job {preview_job_id}")
    if preview["status"] != JobStatus.COMPLETE:
        raise ValidationFailed(f"source.job_id: preview {preview_job_id} is "
                               f"{preview['status']}, not complete; import once it has ended")
    if time.time() - float(preview["finished_at"] or 0) > PREVIEW_TTL_SECONDS:
        raise ValidationFailed(f"source.job_id: preview {preview_job_id} has expired (older "
                               f"than {PREVIEW_TTL_SECONDS // 3600} h); preview again")
    posts = {p["source_id"]: p for p in preview["state"].get("posts", [])}
    unknown = [s for s in select if s not in posts]
    if unknown:
        raise ValidationFailed(f"source.select: preview {preview_job_id} has no post "
                               + ", ".join(unknown[:10]) + (" …" if len(unknown) > 10 else ""))
    wanted = list(dict.fromkeys(select))
    carried = {k: v for k, v in preview["options"].items() if k in ("mapping", "include_reels")}
    return await runner.submit(
        "import", preview["source"],
        {**carried, **options, "from_preview": preview_job_id},
        state={"posts": [posts[s] for s in wanted], "skipped": []},
    )
