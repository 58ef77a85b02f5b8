"""A real ``redis-server`` on a free 127.0.0.1 port, in a temporary directory, for tests.

``RedisServer.start(dir)`` runs Debian's redis-server with AOF on (``appendfsync
always``: a test that restarts it finds every acknowledged write) and no RDB
snapshots; ``stop()``/``start_again()`` restart it on the same port and files, as a
Redis that went away and came back; ``kill()`` is kill -9. The ``redis_server``
fixture (tests/conftest.py) is one per test session; ``redis_url`` is its URL with
every key flushed before the test.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from dev import redis_server
from dev.stack import free_port


@dataclass
class RedisServer:
    dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return redis_server.url(self.port)

    @classmethod
    def start(cls, dir: Path, port: int | None = None) -> RedisServer:
        server = cls(dir=dir, port=port or free_port())
        server.start_again()
        return server

    def start_again(self) -> None:
        # The dev stack's configuration (dev/redis_server.py), every write fsynced.
        argv = redis_server.prepare(self.dir, self.port, appendfsync="always")
        with (self.dir / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
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
