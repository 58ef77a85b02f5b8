"""The app factory: resources opened in start-up, closed in shut-down; errors mapped once."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from typing import IO, Any

import httpx
from pydantic import ValidationError
from quart import Quart, Request, Response, g, request
from quart_schema import QuartSchema, RequestSchemaValidationError
from quart_schema.validation import QuerystringValidationError
from werkzeug.exceptions import HTTPException

from .. import __version__
from ..backends.base import Backend
from ..backends.redis.backend import RedisBackend
from ..backends.redis.connection import blocking_client, parse_url
from ..backends.sqlite.backend import SqliteBackend
from ..config import Config, ensure_secret
from ..errors import BadRequest, ConfigError, Forbidden, IgbridgeError
from ..jobs.dispatch import Dispatcher, InProcessDispatcher
from ..jobs.kinds import default_kinds
from ..jobs.runner import JobRunner
from ..jobs.saq_dispatch import DEQUEUE_TIMEOUT_SECONDS, SaqDispatcher, connections_for
from ..jobs.scheduler import run_schedules
from ..progress.engine import ProgressEngine
from ..sources.apify_token import ApifyToken
from ..uploads.storage import MAX_CHUNK_BYTES, UploadLimits, UploadStore
from .auth import authenticate, origin_allowed
from .routes import health, jobs, sessions, settings, sources, streams, tokens, uploads
from .routes.uploads import is_chunk_request
from .services import Services

log = logging.getLogger(__name__)

COMPACTION_INTERVAL_SECONDS = 3600.0


class JsonSafeRequest(Request):
    """A body that is not UTF-8, or nested absurdly deep, is the client's fault: 400.
    An upload chunk may be larger than the 2 MB any JSON body may be."""

    def __init__(self, method: str, scheme: str, path: str, *args: Any,
                 max_content_length: int | None = None, **kwargs: Any) -> None:
        if is_chunk_request(method, path):
            max_content_length = MAX_CHUNK_BYTES
        super().__init__(method, scheme, path, *args, max_content_length=max_content_length,
                         **kwargs)

    async def get_json(
        self, force: bool = False, silent: bool = False, cache: bool = True
    ) -> Any:
        try:
            return await super().get_json(force=force, silent=silent, cache=cache)
        except (UnicodeDecodeError, RecursionError):
            raise BadRequest(
                "the request body is not valid JSON (not UTF-8, or nested too deeply)"
            ) from None


def uses_redis(config: Config) -> bool:
    return config.shared_backend


async def open_backend(config: Config) -> Backend:
    """The storage and job engine, chosen here once (``IGBRIDGE_BACKEND``, checked by
    ``config.py``): ``sqlite``, or ``redis://…`` shared by several processes (the event
    log on Redis Streams, jobs on SAQ, the rest in Redis: ``backends/redis``)."""
    if uses_redis(config):
        return await RedisBackend.open(config.backend)
    return await SqliteBackend.open(config.db_path)


def open_dispatcher(config: Config, backend: Backend) -> Dispatcher:
    """How jobs get to run: this process's tasks on SQLite; on Redis a SAQ queue that
    every process works from (``jobs/saq_dispatch.py``)."""
    if isinstance(backend, RedisBackend):
        return saq_dispatcher(backend.settings.url, name="igbridge",
                              concurrency=config.max_jobs)
    return InProcessDispatcher()


def saq_dispatcher(url: str, *, name: str, concurrency: int) -> SaqDispatcher:
    """SAQ on its own bounded client whose socket timeout outlasts a dequeue."""
    client = blocking_client(parse_url(url), block_seconds=DEQUEUE_TIMEOUT_SECONDS,
                             max_connections=connections_for(concurrency))
    return SaqDispatcher(client, name=name, concurrency=concurrency)


def lock_data_dir(config: Config) -> IO[str]:
    """One sidecar per data dir: a second one would corrupt the id sequence."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    handle = (config.data_dir / "sidecar.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConfigError(
            f"another igbridge sidecar is already using {config.data_dir}"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def create_app(config: Config, *, lock_file: IO[str] | None = None) -> Quart:
    """The app; ``lock_file`` is the data dir's lock when the caller already holds it."""
    config = ensure_secret(config)
    app = Quart("sidecar")
    app.request_class = JsonSafeRequest
    app.config["QUART_SCHEMA_CONVERT_CASING"] = False
    app.config["MAX_CONTENT_LENGTH"] = 2 * 1024 * 1024
    QuartSchema(
        app,
        openapi_path="/openapi.json",
        swagger_ui_path=None,
        redoc_ui_path=None,
        scalar_ui_path=None,
        info={"title": "igbridge sidecar", "version": __version__},
        security_schemes={
            "bearer": {"type": "http", "scheme": "bearer"},
            "token": {"type": "apiKey", "in_": "query", "name": "token"},
        },
        security=[{"bearer": []}],
    )
    app.extensions["igbridge_config"] = config

    for routes in (health, sessions, streams, jobs, tokens, uploads, settings, sources):
        app.register_blueprint(routes.blueprint)

    @app.before_serving
    async def open_resources() -> None:
        lock = lock_file or lock_data_dir(config)
        backend = await open_backend(config)
        progress = ProgressEngine(backend.events)
        await progress.start()
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, connect=10.0),
            headers={"User-Agent": f"igbridge/{__version__}"},
            limits=httpx.Limits(max_connections=32),
        )
        per_process = config.uploads_per_process
        if per_process:
            log.warning("%s", per_process)
        upload_store = UploadStore(config.upload_directory, UploadLimits(
            max_file_bytes=config.upload_max_bytes, max_chunk_bytes=MAX_CHUNK_BYTES,
            reserve_bytes=config.upload_reserve_bytes,
            retention_seconds=config.retention_days * 86400), missing_hint=per_process or "")
        await upload_store.open()
        apify_token = ApifyToken(config.apify_token, config.data_dir)
        runner = JobRunner(config, backend, progress, http, default_kinds(),
                           uploads=upload_store, apify_token=apify_token,
                           dispatcher=open_dispatcher(config, backend))
        found = Services(config, backend, progress, runner, http, lock, upload_store,
                         apify_token)
        app.extensions["igbridge"] = found
        await runner.start()
        found.background.append(asyncio.create_task(_compact_periodically(found)))
        found.background.append(asyncio.create_task(run_schedules(backend.sources, runner),
                                                    name="schedules"))

    @app.after_serving
    async def close_resources() -> None:
        found: Services | None = app.extensions.get("igbridge")
        if found is None:
            return
        found.end_streams()
        for task in found.background:
            task.cancel()
        await found.runner.stop()
        await found.progress.close()
        await found.http.aclose()
        await found.backend.close()
        found.lock_file.close()

    @app.before_request
    async def check_origin_and_credentials() -> Response | None:
        origin = request.headers.get("Origin")
        if origin and not _origin_ok(origin, config):
            raise Forbidden(f"origin {origin} is not allowed (IGBRIDGE_ALLOWED_ORIGINS)")
        if request.method == "OPTIONS":
            return Response("", status=204)
        if request.path.startswith("/api/"):
            # Before any body is read or validated: a stranger learns nothing, not
            # even what a valid body looks like. Reads may use a stream token.
            g.igbridge_credential = authenticate(
                config.secret, dict(request.headers), request.args.get("token"),
                allow_token=request.method == "GET",
            )
        return None

    @app.after_request
    async def close_after_refused_body(response: Response) -> Response:
        # A request refused before its body was read (a chunk without Upload-Offset, a
        # wrong secret) leaves that body on the connection, and the server drops it;
        # saying so keeps a keep-alive client from sending its next request into that.
        declares_body = request.content_length or "Transfer-Encoding" in request.headers
        if response.status_code >= 400 and declares_body:
            response.headers["Connection"] = "close"
        return response

    @app.after_request
    async def add_cors(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if origin and _origin_ok(origin, config):
            response.headers["Access-Control-Allow-Origin"] = origin
            # EventSource(url, {withCredentials: true}) needs this, with the exact origin.
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Access-Control-Expose-Headers"] = "Content-Type"
            if request.method == "OPTIONS":
                response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
                response.headers["Access-Control-Allow-Headers"] = (
                    "Authorization, Content-Type, Last-Event-ID"
                )
                response.headers["Access-Control-Max-Age"] = "600"
        response.headers.add("Vary", "Origin")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(IgbridgeError)
    async def igbridge_error(error: IgbridgeError) -> tuple[dict[str, Any], int]:
        return error.to_json(), error.status

    @app.errorhandler(RequestSchemaValidationError)
    async def body_invalid(error: RequestSchemaValidationError) -> tuple[dict[str, Any], int]:
        return _error("validation_error", _describe(error.validation_error)), 422

    @app.errorhandler(QuerystringValidationError)
    async def query_invalid(error: QuerystringValidationError) -> tuple[dict[str, Any], int]:
        return _error("validation_error", _describe(error.validation_error)), 422

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> tuple[dict[str, Any], int]:
        status = error.code or 500
        codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
                 413: "too_large", 415: "unsupported_media_type"}
        message = {
            400: "the request body is not valid JSON",
            404: f"no route {request.path}",
            405: f"{request.method} is not allowed on {request.path}",
            413: "the request body is too large",
        }.get(status, error.description or error.name)
        return _error(codes.get(status, "http_error"), message), status

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> tuple[dict[str, Any], int]:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error("internal_error", "internal error; see the sidecar log"), 500

    return app


def _origin_ok(origin: str, config: Config) -> bool:
    own = [config.public_url] if config.public_url else []
    return origin_allowed(origin, [*config.allowed_origins, *own])


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _describe(error: Exception) -> str:
    if isinstance(error, ValidationError):
        parts = []
        for item in error.errors()[:5]:
            where = ".".join(str(p) for p in item["loc"]) or "body"
            parts.append(f"{where}: {item['msg']}")
        return "; ".join(parts)
    if isinstance(error, TypeError):
        return "the request body must be a JSON object"
    return str(error) or "invalid request"


async def _compact_periodically(found: Services) -> None:
    """Retention compaction at start-up and hourly, in the background: a large database
    takes seconds to compact, and the sidecar serves meanwhile. Uploaded exports nothing
    used for the retention period go in the same pass."""
    while True:
        try:
            count = await found.progress.compact(found.config.retention_days)
        except IgbridgeError as exc:
            log.warning("retention compaction failed: %s", exc.message)
        else:
            if count:
                log.info("compacted %d finished session(s)", count)
        try:
            purged = await found.uploads.purge_expired()
        except OSError as exc:
            log.warning("deleting expired uploads failed: %s", exc)
        else:
            if purged:
                log.info("deleted %d upload(s) past the retention period", purged)
        await asyncio.sleep(COMPACTION_INTERVAL_SECONDS)
