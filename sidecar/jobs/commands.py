"""Chat-style commands, as typed in the dashboard's command box or the CLI.

    scrape instagram @username [limit N]     fetch and cache, no WordPress
    bulk import @username [limit N]          scrape, then import into WordPress
    import export <path to zip>              import an Instagram export
    cancel <job id>                          stop a running job
    status                                   what is running now
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..config import Config
from ..errors import ValidationFailed
from .runner import JobRunner

HELP = [
    "scrape instagram @username [limit N]",
    "bulk import @username [limit N]",
    "import export <path to .zip>",
    "cancel <job id>",
    "status",
]
DEFAULT_LIMIT = 20
MAX_LIMIT = 10_000

FLAGS = re.IGNORECASE | re.ASCII  # ASCII: [A-Za-z] must not match "ſ" or "K" (Kelvin)
_USER = r"@?(?P<user>[A-Za-z0-9._]{1,30})"
_LIMIT = r"(?:\s+(?:limit|max)\s+(?P<limit>\d{1,6}))?"
PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("scrape", re.compile(rf"^(?:scrape|fetch)(?:\s+instagram)?\s+{_USER}{_LIMIT}$", FLAGS)),
    ("import", re.compile(rf"^(?:bulk\s+)?import(?:\s+instagram)?\s+{_USER}{_LIMIT}$", FLAGS)),
    ("export", re.compile(r"^import\s+export\s+(?P<path>\S.*)$", FLAGS)),
    ("cancel", re.compile(r"^(?:cancel|stop)\s+(?:job\s+)?(?P<job>[A-Za-z0-9_-]{1,64})$", FLAGS)),
    ("status", re.compile(r"^(?:status|jobs|list)$", FLAGS)),
]


@dataclass(frozen=True)
class ParsedCommand:
    action: str  # scrape | import | export | cancel | status
    username: str | None = None
    limit: int | None = None
    path: str | None = None
    job_id: str | None = None


@dataclass
class Outcome:
    reply: str
    job: dict[str, Any] | None = None
    jobs: list[dict[str, Any]] = field(default_factory=list)


def parse(text: str) -> ParsedCommand:
    """Parse one command; raises ValidationFailed listing what is understood."""
    line = " ".join(text.strip().split())
    if re.fullmatch(r"import\s+export", line, re.I | re.ASCII):
        # Without this, "import @user" would read it as a profile called "export".
        raise ValidationFailed("import export needs the path of a .zip: "
                               "import export <path to .zip>")
    # "import export …" must win over "import @user".
    for action, pattern in sorted(PATTERNS, key=lambda p: p[0] != "export"):
        match = pattern.match(line)
        if not match:
            continue
        groups = match.groupdict()
        if action in ("scrape", "import"):
            limit = int(groups["limit"]) if groups.get("limit") else DEFAULT_LIMIT
            if not 1 <= limit <= MAX_LIMIT:
                raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}")
            if groups["user"].startswith(".") or groups["user"].endswith("."):
                raise ValidationFailed(f"@{groups['user']} is not a valid Instagram username")
            return ParsedCommand(action, username=groups["user"].lower(), limit=limit)
        if action == "export":
            path = groups["path"].strip().strip("'\"")
            if not path.lower().endswith(".zip"):
                raise ValidationFailed(f"{path!r} is not a .zip file")
            return ParsedCommand(action, path=path)
        if action == "cancel":
            return ParsedCommand(action, job_id=groups["job"])
        return ParsedCommand(action)
    raise ValidationFailed(
        f"I did not understand {_quoted(text)}. Commands: " + "; ".join(HELP),
        code="unknown_command",
    )


def _quoted(text: str, limit: int = 60) -> str:
    """The text as typed, for a message: repr escapes can make one character ten, so
    the quote is cut after escaping and the message stays short."""
    shown = repr(text.strip())
    return shown if len(shown) <= limit else shown[: limit - 2] + "…" + shown[-1]


async def execute(text: str, runner: JobRunner, config: Config) -> Outcome:
    command = parse(text)
    if command.action in ("scrape", "import"):
        job = await runner.submit(
            command.action,
            {"type": "apify", "username": command.username, "limit": command.limit},
        )
        verb = "Scraping" if command.action == "scrape" else "Importing"
        return Outcome(f"{verb} @{command.username} (up to {command.limit} posts)", job=job)
    if command.action == "export":
        job = await runner.submit("import", {"type": "export", "path": command.path})
        return Outcome(f"Importing the export {command.path}", job=job)
    if command.action == "cancel":
        assert command.job_id is not None
        job = await runner.cancel(command.job_id)
        return Outcome(f"Job {command.job_id} is {job['status']}", jobs=[job])
    # Asked by status, not picked from the newest jobs: a long job started before
    # twenty others is still running and must be listed.
    running = [job for status in ("running", "queued")
               for job in await runner.list_jobs(status=status, limit=100, before=None)]
    if not running:
        return Outcome("Nothing is running.",
                       jobs=await runner.list_jobs(status=None, limit=5, before=None))
    lines = [f"{j['kind']} {j['job_id'][:8]}: {(j['progress'] or {}).get('message', '')}"
             for j in running]
    return Outcome("; ".join(lines), jobs=running)
