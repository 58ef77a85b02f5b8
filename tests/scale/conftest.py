"""Several real sidecar processes on one real Redis, with a real nginx in front.

``cluster(n)`` starts a Redis of its own (``tests/redis_server.py``), ``n`` sidecars on
the Redis engine (each its own port and data dir) and nginx with the configuration
``make stack-up SIDECARS=n`` and docker-compose.yml use.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.redis_server import RedisServer
from tests.support.nginx_process import NginxProcess
from tests.support.sidecar_process import SidecarProcess

HEARTBEAT_SECONDS = 1.0


@dataclass
class Cluster:
    redis: RedisServer
    sidecars: list[SidecarProcess]
    nginx: NginxProcess
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.nginx.url

    @property
    def headers(self) -> dict[str, str]:
        return self.sidecars[0].headers

    def client(self, base_url: str | None = None) -> httpx.Client:
        client = httpx.Client(base_url=base_url or self.url, headers=self.headers, timeout=30)
        self.clients.append(client)
        return client

    def upstream(self, sidecar: SidecarProcess) -> str:
        return f"127.0.0.1:{sidecar.port}"

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.nginx.stop()
        for sidecar in self.sidecars:
            sidecar.kill()
        self.redis.kill()


def redis_sidecar(data_dir: Path, redis: RedisServer, **env: str) -> SidecarProcess:
    return SidecarProcess(data_dir, env={"IGBRIDGE_BACKEND": redis.url,
                                         "IGBRIDGE_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
                                         **env})


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Callable[[int], Cluster]]:
    """``cluster(n)``: a Redis of its own, ``n`` sidecar processes on it, nginx in front."""
    started: list[Cluster] = []

    def start(count: int) -> Cluster:
        root = tmp_path / f"cluster-{len(started)}"
        redis = RedisServer.start(root / "redis")
        sidecars = [redis_sidecar(root / f"sidecar-{i + 1}", redis) for i in range(count)]
        balancer = NginxProcess(root / "nginx", [s.port for s in sidecars],
                                heartbeat_seconds=HEARTBEAT_SECONDS)
        running = Cluster(redis, sidecars, balancer)
        started.append(running)
        for sidecar in sidecars:
            sidecar.start()
        balancer.start()
        return running

    try:
        yield start
    finally:
        for running in started:
            with contextlib.suppress(Exception):
                running.close()
