"""Progress sessions over HTTP: create, update, finish, read and list them."""

from __future__ import annotations

import asyncio
from typing import Any

from quart import Blueprint
from quart_schema import document_response, validate_querystring, validate_request

from ...errors import Conflict, IgbridgeError, NotFound, StorageError
from ..routing import Reply, credential, errors, services
from ..schemas import (
    CreateSession,
    FinishSession,
    ReadQuery,
    SessionList,
    SessionListQuery,
    Snapshot,
    UpdateMany,
    UpdateManyResult,
    UpdateSession,
)

blueprint = Blueprint("sessions", __name__)


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
    snapshot = await progress.record_update(  # a 200 means it is stored
        session_id, step=data.step, total=data.total, message=data.message,
        details=data.details, phase=data.phase,
    )
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
    answers: list[asyncio.Future[dict[str, Any]] | IgbridgeError] = []
    for item in data.updates:
        try:
            await _require_open(item.session_id)
            answers.append(progress.enqueue_update(
                item.session_id, step=item.step, total=item.total, message=item.message,
                details=item.details, phase=item.phase,
            ))
        except IgbridgeError as exc:
            answers.append(exc)
    # One commit for all of them; a 200 means they are stored. An update another
    # process's write made invalid meanwhile is refused on its own, like any other.
    outcomes = await asyncio.gather(
        *(a for a in answers if not isinstance(a, IgbridgeError)), return_exceptions=True)
    settled = iter(outcomes)
    results: list[dict[str, Any]] = []
    for item, answer in zip(data.updates, answers, strict=True):
        outcome = answer if isinstance(answer, IgbridgeError) else next(settled)
        if isinstance(outcome, StorageError) or not isinstance(outcome, IgbridgeError | dict):
            raise outcome
        if isinstance(outcome, IgbridgeError):
            results.append({"session_id": item.session_id,
                            "error": {"code": outcome.code, "message": outcome.message}})
        else:
            results.append({"session_id": item.session_id, "snapshot": outcome})
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
    if await found.backend.jobs.get(session_id):
        await found.runner.cancel(session_id)
        return await found.progress.get_snapshot(session_id), 200
    return await _finish(session_id, "cancelled", "Cancelled")


async def _finish(session_id: str, status: str, message: str) -> Reply:
    credential(allow_token=False)
    progress = services().progress
    await _require_open(session_id)
    return await progress.record_finish(session_id, status, message), 200


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
    sessions = await services().progress.list_sessions(
        status=query_args.status, limit=query_args.limit, before=query_args.before,
        only=who.sessions,
    )
    return {"sessions": sessions}, 200
