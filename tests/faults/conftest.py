"""Fixtures of the fault harness: ``--run-slow`` and the fault proxy."""

from __future__ import annotations

from tests.faults.slow_option import pytest_addoption, pytest_collection_modifyitems

__all__ = ["pytest_addoption", "pytest_collection_modifyitems"]
