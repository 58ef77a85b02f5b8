"""The ``igbridge`` CLI against a real sidecar: start a job, watch it to the end, list,
show and cancel jobs by the short id the dashboard shows; bad input and a wrong secret
get a sentence and a non-zero exit. Run as a person runs it: in a subprocess, with no
terminal (as in CI logs) or in a pseudo-terminal where Ctrl-C is a real keypress."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sidecar import __version__
from tests.fakes.apify_server import FakeApify
from tests.fakes.instagram_items import ItemFactory
from tests.fakes.media_files import jpeg, png
from tests.support.media_server import MediaServer, wait_for
from tests.support.sidecar_process import SidecarProcess
from tests.support.terminal import Terminal

PROGRESS_LINE = re.compile(r"^\s*\d{1,3}% \S")


@pytest.fixture
def media() -> Iterator[MediaServer]:
    server = MediaServer().start()
    yield server
    server.stop()


def cli_env(sidecar: SidecarProcess, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IGBRIDGE_")}
    env.update({"IGBRIDGE_URL": sidecar.url, "IGBRIDGE_SECRET": sidecar.secret or "",
                "COLUMNS": "160"})
    env.update(extra)
    return env


def igbridge(sidecar: SidecarProcess, *args: str, timeout: float = 60,
             **extra_env: str) -> subprocess.CompletedProcess[str]:
    """The CLI with no terminal attached, as in a CI job."""
    return subprocess.run([sys.executable, "-m", "sidecar", *args],
                          env=cli_env(sidecar, **extra_env), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def in_terminal(sidecar: SidecarProcess, *args: str) -> Terminal:
    return Terminal([sys.executable, "-m", "sidecar", *args], env=cli_env(sidecar))


def all_jobs(sidecar: SidecarProcess) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = httpx.get(f"{sidecar.url}/api/jobs?limit=100",
                                           headers=sidecar.headers).json()["jobs"]
    return jobs


def no_raw_json(text: str) -> bool:
    return '{"' not in text and "'error':" not in text


def test_version_is_printed() -> None:
    result = subprocess.run([sys.executable, "-m", "sidecar", "--version"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stdout) == (0, f"igbridge {__version__}\n")


def test_cache_images_prints_its_job_id_first_then_one_line_per_step(
    sidecar: SidecarProcess, media: MediaServer
) -> None:
    # Slow enough that the CLI sees the job under way, not only its end.
    urls = [media.add("/one.jpg", jpeg(), delay=0.5), media.add("/two.jpg", png(), delay=0.5)]
    result = igbridge(sidecar, "cache-images", *urls)
    assert result.returncode == 0, result.stderr

    [job] = all_jobs(sidecar)
    lines = result.stdout.splitlines()
    assert lines[0] == f"job {job['job_id']} started (cache_images)"
    assert lines[-1] == "complete: Cached 2 of 2 image(s): 2 downloaded"
    steps = lines[1:-1]
    assert steps, result.stdout  # without a terminal: plain lines, never nothing
    assert all(PROGRESS_LINE.match(line) for line in steps), steps
    assert len(steps) == len(set(steps)), "a step that changed nothing is printed once"
    assert "\x1b" not in result.stdout
    assert "\r" not in result.stdout

    listed = igbridge(sidecar, "jobs", "list")
    assert listed.returncode == 0
    assert "cache_images" in listed.stdout
    assert "complete" in listed.stdout

    # Where the job's time went: the downloads were under way part of it.
    timing = job_of(sidecar, job["job_id"])["timing"]
    assert 0 < timing["downloads"] <= timing["wall"]
    assert timing["own"] == pytest.approx(timing["wall"] - timing["downloads"], abs=0.002)
    shown = igbridge(sidecar, "jobs", "show", job["job_id"][:8])
    assert shown.returncode == 0, shown.stderr
    assert job["job_id"] in shown.stdout
    assert f"{timing['wall']:.1f} s: downloads {timing['downloads']:.1f} s, own " in shown.stdout


def test_unknown_jobs_are_named(sidecar: SidecarProcess) -> None:
    for command in (["jobs", "show", "nope"], ["jobs", "cancel", "nope"],
                    ["jobs", "watch", "nope"]):
        result = igbridge(sidecar, *command)
        assert result.returncode == 1, command
        assert result.stderr.strip() == "error: no job starts with nope", command


def test_short_ids_name_one_job_and_an_ambiguous_one_lists_the_candidates(
    sidecar: SidecarProcess, media: MediaServer
) -> None:
    # 17 jobs: with 16 hex digits, at least two ids share their first character.
    for n in range(17):
        accepted = httpx.post(f"{sidecar.url}/api/jobs", headers=sidecar.headers, json={
            "kind": "cache_images", "source": {"type": "urls", "urls": [f"{media.url}/{n}"]}})
        assert accepted.status_code == 202, accepted.text
    wait_for(lambda: all(j["status"] == "error" for j in all_jobs(sidecar)), timeout=60)
    jobs = all_jobs(sidecar)
    by_first: dict[str, list[dict[str, Any]]] = {}
    for job in jobs:
        by_first.setdefault(job["job_id"][0], []).append(job)
    shared, candidates = next((c, js) for c, js in by_first.items() if len(js) > 1)
    candidates = [job_of(sidecar, j["job_id"]) for j in candidates]

    ambiguous = igbridge(sidecar, "jobs", "show", shared)
    assert ambiguous.returncode == 1
    message = ambiguous.stderr.strip()
    assert message.startswith(f"error: job id {shared} is ambiguous: it starts "
                              f"{len(candidates)} jobs: "), message
    assert message.endswith("Give more of its characters."), message
    for job in candidates:
        assert f"{job['short_id']} (cache_images, error" in message
    assert no_raw_json(ambiguous.stderr)

    for job in candidates:
        short = job_of(sidecar, job["short_id"])["short_id"]
        assert short == job["short_id"]
        # As the dashboard shows it, longer only where another job shares those 8.
        assert len(short) >= 8
        assert job["job_id"].startswith(short)
        assert [j["job_id"] for j in jobs if j["job_id"].startswith(short)] == [job["job_id"]]
    one = candidates[0]
    shown = igbridge(sidecar, "jobs", "show", one["short_id"])
    assert shown.returncode == 0, shown.stderr
    assert one["job_id"] in shown.stdout
    cancelled = igbridge(sidecar, "jobs", "cancel", one["short_id"])
    assert cancelled.returncode == 1
    assert cancelled.stderr.strip() == f"error: job {one['job_id']} is already error"
    watched = igbridge(sidecar, "jobs", "watch", one["short_id"])
    assert watched.returncode == 1
    assert watched.stdout.splitlines()[-1].startswith("error: all 1 image(s) failed")

    # The list shows whole ids; a narrow terminal squeezes the other columns, never them.
    listed = igbridge(sidecar, "jobs", "list", "--limit", "50", COLUMNS="70")
    assert listed.returncode == 0, listed.stderr
    shown_ids = re.findall(r"\b[0-9a-f]{8,32}\b", listed.stdout)
    assert shown_ids == [j["job_id"] for j in jobs]


def test_a_failed_job_exits_non_zero_with_its_reason(
    sidecar: SidecarProcess, media: MediaServer
) -> None:
    result = igbridge(sidecar, "cache-images", media.url + "/missing.jpg")
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == (
        f"error: all 1 image(s) failed; first error: HTTP 404 from {media.url}/missing.jpg")


def test_import_needs_exactly_one_source(sidecar: SidecarProcess, tmp_path: Path) -> None:
    neither = igbridge(sidecar, "import")
    assert neither.returncode == 1
    assert "give exactly one of --from-apify @user or --from-export FILE.zip" in neither.stderr
    missing = igbridge(sidecar, "import", "--from-export", str(tmp_path / "nowhere.zip"))
    assert missing.returncode == 1
    assert "nowhere.zip does not exist" in missing.stderr


def test_a_refused_request_is_a_sentence(sidecar: SidecarProcess) -> None:
    refused = igbridge(sidecar, "import", "--from-apify", "@someone", "--limit", "0")
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: the sidecar refused the job: ")
    assert "limit" in refused.stderr
    assert no_raw_json(refused.stderr), refused.stderr


def test_unreachable_sidecar_is_named(tmp_path: Path) -> None:
    gone = SidecarProcess(tmp_path / "data")  # never started: nothing listens there
    result = igbridge(gone, "jobs", "list")
    assert result.returncode == 1
    assert f"cannot reach the sidecar at {gone.url}" in result.stderr


def test_every_command_names_a_wrong_secret(
    sidecar: SidecarProcess, media: MediaServer, tmp_path: Path
) -> None:
    export = tmp_path / "export.zip"
    export.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty ZIP: refused before it is read
    job_id = httpx.post(f"{sidecar.url}/api/jobs", headers=sidecar.headers, json={
        "kind": "cache_images", "source": {"type": "urls", "urls": [media.url + "/x"]},
    }).json()["job_id"]
    commands = [["jobs", "list"], ["jobs", "show", job_id], ["jobs", "watch", job_id],
                ["jobs", "cancel", job_id], ["cache-images", media.url + "/a.jpg"],
                ["import", "--from-export", str(export)],
                ["import", "--from-apify", "@someone"]]
    for command in commands:
        result = igbridge(sidecar, *command, IGBRIDGE_SECRET="not-the-secret")
        assert result.returncode == 1, command
        assert result.stderr.strip() == (
            f"error: the sidecar at {sidecar.url} refused the secret from IGBRIDGE_SECRET: "
            "wrong secret"), command
    assert len(all_jobs(sidecar)) == 1  # nothing was started


# -- in a terminal ----------------------------------------------------------------------


@pytest.fixture
def fake_apify() -> Iterator[FakeApify]:
    with FakeApify() as server:
        yield server


@pytest.fixture
def apify_sidecar(tmp_path: Path, fake_apify: FakeApify) -> Iterator[SidecarProcess]:
    process = SidecarProcess(tmp_path / "apify-data", env={
        "APIFY_TOKEN": fake_apify.token, "IGBRIDGE_APIFY_API_URL": fake_apify.url,
        "IGBRIDGE_APIFY_POLL_SECONDS": "0.05",
    })
    process.start()
    try:
        yield process
    finally:
        process.kill()


def held_scrape(fake: FakeApify, username: str) -> None:
    """An Apify run that stays RUNNING until it is aborted."""
    fake.add_profile(username, [ItemFactory(fake, username).image()], hold=True)


def job_of(sidecar: SidecarProcess, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = httpx.get(f"{sidecar.url}/api/jobs/{job_id}",
                                    headers=sidecar.headers).json()
    return job


def test_ctrl_c_stops_watching_and_says_how_to_find_the_job_again(
    apify_sidecar: SidecarProcess, fake_apify: FakeApify
) -> None:
    held_scrape(fake_apify, "slow")
    terminal = in_terminal(apify_sidecar, "import", "--from-apify", "@slow", "--scrape-only")
    try:
        job_id = terminal.wait_for(r"^job ([0-9a-f]{32}) started \(scrape\)\n")[1]
        terminal.wait_for(r"Ctrl-C stops watching; the job goes on in the sidecar\.")
        wait_for(lambda: bool(fake_apify.runs) and fake_apify.run_for("slow").polls >= 2)
        terminal.wait_for(r"Apify")  # the live bar shows the run's own status
        terminal.press_ctrl_c()
        assert terminal.wait() == 130
    finally:
        terminal.close()
    short = job_of(apify_sidecar, job_id)["short_id"]
    assert (f"Stopped watching. Job {short} goes on in the sidecar: `igbridge jobs watch "
            f"{short}` follows it again, `igbridge jobs cancel {short}` stops it."
            ) in " ".join(terminal.text.split())
    assert job_of(apify_sidecar, job_id)["status"] == "running"
    assert fake_apify.aborted == []

    watching = in_terminal(apify_sidecar, "jobs", "watch", short)
    try:
        watching.wait_for(r"Apify")
        watching.press_ctrl_c()
        assert watching.wait() == 130
    finally:
        watching.close()
    assert f"Stopped watching. Job {short} goes on in the sidecar" in " ".join(
        watching.text.split())
    assert job_of(apify_sidecar, job_id)["status"] == "running"


def test_ctrl_c_with_cancel_on_exit_cancels_the_job(
    apify_sidecar: SidecarProcess, fake_apify: FakeApify
) -> None:
    held_scrape(fake_apify, "slow")
    terminal = in_terminal(apify_sidecar, "import", "--from-apify", "@slow", "--scrape-only",
                           "--cancel-on-exit")
    try:
        job_id = terminal.wait_for(r"^job ([0-9a-f]{32}) started \(scrape\)\n")[1]
        terminal.wait_for(r"Ctrl-C cancels the job\.")
        wait_for(lambda: bool(fake_apify.runs) and fake_apify.run_for("slow").polls >= 2)
        terminal.press_ctrl_c()
        assert terminal.wait() == 130
    finally:
        terminal.close()
    job = job_of(apify_sidecar, job_id)
    assert job["status"] == "cancelled"
    assert f"Job {job['short_id']} is cancelled; what it had already done is kept." in " ".join(
        terminal.text.split())
    assert fake_apify.aborted == [fake_apify.run_for("slow").id]
