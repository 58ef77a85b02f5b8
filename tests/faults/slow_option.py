"""``--run-slow``: tests marked ``slow`` (soak variants) are skipped unless it is given.

Loaded by ``tests/faults/conftest.py``. pytest only asks *initial* conftests for
options, and a plain ``pytest tests --run-slow`` does not load this folder's
conftest before parsing the command line, so for the whole-suite run this module
is also meant to be loaded as a plugin (``-p tests.faults.slow_option`` in
``addopts``). Registering twice is harmless.
"""

from __future__ import annotations

import contextlib

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    with contextlib.suppress(ValueError):  # already added by the other registration
        parser.addoption("--run-slow", action="store_true", default=False,
                         help="also run tests marked slow (the longer soak variants)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow", default=False):
        return
    skip = pytest.mark.skip(reason="slow soak variant: run with --run-slow (make soak)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
