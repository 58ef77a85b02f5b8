"""What the fault scenarios share: a sidecar wired to the stack's WordPress, job polling,
and the checks made on data afterwards (WordPress posts by source id, SQLite integrity)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

from dev.stack import Stack
from tests.support.sidecar_process import SidecarProcess

FINISHED = frozenset({"complete", "error", "cancelled"})


def wordpress_sidecar(stack: Stack, data_dir: Path, *, wp_url: str | None = None,
                      env: dict[str, str] | None = None) -> SidecarProcess:
    """A sidecar of our own (own data dir and port) writing to the stack's WordPress,
    directly or through ``wp_url`` (a fault proxy)."""
    return SidecarProcess(data_dir, env={
        "IGBRIDGE_WP_URL": wp_url or stack.wp_url,
        "IGBRIDGE_WP_USER": stack.wp_app_user,
        "IGBRIDGE_WP_APP_PASSWORD": stack.wp_app_password,
        **(env or {}),
    })


def submit_import(api: httpx.Client, source: dict[str, Any],
                  options: dict[str, Any] | None = None) -> str:
    reply = api.post("/api/jobs", json={"kind": "import", "source": source,
                                        "options": options or {}})
    assert reply.status_code == 202, reply.text
    return str(reply.json()["job_id"])


def wait_job(api: httpx.Client, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """The job once it has ended (polled directly, never through a proxy)."""
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = api.get(f"/api/jobs/{job_id}").json()
        if job["status"] in FINISHED:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s: "
                                 f"{job['counts']} {job.get('progress', {}).get('message')}")
        time.sleep(0.05)


def wordpress_posts(stack: Stack, source_id: str) -> list[dict[str, Any]]:
    """Every post in WordPress (any status) whose ``_igbridge_source_id`` is ``source_id``."""
    reply = httpx.get(
        f"{stack.wp_url}/wp-json/wp/v2/posts",
        params={"igbridge_source_id": source_id, "status": "any", "context": "edit",
                "per_page": 100},
        headers={"Authorization": stack.wp_basic_auth}, timeout=30,
    )
    assert reply.status_code == 200, reply.text
    posts: list[dict[str, Any]] = reply.json()
    # The plugin's filter is what we count by; make sure it really filtered.
    assert all(p["meta"]["_igbridge_source_id"] == source_id for p in posts)
    return posts


def copies_in_wordpress(stack: Stack, source_ids: list[str]) -> dict[str, int]:
    return {sid: len(wordpress_posts(stack, sid)) for sid in source_ids}


def integrity_check(db_path: Path) -> str:
    with sqlite3.connect(db_path) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
