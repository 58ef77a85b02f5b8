"""A real ``redis-server`` on a free 127.0.0.1 port, in a temporary directory, for tests.

``RedisServer.start(dir)`` runs Debian's redis-server with AOF on (``appendfsync
always``: a test that restarts it finds every acknowledged write) and no RDB
snapshots; ``stop()``/``start_again()`` restart it on the same port and files, as a
Redis that went away and came back; ``kill()`` is kill -9. The ``redis_server``
fixture (tests/conftest.py) is one per test session; ``redis_url`` is its URL with
every key flushed before the test.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls, dir: Path, port: int | None = None) -> RedisServer:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        server = cls(dir=dir, port=port or free_port())
        server.start_again()
        return server

    def start_again(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.dir), "--save", "", "--appendonly", "yes",
             "--appendfsync", "always", "--protected-mode", "no",
             "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        self.wait_until_ready()

    def wait_until_ready(self, timeout: float = 20.0) -> None:
        """Until it answers PING (a condition, not a sleep: a short poll of it)."""
        client = redis.Redis(port=self.port, socket_timeout=1.0)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.exceptions.BusyLoadingError:
                    pass
                except redis.exceptions.ConnectionError:
                    if self.process is not None and self.process.poll() is not None:
                        raise RuntimeError(
                            f"redis-server exited: {(self.dir / 'redis.log').read_text()[-2000:]}"
                        ) from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {self.port} did not start")
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        """A clean shutdown (the AOF is complete)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=20)
        self.process = None

    def flush(self) -> None:
        client = redis.Redis(port=self.port)
        try:
            client.flushall()
        finally:
            client.close()
