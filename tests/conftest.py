"""Fixtures shared by every test folder.

``stack`` is one fresh, hermetic local stack (MariaDB, WordPress with the plugin
active, the sidecar) per test session, in a temporary directory: never the
developer's ``.devstack``. Tests that use it are marked ``wordpress`` automatically,
so ``pytest -m "not wordpress"`` runs without it. Subfolder conftests may override
``stack_sidecar_env`` (extra ``IGBRIDGE_*`` for the sidecar) or ``stack_with_sidecar``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from dev.stack import Stack, start_stack
from tests.redis_server import RedisServer

# Property tests draw the same examples on every run (a CI failure reproduces, a pass
# means the same thing twice); a soak explores new ones.
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile("explore" if os.environ.get("IGBRIDGE_SOAK", "") not in ("", "0")
                      else "repeatable")


@pytest.fixture(scope="session")
def stack_with_sidecar() -> bool:
    """Start the sidecar with the stack. IGBRIDGE_TEST_STACK_SIDECAR=0 skips it, for
    working on the WordPress side alone."""
    return os.environ.get("IGBRIDGE_TEST_STACK_SIDECAR", "1") != "0"


@pytest.fixture(scope="session")
def stack_sidecar_env() -> dict[str, str]:
    """Extra environment for the stack's sidecar (wins over the stack's own values)."""
    return {}


@pytest.fixture(scope="session")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    stack_with_sidecar: bool,
    stack_sidecar_env: dict[str, str],
) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("devstack")
    running = start_stack(root, sidecar=stack_with_sidecar, sidecar_env=stack_sidecar_env)
    try:
        yield running
    finally:
        running.stop()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run tests marked slow: the longer soak and fuzz variants "
                          "(make soak; IGBRIDGE_SOAK=1 does the same)")


def run_slow(config: pytest.Config) -> bool:
    return bool(config.getoption("--run-slow")) or os.environ.get(
        "IGBRIDGE_SOAK", "") not in ("", "0")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_slow = pytest.mark.skip(reason="slow soak variant: run with --run-slow (make soak)")
    for item in items:
        if "stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.wordpress)
        if "slow" in item.keywords and not run_slow(config):
            item.add_marker(skip_slow)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server (AOF on) for the test session: ``tests/redis_server.py``."""
    server = RedisServer.start(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, empty: every key flushed before the test."""
    if redis_server.process is None or redis_server.process.poll() is not None:
        redis_server.start_again()  # a test before this one stopped it
    redis_server.flush()
    return redis_server.url
