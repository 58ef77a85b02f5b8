"""The job clock: overlapping outside calls count once; the rest is the sidecar's own."""

from __future__ import annotations

import asyncio

import pytest

from sidecar.jobs import timing


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
    ran = []
    with timing.waiting_on("wordpress"):
        ran.append(True)  # no clock: the call runs, nothing is kept
    assert ran == [True]
    assert timing._current.get() is None


async def test_tasks_started_by_the_job_share_its_clock(clock_time: FakeTime) -> None:
    async def call(opens_at: float, closes_at: float) -> None:
        while clock_time.now < opens_at:
            await asyncio.sleep(0)
        with timing.waiting_on("wordpress"):
            while clock_time.now < closes_at:
                await asyncio.sleep(0)

    async def tick() -> None:
        for _ in range(10):
            await asyncio.sleep(0)
            clock_time.now += 1.0  # 100 → 110 while the calls run

    async def job() -> timing.JobClock:
        clock = timing.start_clock()
        # Two calls as two tasks of the job: 101–105 and 103–108 overlap, 7 s in all.
        await asyncio.gather(call(101.0, 105.0), call(103.0, 108.0), tick())
        return clock

    clock = await asyncio.create_task(job())
    assert clock.summary() == {"wall": 10.0, "own": 3.0, "wordpress": 7.0, "downloads": 0.0,
                               "apify": 0.0}
