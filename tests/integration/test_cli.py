"""The ``igbridge`` CLI against a real sidecar: start a job, watch its live bar to the end,
list, show and cancel jobs; bad input gets a clear error and a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.media_files import jpeg, png
from tests.support.media_server import MediaServer
from tests.support.sidecar_process import SidecarProcess


@pytest.fixture
def media() -> Iterator[MediaServer]:
    server = MediaServer().start()
    yield server
    server.stop()


def igbridge(sidecar: SidecarProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IGBRIDGE_")}
    env.update({"IGBRIDGE_URL": sidecar.url, "IGBRIDGE_SECRET": sidecar.secret or "",
                "COLUMNS": "160"})
    return subprocess.run([sys.executable, "-m", "sidecar", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_cache_images_watches_the_job_to_its_end(
    sidecar: SidecarProcess, media: MediaServer
) -> None:
    urls = [media.add("/one.jpg", jpeg()), media.add("/two.jpg", png())]
    result = igbridge(sidecar, "cache-images", *urls)
    assert result.returncode == 0, result.stderr
    assert "complete: Cached 2 of 2 image(s): 2 downloaded" in result.stdout

    listed = igbridge(sidecar, "jobs", "list")
    assert listed.returncode == 0
    assert "cache_images" in listed.stdout
    assert "complete" in listed.stdout

    # Where the job's time went: the downloads were under way part of it.
    [listed_job] = httpx.get(f"{sidecar.url}/api/jobs", headers=sidecar.headers).json()["jobs"]
    job = httpx.get(f"{sidecar.url}/api/jobs/{listed_job['job_id']}",
                    headers=sidecar.headers).json()
    timing = job["timing"]
    assert 0 < timing["downloads"] <= timing["wall"]
    assert timing["own"] == pytest.approx(timing["wall"] - timing["downloads"], abs=0.002)
    shown = igbridge(sidecar, "jobs", "show", job["job_id"])
    assert shown.returncode == 0, shown.stderr
    assert f"{timing['wall']:.1f} s: downloads {timing['downloads']:.1f} s, own " in shown.stdout


def test_show_and_cancel_name_unknown_jobs(sidecar: SidecarProcess) -> None:
    for command in (["jobs", "show", "nope"], ["jobs", "cancel", "nope"],
                    ["jobs", "watch", "nope"]):
        result = igbridge(sidecar, *command)
        assert result.returncode == 1, command
        assert "no job nope" in result.stderr or "no progress session nope" in result.stderr


def test_a_failed_job_exits_non_zero_with_its_reason(
    sidecar: SidecarProcess, media: MediaServer
) -> None:
    result = igbridge(sidecar, "cache-images", media.url + "/missing.jpg")
    assert result.returncode == 1
    assert "error: all 1 image(s) failed; first error: HTTP 404" in result.stdout


def test_import_needs_exactly_one_source(sidecar: SidecarProcess, tmp_path: Path) -> None:
    neither = igbridge(sidecar, "import")
    assert neither.returncode == 1
    assert "give exactly one of --from-apify @user or --from-export FILE.zip" in neither.stderr
    missing = igbridge(sidecar, "import", "--from-export", str(tmp_path / "nowhere.zip"))
    assert missing.returncode == 1
    assert "nowhere.zip does not exist" in missing.stderr


def test_unreachable_sidecar_is_named(tmp_path: Path) -> None:
    gone = SidecarProcess(tmp_path / "data")  # never started: nothing listens there
    result = igbridge(gone, "jobs", "list")
    assert result.returncode == 1
    assert f"cannot reach the sidecar at {gone.url}" in result.stderr
