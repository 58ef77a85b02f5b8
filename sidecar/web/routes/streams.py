"""The SSE streams: one session's, several sessions', or every session's."""

from __future__ import annotations

from quart import Blueprint, Response, request

from ..routing import credential, errors, services
from ..sse import event_stream, plan_stream
from ..sse import last_event_id as client_last_event_id

blueprint = Blueprint("streams", __name__)


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
    last_event_id = client_last_event_id(
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
