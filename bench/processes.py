"""Server processes under test: started in their own process group, always stopped.

Every process started here is remembered until it is stopped, so ``stop_all`` in
``__main__`` ends whatever a failing or interrupted scenario left behind.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Protocol

SECRET = "bench-secret-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {SECRET}"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

REPO = Path(__file__).resolve().parent.parent

_running: set[ServerProcess] = set()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_fd_limit() -> int:
    """Lift the soft open-files limit to the hard one (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Server(Protocol):
    """What a measurement needs of what it measures: one process, or several behind a
    load balancer (bench/scale.py)."""

    @property
    def port(self) -> int: ...

    def start(self, timeout: float = 20.0) -> float: ...

    def stop(self, timeout: float = 10.0) -> None: ...

    def cpu_seconds(self) -> float: ...


class ServerProcess:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int,
                 log_path: Path):
        self.name = name
        self.argv = argv
        self.env = env
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 20.0) -> float:
        """Start and wait for ``/healthz``; returns the seconds it took."""
        began = time.monotonic()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=REPO,
            )
        _running.add(self)
        while time.monotonic() - began < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n"
                                   f"{self.log_tail()}")
            if self._healthy():
                return time.monotonic() - began
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"{self.name} did not answer /healthz:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1.0)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def kill(self) -> None:
        """SIGKILL the process group: a crash, not a shutdown."""
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        _running.discard(self)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        _running.discard(self)

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    # -- what /proc says about it -------------------------------------------------

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError(f"no VmRSS for {self.pid}")

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IGBRIDGE_")}
    env.update({"IGBRIDGE_SECRET": SECRET, "IGBRIDGE_LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


def sidecar(data_dir: Path, port: int | None = None,
            env: dict[str, str] | None = None) -> ServerProcess:
    """The real sidecar, as ``igbridge serve`` runs it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    argv = [sys.executable, "-m", "sidecar", "serve", "--host", "127.0.0.1",
            "--port", str(port), "--data-dir", str(data_dir)]
    return ServerProcess("sidecar", argv, _environment(env), port,
                         data_dir.parent / f"{data_dir.name}-sidecar.log")


def baseline(work_dir: Path, port: int | None = None) -> ServerProcess:
    """The seed-style polling server (bench/baseline_server.py)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    argv = [sys.executable, "-m", "bench.baseline_server", "--port", str(port)]
    return ServerProcess("baseline", argv, _environment(), port, work_dir / "baseline.log")


def stop_all() -> None:
    for server in list(_running):
        server.kill()
