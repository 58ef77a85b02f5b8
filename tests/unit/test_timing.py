"""The job clock: overlapping outside calls count once; the rest is the sidecar's own."""

from __future__ import annotations

import asyncio

import pytest

from sidecar import timing


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(timing.time, "monotonic", fake)
    return fake


def test_overlapping_calls_count_once_and_the_gaps_are_own_time(clock_time: FakeTime) -> None:
    clock = timing.JobClock()
    clock_time.now = 101.0  # 1 s of the sidecar's own work first
    with clock.waiting_on("wordpress"):
        clock_time.now = 102.0
        with clock.waiting_on("wordpress"):  # a second post's request overlaps the first
            clock_time.now = 103.0
            with clock.waiting_on("downloads"):
                clock_time.now = 104.0
        clock_time.now = 105.0
    clock_time.now = 107.0  # 2 s more of its own
    assert clock.summary() == {"wall": 7.0, "own": 3.0, "wordpress": 4.0, "downloads": 1.0,
                               "apify": 0.0}


def test_a_call_still_under_way_counts_up_to_now(clock_time: FakeTime) -> None:
    clock = timing.JobClock()
    with clock.waiting_on("apify"):
        clock_time.now = 110.0
        assert clock.summary()["apify"] == 10.0
        assert clock.summary()["own"] == 0.0


def test_outside_a_job_nothing_is_counted() -> None:
    with timing.waiting_on("wordpress"):
        pass  # no clock: no error, nothing kept


async def test_tasks_started_by_the_job_share_its_clock() -> None:
    async def job() -> timing.JobClock:
        clock = timing.start_clock()

        async def call() -> None:
            with timing.waiting_on("wordpress"):
                await asyncio.sleep(0.05)

        await asyncio.gather(call(), call())
        return clock

    clock = await asyncio.create_task(job())
    summary = clock.summary()
    assert 0.04 <= summary["wordpress"] < 0.5  # the two calls overlapped: counted once
    assert summary["wordpress"] <= summary["wall"]
