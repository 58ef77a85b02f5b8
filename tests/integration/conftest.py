from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.sidecar_process import SidecarProcess


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[SidecarProcess]:
    process = SidecarProcess(tmp_path / "data", env={"IGBRIDGE_HEARTBEAT_SECONDS": "0.3"})
    process.start()
    try:
        yield process
    finally:
        process.kill()


@pytest.fixture
def api(sidecar: SidecarProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=10.0) as client:
        yield client


@pytest.fixture(params=["sqlite", "redis"])
def engine_sidecar(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SidecarProcess]:
    """A sidecar on each engine: its own SQLite file, or the test session's redis-server
    (emptied first) for its event log. A test module opts in by taking this as its
    ``sidecar``."""
    env = {"IGBRIDGE_HEARTBEAT_SECONDS": "0.3"}
    if request.param == "redis":
        env["IGBRIDGE_BACKEND"] = request.getfixturevalue("redis_url")
    process = SidecarProcess(tmp_path / "data", env=env)
    process.start()
    try:
        yield process
    finally:
        process.kill()


@pytest.fixture
def processes(tmp_path: Path, redis_url: str) -> Iterator[Callable[..., SidecarProcess]]:
    """``start("a")``: a sidecar on the session's Redis (emptied for the test; AOF with
    fsync always) with its own data dir, ``start("a", env={...})`` with more settings;
    all killed when the test ends. A module whose processes all need the same settings
    overrides this fixture with one that passes them."""
    started: list[SidecarProcess] = []

    def start(name: str, env: dict[str, str] | None = None) -> SidecarProcess:
        process = SidecarProcess(tmp_path / name,
                                 env={"IGBRIDGE_BACKEND": redis_url, **(env or {})})
        started.append(process.start())
        return process

    yield start
    for process in started:
        process.kill()
