"""Fixtures for the hostile-input tests: a sidecar that never reaches past 127.0.0.1,
and how hard to fuzz.

The default run is bounded (about a minute for the whole folder without WordPress);
``--run-slow`` or ``IGBRIDGE_SOAK=1`` lets every fuzzer run many more examples.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.support.sidecar_process import SidecarProcess, free_port

ALLOWED_ORIGIN = "http://wordpress.allowed.test"
DEFAULT_EXAMPLES = 25
SOAK_EXAMPLES = 400


def pytest_addoption(parser: pytest.Parser) -> None:
    # pytest only reads this hook from conftests it loads at start-up: a run of the whole
    # tree (`pytest --run-slow tests`) needs it in tests/conftest.py as well.
    with contextlib.suppress(ValueError):  # already added by a conftest higher up
        parser.addoption("--run-slow", action="store_true", default=False,
                         help="run the long fuzz and soak variants")


def soak_requested(config: pytest.Config) -> bool:
    by_option = bool(config.getoption("--run-slow", default=False))
    return by_option or os.environ.get("IGBRIDGE_SOAK", "") not in ("", "0")


def pytest_configure(config: pytest.Config) -> None:
    # Modules that size their Hypothesis settings at import read IGBRIDGE_SOAK.
    if soak_requested(config):
        os.environ["IGBRIDGE_SOAK"] = "1"


def soak_at_import() -> bool:
    return os.environ.get("IGBRIDGE_SOAK", "") not in ("", "0")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if soak_requested(config):
        return
    skip = pytest.mark.skip(reason="slow variant: run with --run-slow or IGBRIDGE_SOAK=1")
    for item in items:
        if "slow" in item.keywords and "tests/hostile/" in item.nodeid:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def soak(pytestconfig: pytest.Config) -> bool:
    return soak_requested(pytestconfig)


@pytest.fixture(scope="session")
def fuzz_settings(soak: bool) -> settings:
    """Hypothesis settings for a fuzz run: derandomized (the same examples on every run,
    so a failure reproduces and an xfail stays stable) unless soaking."""
    return settings(
        max_examples=SOAK_EXAMPLES if soak else DEFAULT_EXAMPLES,
        derandomize=not soak,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                               HealthCheck.data_too_large],
    )


@pytest.fixture(scope="module")
def hostile_sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    """A real sidecar whose Apify and WordPress URLs point at a closed local port, so the
    jobs that fuzzed requests start fail cleanly without any traffic leaving 127.0.0.1."""
    closed = f"http://127.0.0.1:{free_port()}"
    process = SidecarProcess(tmp_path_factory.mktemp("hostile") / "data", env={
        "APIFY_TOKEN": "hostile-test-token",
        "IGBRIDGE_APIFY_API_URL": closed,
        "IGBRIDGE_APIFY_POLL_SECONDS": "0.05",
        "IGBRIDGE_WP_URL": closed,
        "IGBRIDGE_WP_USER": "hostile",
        "IGBRIDGE_WP_APP_PASSWORD": "not a real password",
        "IGBRIDGE_ALLOWED_ORIGINS": ALLOWED_ORIGIN,
        "IGBRIDGE_JOB_ATTEMPTS": "1",
    })
    process.start()
    try:
        yield process
    finally:
        process.kill()
