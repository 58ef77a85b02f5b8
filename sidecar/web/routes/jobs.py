"""Jobs over HTTP: submit, list, read, cancel and retry them; chat-style commands."""

from __future__ import annotations

import io
from typing import Any

from quart import Blueprint, Response, send_file
from quart_schema import document_response, validate_querystring, validate_request

from ...errors import NotFound
from ...jobs import commands, picked
from ...media import thumbnails
from ...media.cache import MediaCache
from ..routing import Reply, credential, errors, services
from ..schemas import (
    Command,
    CommandReply,
    CreateJob,
    ItemList,
    ItemListQuery,
    Job,
    JobAccepted,
    JobList,
    JobListQuery,
    ReadQuery,
)

blueprint = Blueprint("jobs", __name__)


@blueprint.post("/api/jobs")
@errors
@validate_request(CreateJob)
@document_response(JobAccepted, 202)
async def create_job(data: CreateJob) -> Reply:
    credential(allow_token=False)
    # Unset fields (an export named by "path" has no "paths") are left out of the job.
    source = data.source.model_dump(mode="json", exclude_none=True)
    options = data.options.model_dump(mode="json", exclude_none=True)
    if source["type"] == "preview" and data.kind == "import":
        job = await picked.import_selected(services().runner, source["job_id"],
                                           source["select"], options)
    else:
        job = await services().runner.submit(data.kind, source, options)
    return accepted(job), 202


@blueprint.post("/api/commands")
@errors
@validate_request(Command)
@document_response(JobAccepted, 202)
@document_response(CommandReply, 200)
async def run_command(data: Command) -> Reply:
    credential(allow_token=False)
    found = services()
    outcome = await commands.execute(data.text, found.runner, found.config)
    if outcome.job is not None:
        return {**accepted(outcome.job), "reply": outcome.reply}, 202
    return {"reply": outcome.reply, "jobs": outcome.jobs}, 200


def accepted(job: dict[str, Any]) -> dict[str, Any]:
    base = services().config.public_url
    return {
        "job_id": job["job_id"],
        "session_id": job["session_id"],
        "stream_url": f"{base}/api/progress/stream/{job['session_id']}",
        "job": job,
    }


@blueprint.get("/api/jobs")
@errors
@validate_querystring(JobListQuery)
@document_response(JobList)
async def list_jobs(query_args: JobListQuery) -> Reply:
    credential(allow_token=False)
    jobs, next_cursor = await services().runner.job_page(
        status=query_args.status, limit=query_args.limit, cursor=query_args.cursor
    )
    return {"jobs": jobs, "next_cursor": next_cursor}, 200


@blueprint.get("/api/jobs/<job_id>/items")
@errors
@validate_querystring(ItemListQuery)
@document_response(ItemList)
async def list_job_items(job_id: str, query_args: ItemListQuery) -> Reply:
    credential(allow_token=True).require_read([job_id])
    items, next_cursor = await services().runner.item_page(
        job_id, limit=query_args.limit, cursor=query_args.cursor
    )
    return {"items": items, "next_cursor": next_cursor}, 200


@blueprint.get("/api/jobs/<job_id>")
@errors
@validate_querystring(ReadQuery)
@document_response(Job)
async def get_job(job_id: str, query_args: ReadQuery) -> Reply:
    """A job by its id or a unique prefix of it (409 listing the candidates when several
    jobs start so). A token scoped to some sessions names them by their whole ids: the
    candidates of a prefix could be jobs it may not see."""
    who = credential(allow_token=True)
    runner = services().runner
    if who.sessions is None:
        job_id = await runner.resolve(job_id)
    who.require_read([job_id])
    return {**await runner.describe(job_id), "short_id": await runner.short_id(job_id)}, 200


@blueprint.post("/api/jobs/<job_id>/cancel")
@errors
@document_response(Job)
async def cancel_job(job_id: str) -> Reply:
    credential(allow_token=False)
    return await services().runner.cancel(job_id), 200


@blueprint.post("/api/jobs/<job_id>/retry")
@errors
@document_response(JobAccepted, 202)
async def retry_job(job_id: str) -> Reply:
    credential(allow_token=False)
    job = await services().runner.retry(job_id)
    return accepted(job), 202


@blueprint.get("/api/jobs/<job_id>/thumbnails/<sha256>")
@errors
@validate_querystring(ReadQuery)
async def job_thumbnail(job_id: str, sha256: str, query_args: ReadQuery) -> Response:
    """A preview item's thumbnail from the media cache (or, on an engine several
    processes share, from the engine: another process may have cached it), for an
    ``<img>`` with a stream token: the browser never fetches Instagram's CDN, nor holds
    the secret."""
    credential(allow_token=True).require_read([job_id])
    found = services()
    cache = MediaCache(found.config, found.backend.media, found.http)
    thumbnail = await thumbnails.find(cache, found.backend.thumbnails, sha256)
    if thumbnail is None:
        raise NotFound(f"no cached thumbnail {sha256[:64]}")
    body = thumbnail.path or io.BytesIO(thumbnail.data or b"")
    response = await send_file(body, mimetype=thumbnail.content_type)
    # Content-addressed: the same hash is always the same bytes, from any process.
    response.headers["Cache-Control"] = "private, max-age=86400, immutable"
    response.set_etag(thumbnail.sha256)
    return response
