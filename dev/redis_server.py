"""Debian's redis-server for the Redis engine: own port, own directory, AOF on.

``prepare()`` writes the configuration and returns the command (foreground, logging to
stdout); ``answers_ping()`` tells when it serves (not while it still loads its AOF).
Used by ``dev/stack.py`` (``make stack-up SIDECARS=2``), ``tests/redis_server.py``
and ``bench/scale.py``. What ``appendfsync everysec`` may lose is in docs/durability.md.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path


class RedisServerError(RuntimeError):
    """redis-server is missing; the message says how to install it."""


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise RedisServerError("redis-server is not installed: run "
                               "`bash tools/install-system-packages.sh` (Debian's redis-server)")
    return found


def config(port: int, data_dir: Path, *, appendfsync: str = "everysec") -> str:
    return "\n".join([
        "# Written on every start; edits are lost.",
        f"port {port}",
        "bind 127.0.0.1",
        "protected-mode yes",
        "daemonize no",
        f'dir "{data_dir}"',
        'logfile ""',
        # Every write in the append-only file, flushed to disk once a second: a crash
        # of the host loses at most the last second (docs/durability.md).
        "appendonly yes",
        f"appendfsync {appendfsync}",
        # No RDB snapshots besides the AOF's own base file.
        'save ""',
        "",
    ])


def prepare(data_dir: Path, port: int, *, appendfsync: str = "everysec") -> list[str]:
    """Write ``data_dir/redis.conf`` and return the command that runs redis-server."""
    binary = redis_binary()
    data_dir.mkdir(parents=True, exist_ok=True)
    conf = data_dir / "redis.conf"
    conf.write_text(config(port, data_dir.resolve(), appendfsync=appendfsync))
    return [binary, str(conf)]


def answers_ping(port: int, timeout: float = 0.5) -> bool:
    """True once the server answers PING with PONG (it answers -LOADING while it
    replays its append-only file)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def url(port: int, db: int = 0) -> str:
    return f"redis://127.0.0.1:{port}/{db}"
