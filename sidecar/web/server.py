"""Run the app under Hypercorn with a shutdown that never waits on open streams, or
without HTTP as a job worker (``igbridge worker``)."""

from __future__ import annotations

import asyncio
import signal

from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig

from ..config import Config
from ..errors import ConfigError
from .app import create_app, lock_data_dir, uses_redis
from .services import Services

GRACEFUL_SECONDS = 3.0


async def run_server(config: Config) -> None:
    # Taken before Hypercorn starts, so a second sidecar fails with one clear line.
    app = create_app(config, lock_file=lock_data_dir(config))
    hyper = HypercornConfig()
    host = f"[{config.host}]" if ":" in config.host else config.host
    hyper.bind = [f"{host}:{config.port}"]
    hyper.graceful_timeout = GRACEFUL_SECONDS
    hyper.keep_alive_timeout = 75
    hyper.accesslog = None
    hyper.errorlog = "-"
    hyper.backlog = 2048

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def shutdown_trigger() -> None:
        await stop.wait()
        # End every SSE stream first: Hypercorn then finds idle connections and
        # shuts down at once instead of waiting out its graceful timeout.
        found: Services | None = app.extensions.get("igbridge")
        if found is not None:
            found.end_streams()

    await serve(app, hyper, shutdown_trigger=shutdown_trigger)


async def run_worker(config: Config) -> None:
    """Jobs without HTTP: the app's start-up opens the backend and its SAQ worker, a
    signal runs the shut-down (which hands the running jobs back to the queue)."""
    if not uses_redis(config):
        raise ConfigError("igbridge worker shares jobs through Redis: set "
                          "IGBRIDGE_BACKEND=redis://host:port/db (with SQLite, "
                          "`igbridge serve` runs the jobs itself)")
    app = create_app(config, lock_file=lock_data_dir(config))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await app.startup()
    try:
        await stop.wait()
    finally:
        await app.shutdown()
