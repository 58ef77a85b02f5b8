"""Start-up behaviour: generated secret, refusing a public bind, one sidecar per data dir,
retention compaction."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.integration.test_sessions import make_session
from tests.support.media_server import wait_for
from tests.support.sidecar_process import SidecarProcess
from tests.support.sse import iter_frames


def test_generated_secret_is_private_and_used(tmp_path: Path) -> None:
    sidecar = SidecarProcess(tmp_path / "data", secret=None).start()
    try:
        secret_file = tmp_path / "data" / "secret"
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        sidecar.secret = secret_file.read_text().strip()
        assert len(sidecar.secret) >= 32
        assert httpx.get(f"{sidecar.url}/api/jobs", headers=sidecar.headers).status_code == 200
    finally:
        sidecar.kill()


def test_refuses_public_bind_without_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IGBRIDGE_")}
    result = subprocess.run(
        [sys.executable, "-m", "sidecar", "serve", "--host", "0.0.0.0", "--port", "0",
         "--data-dir", str(tmp_path / "d")], env=env, capture_output=True, text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "refusing to listen on 0.0.0.0 without IGBRIDGE_SECRET" in result.stderr


def test_bad_configuration_fails_at_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IGBRIDGE_")}
    env["IGBRIDGE_MAX_JOBS"] = "lots"
    result = subprocess.run(
        [sys.executable, "-m", "sidecar", "serve", "--data-dir", str(tmp_path / "d")],
        env=env, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 1
    assert "IGBRIDGE_MAX_JOBS must be a whole number, got 'lots'" in result.stderr


def test_second_sidecar_on_same_data_dir_is_refused(tmp_path: Path) -> None:
    first = SidecarProcess(tmp_path / "data").start()
    try:
        second = SidecarProcess(tmp_path / "data")
        with pytest.raises(RuntimeError, match="another igbridge sidecar is already using"):
            second.start(timeout=10)
    finally:
        first.kill()


def test_retention_compacts_old_sessions_keeping_final_state(tmp_path: Path) -> None:
    sidecar = SidecarProcess(tmp_path / "data").start()
    with httpx.Client(base_url=sidecar.url, headers=sidecar.headers) as api:
        old = make_session(api, total=5)
        for step in range(1, 6):
            api.post(f"/api/progress/sessions/{old}/updates", json={"step": step})
        api.post(f"/api/progress/sessions/{old}/complete", json={"message": "kept"})
        running = make_session(api, total=5)
        api.post(f"/api/progress/sessions/{running}/updates", json={"step": 1})
        final = api.get(f"/api/progress/status/{old}").json()
    sidecar.stop()
    sidecar.extra_env["IGBRIDGE_RETENTION_DAYS"] = "0"
    sidecar.start()
    try:
        with httpx.Client(base_url=sidecar.url, headers=sidecar.headers) as api:
            assert api.get(f"/api/progress/status/{old}").json() == final

            def stored_events() -> list[tuple[str, str]]:
                with httpx.stream("GET", f"{sidecar.url}/api/progress/stream/{old}",
                                  params={"last_event_id": 0},
                                  headers=sidecar.headers) as resp:
                    frames = list(iter_frames(resp))
                return [(f.data["type"], f.data["message"]) for f in frames
                        if f.data and f.data["type"] != "snapshot"]

            # Compaction runs in the background right after start-up.
            wait_for(lambda: len(stored_events()) == 1)
            assert stored_events() == [("complete", "kept")]
            # A running session is never compacted; new ids keep increasing.
            nxt = api.post(f"/api/progress/sessions/{running}/updates", json={"step": 2}).json()
            assert nxt["last_event_id"] > final["last_event_id"]
    finally:
        sidecar.stop()
    with sqlite3.connect(tmp_path / "data" / "igbridge.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        counts = dict(conn.execute("SELECT session_id, COUNT(*) FROM events GROUP BY session_id"))
    assert counts == {old: 1, running: 3}
