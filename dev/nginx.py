"""Debian's nginx as the load balancer in front of several sidecar processes.

The site itself (upstream, SSE settings) is ``docker/nginx/igbridge.conf.template``,
shared with docker-compose.yml's ``scale`` profile. Here it is filled in and included
from an ``nginx.conf`` of our own under a prefix directory (pid, logs, temp files), so
nginx runs as a non-daemon child of whoever started it, as root or not, and touches
nothing of the system's nginx. Used by ``dev/stack.py``, ``tests/scale`` and
``bench/scale.py``.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import resource
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SITE_TEMPLATE = REPO / "docker" / "nginx" / "igbridge.conf.template"
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
_PLACEHOLDER = re.compile(r"\$\{(IGBRIDGE_[A-Z0-9_]+)\}")


class NginxError(RuntimeError):
    """nginx is missing or refused its configuration; the message says which."""


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx",) if os.access(path, os.X_OK)), None)
    if found is None:
        raise NginxError("nginx is not installed: run `bash tools/install-system-packages.sh` "
                         "(Debian's nginx package)")
    return found


def read_timeout_seconds(heartbeat_seconds: float) -> int:
    """A stream's allowed silence: several heartbeats, never under a minute."""
    return max(60, int(heartbeat_seconds * 4) + 1)


def fill_template(template: str, values: Mapping[str, str]) -> str:
    """``${IGBRIDGE_…}`` replaced as the nginx image's envsubst (filtered to IGBRIDGE_)
    does; a placeholder without a value is an error here rather than an empty string."""
    missing = sorted({name for name in _PLACEHOLDER.findall(template) if name not in values})
    if missing:
        raise NginxError(f"{SITE_TEMPLATE.name} needs values for {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def site_config(*, port: int, upstreams: Sequence[str], read_timeout: int,
                access_log: Path) -> str:
    """The shared site for sidecars at ``upstreams`` (``host:port`` each)."""
    if not upstreams:
        raise NginxError("nginx needs at least one sidecar to send requests to")
    servers = "\n    ".join(f"server {address} max_fails=1 fail_timeout=5s;"
                            for address in upstreams)
    return fill_template(SITE_TEMPLATE.read_text(), {
        "IGBRIDGE_NGINX_PORT": f"127.0.0.1:{port}",
        "IGBRIDGE_NGINX_UPSTREAMS": servers,
        "IGBRIDGE_NGINX_READ_TIMEOUT": f"{read_timeout}s",
        "IGBRIDGE_NGINX_ACCESS_LOG": str(access_log),
    })


def _user_directive() -> str:
    """As root, nginx's workers would drop to `nobody`, who cannot enter a private temp
    dir; keep them as the user who started the stack. Not root: nginx ignores `user`."""
    if os.geteuid() != 0:
        return ""
    user = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    return f"user {user} {group};\n"


def main_config(prefix: Path, site: Path) -> str:
    # Workers may raise their open-files limit up to the hard one, not past it.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    files = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    connections = max(512, min(4096, files // 2))
    temp_paths = "".join(f"    {name}_temp_path {prefix / 'temp' / name};\n" for name in TEMP_DIRS)
    return (
        "# Written by dev/nginx.py on every start; edits are lost.\n"
        "daemon off;\n"
        f"{_user_directive()}"
        # One worker: requests alternate between the sidecars in a fixed order.
        "worker_processes 1;\n"
        f"worker_rlimit_nofile {files};\n"
        f"pid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'logs' / 'error.log'} warn;\n"
        f"events {{ worker_connections {connections}; }}\n"
        "http {\n"
        "    default_type application/octet-stream;\n"
        f"{temp_paths}"
        f"    include {site};\n"
        "}\n"
    )


def prepare(prefix: Path, *, port: int, upstreams: Sequence[str],
            heartbeat_seconds: float = 15.0,
            edit_site: Callable[[str], str] | None = None) -> list[str]:
    """Write the configuration under ``prefix``, check it with ``nginx -t``, and return
    the command that runs nginx in the foreground. ``edit_site`` changes the filled-in
    site first (a test's deliberately wrong variant)."""
    binary = nginx_binary()
    for name in TEMP_DIRS:
        (prefix / "temp" / name).mkdir(parents=True, exist_ok=True)
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    site = prefix / "igbridge.conf"
    text = site_config(port=port, upstreams=upstreams,
                       read_timeout=read_timeout_seconds(heartbeat_seconds),
                       access_log=access_log(prefix))
    site.write_text(edit_site(text) if edit_site else text)
    conf = prefix / "nginx.conf"
    conf.write_text(main_config(prefix, site))
    # -e: the error log from the first moment on, before the compiled-in default
    # (/var/log/nginx, not writable unless root) would be opened.
    argv = [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "logs" / "error.log")]
    checked = subprocess.run([*argv, "-t", "-q"], capture_output=True, text=True,
                             timeout=30, check=False)
    if checked.returncode != 0:
        raise NginxError(f"nginx refused {conf}:\n{checked.stderr.strip()}")
    return argv


def access_log(prefix: Path) -> Path:
    return prefix / "logs" / "access.log"


def upstreams_in_log(prefix: Path, path_prefix: str = "") -> list[str]:
    """The upstream address of each logged request (in order) whose path starts with
    ``path_prefix``; a request retried on another process shows its last one."""
    found = []
    pattern = re.compile(r'"\w+ (\S+) [^"]*" \d+ \d+ upstream="([^"]*)"')
    log = access_log(prefix)
    if not log.exists():
        return found
    for line in log.read_text().splitlines():
        match = pattern.search(line)
        if match and match.group(1).startswith(path_prefix):
            found.append(match.group(2).split(",")[-1].strip())
    return found
