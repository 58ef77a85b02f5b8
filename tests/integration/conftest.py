from __future__ import annotations

from collections.abc import Iterator
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
