"""A real redis-server for tests: Debian's binary on a free port, its own directory, AOF on.

Starts in milliseconds, so every test that wants one gets a fresh one (the
``redis_server`` fixture). ``kill()`` is a crash (SIGKILL of its process group),
``restart()`` starts it again on the same port and directory, replaying its
append-only file. The configuration is ``dev/redis_server.py``'s, the same as
``make stack-up SIDECARS=2`` runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dev import redis_server as config
from tests.support.sidecar_process import SidecarProcess, free_port


class RedisServer:
    def __init__(self, directory: Path, *, port: int | None = None,
                 appendfsync: str = "everysec"):
        self.directory = directory
        self.port = port or free_port()
        self.appendfsync = appendfsync
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = directory / "redis.log"

    def url(self, db: int = 0) -> str:
        return config.url(self.port, db)

    def start(self, timeout: float = 30.0) -> RedisServer:
        argv = config.prepare(self.directory, self.port, appendfsync=self.appendfsync)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while not config.answers_ping(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}:\n"
                                   + self.log_path.read_text()[-3000:])
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("redis-server did not answer PING:\n"
                                   + self.log_path.read_text()[-3000:])
            time.sleep(0.01)
        return self

    def kill(self) -> None:
        """SIGKILL: what the last second of writes is worth is in docs/durability.md."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: Redis fsyncs its AOF and exits."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise

    def restart(self) -> RedisServer:
        self.kill()
        return self.start()


# The sidecar's words for an engine it lacks (sidecar/config.py, web/app.py).
ENGINE_MISSING = "is not available"


@pytest.fixture(scope="session")
def redis_engine(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Skip, saying so, while the sidecar refuses ``IGBRIDGE_BACKEND=redis://``; any
    other failure of a sidecar on Redis to start fails the test."""
    root = tmp_path_factory.mktemp("redis-engine-probe")
    redis = RedisServer(root / "redis").start()
    probe = SidecarProcess(root / "data", env={"IGBRIDGE_BACKEND": redis.url()})
    try:
        probe.start()
    except RuntimeError as error:
        if ENGINE_MISSING in str(error):
            pytest.skip("the sidecar refuses IGBRIDGE_BACKEND=redis:// (the Redis engine "
                        "is not on this branch yet)")
        raise
    finally:
        probe.kill()
        redis.kill()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh Redis for one test."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.kill()
