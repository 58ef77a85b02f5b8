"""The local stack without Docker: MariaDB, WordPress on PHP's built-in server, the sidecar.

``python -m dev.stack up|down|status [--root DIR] [--sidecars N] [--backend redis]`` for
people; ``start_stack()`` and ``Stack`` for tests, the demo and benchmarks. Every
process runs in its own process group and only those groups are ever signalled. The
facts this relies on are in ``WORDPRESS.md`` (verified on the target machine).

With several sidecars (or ``--backend redis``) the stack is the scaled one: Debian's
redis-server (AOF on, ``dev/redis_server.py``), N sidecar processes on the Redis engine,
each with its own port and data dir and all with one uploads dir, and Debian's nginx
in front of them
(``dev/nginx.py``, the site shared with docker-compose.yml); WordPress and browsers are
given nginx's URL as the sidecar's.

Layout of the root directory (default ``.devstack/`` in the repository)::

    mariadb/data        database files (kept across restarts)
    wordpress/          copy of /usr/share/wordpress with our wp-config.php (kept)
    sidecar/            the sidecar's data dir (kept); sidecar-2/, … for more processes
    uploads/            uploaded exports, shared by the sidecars on Redis (kept)
    redis/              redis.conf and the append-only file (scaled stack; kept)
    nginx/              nginx.conf, the filled-in site, pid, temp files (scaled stack)
    logs/*.log          one log per process (nginx's own in nginx/logs/)
    secrets.json        admin password, sidecar secret, WordPress salts (kept)
    stack.json          what is running now (removed by ``down``)
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dev import nginx, redis_server

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ROOT = REPO / ".devstack"
WORDPRESS_SOURCE = Path("/usr/share/wordpress")
PLUGIN_SOURCE = REPO / "wp-plugin" / "igbridge"
PLUGIN_FILE = "igbridge/igbridge.php"
ROUTER = Path(__file__).resolve().parent / "router.php"
SETUP_SCRIPT = Path(__file__).resolve().parent / "setup_wordpress.php"
SIDECAR_BIN = REPO / ".venv" / "bin" / "igbridge"
DB_NAME = "wordpress"
ADMIN_USER = "admin"
APP_PASSWORD_NAME = "igbridge-dev"
STOP_GRACE_SECONDS = 5.0
BACKENDS = ("sqlite", "redis")
DEFAULT_HEARTBEAT_SECONDS = 15.0
# Variables handed to the sidecar from the caller's environment besides IGBRIDGE_*.
PASSED_THROUGH = ("APIFY_TOKEN",)
SALT_NAMES = (
    "AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY",
    "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT",
)


class StackError(RuntimeError):
    """The stack could not be started, reached or stopped; the message says which part."""


# ---------------------------------------------------------------- processes


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name, or None when there is no such pid."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw[raw.rindex(")") + 2:].split()


def _start_time(pid: int) -> int | None:
    """Kernel start time of a pid: tells our process from a later one that reused its pid."""
    fields = _proc_stat(pid)
    return int(fields[19]) if fields else None


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _proc_stat(int(entry.name))
        if fields and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


@dataclass
class ManagedProcess:
    """One process we started as the leader of its own process group."""

    name: str
    pid: int
    start_time: int | None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    def is_ours(self) -> bool:
        return self.start_time is not None and _start_time(self.pid) == self.start_time

    def is_alive(self) -> bool:
        if self.popen is not None and self.popen.poll() is not None:
            return False
        fields = _proc_stat(self.pid)
        return self.is_ours() and fields is not None and fields[0] != "Z"

    def stop(self, *, kill: bool = False, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM the whole group (SIGKILL with ``kill``), SIGKILL what is left after grace."""
        if self.popen is None and not self.is_ours():
            return  # long gone, and the pid may now belong to someone else
        for signum in (signal.SIGKILL if kill else signal.SIGTERM, signal.SIGKILL):
            self._signal(signum)
            if self._group_gone_within(grace):
                self._wait_leader()
                return
        raise StackError(f"{self.name} (process group {self.pid}) survived SIGKILL")

    def _group_gone_within(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._reap()
            if not _group_members(self.pid):
                return True
            time.sleep(0.05)
        return False

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signum)

    def _reap(self) -> None:
        if self.popen is not None:
            self.popen.poll()

    def _wait_leader(self) -> None:
        """The group is gone; collect the leader's exit status so no zombie (and no
        "subprocess is still running" warning) is left behind."""
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(5)

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "start_time": self.start_time}

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> ManagedProcess:
        return cls(name=name, pid=int(data["pid"]), start_time=data.get("start_time"))


def _spawn(name: str, argv: list[str], *, log: Path, env: Mapping[str, str] | None = None,
           cwd: Path | None = None) -> ManagedProcess:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
        out.flush()
        popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True,
        )
    return ManagedProcess(name=name, pid=popen.pid, start_time=_start_time(popen.pid), popen=popen)


def _log_tail(log: Path, lines: int = 25) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    """True when nothing listens there; connections in TIME_WAIT do not count since the
    servers we start set SO_REUSEADDR too."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _wait_until(what: str, check: Any, *, process: ManagedProcess, log: Path,
                timeout: float) -> None:
    """Poll ``check()`` until true; fail early with the log when the process died."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if not process.is_alive():
            raise StackError(f"{process.name} exited before {what}; log {log}:\n{_log_tail(log)}")
        if time.monotonic() > deadline:
            raise StackError(f"{what} took longer than {timeout:.0f} s; log {log}:\n"
                             f"{_log_tail(log)}")
        time.sleep(0.05)


def _tcp_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _http_get(url: str, *, headers: Mapping[str, str] | None = None,
              timeout: float = 5.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=dict(headers or {}))  # noqa: S310 (loopback only)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


def _http_ok(url: str) -> bool:
    try:
        return _http_get(url, timeout=1.0)[0] == 200
    except OSError:
        return False


# ---------------------------------------------------------------- the stack


@dataclass
class Stack:
    """A running stack; the fields of stack.json plus what is needed to manage it."""

    root: Path
    wp_url: str
    wp_admin_user: str
    wp_admin_password: str
    wp_app_user: str
    wp_app_password: str
    sidecar_url: str
    sidecar_secret: str
    sidecar_data_dir: str
    wp_dir: Path
    db_port: int
    db_socket: Path
    wp_port: int
    sidecar_port: int
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    sidecar_env: dict[str, str] = field(default_factory=dict)
    # The scaled stack: every sidecar's own port (the first is sidecar_port), Redis and
    # nginx; sidecar_url is then nginx's.
    sidecar_ports: list[int] = field(default_factory=list)
    redis_port: int | None = None
    nginx_port: int | None = None

    # ---- the sidecar tier

    @property
    def balanced(self) -> bool:
        """True for the scaled stack: Redis, the sidecars behind nginx."""
        return self.nginx_port is not None

    @property
    def backend(self) -> str:
        return "redis" if self.redis_port is not None else "sqlite"

    @property
    def sidecar_count(self) -> int:
        return len(self.sidecar_ports) or 1

    @property
    def redis_url(self) -> str | None:
        return redis_server.url(self.redis_port) if self.redis_port is not None else None

    @property
    def nginx_dir(self) -> Path:
        return self.root / "nginx"

    @property
    def shared_uploads_dir(self) -> Path | None:
        """On Redis, every sidecar's IGBRIDGE_UPLOADS_DIR: a chunk or an import may
        reach any process (on SQLite the one sidecar keeps them in its data dir)."""
        return self.root / "uploads" if self.redis_url is not None else None

    def sidecar_name(self, index: int) -> str:
        """``sidecar`` for the first process (as on the one-process stack), then
        ``sidecar-2``, ``sidecar-3``, …"""
        return "sidecar" if index == 0 else f"sidecar-{index + 1}"

    def sidecar_port_of(self, index: int) -> int:
        return self.sidecar_ports[index] if self.sidecar_ports else self.sidecar_port

    def sidecar_data_dir_of(self, index: int) -> str:
        if index == 0:
            return self.sidecar_data_dir
        return str(Path(self.sidecar_data_dir).with_name(self.sidecar_name(index)))

    def direct_sidecar_urls(self) -> list[str]:
        """Each sidecar process's own URL (nginx's upstreams)."""
        return [f"http://127.0.0.1:{self.sidecar_port_of(i)}" for i in range(self.sidecar_count)]

    # ---- stack.json

    @property
    def state_file(self) -> Path:
        return self.root / "stack.json"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def to_json(self) -> dict[str, Any]:
        return {
            "wp_url": self.wp_url,
            "wp_admin_user": self.wp_admin_user,
            "wp_admin_password": self.wp_admin_password,
            "wp_app_user": self.wp_app_user,
            "wp_app_password": self.wp_app_password,
            "sidecar_url": self.sidecar_url,
            "sidecar_secret": self.sidecar_secret,
            "sidecar_data_dir": self.sidecar_data_dir,
            "root": str(self.root),
            "wp_dir": str(self.wp_dir),
            "db_port": self.db_port,
            "db_socket": str(self.db_socket),
            "wp_port": self.wp_port,
            "sidecar_port": self.sidecar_port,
            "logs_dir": str(self.logs_dir),
            "processes": {name: p.to_json() for name, p in self.processes.items()},
            "sidecar_env": self.sidecar_env,
            "backend": self.backend,
            "sidecar_ports": self.sidecar_ports,
            "sidecar_urls": self.direct_sidecar_urls(),
            "redis_port": self.redis_port,
            "redis_url": self.redis_url,
            "nginx_port": self.nginx_port,
        }

    def save(self) -> None:
        _write_private(self.state_file, json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, root: Path = DEFAULT_ROOT) -> Stack:
        """Attach to the stack recorded in ``root/stack.json`` (started by any process)."""
        state_file = root / "stack.json"
        try:
            data = json.loads(state_file.read_text())
        except FileNotFoundError:
            raise StackError(f"no stack recorded in {state_file}: run `python -m dev.stack up`")\
                from None
        return cls(
            root=root,
            wp_url=data["wp_url"],
            wp_admin_user=data["wp_admin_user"],
            wp_admin_password=data["wp_admin_password"],
            wp_app_user=data["wp_app_user"],
            wp_app_password=data["wp_app_password"],
            sidecar_url=data["sidecar_url"],
            sidecar_secret=data["sidecar_secret"],
            sidecar_data_dir=data["sidecar_data_dir"],
            wp_dir=Path(data["wp_dir"]),
            db_port=int(data["db_port"]),
            db_socket=Path(data["db_socket"]),
            wp_port=int(data["wp_port"]),
            sidecar_port=int(data["sidecar_port"]),
            processes={name: ManagedProcess.from_json(name, p)
                       for name, p in data.get("processes", {}).items()},
            sidecar_env=dict(data.get("sidecar_env", {})),
            sidecar_ports=[int(port) for port in data.get("sidecar_ports", [])],
            redis_port=data.get("redis_port"),
            nginx_port=data.get("nginx_port"),
        )

    # ---- health

    def problems(self) -> list[str]:
        """What is wrong with this stack; empty when every part answers."""
        return self.wordpress_problems() + self.sidecar_problems()

    def wordpress_problems(self) -> list[str]:
        """What is wrong with MariaDB and WordPress; empty when WordPress answers the
        application password."""
        found = [f"{name} is not running" if name not in self.processes
                 else f"{name} (pid {self.processes[name].pid}) is not running"
                 for name in ("mariadb", "php")
                 if name not in self.processes or not self.processes[name].is_alive()]
        if found:
            return found
        try:
            status, body = _http_get(f"{self.wp_url}/wp-json/wp/v2/users/me",
                                     headers={"Authorization": self.wp_basic_auth})
            if status != 200:
                found.append(f"WordPress answered {status} to the application password: "
                             f"{body[:200]!r}")
        except OSError as error:
            found.append(f"WordPress at {self.wp_url} does not answer: {error}")
        return found

    def sidecar_problems(self) -> list[str]:
        """What is wrong with the sidecar tier, if it was started (Redis, every sidecar,
        nginx); empty when each answers."""
        parts = self._all_tier_parts()
        if not any(name in self.processes for name in parts):
            return []  # started without its sidecar (--no-sidecar)
        return [problem for part in parts for problem in self._part_problems(part)]

    def _part_problems(self, name: str) -> list[str]:
        process = self.processes.get(name)
        if process is None:
            return [f"{name} is not running"]
        if not process.is_alive():
            return [f"{name} (pid {process.pid}) is not running"]
        if name == "redis":
            assert self.redis_port is not None
            if not redis_server.answers_ping(self.redis_port):
                return [f"redis on port {self.redis_port} does not answer PING"]
            return []
        url = self.sidecar_url if name == "nginx" else \
            self.direct_sidecar_urls()[self._sidecar_index(name)]
        if not _http_ok(f"{url}/healthz"):
            return [f"{name} at {url}/healthz does not answer 200"]
        return []

    def _sidecar_index(self, name: str) -> int:
        return 0 if name == "sidecar" else int(name.removeprefix("sidecar-")) - 1

    @property
    def wp_basic_auth(self) -> str:
        token = b64encode(f"{self.wp_app_user}:{self.wp_app_password}".encode()).decode()
        return f"Basic {token}"

    # ---- sidecar

    def start_sidecar(self, index: int = 0) -> None:
        """Start (or restart after a crash) sidecar ``index`` on the same port and data dir."""
        name = self.sidecar_name(index)
        if name in self.processes and self.processes[name].is_alive():
            raise StackError(f"{name} already runs (pid {self.processes[name].pid})")
        if not SIDECAR_BIN.exists():
            raise StackError(f"{SIDECAR_BIN} is missing: create the virtualenv first "
                             "(python3 -m venv .venv && .venv/bin/pip install -e '.[dev]')")
        log = self.logs_dir / f"{name}.log"
        port, data_dir = self.sidecar_port_of(index), self.sidecar_data_dir_of(index)
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        env = _sidecar_environment(self, self.sidecar_env, port=port, data_dir=data_dir)
        # The port was ours a moment ago; after a SIGKILL the kernel may still hold it briefly.
        _wait_for_free_port(port)
        process = _spawn(name, [
            str(SIDECAR_BIN), "serve", "--host", "127.0.0.1", "--port", str(port),
            "--data-dir", data_dir,
        ], log=log, env=env, cwd=REPO)
        self.processes[name] = process
        self.save()
        url = f"http://127.0.0.1:{port}"
        _wait_until(f"{name} answered /healthz", lambda: _http_ok(f"{url}/healthz"),
                    process=process, log=log, timeout=30)

    def stop_sidecar(self, *, kill: bool = False, index: int = 0) -> None:
        """Stop sidecar ``index``'s process group; ``kill`` sends SIGKILL at once, like a crash."""
        self._stop_part(self.sidecar_name(index), kill=kill)

    def start_redis(self) -> None:
        """Start (or restart) Redis on its port and directory; its AOF is replayed."""
        assert self.redis_port is not None
        log = self.logs_dir / "redis.log"
        argv = redis_server.prepare(self.root / "redis", self.redis_port)
        _wait_for_free_port(self.redis_port)
        process = _spawn("redis", argv, log=log)
        self.processes["redis"] = process
        self.save()
        port = self.redis_port
        _wait_until("Redis answered PING", lambda: redis_server.answers_ping(port),
                    process=process, log=log, timeout=60)

    def start_nginx(self) -> None:
        """Start (or restart) nginx in front of every sidecar."""
        assert self.nginx_port is not None
        heartbeat = float(self.sidecar_env.get("IGBRIDGE_HEARTBEAT_SECONDS")
                          or os.environ.get("IGBRIDGE_HEARTBEAT_SECONDS")
                          or DEFAULT_HEARTBEAT_SECONDS)
        upstreams = [f"127.0.0.1:{self.sidecar_port_of(i)}" for i in range(self.sidecar_count)]
        try:
            argv = nginx.prepare(self.nginx_dir, port=self.nginx_port, upstreams=upstreams,
                                 heartbeat_seconds=heartbeat)
        except nginx.NginxError as error:
            raise StackError(str(error)) from None
        log = self.logs_dir / "nginx.log"
        _wait_for_free_port(self.nginx_port)
        process = _spawn("nginx", argv, log=log)
        self.processes["nginx"] = process
        self.save()
        _wait_until("nginx answered /healthz", lambda: _http_ok(f"{self.sidecar_url}/healthz"),
                    process=process, log=log, timeout=30)

    def start_tier(self) -> None:
        """Start what of the sidecar tier is not running: Redis, each sidecar, nginx."""
        for name in self._all_tier_parts():
            if name in self.processes and self.processes[name].is_alive():
                continue
            if name == "redis":
                self.start_redis()
            elif name == "nginx":
                self.start_nginx()
            else:
                self.start_sidecar(self._sidecar_index(name))

    def _all_tier_parts(self) -> list[str]:
        names = ["redis"] if self.redis_port is not None else []
        names += [self.sidecar_name(i) for i in range(self.sidecar_count)]
        return names + (["nginx"] if self.balanced else [])

    def heal_tier(self) -> list[str]:
        """Restart each part of the sidecar tier that does not answer (a hung one is
        killed first); returns the names restarted."""
        broken = [name for name in self._all_tier_parts() if self._part_problems(name)]
        for name in broken:
            self._stop_part(name, kill=name != "redis")
        self.start_tier()
        return broken

    def _stop_part(self, name: str, *, kill: bool = False) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            process.stop(kill=kill)
            self.save()

    # ---- whole stack

    def stop(self) -> None:
        """Stop exactly the process groups this stack started, newest first; forget them."""
        errors = []
        sidecars = sorted((n for n in self.processes if n.startswith("sidecar")), reverse=True)
        for name in ("nginx", *sidecars, "redis", "php", "mariadb"):
            process = self.processes.pop(name, None)
            if process is None:
                continue
            try:
                process.stop()
            except StackError as error:
                errors.append(str(error))
        self.state_file.unlink(missing_ok=True)
        if errors:
            raise StackError("; ".join(errors))

    # ---- helpers for tests and scripts

    def wp_php(self, code: str, *, timeout: float = 60) -> str:
        """Run PHP ``code`` (no opening tag) with WordPress loaded; return its stdout."""
        prelude = (
            "<?php\n"
            f"$_SERVER['HTTP_HOST'] = '127.0.0.1:{self.wp_port}';\n"
            "$_SERVER['SERVER_NAME'] = '127.0.0.1';\n"
            "$_SERVER['REQUEST_URI'] = '/';\n"
            f"require {json.dumps(str(self.wp_dir / 'wp-load.php'))};\n"
        )
        scratch = self.root / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", suffix=".php", dir=scratch, delete=False) as script:
            script.write(prelude + code + "\n")
        try:
            result = subprocess.run(
                ["php", "-d", "display_errors=0", "-d", "log_errors=1", script.name],
                capture_output=True, text=True, timeout=timeout, check=False,
            )
        finally:
            Path(script.name).unlink(missing_ok=True)
        if result.returncode != 0:
            raise StackError(f"PHP snippet failed with exit code {result.returncode}:\n"
                             f"{result.stderr.strip() or result.stdout.strip()}")
        return result.stdout

    def create_user(self, login: str, *, role: str = "subscriber") -> dict[str, Any]:
        """Create a WordPress user with an application password: ``{id, login, app_password}``."""
        code = f"""
$login = {json.dumps(login)};
$id = wp_insert_user(array(
    'user_login' => $login, 'user_pass' => wp_generate_password(24),
    'user_email' => $login . '@example.test', 'role' => {json.dumps(role)},
));
if (is_wp_error($id)) {{ fwrite(STDERR, $id->get_error_message()); exit(1); }}
$created = WP_Application_Passwords::create_new_application_password($id, array('name' => 'test'));
if (is_wp_error($created)) {{ fwrite(STDERR, $created->get_error_message()); exit(1); }}
echo wp_json_encode(array('id' => $id, 'login' => $login, 'app_password' => $created[0]));
"""
        result: dict[str, Any] = json.loads(self.wp_php(code).strip().splitlines()[-1])
        return result

    def mysql(self, sql: str) -> str:
        """Run SQL as root in the WordPress database over the socket; return tab-separated rows."""
        result = subprocess.run(
            ["mariadb", "--no-defaults", f"--socket={self.db_socket}", "-uroot", "--batch",
             "--skip-column-names", DB_NAME, "-e", sql],
            capture_output=True, text=True, timeout=60, check=False,
        )
        if result.returncode != 0:
            raise StackError(f"SQL failed: {result.stderr.strip()}")
        return result.stdout


# ---------------------------------------------------------------- starting


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    tmp.replace(path)


def _load_secrets(root: Path) -> dict[str, Any]:
    """Passwords and salts that stay the same across restarts of one root."""
    path = root / "secrets.json"
    if path.exists():
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    data = {
        "admin_password": secrets.token_urlsafe(18),
        "sidecar_secret": secrets.token_urlsafe(32),
        "salts": {name: secrets.token_urlsafe(48) for name in SALT_NAMES},
        "ports": {},
    }
    _write_private(path, json.dumps(data, indent=2) + "\n")
    return data


def _wait_for_free_port(port: int, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not _port_is_free(port) and time.monotonic() < deadline:
        time.sleep(0.05)


def _port_names(sidecars: int, balanced: bool) -> list[str]:
    names = ["db", "wp", "sidecar", *(f"sidecar-{i}" for i in range(2, sidecars + 1))]
    return names + (["redis", "nginx"] if balanced else [])


def _pick_ports(root: Path, saved: Mapping[str, int], names: list[str]) -> dict[str, int]:
    """The ports of the last run when they are still free (URLs stored in posts keep
    working), fresh ones otherwise."""
    ports: dict[str, int] = {}
    for name in names:
        previous = saved.get(name)
        if previous and previous not in ports.values() and _port_is_free(previous):
            ports[name] = previous
        else:
            port = free_port()
            while port in ports.values():
                port = free_port()
            ports[name] = port
    return ports


def _socket_path(root: Path) -> Path:
    # A Unix socket path must fit in 108 bytes.
    path = root / "mariadb" / "mysqld.sock"
    if len(str(path)) < 100:
        return path
    return Path(tempfile.mkdtemp(prefix="igbridge-db-")) / "mysqld.sock"


def _start_mariadb(root: Path, port: int, sock: Path) -> ManagedProcess:
    datadir = root / "mariadb" / "data"
    log = root / "logs" / "mariadb.log"
    if not (datadir / "mysql").is_dir():
        shutil.rmtree(datadir, ignore_errors=True)
        datadir.mkdir(parents=True)
        result = subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={datadir}",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            capture_output=True, text=True, check=False, timeout=120,
        )
        if result.returncode != 0:
            raise StackError(f"mariadb-install-db failed:\n{result.stdout}\n{result.stderr}")
    sock.unlink(missing_ok=True)
    process = _spawn("mariadb", [
        "mariadbd", "--no-defaults", "--user=root", f"--datadir={datadir}", f"--socket={sock}",
        f"--port={port}", "--bind-address=127.0.0.1", "--skip-networking=0",
        f"--pid-file={root / 'mariadb' / 'mariadbd.pid'}", "--skip-log-bin",
        "--innodb-buffer-pool-size=64M",
    ], log=log)
    _wait_until("MariaDB accepted connections", lambda: sock.exists() and _tcp_answers(port),
                process=process, log=log, timeout=30)
    result = subprocess.run(
        ["mariadb", "--no-defaults", f"--socket={sock}", "-uroot", "-e",
         f"CREATE DATABASE IF NOT EXISTS {DB_NAME} CHARACTER SET utf8mb4"],
        capture_output=True, text=True, check=False, timeout=60,
    )
    if result.returncode != 0:
        process.stop()
        raise StackError(f"creating the database failed: {result.stderr.strip()}")
    return process


def _wp_config(db_port: int, wp_port: int, salts: Mapping[str, str]) -> str:
    url = f"http://127.0.0.1:{wp_port}"
    lines = [
        "<?php",
        "// Written by dev/stack.py on every start; edits are lost.",
        f"define('DB_NAME', '{DB_NAME}');",
        "define('DB_USER', 'root');",
        "define('DB_PASSWORD', '');",
        # With 'localhost' PHP tries the default socket and fails.
        f"define('DB_HOST', '127.0.0.1:{db_port}');",
        "define('DB_CHARSET', 'utf8mb4');",
        "define('DB_COLLATE', '');",
        *(f"define('{name}', {json.dumps(value)});" for name, value in salts.items()),
        "$table_prefix = 'wp_';",
        # 'local' lets application passwords work over plain http.
        "define('WP_ENVIRONMENT_TYPE', 'local');",
        f"define('WP_HOME', '{url}');",
        f"define('WP_SITEURL', '{url}');",
        "define('DISABLE_WP_CRON', true);",
        "define('WP_HTTP_BLOCK_EXTERNAL', true);",
        "define('AUTOMATIC_UPDATER_DISABLED', true);",
        "define('FS_METHOD', 'direct');",
        "define('WP_DEBUG', false);",
        "define('WP_DEBUG_DISPLAY', false);",
        "if (!defined('ABSPATH')) { define('ABSPATH', __DIR__ . '/'); }",
        "require_once ABSPATH . 'wp-settings.php';",
        "",
    ]
    return "\n".join(lines)


# This machine has no network: core's own calls out (avatars from gravatar.com, emoji
# images from s.w.org) would only hang the admin pages of the local stack.
OFFLINE_MU_PLUGIN = """<?php
/* Local igbridge stack only: no third-party requests from wp-admin. */
add_filter('option_show_avatars', '__return_false');
remove_action('admin_print_scripts', 'print_emoji_detection_script');
remove_action('wp_head', 'print_emoji_detection_script', 7);
remove_action('admin_print_styles', 'print_emoji_styles');
"""


def _prepare_wordpress(root: Path, db_port: int, wp_port: int,
                       salts: Mapping[str, str]) -> Path:
    wp_dir = root / "wordpress"
    if not (wp_dir / "wp-load.php").exists():
        if not WORDPRESS_SOURCE.is_dir():
            raise StackError(f"{WORDPRESS_SOURCE} is missing: apt-get install wordpress php-cli "
                             "php-mysql php-gd php-xml php-mbstring php-curl php-intl php-zip "
                             "mariadb-server")
        shutil.rmtree(wp_dir, ignore_errors=True)
        # -L: the package's relative symlinks (getID3, underscore, ...) break in a plain copy.
        subprocess.run(["cp", "-rL", str(WORDPRESS_SOURCE), str(wp_dir)], check=True)
    (wp_dir / "wp-config.php").write_text(_wp_config(db_port, wp_port, salts))
    (wp_dir / "wp-content" / "uploads").mkdir(parents=True, exist_ok=True)
    mu_plugins = wp_dir / "wp-content" / "mu-plugins"
    mu_plugins.mkdir(exist_ok=True)
    (mu_plugins / "igbridge-dev-offline.php").write_text(OFFLINE_MU_PLUGIN)
    plugin_link = wp_dir / "wp-content" / "plugins" / "igbridge"
    if not (PLUGIN_SOURCE / "igbridge.php").exists():
        raise StackError(f"the plugin's main file {PLUGIN_SOURCE / 'igbridge.php'} is missing")
    if plugin_link.is_symlink() or not plugin_link.exists():
        # A symlink: edits to wp-plugin/ show up at once, no copy to keep in sync.
        plugin_link.unlink(missing_ok=True)
        plugin_link.symlink_to(PLUGIN_SOURCE, target_is_directory=True)
    return wp_dir


def _start_php(root: Path, wp_dir: Path, port: int) -> ManagedProcess:
    log = root / "logs" / "php.log"
    env = dict(os.environ, PHP_CLI_SERVER_WORKERS="4")
    process = _spawn("php", [
        "php", "-d", "upload_max_filesize=64M", "-d", "post_max_size=64M",
        "-d", "memory_limit=256M", "-S", f"127.0.0.1:{port}", "-t", str(wp_dir), str(ROUTER),
    ], log=log, env=env, cwd=wp_dir)
    _wait_until("PHP's server accepted connections", lambda: _tcp_answers(port),
                process=process, log=log, timeout=15)
    return process


def _run_setup(root: Path, wp_dir: Path, wp_port: int, admin_password: str,
               settings: Mapping[str, Any]) -> str:
    """Install and configure WordPress; return the new application password."""
    payload = {
        "wp_dir": str(wp_dir),
        "host": f"127.0.0.1:{wp_port}",
        "title": "igbridge dev",
        "admin_user": ADMIN_USER,
        "admin_password": admin_password,
        "admin_email": "admin@example.test",
        "plugin": PLUGIN_FILE,
        "settings": settings,
        "app_password_name": APP_PASSWORD_NAME,
    }
    result = subprocess.run(
        ["php", "-d", "display_errors=0", "-d", "log_errors=1", str(SETUP_SCRIPT)],
        input=json.dumps(payload), capture_output=True, text=True, check=False, timeout=120,
    )
    log = root / "logs" / "setup.log"
    with log.open("a") as out:
        out.write(result.stdout + result.stderr)
    marker = [line for line in result.stdout.splitlines() if line.startswith("IGBRIDGE_SETUP ")]
    if result.returncode != 0 or not marker:
        raise StackError(f"setting up WordPress failed (exit {result.returncode}):\n"
                         f"{result.stderr.strip()}\n{result.stdout.strip()[-2000:]}")
    app_password: str = json.loads(marker[-1].removeprefix("IGBRIDGE_SETUP "))["app_password"]
    return app_password


def _sidecar_environment(stack: Stack, extra: Mapping[str, str], *, port: int,
                         data_dir: str) -> dict[str, str]:
    """A sidecar's environment: ours (incl. APIFY_TOKEN, IGBRIDGE_*), then the stack's
    values, then the caller's ``extra``. Every process of a scaled stack gets the same
    (one uploads dir included) but for its port and data dir; its public URL is nginx's."""
    env = dict(os.environ)
    if stack.redis_url is not None:
        env["IGBRIDGE_BACKEND"] = stack.redis_url
    if stack.shared_uploads_dir is not None:
        env["IGBRIDGE_UPLOADS_DIR"] = str(stack.shared_uploads_dir)
    env.update({
        "IGBRIDGE_SECRET": stack.sidecar_secret,
        "IGBRIDGE_DATA_DIR": data_dir,
        "IGBRIDGE_HOST": "127.0.0.1",
        "IGBRIDGE_PORT": str(port),
        "IGBRIDGE_WP_URL": stack.wp_url,
        "IGBRIDGE_WP_USER": stack.wp_app_user,
        "IGBRIDGE_WP_APP_PASSWORD": stack.wp_app_password,
        "IGBRIDGE_PUBLIC_URL": stack.sidecar_url,
        "IGBRIDGE_ALLOWED_ORIGINS": stack.wp_url,
    })
    env.update(extra)
    return env


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One `up` or `down` at a time per root."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Topology:
    """How many sidecar processes on which engine; more than one needs Redis."""

    sidecars: int = 1
    backend: str = "sqlite"

    @classmethod
    def of(cls, sidecars: int = 1, backend: str | None = None) -> Topology:
        if sidecars < 1:
            raise StackError(f"--sidecars must be at least 1, got {sidecars}")
        chosen = backend or ("redis" if sidecars > 1 else "sqlite")
        if chosen not in BACKENDS:
            raise StackError(f"--backend must be one of {', '.join(BACKENDS)}, got {chosen!r}")
        if sidecars > 1 and chosen != "redis":
            raise StackError(f"{sidecars} sidecars need the Redis engine (--backend redis): "
                             "processes on SQLite would each keep their own jobs and events")
        return cls(sidecars, chosen)

    @property
    def balanced(self) -> bool:
        return self.backend == "redis"


def _topology_of(stack: Stack) -> Topology:
    return Topology(stack.sidecar_count, stack.backend)


def start_stack(root: Path, *, sidecar: bool = True,
                sidecar_env: Mapping[str, str] | None = None,
                topology: Topology | None = None) -> Stack:
    """Start MariaDB, WordPress and (unless ``sidecar=False``) the sidecar tier under
    ``root``: one sidecar, or with a balanced ``topology`` Redis, N sidecars and nginx.

    Anything a previous run left recorded in ``root/stack.json`` is stopped first. On
    failure every process started so far is stopped again before the error is raised.
    """
    root = root.resolve()
    with _locked(root):
        _stop_recorded(root)
        return _start_locked(root, sidecar=sidecar, sidecar_env=dict(sidecar_env or {}),
                             topology=topology or Topology())


def _stop_recorded(root: Path) -> None:
    if (root / "stack.json").exists():
        Stack.load(root).stop()


def _start_locked(root: Path, *, sidecar: bool, sidecar_env: dict[str, str],
                  topology: Topology) -> Stack:
    for tool in ("php", "mariadbd", "mariadb-install-db", "mariadb"):
        if shutil.which(tool) is None:
            raise StackError(f"`{tool}` is not installed: see WORDPRESS.md for the packages")
    if topology.balanced:
        try:
            redis_server.redis_binary()
            nginx.nginx_binary()
        except (redis_server.RedisServerError, nginx.NginxError) as error:
            raise StackError(str(error)) from None
    saved = _load_secrets(root)
    names = _port_names(topology.sidecars, topology.balanced)
    ports = _pick_ports(root, saved.get("ports", {}), names)
    saved["ports"] = {**saved.get("ports", {}), **ports}
    _write_private(root / "secrets.json", json.dumps(saved, indent=2) + "\n")
    wp_url = f"http://127.0.0.1:{ports['wp']}"
    # Browsers and WordPress reach the sidecars through nginx on the scaled stack.
    sidecar_url = f"http://127.0.0.1:{ports['nginx' if topology.balanced else 'sidecar']}"
    stack = Stack(
        root=root, wp_url=wp_url, wp_admin_user=ADMIN_USER,
        wp_admin_password=saved["admin_password"], wp_app_user=ADMIN_USER, wp_app_password="",
        sidecar_url=sidecar_url, sidecar_secret=saved["sidecar_secret"],
        sidecar_data_dir=str(root / "sidecar"), wp_dir=root / "wordpress",
        db_port=ports["db"], db_socket=_socket_path(root), wp_port=ports["wp"],
        sidecar_port=ports["sidecar"], sidecar_env=sidecar_env,
        sidecar_ports=[ports[n] for n in names if n.startswith("sidecar")]
        if topology.balanced else [],
        redis_port=ports["redis"] if topology.balanced else None,
        nginx_port=ports["nginx"] if topology.balanced else None,
    )
    try:
        stack.processes["mariadb"] = _start_mariadb(root, stack.db_port, stack.db_socket)
        stack.save()
        _prepare_wordpress(root, stack.db_port, stack.wp_port, saved["salts"])
        stack.processes["php"] = _start_php(root, stack.wp_dir, stack.wp_port)
        stack.save()
        settings = {"public_url": sidecar_url, "internal_url": sidecar_url,
                    "secret": stack.sidecar_secret, "apify_limit": 20}
        stack.wp_app_password = _run_setup(root, stack.wp_dir, stack.wp_port,
                                           stack.wp_admin_password, settings)
        stack.save()
        _check_rest_api(stack)
        Path(stack.sidecar_data_dir).mkdir(parents=True, exist_ok=True)
        if sidecar:
            stack.start_tier()
    except BaseException:
        with contextlib.suppress(StackError):
            stack.stop()
        raise
    return stack


def _check_rest_api(stack: Stack) -> None:
    """The first authenticated REST answer: proves permalinks, app passwords and the plugin."""
    status, body = _http_get(f"{stack.wp_url}/wp-json/wp/v2/users/me?context=edit",
                             headers={"Authorization": stack.wp_basic_auth}, timeout=30)
    try:
        me = json.loads(body)
    except ValueError:
        raise StackError(f"/wp-json/ answered {status} without JSON: {body[:300]!r}") from None
    if status != 200 or me.get("slug") != ADMIN_USER:
        raise StackError(f"the application password was refused ({status}): {me}")


class UpOutcome(enum.Enum):
    """What ``up`` did."""

    REUSED = "A healthy stack is already running; reusing it."
    SIDECAR_RESTARTED = ("The sidecar was not running: started it again on the same port and "
                         "data dir; MariaDB, WordPress and the admin's login were left as "
                         "they were.")
    STARTED = "Stack started."


def up(root: Path, *, sidecar: bool = True,
       topology: Topology | None = None) -> tuple[Stack, UpOutcome]:
    """Reuse a healthy stack under ``root``, restart only the parts of its sidecar tier
    that do not answer when that is all that is wrong, or start a new one (also when
    the running one has another number of sidecars or another engine).

    A full restart re-runs WordPress's set-up, which sets the admin's password again
    and so ends every login; a dead sidecar alone must not cost that.
    """
    root = root.resolve()
    wanted = topology or Topology()
    with _locked(root):
        if (root / "stack.json").exists():
            current = Stack.load(root)
            if not current.wordpress_problems() and _topology_of(current) == wanted:
                if sidecar and current.heal_tier():
                    return current, UpOutcome.SIDECAR_RESTARTED
                return current, UpOutcome.REUSED
            current.stop()
        return (_start_locked(root, sidecar=sidecar, sidecar_env={}, topology=wanted),
                UpOutcome.STARTED)


def down(root: Path, *, purge: bool = False) -> bool:
    """Stop what ``up`` started under ``root``; True when something was running."""
    root = root.resolve()
    if not root.exists():
        return False
    with _locked(root):
        was_running = (root / "stack.json").exists()
        _stop_recorded(root)
        shutil.rmtree(root / "tmp", ignore_errors=True)
        if purge:
            for child in root.iterdir():
                if child.name == ".lock":
                    continue
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    if purge:
        shutil.rmtree(root, ignore_errors=True)
    return was_running


# ---------------------------------------------------------------- command line


def _describe(stack: Stack) -> str:
    started = "" if "sidecar" in stack.processes else "  (not started)"
    lines = [
        f"WordPress  {stack.wp_url}/wp-admin/  (user {stack.wp_admin_user}, "
        f"password {stack.wp_admin_password})",
    ]
    if stack.balanced:
        lines += [
            f"sidecar    {stack.sidecar_url}  (nginx, in front of "
            f"{stack.sidecar_count} sidecar processes on Redis){started}",
            *(f"  process  {url}" for url in stack.direct_sidecar_urls()),
            f"redis      {stack.redis_url}  (AOF: {stack.root / 'redis'})",
            f"uploads    {stack.shared_uploads_dir}  (shared by the sidecars)",
        ]
    else:
        lines.append(f"sidecar    {stack.sidecar_url}{started}")
    lines += [f"state      {stack.state_file}", f"logs       {stack.logs_dir}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.stack", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT,
                        help=f"runtime directory (default {DEFAULT_ROOT})")
    parser.add_argument("--no-sidecar", action="store_true",
                        help="up: start MariaDB and WordPress only")
    parser.add_argument("--sidecars", type=int, default=1,
                        help="up: sidecar processes; more than one runs Redis and nginx too")
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="up: the sidecars' engine (default: sqlite for one sidecar, "
                             "redis for more; redis puts nginx in front even of one)")
    parser.add_argument("--purge", action="store_true",
                        help="down: also delete the database, WordPress copy and sidecar data")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            started = time.monotonic()
            topology = Topology.of(args.sidecars, args.backend)
            stack, outcome = up(args.root, sidecar=not args.no_sidecar, topology=topology)
            if outcome is UpOutcome.STARTED:
                print(f"Stack started in {time.monotonic() - started:.1f} s.")
            else:
                print(outcome.value)
            print(_describe(stack))
        elif args.command == "down":
            stopped = down(args.root, purge=args.purge)
            print("Stack stopped." if stopped else "No stack was running.")
            if args.purge:
                print(f"Removed {args.root}.")
        else:
            try:
                stack = Stack.load(args.root.resolve())
            except StackError as error:
                print(error)
                return 1
            problems = stack.problems()
            print(_describe(stack))
            for problem in problems:
                print(f"problem: {problem}")
            print("healthy" if not problems else "unhealthy")
            return 1 if problems else 0
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
