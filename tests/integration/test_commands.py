"""Chat-style commands: the parser, and ``POST /api/commands`` on a real sidecar whose
Apify is the fake server (no WordPress here: see tests/e2e for a command end to end)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sidecar.errors import ValidationFailed
from sidecar.jobs.commands import HELP, ParsedCommand, parse
from tests.fakes.apify_server import FakeApify
from tests.fakes.instagram_items import ItemFactory
from tests.support.media_server import wait_for
from tests.support.sidecar_process import SidecarProcess
from tests.support.sse import iter_frames


@pytest.mark.parametrize(("text", "parsed"), [
    ("scrape instagram @user limit 5", ParsedCommand("scrape", username="user", limit=5)),
    ("  Scrape   Instagram  @Some.User_1  ", ParsedCommand("scrape", username="some.user_1",
                                                          limit=20)),
    ("fetch natgeo max 3", ParsedCommand("scrape", username="natgeo", limit=3)),
    ("bulk import @user", ParsedCommand("import", username="user", limit=20)),
    ("import instagram @user limit 100", ParsedCommand("import", username="user", limit=100)),
    ("import export /tmp/my export.zip", ParsedCommand("export", path="/tmp/my export.zip")),
    ("import export '/tmp/quoted.ZIP'", ParsedCommand("export", path="/tmp/quoted.ZIP")),
    ("cancel 0123abcd", ParsedCommand("cancel", job_id="0123abcd")),
    ("stop job 0123abcd", ParsedCommand("cancel", job_id="0123abcd")),
    ("status", ParsedCommand("status")),
    ("JOBS", ParsedCommand("status")),
    ("help", ParsedCommand("help")),
    (" Help ", ParsedCommand("help")),
    ("?", ParsedCommand("help")),
])
def test_parse_understands_each_command(text: str, parsed: ParsedCommand) -> None:
    assert parse(text) == parsed


@pytest.mark.parametrize(("text", "message"), [
    ("scrape @user limit 0", "limit must be between 1 and 10000"),
    ("bulk import @user. limit 2", "@user. is not a valid Instagram username"),
    ("import export /tmp/notes.txt", "'/tmp/notes.txt' is not a .zip file"),
    ("import export", "import export needs the path of a .zip: import export <path to .zip>"),
])
def test_parse_names_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse(text)
    assert caught.value.message == message


@pytest.mark.parametrize("text", ["hello", "scrape", "cancel", "import", "status please",
                                  "scrape instagram @user limit many", "rm -rf /"])
def test_garbage_lists_every_command(text: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse(text)
    assert caught.value.code == "unknown_command"
    assert caught.value.message == (f"I did not understand {text!r}. Commands: "
                                    + "; ".join(HELP))


# -- over HTTP ----------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeApify]:
    with FakeApify() as server:
        yield server


@pytest.fixture
def sidecar(tmp_path: Path, fake: FakeApify) -> Iterator[SidecarProcess]:
    process = SidecarProcess(tmp_path / "data", env={
        "APIFY_TOKEN": fake.token, "IGBRIDGE_APIFY_API_URL": fake.url,
        "IGBRIDGE_APIFY_POLL_SECONDS": "0.02",
    })
    process.start()
    try:
        yield process
    finally:
        process.kill()


@pytest.fixture
def api(sidecar: SidecarProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sidecar.url, headers=sidecar.headers, timeout=30) as client:
        yield client


def command(api: httpx.Client, text: str) -> httpx.Response:
    return api.post("/api/commands", json={"text": text})


def finished(sidecar: SidecarProcess, api: httpx.Client, job_id: str) -> dict[str, Any]:
    with httpx.stream("GET", f"{sidecar.url}/api/progress/stream/{job_id}",
                      params={"last_event_id": 0}, headers=sidecar.headers,
                      timeout=60) as response:
        for _frame in iter_frames(response):
            pass  # the one-session stream ends after the job's terminal event
    job: dict[str, Any] = api.get(f"/api/jobs/{job_id}").json()
    return job


def test_garbage_is_a_422_listing_the_commands(api: httpx.Client) -> None:
    reply = command(api, "please import everything")

    assert reply.status_code == 422
    assert reply.json() == {"error": {
        "code": "unknown_command",
        "message": "I did not understand 'please import everything'. Commands: "
                   "scrape instagram @username [limit N]; bulk import @username [limit N]; "
                   "import export <path to .zip>; cancel <job id>; status; help",
    }}
    assert command(api, "").status_code == 422
    assert api.get("/api/jobs").json()["jobs"] == []


def test_commands_need_the_secret(sidecar: SidecarProcess) -> None:
    reply = httpx.post(f"{sidecar.url}/api/commands", json={"text": "status"})
    assert reply.status_code == 401


def test_scrape_command_scrapes_and_caches(
    sidecar: SidecarProcess, api: httpx.Client, fake: FakeApify
) -> None:
    items = ItemFactory(fake, "user")
    fake.add_profile("user", [items.image(f"post {n}") for n in range(7)])

    reply = command(api, "scrape instagram @User limit 5")

    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert body["reply"] == "Scraping @user (up to 5 posts)"
    assert body["job"]["kind"] == "scrape"
    assert body["job"]["source"] == {"type": "apify", "username": "user", "limit": 5}
    assert body["stream_url"].endswith(f"/api/progress/stream/{body['job_id']}")
    job = finished(sidecar, api, body["job_id"])
    assert job["status"] == "complete", job
    assert job["counts"] == {"pending": 0, "imported": 5,
                             "already_imported": 0, "skipped": 0, "failed": 0, "total": 5}
    assert fake.run_for("user").max_items == 5


def test_bulk_import_without_wordpress_fails_saying_so(
    sidecar: SidecarProcess, api: httpx.Client, fake: FakeApify
) -> None:
    items = ItemFactory(fake, "writer")
    fake.add_profile("writer", [items.image()])

    reply = command(api, "bulk import @writer")

    assert reply.status_code == 202, reply.text
    assert reply.json()["reply"] == "Importing @writer (up to 20 posts)"
    assert reply.json()["job"]["source"] == {"type": "apify", "username": "writer", "limit": 20}
    job = finished(sidecar, api, reply.json()["job_id"])
    assert job["status"] == "error"
    assert job["error"].startswith("IGBRIDGE_WP_URL is not set")


def test_import_export_command_starts_an_export_import(
    sidecar: SidecarProcess, api: httpx.Client, tmp_path: Path
) -> None:
    path = tmp_path / "no such export.zip"

    reply = command(api, f"import export {path}")

    assert reply.status_code == 202, reply.text
    assert reply.json()["reply"] == f"Importing the export {path}"
    assert reply.json()["job"]["source"] == {"type": "export", "path": str(path)}
    job = finished(sidecar, api, reply.json()["job_id"])
    assert (job["status"], job["error"]) == ("error", f"export file not found: {path}")


def test_status_and_cancel_commands(
    sidecar: SidecarProcess, api: httpx.Client, fake: FakeApify
) -> None:
    assert command(api, "status").json() == {"reply": "Nothing is running.", "jobs": []}
    items = ItemFactory(fake, "slow")
    fake.add_profile("slow", [items.image()], hold=True)
    job_id = command(api, "scrape @slow").json()["job_id"]
    wait_for(lambda: bool(fake.runs) and fake.run_for("slow").polls >= 2)

    status = command(api, "status")

    assert status.status_code == 200
    assert status.json()["reply"].startswith(f"scrape {job_id[:8]}: Apify: ")
    assert [j["job_id"] for j in status.json()["jobs"]] == [job_id]

    cancelled = command(api, f"cancel {job_id[:8]}")  # as the status reply shows it

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["reply"] == f"Job {job_id} is cancelled"
    assert cancelled.json()["jobs"][0]["status"] == "cancelled"
    assert fake.aborted == [fake.run_for("slow").id]
    assert command(api, "status").json()["reply"] == "Nothing is running."
    assert command(api, f"cancel {job_id}").status_code == 409
    missing = command(api, "cancel 0000nosuchjob")
    assert (missing.status_code, missing.json()["error"]) == (
        404, {"code": "not_found", "message": "no job starts with 0000nosuchjob"})


def test_help_answers_the_list_of_commands_and_starts_nothing(api: httpx.Client) -> None:
    reply = command(api, "help")

    assert reply.status_code == 200, reply.text
    assert reply.json() == {"reply": "Commands: " + "; ".join(HELP), "jobs": []}
    assert "bulk import @username [limit N]" in reply.json()["reply"]
    assert api.get("/api/jobs").json()["jobs"] == []
