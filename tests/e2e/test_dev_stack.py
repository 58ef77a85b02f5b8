"""``make stack-up`` (``python -m dev.stack up``) on a stack whose sidecar alone died:
only the sidecar starts again; MariaDB, WordPress, their data and the admin's login
are left exactly as they were.

Its own stack under a temporary root (not the session's shared one): the test kills
that stack's sidecar, which the other tests rely on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from dev.stack import REPO, Stack

pytestmark = pytest.mark.wordpress


def stack_command(root: Path, command: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IGBRIDGE_")}
    return subprocess.run([sys.executable, "-m", "dev.stack", command, "--root", str(root)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
                          check=False)


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "devstack"
    started = stack_command(root, "up")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "Stack started in" in started.stdout
    try:
        yield root
    finally:
        stopped = stack_command(root, "down")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


@contextmanager
def logged_in_admin(stack: Stack) -> Iterator[httpx.Client]:
    """A client holding the admin's login cookies, as a browser after wp-login.php."""
    with httpx.Client(timeout=30) as client:
        client.cookies.set("wordpress_test_cookie", "WP Cookie check")
        response = client.post(f"{stack.wp_url}/wp-login.php", data={
            "log": stack.wp_admin_user, "pwd": stack.wp_admin_password, "testcookie": "1",
            "redirect_to": f"{stack.wp_url}/wp-admin/",
        })
        assert response.status_code == 302, response.text[:500]
        yield client


def process_identity(stack: Stack, name: str) -> tuple[int, int | None]:
    process = stack.processes[name]
    assert process.is_alive(), f"{name} is not running"
    return process.pid, process.start_time


def test_stack_up_after_the_sidecar_died_restarts_only_the_sidecar(own_stack: Path) -> None:
    before = Stack.load(own_stack)
    database = process_identity(before, "mariadb")
    wordpress = process_identity(before, "php")
    dead_sidecar = process_identity(before, "sidecar")
    # Something only the database holds: it must still be there afterwards.
    before.wp_php("update_option('igbridge_stack_test_marker', 'kept');")
    with logged_in_admin(before) as browser:
        assert browser.get(f"{before.wp_url}/wp-admin/").status_code == 200

        os.killpg(dead_sidecar[0], signal.SIGKILL)  # a crash, not a shutdown
        deadline = time.monotonic() + 10
        while before.processes["sidecar"].is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert before.sidecar_problems()

        again = stack_command(own_stack, "up")
        assert again.returncode == 0, again.stdout + again.stderr
        assert again.stdout.splitlines()[0] == (
            "The sidecar was not running: started it again on the same port and data dir; "
            "MariaDB, WordPress and the admin's login were left as they were.")

        after = Stack.load(own_stack)
        assert process_identity(after, "mariadb") == database
        assert process_identity(after, "php") == wordpress
        assert process_identity(after, "sidecar") != dead_sidecar
        assert after.problems() == []
        assert (after.sidecar_url, after.sidecar_secret, after.sidecar_data_dir) == (
            before.sidecar_url, before.sidecar_secret, before.sidecar_data_dir)
        # The same login still opens wp-admin: not sent back to wp-login.php.
        admin = browser.get(f"{after.wp_url}/wp-admin/")
        assert admin.status_code == 200, admin.headers.get("location")
    assert after.wp_php("echo get_option('igbridge_stack_test_marker');").strip() == "kept"
    # The plugin's stored secret still opens the restarted sidecar.
    jobs = httpx.get(f"{after.sidecar_url}/api/jobs",
                     headers={"Authorization": f"Bearer {after.sidecar_secret}"}, timeout=10)
    assert jobs.status_code == 200, jobs.text

    healthy = stack_command(own_stack, "up")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert healthy.stdout.splitlines()[0] == "A healthy stack is already running; reusing it."
    assert process_identity(Stack.load(own_stack), "sidecar") == process_identity(
        after, "sidecar")
