"""The one retry policy of the sidecar: who retries a passing fault, how often, how long.

A passing fault (``TransientError``: a 5xx or 429, a timeout, a dropped connection) is
retried at two levels, never more, and each level has its own budget:

1. **Request level** (``request_policy``): one HTTP request to WordPress
   (``wordpress/client.py``), one media download (``jobs/stages.py``), one call to
   Apify (``sources/apify.py``, by apify-client's own loop run on these numbers).
   At most ``A`` tries (``A`` = ``IGBRIDGE_JOB_ATTEMPTS``); the wait before try ``k+1``
   is ``b·2^(k-1)`` (``b`` = ``IGBRIDGE_BACKOFF_SECONDS``) times a jitter of 0.5–1.5,
   at least the server's ``Retry-After``, at most ``REQUEST_MAX_WAIT_SECONDS`` (10 s);
   and the waits of one request add up to at most ``REQUEST_WAIT_BUDGET_SECONDS``
   (30 s): a wait that would go past it ends the retries instead. Creating posts
   that may have gone through is only tried again after the client has looked them
   up (``recover`` in ``wordpress/client.py``; that lookup is a single try inside the
   creation's loop, not a loop of its own); lookups and updates are idempotent.
2. **Job level** (``job_policy``, ``jobs/runner.py``): what the request level did not
   absorb. The import stops at the first request that gave up (no "waves in a row"
   level in between), the job ends its attempt, and the runner starts the job again,
   at most ``A`` attempts in all, waiting ``b·2^(k-1)`` × 0.5–1.5, at most
   ``JOB_MAX_WAIT_SECONDS`` (30 s). A retried job continues from its item ledger.

Media that still fail after the request level are a failed *item* (``MediaError``),
never a job retry. A store that stops answering (``StorageError``: Redis restarting,
SQLite locked) is neither: no attempt is spent and nothing is marked failed; the
runner waits until the store answers (probing it 0.2 s, then up to 5 s apart) and runs
the attempt again from the ledger. Nothing else sleeps to retry.

The worst case, with WordPress down for good, is therefore a number: per job attempt,
each import worker in flight (``IGBRIDGE_IMPORT_CONCURRENCY``) sends the request that
gives up ``A`` times, plus ``A-1`` lookups when it was creating posts: at most
``A·(2A-1)`` requests over the job (15 with the default ``A`` = 3; ``A²`` = 9 when no
creation was under way). The job spends at most ``A·30 s`` (request waits) ``+
(A-1)·30 s`` (job waits) waiting, 150 s by default, plus one request timeout (30 s)
per request if WordPress hangs instead of answering.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from ..config import Config
from ..errors import TransientError

REQUEST_MAX_WAIT_SECONDS = 10.0
REQUEST_WAIT_BUDGET_SECONDS = 30.0
JOB_MAX_WAIT_SECONDS = 30.0

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``attempts`` tries of a passing fault; jittered exponential waits from
    ``base_seconds``, raised to a ``Retry-After``, capped at ``max_wait_seconds`` each
    and, when ``wait_budget_seconds`` is set, in total."""

    attempts: int
    base_seconds: float
    max_wait_seconds: float
    wait_budget_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")

    def wait_seconds(self, attempt: int, retry_after: float | None = None,
                     jitter: float | None = None) -> float:
        """The wait after failed try number ``attempt`` (1-based)."""
        factor = random.uniform(0.5, 1.5) if jitter is None else jitter
        delay = self.base_seconds * 2.0 ** (attempt - 1) * factor
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.max_wait_seconds)

    def retrying(self, *, sleep: Sleep = asyncio.sleep,
                 retry_on: type[BaseException] = TransientError) -> AsyncRetrying:
        """A tenacity loop over this policy: ``async for attempt in ...: with attempt:``.
        The last failure is re-raised as it was. ``sleep`` is injectable for tests."""

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            return self.wait_seconds(state.attempt_number, getattr(error, "retry_after", None))

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= self.attempts:
                return True
            # idle_for is what was slept so far: the budget is deterministic, not wall time.
            return (self.wait_budget_seconds is not None
                    and state.idle_for + (state.upcoming_sleep or 0.0)
                    > self.wait_budget_seconds)

        return AsyncRetrying(sleep=sleep, stop=stop, wait=wait,
                             retry=retry_if_exception_type(retry_on), reraise=True)


def request_policy(config: Config) -> RetryPolicy:
    """Retries of one idempotent request (or one whose effect can be looked up)."""
    return RetryPolicy(config.job_attempts, config.backoff_base_seconds,
                       REQUEST_MAX_WAIT_SECONDS, REQUEST_WAIT_BUDGET_SECONDS)


def job_policy(config: Config) -> RetryPolicy:
    """Attempts of a whole job, for the passing faults the request level gave up on."""
    return RetryPolicy(config.job_attempts, config.backoff_base_seconds, JOB_MAX_WAIT_SECONDS)


def retry_after_seconds(retry_after: str | None, date: str | None) -> float | None:
    """A server's ``Retry-After`` (seconds, or an HTTP date read against its ``Date``)
    in seconds; None when either header is missing, malformed or without a time zone:
    a hint that cannot be read is ignored, never an error of the job."""
    if not retry_after:
        return None
    try:
        return max(0.0, float(retry_after))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(retry_after)
        now = parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        return None
    if now is None or when.tzinfo is None or now.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())
