"""``/healthz``: alive, and what this process is doing; needs no secret. A 503 when
the event log's store cannot be used, with the reason (a Redis that is away), or when
this process's follow of a shared log is not running (its streams would go quiet)."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import document_response, security_scheme

from ... import __version__
from ..routing import Reply, services
from ..schemas import Health

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
@document_response(Health)
@security_scheme([])
async def healthz() -> Reply:
    found = services()
    problem = await found.progress.log.problem() or found.progress.follow_problem
    return {
        "status": "ok" if problem is None else "unavailable",
        "problem": problem,
        "version": __version__,
        "jobs_running": len(found.runner.running_job_ids()),
        "streams_open": found.progress.subscriber_count,
        "compactions_done": found.progress.compactions_done,
        # Whether this process's uploads reach the others (names no directory).
        "uploads_shared": found.config.uploads_dir is not None,
        "uploads_warning": found.config.uploads_per_process,
    }, 200 if problem is None else 503
