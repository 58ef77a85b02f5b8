"""The one retry policy (sidecar/jobs/retry.py): tries, waits, Retry-After, budgets.

Deterministic: the sleep is injected and only records what it was asked to wait, so
nothing here waits and nothing asserts on time taken.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.config import Config
from sidecar.errors import MediaError, TransientError
from sidecar.jobs.retry import (
    JOB_MAX_WAIT_SECONDS,
    REQUEST_MAX_WAIT_SECONDS,
    REQUEST_WAIT_BUDGET_SECONDS,
    RetryPolicy,
    job_policy,
    request_policy,
    retry_after_seconds,
)


class Sleeps:
    """Records every wait the policy asks for instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def run(policy: RetryPolicy, action: object, sleeps: Sleeps) -> object:
    async for attempt in policy.retrying(sleep=sleeps):
        with attempt:
            return await action()  # type: ignore[operator]
    raise AssertionError("unreachable")


class Failing:
    """Fails with ``errors`` in turn, then answers ``"ok"``."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def test_a_passing_fault_is_retried_until_it_passes() -> None:
    policy = RetryPolicy(attempts=3, base_seconds=1.0, max_wait_seconds=10.0)
    action, sleeps = Failing(TransientError("503"), TransientError("503")), Sleeps()

    assert await run(policy, action, sleeps) == "ok"
    assert action.calls == 3
    assert len(sleeps.waits) == 2
    # base·2^(k-1) with a jitter of 0.5–1.5
    assert 0.5 <= sleeps.waits[0] <= 1.5
    assert 1.0 <= sleeps.waits[1] <= 3.0


async def test_after_the_last_attempt_the_last_fault_is_raised_as_it_was() -> None:
    policy = RetryPolicy(attempts=3, base_seconds=0.1, max_wait_seconds=10.0)
    last = TransientError("third")
    action, sleeps = Failing(TransientError("first"), TransientError("second"), last), Sleeps()

    with pytest.raises(TransientError) as raised:
        await run(policy, action, sleeps)
    assert raised.value is last
    assert action.calls == 3
    assert len(sleeps.waits) == 2  # no wait after the last try


async def test_a_final_error_is_not_retried() -> None:
    policy = RetryPolicy(attempts=5, base_seconds=0.1, max_wait_seconds=10.0)
    action, sleeps = Failing(MediaError("HTTP 404")), Sleeps()

    with pytest.raises(MediaError):
        await run(policy, action, sleeps)
    assert action.calls == 1
    assert sleeps.waits == []


async def test_retry_after_lengthens_the_wait_up_to_the_cap() -> None:
    policy = RetryPolicy(attempts=3, base_seconds=0.1, max_wait_seconds=10.0)
    action = Failing(TransientError("429", retry_after=7.0),
                     TransientError("429", retry_after=120.0))
    sleeps = Sleeps()

    assert await run(policy, action, sleeps) == "ok"
    assert sleeps.waits == [7.0, 10.0]  # a server asking for 2 minutes gets the cap


async def test_the_wait_budget_ends_retries_before_it_is_overspent() -> None:
    # Each wait would be 8 s (Retry-After); a 20 s budget allows two of them, not three.
    policy = RetryPolicy(attempts=10, base_seconds=0.01, max_wait_seconds=10.0,
                         wait_budget_seconds=20.0)
    action = Failing(*(TransientError("503", retry_after=8.0) for _ in range(10)))
    sleeps = Sleeps()

    with pytest.raises(TransientError):
        await run(policy, action, sleeps)
    assert sleeps.waits == [8.0, 8.0]
    assert action.calls == 3


def test_waits_double_from_the_base_and_stop_at_the_cap() -> None:
    policy = RetryPolicy(attempts=9, base_seconds=0.5, max_wait_seconds=10.0)
    assert [policy.wait_seconds(k, jitter=1.0) for k in range(1, 8)] == [
        0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert policy.wait_seconds(1, retry_after=3.0, jitter=1.5) == 3.0
    assert policy.wait_seconds(3, retry_after=1.0, jitter=1.5) == 3.0


def test_the_two_levels_read_the_documented_settings(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path, job_attempts=4, backoff_base_seconds=0.25)
    request, job = request_policy(config), job_policy(config)
    assert (request.attempts, request.base_seconds) == (4, 0.25)
    assert (job.attempts, job.base_seconds) == (4, 0.25)
    assert request.max_wait_seconds == REQUEST_MAX_WAIT_SECONDS
    assert request.wait_budget_seconds == REQUEST_WAIT_BUDGET_SECONDS
    assert job.max_wait_seconds == JOB_MAX_WAIT_SECONDS
    assert job.wait_budget_seconds is None


def test_the_documented_worst_case_holds_for_the_defaults(tmp_path: Path) -> None:
    # retry.py's docstring: at most A·(2A-1) requests (a creation's A tries and A-1
    # one-try lookups, in each of A job attempts), at most A·30 s + (A-1)·30 s waiting.
    config = Config(data_dir=tmp_path)
    request, job = request_policy(config), job_policy(config)
    a = config.job_attempts
    per_attempt = request.attempts + (request.attempts - 1)
    assert job.attempts * per_attempt == a * (2 * a - 1) == 15
    assert request.wait_budget_seconds is not None
    worst_request_waits = min(request.wait_budget_seconds,
                              (request.attempts - 1) * request.max_wait_seconds)
    worst_wait = job.attempts * worst_request_waits + (job.attempts - 1) * job.max_wait_seconds
    assert worst_wait <= a * 30 + (a - 1) * 30 == 150


def test_at_least_one_attempt() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(attempts=0, base_seconds=0.5, max_wait_seconds=10.0)


@pytest.mark.parametrize(("retry_after", "date", "seconds"), [
    ("12", None, 12.0),
    ("-3", None, 0.0),
    ("Wed, 21 Oct 2015 07:28:30 GMT", "Wed, 21 Oct 2015 07:28:00 GMT", 30.0),
    ("Wed, 21 Oct 2015 07:28:30 GMT", None, None),
    ("Wed, 21 Oct 2015 07:28:30", "Wed, 21 Oct 2015 07:28:00", None),  # no time zone
    ("soon", "Wed, 21 Oct 2015 07:28:00 GMT", None),
    (None, None, None),
])
def test_retry_after_is_read_or_ignored(retry_after: str | None, date: str | None,
                                        seconds: float | None) -> None:
    assert retry_after_seconds(retry_after, date) == seconds
