"""``igbridge``: serve the sidecar, start jobs and watch them with a live progress bar."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .. import __version__
from ..config import DEFAULT_PORT, SECRET_FILE, ensure_secret, load_config
from ..errors import IgbridgeError
from .sse_client import follow

app = typer.Typer(help="igbridge: Instagram posts into WordPress, with live progress.",
                  no_args_is_help=True, add_completion=False)
jobs_app = typer.Typer(help="List, inspect, cancel and watch jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
console = Console()
errors = Console(stderr=True)

UrlOption = Annotated[str | None, typer.Option(
    "--url", help="Sidecar URL (default: IGBRIDGE_URL or http://127.0.0.1:8765).")]


def fail(message: str) -> None:
    errors.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (IGBRIDGE_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (IGBRIDGE_PORT).")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data dir (IGBRIDGE_DATA_DIR).")] = None,
) -> None:
    """Run the sidecar (Hypercorn)."""
    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    try:
        config = ensure_secret(load_config(**overrides))
    except IgbridgeError as exc:
        fail(exc.message)
        return
    logging.basicConfig(level=os.environ.get("IGBRIDGE_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from ..web.server import run_server  # Quart and Hypercorn load only for serve

    if not os.environ.get("IGBRIDGE_SECRET") and not os.environ.get("IGBRIDGE_SECRET_FILE"):
        errors.print(f"secret: generated, kept in {config.data_dir / SECRET_FILE}")
    errors.print(f"igbridge {__version__} on http://{config.host}:{config.port} "
                 f"(data in {config.data_dir})")
    try:
        asyncio.run(run_server(config))
    except IgbridgeError as exc:
        fail(exc.message)
    except Exception as exc:  # Hypercorn wraps start-up errors (LifespanFailureError)
        fail(f"the sidecar could not start: {exc}")


# -- talking to a running sidecar ---------------------------------------------------


def _client_settings(url: str | None) -> tuple[str, str]:
    base = (url or os.environ.get("IGBRIDGE_URL") or
            f"http://127.0.0.1:{os.environ.get('IGBRIDGE_PORT', DEFAULT_PORT)}").rstrip("/")
    secret = os.environ.get("IGBRIDGE_SECRET", "")
    if not secret:
        config = load_config()
        path = config.data_dir / SECRET_FILE
        if path.exists():
            secret = path.read_text().strip()
    if not secret:
        fail("no secret: set IGBRIDGE_SECRET (or IGBRIDGE_DATA_DIR to the sidecar's data dir)")
    return base, secret


def _call(url: str | None, method: str, path: str, body: Any = None) -> Any:
    base, secret = _client_settings(url)
    try:
        response = httpx.request(method, base + path, json=body, timeout=30.0,
                                 headers={"Authorization": f"Bearer {secret}"})
    except httpx.TransportError as exc:
        fail(f"cannot reach the sidecar at {base}: {exc}")
    try:
        payload = response.json()
    except ValueError:
        fail(f"{base}{path} answered HTTP {response.status_code} without JSON")
    if response.status_code >= 400:
        error = payload.get("error", {}) if isinstance(payload, dict) else {}
        fail(error.get("message") or f"HTTP {response.status_code}")
    return payload


@jobs_app.command("list")
def jobs_list(url: UrlOption = None, limit: int = 20) -> None:
    """Recent jobs, newest first."""
    jobs = _call(url, "GET", f"/api/jobs?limit={limit}")["jobs"]
    table = Table("job", "kind", "status", "imported", "skipped", "failed", "created", "message")
    for job in jobs:
        counts = job["counts"]
        table.add_row(job["job_id"], job["kind"], job["status"], str(counts["imported"]),
                      str(counts["skipped"]), str(counts["failed"]), job["created_at"] or "",
                      (job["progress"] or {}).get("message", "") or job["error"] or "")
    console.print(table)


@jobs_app.command("show")
def jobs_show(job_id: str, url: UrlOption = None) -> None:
    """One job with its per-item outcomes."""
    job = _call(url, "GET", f"/api/jobs/{job_id}")
    console.print(f"[bold]{job['kind']}[/] {job['job_id']}  {job['status']}"
                  f"  attempts {job['attempts']}")
    if job["error"]:
        console.print(f"[red]{job['error']}[/]")
    if job.get("timing"):
        console.print(describe_timing(job["timing"]))
    table = Table("item", "state", "post", "reason")
    for item in job["items"]:
        table.add_row(item["source_id"], item["state"], str(item["wp_post_id"] or ""),
                      item["reason"] or "")
    console.print(table)


def describe_timing(seconds: dict[str, float]) -> str:
    """``12.4 s: WordPress 11.9 s, own 0.3 s``: where the last attempt's time went."""
    outside = [f"{name} {seconds[key]:.1f} s" for key, name in (
        ("wordpress", "WordPress"), ("downloads", "downloads"), ("apify", "Apify"))
        if seconds.get(key)]
    return (f"{seconds['wall']:.1f} s: " + ", ".join([*outside, f"own {seconds['own']:.1f} s"])
            + " (calls overlap)")


@jobs_app.command("cancel")
def jobs_cancel(job_id: str, url: UrlOption = None) -> None:
    """Stop a job (within 2 s); what it already imported is kept."""
    job = _call(url, "POST", f"/api/jobs/{job_id}/cancel")
    console.print(f"job {job_id}: {job['status']}")


@jobs_app.command("watch")
def jobs_watch(job_id: str, url: UrlOption = None) -> None:
    """A live progress bar fed by the job's stream; reconnects by itself."""
    raise typer.Exit(watch(url, job_id))


@app.command("cache-images")
def cache_images(urls: list[str], url: UrlOption = None) -> None:
    """Download images into the sidecar's cache, with a live bar."""
    accepted = _call(url, "POST", "/api/jobs",
                     {"kind": "cache_images", "source": {"type": "urls", "urls": urls}})
    raise typer.Exit(watch(url, accepted["job_id"]))


@app.command("import")
def import_posts(
    from_apify: Annotated[str | None, typer.Option("--from-apify", help="@username")] = None,
    from_export: Annotated[Path | None, typer.Option("--from-export", help="export .zip")] = None,
    limit: Annotated[int, typer.Option(help="At most this many posts (Apify).")] = 20,
    scrape_only: Annotated[bool, typer.Option(help="Fetch and cache, no WordPress.")] = False,
    url: UrlOption = None,
) -> None:
    """Import Instagram posts into WordPress and watch it happen."""
    if (from_apify is None) == (from_export is None):
        fail("give exactly one of --from-apify @user or --from-export FILE.zip")
    source: dict[str, Any]
    if from_apify is not None:
        source = {"type": "apify", "username": from_apify.lstrip("@"), "limit": limit}
    else:
        assert from_export is not None
        if not from_export.is_file():
            fail(f"{from_export} does not exist")
        source = {"type": "export", "path": str(from_export.resolve())}
    kind = "scrape" if scrape_only else "import"
    accepted = _call(url, "POST", "/api/jobs", {"kind": kind, "source": source})
    raise typer.Exit(watch(url, accepted["job_id"]))


def watch(url: str | None, job_id: str) -> int:
    """Follow a job's stream with a rich bar; 0 when it completed, 1 otherwise."""
    base, secret = _client_settings(url)
    return asyncio.run(watch_job(base, secret, job_id))


async def watch_job(base: str, secret: str, job_id: str) -> int:
    final: dict[str, Any] = {}
    columns = (TextColumn("[bold]{task.fields[phase]}"), BarColumn(),
               TaskProgressColumn(), TextColumn("{task.fields[count]}"),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
               TextColumn("{task.description}"))
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("connecting…", total=None, phase="", rate="", count="")

        def on_state(state: str) -> None:
            if state == "reconnecting":
                bar.update(task, description="[yellow]connection lost, reconnecting…")

        async with httpx.AsyncClient() as client:
            try:
                async for frame in follow(
                    client, f"{base}/api/progress/stream/{job_id}",
                    headers={"Authorization": f"Bearer {secret}"}, on_state=on_state,
                ):
                    data = frame.data
                    rate = f"{data['rate']:.1f}/s" if data.get("rate") else ""
                    total, done = data.get("total") or None, data.get("done") or 0
                    eta = data.get("eta_seconds")
                    bar.update(task, total=total, completed=done,
                               description=data.get("message") or "",
                               phase=data.get("phase") or data.get("status", ""),
                               rate=rate + (f" · {eta:.0f}s left" if eta else ""),
                               count=f"{done}/{total}" if total else "")
                    if data.get("status") in ("complete", "error", "cancelled"):
                        final = data
            except httpx.HTTPStatusError as exc:
                bar.stop()
                fail(f"cannot watch job {job_id}: {exc}")
    status = final.get("status", "unknown")
    style = {"complete": "green", "error": "red", "cancelled": "yellow"}.get(status, "white")
    console.print(f"[{style}]{status}[/]: {final.get('message', '')}")
    return 0 if status == "complete" else 1


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
