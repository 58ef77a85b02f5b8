"""``make demo``: the local stack, the bundled sample export imported with a live bar,
and the wp-admin address and login to watch the next job in the dashboard.

Run twice in a row, it reuses the running stack (and the import finds every post
already there: nothing is duplicated). With a terminal attached it waits, and
Ctrl-C stops what it started; without one it leaves the stack running for
``make stack-down``.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from importlib import resources
from pathlib import Path

import httpx
from rich.console import Console
from rich.panel import Panel

from dev.stack import DEFAULT_ROOT, Stack, StackError, up
from sidecar.cli.main import watch_job

console = Console()
DASHBOARD_PATH = "/wp-admin/admin.php?page=igbridge"


def sample_export() -> Path:
    return Path(str(resources.files("sidecar.sample") / "instagram-export-sample.zip"))


def start_import(stack: Stack, zip_path: Path) -> str:
    response = httpx.post(
        f"{stack.sidecar_url}/api/jobs",
        json={"kind": "import", "source": {"type": "export", "path": str(zip_path)}},
        headers={"Authorization": f"Bearer {stack.sidecar_secret}"}, timeout=30,
    )
    if response.status_code != 202:
        raise StackError(f"the sidecar refused the import ({response.status_code}): "
                         f"{response.text[:300]}")
    return str(response.json()["job_id"])


def main() -> int:
    console.print("[bold]igbridge demo[/]: starting the local stack (MariaDB, WordPress, "
                  "sidecar)…")
    began = time.monotonic()
    try:
        stack, reused = up(DEFAULT_ROOT)
    except StackError as exc:
        console.print(f"[red]could not start the stack:[/] {exc}")
        return 1
    console.print(("reused the running stack" if reused else
                   f"stack started in {time.monotonic() - began:.1f} s")
                  + f"; logs in {stack.logs_dir}")
    zip_path = sample_export()
    console.print(f"Importing the sample export [cyan]{zip_path.name}[/] into WordPress:")
    job_id = start_import(stack, zip_path)
    outcome = asyncio.run(watch_job(stack.sidecar_url, stack.sidecar_secret, job_id))
    console.print(Panel.fit(
        f"WordPress admin  [bold]{stack.wp_url}{DASHBOARD_PATH}[/]\n"
        f"user             [bold]{stack.wp_admin_user}[/]\n"
        f"password         [bold]{stack.wp_admin_password}[/]\n\n"
        f"The import above is in the dashboard's history; start the next one there\n"
        f"(Instagram Import → import an export ZIP, or a command like "
        f"'import export {zip_path}').\n"
        f"Posts: {stack.wp_url}/",
        title="igbridge is running", border_style="green" if outcome == 0 else "red",
    ))
    if not sys.stdin.isatty():
        console.print("No terminal attached: the stack keeps running; "
                      "`make stack-down` stops it.")
        return outcome
    console.print("Press Ctrl-C to stop the stack.")
    stopped = asyncio.Event()

    async def wait_for_ctrl_c() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopped.set)
        await stopped.wait()

    asyncio.run(wait_for_ctrl_c())
    console.print("Stopping the stack…")
    stack.stop()
    console.print("Stopped. Data is kept in .devstack/ for next time "
                  "(`python -m dev.stack down --purge` removes it).")
    return outcome


if __name__ == "__main__":
    sys.exit(main())
