"""``igbridge``: serve the sidecar, start jobs and watch them with a live progress bar.

Jobs are named by their id or any unique prefix of it (the dashboard shows the first
8 characters). Without a terminal (CI logs) the progress is one plain line per step.
Ctrl-C stops watching; the job goes on in the sidecar unless ``--cancel-on-exit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn
from urllib.parse import quote

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from .. import __version__
from ..config import DEFAULT_PORT, SECRET_FILE, ensure_secret, load_config
from ..errors import IgbridgeError
from .sse_client import StreamError, error_message, follow

app = typer.Typer(help="igbridge: Instagram posts into WordPress, with live progress.",
                  no_args_is_help=True, add_completion=False)
jobs_app = typer.Typer(help="List, inspect, cancel and watch jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

TERMINAL = ("complete", "error", "cancelled")
INTERRUPTED = 130  # what a shell reports for a command stopped by Ctrl-C

UrlOption = Annotated[str | None, typer.Option(
    "--url", help="Sidecar URL (default: IGBRIDGE_URL or http://127.0.0.1:8765).")]
JobRef = Annotated[str, typer.Argument(
    metavar="JOB", help="The job's id, or its first characters as the dashboard shows them.")]


def fail(message: str) -> NoReturn:
    errors.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)
    raise typer.Exit(1)


def say(message: str, style: str = "") -> None:
    """One line as given: no markup, no wrapping of its own (the terminal wraps)."""
    console.print(Text(message, style=style), soft_wrap=True)


def _print_version(value: bool) -> None:
    if value:
        say(f"igbridge {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the version and exit.")] = False,
) -> None:
    """igbridge: Instagram posts into WordPress, with live progress."""


DataDirOption = Annotated[Path | None, typer.Option(help="Data dir (IGBRIDGE_DATA_DIR).")]


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (IGBRIDGE_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (IGBRIDGE_PORT).")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Run the sidecar (Hypercorn); with IGBRIDGE_BACKEND=redis://… it also works jobs
    from the queue every process shares."""
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


@app.command()
def worker(data_dir: DataDirOption = None) -> None:
    """Work jobs from the shared queue without serving HTTP (IGBRIDGE_BACKEND=redis://…)."""
    try:
        overrides: dict[str, Any] = {"data_dir": data_dir} if data_dir else {}
        config = ensure_secret(load_config(**overrides))
    except IgbridgeError as exc:
        fail(exc.message)
    logging.basicConfig(level=os.environ.get("IGBRIDGE_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from ..web.server import run_worker  # Quart loads only for the commands that run it

    errors.print(f"igbridge {__version__} worker on {config.backend} "
                 f"(data in {config.data_dir})")
    try:
        asyncio.run(run_worker(config))
    except IgbridgeError as exc:
        fail(exc.message)


# -- talking to a running sidecar ---------------------------------------------------


@dataclass(frozen=True)
class Sidecar:
    """Where the sidecar is, and the secret with where it came from (a refusal names it)."""

    url: str
    secret: str
    secret_from: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}

    def refused_secret(self, message: str) -> str:
        return f"the sidecar at {self.url} refused the secret from {self.secret_from}: {message}"


def sidecar_at(url: str | None) -> Sidecar:
    base = (url or os.environ.get("IGBRIDGE_URL") or
            f"http://127.0.0.1:{os.environ.get('IGBRIDGE_PORT', DEFAULT_PORT)}").rstrip("/")
    secret = os.environ.get("IGBRIDGE_SECRET", "")
    if secret:
        return Sidecar(base, secret, "IGBRIDGE_SECRET")
    path = load_config().data_dir / SECRET_FILE
    if path.exists():
        secret = path.read_text().strip()
    if not secret:
        fail("no secret: set IGBRIDGE_SECRET (or IGBRIDGE_DATA_DIR to the sidecar's data dir)")
    return Sidecar(base, secret, str(path))


def call(sidecar: Sidecar, method: str, path: str, body: Any = None, *,
         refusal: str = "") -> Any:
    """One request; any failure ends the command with a sentence (``refusal`` first)."""
    try:
        response = httpx.request(method, sidecar.url + path, json=body, timeout=30.0,
                                 headers=sidecar.headers)
    except httpx.TransportError as exc:
        fail(f"cannot reach the sidecar at {sidecar.url}: {exc}")
    if response.status_code == 401:
        fail(sidecar.refused_secret(error_message(response)))
    if response.status_code >= 400:
        fail(refusal + error_message(response))
    try:
        return response.json()
    except ValueError:
        fail(f"{sidecar.url}{path} answered HTTP {response.status_code} without JSON")


def find_job(sidecar: Sidecar, ref: str) -> dict[str, Any]:
    """The job named by its id or a unique prefix (the sidecar resolves it)."""
    job: dict[str, Any] = call(sidecar, "GET", f"/api/jobs/{quote(ref, safe='')}")
    return job


def job_items(sidecar: Sidecar, job: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's items: inline in older sidecars, else page by page."""
    if "items" in job:
        return list(job["items"])
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = "?limit=200" + (f"&cursor={quote(cursor, safe='')}" if cursor else "")
        page = call(sidecar, "GET", f"/api/jobs/{job['job_id']}/items{query}")
        items.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return items


COUNT_WORDS = (("imported", "imported"), ("already_imported", "already in WordPress"),
               ("skipped", "skipped"), ("failed", "failed"), ("pending", "pending"))


def describe_counts(counts: dict[str, int]) -> str:
    """``2 imported, 1 already in WordPress, 3 failed``: the outcome in words."""
    return ", ".join(f"{counts[key]} {words}" for key, words in COUNT_WORDS if counts.get(key))


@jobs_app.command("list")
def jobs_list(url: UrlOption = None, limit: int = 20) -> None:
    """Recent jobs, newest first, with whole ids (any unique start of one will do)."""
    jobs = call(sidecar_at(url), "GET", f"/api/jobs?limit={limit}")["jobs"]
    table = Table()
    # The id is what a person copies: it is never cut or wrapped; the rest gives way.
    table.add_column("job", no_wrap=True, min_width=32)
    for name in ("kind", "status", "outcome", "created", "message"):
        table.add_column(name, overflow="fold")
    for job in jobs:
        created = (job.get("created_at") or "")[:16].replace("T", " ")
        message = (job.get("progress") or {}).get("message") or job.get("error") or ""
        table.add_row(job["job_id"], job["kind"], job["status"],
                      describe_counts(job["counts"]), created, message)
    console.print(table)


@jobs_app.command("show")
def jobs_show(job: JobRef, url: UrlOption = None) -> None:
    """One job with its per-item outcomes."""
    sidecar = sidecar_at(url)
    found = find_job(sidecar, job)
    say(f"{found['kind']} {found['job_id']}  {found['status']}"
        + (f"  attempts {found['attempts']}" if "attempts" in found else ""), "bold")
    if found.get("error"):
        say(found["error"], "red")
    if found.get("timing"):
        say(describe_timing(found["timing"]))
    table = Table("item", "state", "post", "reason")
    for item in job_items(sidecar, found):
        table.add_row(item["source_id"], item["state"],
                      item.get("post_url") or str(item.get("wp_post_id") or ""),
                      item.get("reason") or "")
    console.print(table)


def describe_timing(seconds: dict[str, float]) -> str:
    """``12.4 s: WordPress 11.9 s, own 0.3 s``: where the last attempt's time went."""
    outside = [f"{name} {seconds[key]:.1f} s" for key, name in (
        ("wordpress", "WordPress"), ("downloads", "downloads"), ("apify", "Apify"))
        if seconds.get(key)]
    return (f"{seconds['wall']:.1f} s: " + ", ".join([*outside, f"own {seconds['own']:.1f} s"])
            + " (calls overlap)")


@jobs_app.command("cancel")
def jobs_cancel(job: JobRef, url: UrlOption = None) -> None:
    """Stop a job (within 2 s); what it already imported is kept."""
    sidecar = sidecar_at(url)
    job_id = find_job(sidecar, job)["job_id"]
    cancelled = call(sidecar, "POST", f"/api/jobs/{job_id}/cancel")
    say(f"job {job_id}: {cancelled['status']}")


@jobs_app.command("watch")
def jobs_watch(job: JobRef, url: UrlOption = None) -> None:
    """A live progress bar fed by the job's stream; reconnects by itself."""
    sidecar = sidecar_at(url)
    raise typer.Exit(watch(sidecar, find_job(sidecar, job)))


@app.command("cache-images")
def cache_images(urls: list[str], url: UrlOption = None) -> None:
    """Download images into the sidecar's cache, with a live bar."""
    sidecar = sidecar_at(url)
    accepted = call(sidecar, "POST", "/api/jobs",
                    {"kind": "cache_images", "source": {"type": "urls", "urls": urls}},
                    refusal="the sidecar refused the job: ")
    raise typer.Exit(watch_started(sidecar, accepted, cancel_on_exit=False))


@app.command("import")
def import_posts(
    from_apify: Annotated[str | None, typer.Option("--from-apify", help="@username")] = None,
    from_export: Annotated[Path | None, typer.Option("--from-export", help="export .zip")] = None,
    limit: Annotated[int, typer.Option(help="At most this many posts (Apify).")] = 20,
    scrape_only: Annotated[bool, typer.Option(help="Fetch and cache, no WordPress.")] = False,
    cancel_on_exit: Annotated[bool, typer.Option(
        help="Ctrl-C cancels the job instead of leaving it running in the sidecar.")] = False,
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
    sidecar = sidecar_at(url)
    accepted = call(sidecar, "POST", "/api/jobs",
                    {"kind": "scrape" if scrape_only else "import", "source": source},
                    refusal="the sidecar refused the job: ")
    raise typer.Exit(watch_started(sidecar, accepted, cancel_on_exit=cancel_on_exit))


# -- watching ---------------------------------------------------------------------------


def watch_started(sidecar: Sidecar, accepted: dict[str, Any], *, cancel_on_exit: bool) -> int:
    """The job id first (before anything can go wrong), then what Ctrl-C will do."""
    job = accepted["job"]
    say(f"job {job['job_id']} started ({job['kind']})")
    if console.is_terminal:
        say("Ctrl-C cancels the job." if cancel_on_exit
            else "Ctrl-C stops watching; the job goes on in the sidecar.", "dim")
    return watch(sidecar, job, cancel_on_exit=cancel_on_exit)


def watch(sidecar: Sidecar, job: dict[str, Any], *, cancel_on_exit: bool = False) -> int:
    """Follow a job to its end: 0 when it completed, 1 otherwise, 130 after Ctrl-C."""
    try:
        return asyncio.run(watch_job(sidecar, job["session_id"]))
    except KeyboardInterrupt:
        pass
    short = short_id(sidecar, job["job_id"])
    if cancel_on_exit:
        say(f"Cancelling job {short}…")
        cancelled = call(sidecar, "POST", f"/api/jobs/{job['job_id']}/cancel")
        say(f"Job {short} is {cancelled['status']}; what it had already done is kept.")
    else:
        say(f"Stopped watching. Job {short} goes on in the sidecar: `igbridge jobs watch "
            f"{short}` follows it again, `igbridge jobs cancel {short}` stops it.")
    return INTERRUPTED


def short_id(sidecar: Sidecar, job_id: str) -> str:
    """The job's short id as the sidecar gives it; the whole id when it cannot."""
    try:
        response = httpx.get(f"{sidecar.url}/api/jobs/{job_id}", headers=sidecar.headers,
                             timeout=5.0)
        return str(response.json().get("short_id") or job_id)
    except (httpx.HTTPError, ValueError, AttributeError):
        return job_id


async def watch_job(sidecar: Sidecar, session_id: str) -> int:
    """Follow one job's stream to its terminal event: a live bar in a terminal, one plain
    line per step anywhere else; then its outcome. 0 when it completed."""
    view = LiveBar() if console.is_terminal else PlainLines()
    final: dict[str, Any] = {}
    with view:
        async with httpx.AsyncClient() as client:
            events = follow(client, f"{sidecar.url}/api/progress/stream/{session_id}",
                            headers=sidecar.headers, on_state=view.connection)
            try:
                async with contextlib.aclosing(events):
                    async for event in events:
                        data = event.data
                        if data.get("type") in TERMINAL or data.get("status") in TERMINAL:
                            final = data
                            break
                        if "status" in data:  # a snapshot or a progress event
                            view.show(data)
            except StreamError as exc:
                view.stop()
                fail(sidecar.refused_secret(exc.message) if exc.status == 401 else
                     f"cannot watch job {session_id}: {exc.message}")
    if not final:
        say("the stream ended before the job did; `igbridge jobs show` tells where it is",
            "yellow")
        return 1
    status = final.get("status", "unknown")
    style = {"complete": "green", "error": "red", "cancelled": "yellow"}.get(status, "")
    say(f"{status}: {final.get('message') or ''}".rstrip(), style)
    return 0 if status == "complete" else 1


def percentage(data: dict[str, Any]) -> float:
    """The job's overall percentage (never goes down); the phase's share when missing."""
    if data.get("percentage") is not None:
        return float(data["percentage"])
    total = data.get("total") or 0
    return 100.0 * (data.get("done") or 0) / total if total else 0.0


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 10:
        return f"{minutes} min {rest} s"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def step_parts(data: dict[str, Any]) -> tuple[str, str, str]:
    """(phase with its own N/M, rate in its unit, time left) of one snapshot."""
    phase = data.get("phase") or data.get("status") or ""
    total, done = data.get("total"), data.get("done") or 0
    counted = f"{phase} {done}/{total}" if total else phase
    unit = data.get("rate_unit")
    rate = "" if not data.get("rate") else (
        f"{data['rate']:.1f} {unit}" if unit else f"{data['rate']:.1f}/s")
    eta = ""
    if data.get("status") == "running":
        seconds = data.get("eta_seconds")
        eta = ("estimating…" if seconds is None else "almost done" if seconds < 0.5
               else f"about {duration(seconds)} left")
    return counted, rate, eta


class PlainLines:
    """Without a terminal: one line per step that changed something, flushed at once."""

    def __init__(self) -> None:
        self.last = ""

    def __enter__(self) -> PlainLines:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def stop(self) -> None:
        pass

    def connection(self, state: str) -> None:
        if state == "reconnecting":
            self._line("connection lost; reconnecting…")

    def show(self, data: dict[str, Any]) -> None:
        counted, rate, eta = step_parts(data)
        message = data.get("message") or ""
        parts = [counted, rate, eta, "" if message == counted else message]
        self._line(f"{percentage(data):3.0f}% " + " · ".join(p for p in parts if p))

    def _line(self, line: str) -> None:
        if line != self.last:
            self.last = line
            print(line, flush=True)


class LiveBar:
    """In a terminal: one bar for the job's overall percentage, the phase's N/M beside it."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.fields[phase]}", markup=False, style="bold"), BarColumn(),
            TaskProgressColumn(), TextColumn("{task.fields[rate]}", markup=False),
            TextColumn("{task.fields[eta]}", markup=False), TimeElapsedColumn(),
            TextColumn("{task.description}", markup=False),
            console=console, transient=False,
        )
        self.task = self.progress.add_task("connecting…", total=100, phase="", rate="",
                                           eta="")

    def __enter__(self) -> LiveBar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def stop(self) -> None:
        self.progress.stop()

    def connection(self, state: str) -> None:
        if state == "reconnecting":
            self.progress.update(self.task, description="connection lost, reconnecting…")

    def show(self, data: dict[str, Any]) -> None:
        counted, rate, eta = step_parts(data)
        message = data.get("message") or ""
        self.progress.update(self.task, completed=percentage(data), phase=counted, rate=rate,
                             eta=eta, description="" if message == counted else message)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
