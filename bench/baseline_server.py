"""The seed's design, rebuilt as the baseline igbridge is measured against.

Sessions live in a dict in memory. The SSE endpoint loops: every 500 ms it wakes
up and, if the session's state changed since its last look, sends the whole
current state. No event ids, no event log, no replay; a restart forgets every
session. Same stack as the sidecar (Quart on Hypercorn) and the same routes, so
the comparison measures the design, not the framework.

    python -m bench.baseline_server --port 8800
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig
from quart import Quart, Response, request

POLL_SECONDS = 0.5

app = Quart("baseline")
sessions: dict[str, dict[str, Any]] = {}


@app.get("/healthz")
async def healthz() -> dict[str, Any]:
    return {"status": "ok", "sessions": len(sessions)}


@app.post("/api/progress/sessions")
async def create_session() -> tuple[dict[str, Any], int]:
    body = await request.get_json()
    session_id = uuid.uuid4().hex
    sessions[session_id] = {
        "session_id": session_id,
        "operation": body.get("operation", ""),
        "status": "starting",
        "step": 0,
        "total_steps": int(body.get("total_steps", 0)),
        "percentage": 0.0,
        "message": "Starting…",
        "details": {},
        "updated_at": time.time(),
    }
    return sessions[session_id], 201


@app.post("/api/progress/sessions/<session_id>/updates")
async def update_session(session_id: str) -> tuple[dict[str, Any], int]:
    state = sessions.get(session_id)
    if state is None:
        return {"error": {"code": "not_found", "message": f"no session {session_id}"}}, 404
    body = await request.get_json()
    for key in ("step", "message", "details"):
        if key in body:
            state[key] = body[key]
    total = state["total_steps"]
    state["percentage"] = round(state["step"] * 100.0 / total, 1) if total else 0.0
    state["status"] = "running"
    state["updated_at"] = time.time()
    return state, 200


@app.get("/api/progress/status/<session_id>")
async def status(session_id: str) -> tuple[dict[str, Any], int]:
    state = sessions.get(session_id)
    if state is None:
        return {"error": {"code": "not_found", "message": f"no session {session_id}"}}, 404
    return state, 200


@app.get("/api/progress/stream/<session_id>")
async def stream(session_id: str) -> Response | tuple[dict[str, Any], int]:
    if session_id not in sessions:
        return {"error": {"code": "not_found", "message": f"no session {session_id}"}}, 404

    async def poll() -> AsyncIterator[bytes]:
        last_sent: str | None = None
        while True:
            state = sessions.get(session_id)
            if state is None:
                return
            current = json.dumps(state)
            if current != last_sent:
                last_sent = current
                yield f"data: {current}\n\n".encode()
            if state["status"] in ("complete", "error"):
                return
            await asyncio.sleep(POLL_SECONDS)

    response = Response(poll(), content_type="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.timeout = None
    return response


async def main(port: int) -> None:
    config = HypercornConfig()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = "-"
    config.backlog = 2048
    config.graceful_timeout = 1.0
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(app, config, shutdown_trigger=stop.wait)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(main(parser.parse_args().port))
