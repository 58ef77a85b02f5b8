"""A real nginx in front of sidecar processes, for tests: ``dev/nginx.py``'s configuration
(the site shared with docker-compose.yml) on a free port, its own prefix directory.

The access log records which sidecar answered each request (``upstreams``), which is
how a test sees that requests were spread over the processes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from dev import nginx
from tests.support.sidecar_process import free_port


class NginxProcess:
    def __init__(self, prefix: Path, upstream_ports: Sequence[int], *,
                 heartbeat_seconds: float = 15.0,
                 edit_site: Callable[[str], str] | None = None):
        self.prefix = prefix
        self.port = free_port()
        self.upstream_ports = list(upstream_ports)
        self.heartbeat_seconds = heartbeat_seconds
        self.edit_site = edit_site
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> NginxProcess:
        argv = nginx.prepare(self.prefix, port=self.port,
                             upstreams=[f"127.0.0.1:{p}" for p in self.upstream_ports],
                             heartbeat_seconds=self.heartbeat_seconds,
                             edit_site=self.edit_site)
        log = self.prefix / "logs" / "nginx.out"
        with log.open("ab") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while not _listening(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("nginx did not start:\n" + self.error_log())
            time.sleep(0.02)
        return self

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def upstreams(self, path_prefix: str = "") -> list[str]:
        """The sidecar (``127.0.0.1:port``) that answered each logged request."""
        return nginx.upstreams_in_log(self.prefix, path_prefix)

    def error_log(self) -> str:
        path = self.prefix / "logs" / "error.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(no error log)"


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
