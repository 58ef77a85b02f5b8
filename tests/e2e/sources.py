"""What the saved-source tests (test_sync, test_preview, test_repair) share: a sidecar of
the test's own on the session's WordPress and fake Apify, profiles of their own on the
fake, and the calls they make on sources and on WordPress.

A module takes the ``sidecar`` and ``api`` fixtures by importing them; one that keeps a
sidecar for the whole module starts it with ``own_sidecar``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from dev.stack import Stack
from tests.e2e.conftest import SidecarApi
from tests.fakes.apify_server import FakeApify
from tests.fakes.instagram_items import ItemFactory
from tests.support.sidecar_process import SidecarProcess

Fresh = Callable[[FakeApify, list[dict[str, Any]]], list[dict[str, Any]]]
_usernames = iter(range(1, 10_000))


@contextmanager
def own_sidecar(data_dir: Path, stack: Stack,
                import_sidecar_env: dict[str, str]) -> Iterator[SidecarProcess]:
    """A sidecar with its own data dir (its sources, schedules and job history) importing
    into the session's WordPress; killed on the way out."""
    process = SidecarProcess(data_dir, env={
        **import_sidecar_env,
        "IGBRIDGE_WP_URL": stack.wp_url,
        "IGBRIDGE_WP_USER": stack.wp_app_user,
        "IGBRIDGE_WP_APP_PASSWORD": stack.wp_app_password,
    })
    process.start()
    try:
        yield process
    finally:
        process.kill()


def api_of(process: SidecarProcess) -> SidecarApi:
    assert process.secret is not None
    return SidecarApi(process.url, process.secret)


@pytest.fixture
def sidecar(tmp_path: Path, stack: Stack,
            import_sidecar_env: dict[str, str]) -> Iterator[SidecarProcess]:
    with own_sidecar(tmp_path / "data", stack, import_sidecar_env) as process:
        yield process


@pytest.fixture
def api(sidecar: SidecarProcess) -> SidecarApi:
    return api_of(sidecar)


def new_username(prefix: str) -> str:
    """A profile name no other test of the session uses (the fake Apify is shared)."""
    return f"{prefix}.test{next(_usernames)}.{int(time.time() * 1000) % 100_000}"


def account(fake: FakeApify, fresh: Fresh, count: int, *,
            newest: datetime) -> tuple[ItemFactory, list[dict[str, Any]]]:
    """A profile of its own with ``count`` photos a day apart, the newest first."""
    username = new_username("sync")
    factory = ItemFactory(fake, username)
    items = fresh(fake, [factory.image(f"Day {n} at the lake #lake",
                                       taken_at=newest - timedelta(days=n))
                         for n in range(count)])
    fake.add_profile(username, items)
    return factory, items


def create_source(api: SidecarApi, body: dict[str, Any]) -> dict[str, Any]:
    reply = api.post("/api/sources", body)
    assert reply.status_code == 201, reply.text
    found: dict[str, Any] = reply.json()
    return found


def sync(api: SidecarApi, source_id: str) -> dict[str, Any]:
    reply = api.post(f"/api/sources/{source_id}/sync")
    assert reply.status_code == 202, reply.text
    return api.finish(reply.json()["job_id"])


def counts(job: dict[str, Any]) -> dict[str, int]:
    return {k: v for k, v in job["counts"].items() if v}


def wp(stack: Stack, method: str, path: str, params: dict[str, Any] | None = None,
       **body: Any) -> Any:
    """A request to the WordPress REST API with the application password: 200 or 201."""
    reply = httpx.request(method, f"{stack.wp_url}/wp-json{path}", params=params,
                          json=body or None, auth=(stack.wp_app_user, stack.wp_app_password),
                          timeout=30)
    assert reply.status_code in (200, 201), reply.text[:300]
    return reply.json()
