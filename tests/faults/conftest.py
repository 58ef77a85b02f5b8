"""Fixtures of the fault harness (``--run-slow`` lives in ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def record_figure(request: pytest.FixtureRequest) -> Callable[[str, object], None]:
    """Keep a figure with the test's report (``user_properties``, written to junit XML by
    the ``legacy``/``xunit1`` families) and print it. Unlike ``record_property`` it does
    not warn under the default ``xunit2`` family, which the warnings-as-errors setting
    would turn into a failure of the test."""

    def record(name: str, value: object) -> None:
        request.node.user_properties.append((name, value))
        print(f"{request.node.name}: {name} = {value}")

    return record
