"""HTTP routes: each translates a request into one call of plain async code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from quart import Blueprint, Response, request
from quart_schema import document_response, security_scheme, validate_querystring, validate_request

from . import __version__, commands
from . import store as db
from .app import credential, services
from .auth import mint_stream_token
from .errors import Conflict, IgbridgeError, NotFound
from .schemas import (
    Command,
    CommandReply,
    CreateJob,
    CreateSession,
    ErrorBody,
    FinishSession,
    Health,
    ItemList,
    ItemListQuery,
    Job,
    JobAccepted,
    JobList,
    JobListQuery,
    ReadQuery,
    SessionList,
    SessionListQuery,
    Snapshot,
    StreamToken,
    StreamTokenRequest,
    UpdateMany,
    UpdateManyResult,
    UpdateSession,
)
from .sse import event_stream, parse_last_event_id, plan_stream

blueprint = Blueprint("api", __name__)

Reply = tuple[dict[str, Any], int]
Handler = TypeVar("Handler", bound=Callable[..., Any])

# What any /api route can answer besides success: malformed body (400), credentials
# (401/403), unknown id (404), a state conflict (409), a body too large (413), a body
# or query that fails validation (422), the database unwritable (503).
ERROR_STATUSES = (400, 401, 403, 404, 409, 413, 422, 503)


def errors(func: Handler) -> Handler:
    """Document the error envelope for every error status in /openapi.json."""
    for status in ERROR_STATUSES:
        func = document_response(ErrorBody, status)(func)
    return func


@blueprint.get("/healthz")
@document_response(Health)
@security_scheme([])
async def healthz() -> Reply:
    found = services()
    return {
        "status": "ok",
        "version": __version__,
        "jobs_running": len(found.runner.running_job_ids()),
        "streams_open": found.progress.subscriber_count,
        "compactions_done": found.progress.compactions_done,
    }, 200


# -- progress sessions (the seed's API over HTTP) --------------------------------------


@blueprint.post("/api/progress/sessions")
@errors
@validate_request(CreateSession)
@document_response(Snapshot, 201)
async def create_session(data: CreateSession) -> Reply:
    credential(allow_token=False)
    snapshot = await services().progress.create_session(data.operation, data.total_steps)
    return snapshot, 201


@blueprint.post("/api/progress/sessions/<session_id>/updates")
@errors
@validate_request(UpdateSession)
@document_response(Snapshot)
async def update_session(session_id: str, data: UpdateSession) -> Reply:
    credential(allow_token=False)
    progress = services().progress
    await _require_open(session_id)
    snapshot = progress.update(
        session_id, step=data.step, total=data.total, message=data.message,
        details=data.details, phase=data.phase,
    )
    await progress.flush()  # a 200 means it is on disk
    return snapshot, 200


@blueprint.post("/api/progress/updates")
@errors
@validate_request(UpdateMany)
@document_response(UpdateManyResult)
async def update_many(data: UpdateMany) -> Reply:
    """Several sessions' updates in one request and one commit: for a reporter that
    drives many sessions at once. Each update succeeds or fails on its own."""
    credential(allow_token=False)
    progress = services().progress
    results: list[dict[str, Any]] = []
    for item in data.updates:
        try:
            await _require_open(item.session_id)
            snapshot = progress.update(
                item.session_id, step=item.step, total=item.total, message=item.message,
                details=item.details, phase=item.phase,
            )
            results.append({"session_id": item.session_id, "snapshot": snapshot})
        except IgbridgeError as exc:
            results.append({"session_id": item.session_id,
                            "error": {"code": exc.code, "message": exc.message}})
    await progress.flush()  # one commit for all of them; a 200 means they are on disk
    return {"results": results}, 200


@blueprint.post("/api/progress/sessions/<session_id>/complete")
@errors
@validate_request(FinishSession)
@document_response(Snapshot)
async def complete_session(session_id: str, data: FinishSession) -> Reply:
    return await _finish(session_id, "complete", data.message or "Complete")


@blueprint.post("/api/progress/sessions/<session_id>/fail")
@errors
@validate_request(FinishSession)
@document_response(Snapshot)
async def fail_session(session_id: str, data: FinishSession) -> Reply:
    return await _finish(session_id, "error", data.message or "Failed")


@blueprint.post("/api/progress/sessions/<session_id>/cancel")
@errors
@document_response(Snapshot)
async def cancel_session(session_id: str) -> Reply:
    credential(allow_token=False)
    found = services()
    if await db.fetch_job(found.store.reader, session_id):
        await found.runner.cancel(session_id)
        return await found.progress.get_snapshot(session_id), 200
    return await _finish(session_id, "cancelled", "Cancelled")


async def _finish(session_id: str, status: str, message: str) -> Reply:
    credential(allow_token=False)
    progress = services().progress
    await _require_open(session_id)
    snapshot = progress.finish(session_id, status, message)
    await progress.flush()
    return snapshot, 200


async def _require_open(session_id: str) -> None:
    """404 for an unknown session; a finished one raises 409 in the engine."""
    progress = services().progress
    if not await progress.load(session_id):
        raise NotFound(f"no progress session {session_id}")
    if not progress.is_live(session_id):
        snapshot = await progress.get_snapshot(session_id)
        raise Conflict(f"session {session_id} is already {snapshot['status']}")


@blueprint.get("/api/progress/status/<session_id>")
@errors
@validate_querystring(ReadQuery)
@document_response(Snapshot)
async def session_status(session_id: str, query_args: ReadQuery) -> Reply:
    credential(allow_token=True).require_read([session_id])
    return await services().progress.get_snapshot(session_id), 200


@blueprint.get("/api/progress/sessions")
@errors
@validate_querystring(SessionListQuery)
@document_response(SessionList)
async def list_sessions(query_args: SessionListQuery) -> Reply:
    who = credential(allow_token=True)
    sessions = await db.fetch_sessions(
        services().store.reader, status=query_args.status, limit=query_args.limit,
        before=query_args.before, only=who.sessions,
    )
    return {"sessions": sessions}, 200


# -- streams -----------------------------------------------------------------------------


@blueprint.get("/api/progress/stream/<session_id>")
@errors
async def stream_one(session_id: str) -> Response:
    return await _stream([session_id])


@blueprint.get("/api/progress/stream")
@errors
async def stream_many() -> Response:
    requested = request.args.getlist("session")
    return await _stream(requested or None)


async def _stream(sessions: list[str] | None) -> Response:
    who = credential(allow_token=True)
    found = services()
    last_event_id = parse_last_event_id(
        request.headers.get("Last-Event-ID"), request.args.get("last_event_id")
    )
    plan = await plan_stream(found.progress, who, sessions, last_event_id)
    if plan is None:
        # 204 tells EventSource to stop reconnecting: everything has been seen.
        return Response("", status=204)
    body = event_stream(
        found.progress, plan, heartbeat=found.config.heartbeat_seconds,
        retry_ms=found.config.sse_retry_ms,
    )
    response = Response(body, status=200, content_type="text/event-stream; charset=utf-8")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    response.timeout = None  # Quart's response timeout would cut a long stream
    return response


# -- jobs -------------------------------------------------------------------------------


@blueprint.post("/api/jobs")
@errors
@validate_request(CreateJob)
@document_response(JobAccepted, 202)
async def create_job(data: CreateJob) -> Reply:
    credential(allow_token=False)
    source = data.source.model_dump(mode="json")
    options = data.options.model_dump(mode="json", exclude_none=True)
    job = await services().runner.submit(data.kind, source, options)
    return _accepted(job), 202


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
        return {**_accepted(outcome.job), "reply": outcome.reply}, 202
    return {"reply": outcome.reply, "jobs": outcome.jobs}, 200


def _accepted(job: dict[str, Any]) -> dict[str, Any]:
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
    credential(allow_token=True).require_read([job_id])
    return await services().runner.describe(job_id), 200


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
    return _accepted(job), 202


# -- stream tokens -----------------------------------------------------------------------


@blueprint.post("/api/stream-tokens")
@errors
@validate_request(StreamTokenRequest)
@document_response(StreamToken, 201)
async def create_stream_token(data: StreamTokenRequest) -> Reply:
    credential(allow_token=False)
    token, expires_at = mint_stream_token(services().config.secret, data.sessions, data.ttl)
    return {"token": token, "expires_at": expires_at, "sessions": sorted(set(data.sessions))}, 201

