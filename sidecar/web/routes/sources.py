"""Saved sources over HTTP (issue 14): create, list, read, change, delete, sync now."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from quart import Blueprint
from quart_schema import document_response, validate_request

from ...errors import ValidationFailed
from ...jobs import mapping_preview, saved_sources
from ..routing import Reply, credential, errors, services
from ..schemas import (
    CreateSource,
    JobAccepted,
    MappingBody,
    MappingPreview,
    MappingPreviewRequest,
    SavedSource,
    SourceList,
    UpdateSource,
)
from .jobs import accepted

blueprint = Blueprint("sources", __name__)


@blueprint.post("/api/sources")
@errors
@validate_request(CreateSource)
@document_response(SavedSource, 201)
async def create_source(data: CreateSource) -> Reply:
    credential(allow_token=False)
    found = services()
    body = data.model_dump(mode="json")
    return await saved_sources.create(found.backend.sources, found.config, body), 201


@blueprint.post("/api/sources/preview-mapping")
@errors
@validate_request(MappingPreviewRequest)
@document_response(MappingPreview)
async def preview_mapping(data: MappingPreviewRequest) -> Reply:
    """One post with the mapping applied, as the import would write it (nothing saved)."""
    credential(allow_token=False)
    found = services()
    return await mapping_preview.preview(
        found.backend.sources, found.backend.jobs, found.backend.media, found.config.wp_url,
        data.mapping.model_dump(mode="json"), source_id=data.source_id, post=data.post), 200


@blueprint.get("/api/sources")
@errors
@document_response(SourceList)
async def list_sources() -> Reply:
    credential(allow_token=False)
    return {"sources": await saved_sources.list_all(services().backend.sources)}, 200


@blueprint.get("/api/sources/<source_id>")
@errors
@document_response(SavedSource)
async def get_source(source_id: str) -> Reply:
    credential(allow_token=False)
    found = await saved_sources.require(services().backend.sources, source_id)
    return saved_sources.public(found), 200


@blueprint.patch("/api/sources/<source_id>")
@errors
@validate_request(UpdateSource)
@document_response(SavedSource)
async def update_source(source_id: str, data: UpdateSource) -> Reply:
    credential(allow_token=False)
    found = services()
    changes = {k: v for k, v in data.model_dump(mode="json").items() if k in data.model_fields_set}
    merged = None
    if data.mapping is not None:
        current = (await saved_sources.require(found.backend.sources, source_id))["mapping"]
        merged = _merged_mapping(current, data.mapping)
    return await saved_sources.update(found.backend.sources, found.config, source_id, changes,
                                      merged), 200


def _merged_mapping(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """PATCH merges: the given keys over the saved ones (``title`` key by key too), then
    the whole checked again, so a bad value is a 422 naming it."""
    merged = {**current, **changes}
    if isinstance(changes.get("title"), dict):
        merged["title"] = {**(current.get("title") or {}), **changes["title"]}
    try:
        return MappingBody.model_validate(merged).model_dump(mode="json")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationFailed(f"mapping.{where}: {first['msg']}") from None


@blueprint.delete("/api/sources/<source_id>")
@errors
async def delete_source(source_id: str) -> Reply:
    credential(allow_token=False)
    found = services()
    await saved_sources.delete(found.backend.sources, found.runner, source_id)
    return {"deleted": source_id}, 200


@blueprint.post("/api/sources/<source_id>/sync")
@errors
@document_response(JobAccepted, 202)
@document_response(JobAccepted, 200)
async def sync_source(source_id: str) -> Reply:
    """202 with a new sync job; 200 with the sync already running (one at a time)."""
    credential(allow_token=False)
    found = services()
    job, started = await saved_sources.start_sync(found.backend.sources, found.runner,
                                                  source_id)
    if started:
        return accepted(job), 202
    return {**accepted(job), "reply": "a sync of this source is already running"}, 200


@blueprint.post("/api/sources/<source_id>/preview")
@errors
@document_response(JobAccepted, 202)
async def preview_source(source_id: str) -> Reply:
    """202 with a ``preview`` job of the saved source (it writes nothing to WordPress)."""
    credential(allow_token=False)
    found = services()
    return accepted(await saved_sources.start_preview(found.backend.sources, found.runner,
                                                         source_id)), 202


@blueprint.post("/api/sources/<source_id>/repair")
@errors
@document_response(JobAccepted, 202)
async def repair_source(source_id: str) -> Reply:
    """202 with a ``repair`` job over the source's imported posts."""
    credential(allow_token=False)
    found = services()
    job = await saved_sources.start_repair(found.backend.sources, found.runner, source_id)
    return accepted(job), 202
