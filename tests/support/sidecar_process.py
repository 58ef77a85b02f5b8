"""A real sidecar process for tests: Hypercorn on a free 127.0.0.1 port, its own data dir.

It runs in its own process group so a test can ``kill -9`` it like a host would,
then start it again on the same data dir and port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

SECRET = "test-secret-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SidecarProcess:
    def __init__(self, data_dir: Path, *, env: dict[str, str] | None = None,
                 secret: str | None = SECRET, port: int | None = None):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.secret = secret
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-sidecar.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}

    def client(self, timeout: float = 10.0) -> httpx.Client:
        """An HTTP client on this process with its secret; close it (``with``) when done."""
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=timeout)

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IGBRIDGE_")}
        env.update({"IGBRIDGE_HEARTBEAT_SECONDS": "15", "IGBRIDGE_BACKOFF_SECONDS": "0.05",
                    "IGBRIDGE_LOG_LEVEL": "WARNING"})
        if self.secret is not None:
            env["IGBRIDGE_SECRET"] = self.secret
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 15.0) -> SidecarProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sidecar", "serve", "--host", "127.0.0.1",
             "--port", str(self.port), "--data-dir", str(self.data_dir)],
            env=self.environment(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sidecar exited with {self.process.returncode}:\n"
                                   + self.log_path.read_text()[-3000:])
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("sidecar did not answer /healthz:\n" + self.log_path.read_text()[-3000:])

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, not a shutdown."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 10.0) -> float:
        """SIGTERM and wait; returns how long the shutdown took."""
        if not self.process or self.process.poll() is not None:
            return 0.0
        began = time.monotonic()
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return time.monotonic() - began

    def restart(self) -> SidecarProcess:
        self.kill()
        return self.start()
