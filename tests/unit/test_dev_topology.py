"""``make stack-up SIDECARS=N BACKEND=…``: which stack each asks for, and the refusals."""

from __future__ import annotations

import re

import pytest

from dev.stack import StackError, Topology


@pytest.mark.parametrize(("sidecars", "backend", "expected"), [
    (1, None, Topology(1, "sqlite")),
    (2, None, Topology(2, "redis")),
    (1, "redis", Topology(1, "redis")),
    (3, "redis", Topology(3, "redis")),
])
def test_the_engine_follows_the_number_of_sidecars(
        sidecars: int, backend: str | None, expected: Topology) -> None:
    assert Topology.of(sidecars, backend) == expected
    assert expected.balanced == (expected.backend == "redis")


@pytest.mark.parametrize(("sidecars", "backend", "message"), [
    (2, "sqlite", "2 sidecars need the Redis engine (--backend redis)"),
    (0, None, "--sidecars must be at least 1, got 0"),
    (1, "postgres", "--backend must be one of sqlite, redis, got 'postgres'"),
])
def test_a_stack_that_cannot_work_is_refused_naming_why(
        sidecars: int, backend: str, message: str) -> None:
    with pytest.raises(StackError, match=re.escape(message)):
        Topology.of(sidecars, backend)
