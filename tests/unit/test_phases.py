"""The overall percentage, rate and ETA of a job over its phases (sidecar/progress/phases)."""

from __future__ import annotations

import pytest

from sidecar.progress.phases import PhasePlan, PhaseTracker

MEDIA, WORDPRESS = "Downloading media", "Importing into WordPress"


def import_plan(files: int = 400, posts: int = 200) -> list[PhasePlan]:
    return [PhasePlan("Reading export", "steps", 0.5, 1),
            PhasePlan(MEDIA, "files", 0.002, files),
            PhasePlan(WORDPRESS, "posts", 0.02, posts)]


def test_one_bar_over_the_phases_never_goes_back() -> None:
    """Media 4× faster than guessed and WordPress 3× slower: the shares change under
    the bar, and yet it only moves forward, from 0 to just short of 100."""
    tracker = PhaseTracker()
    tracker.plan(import_plan())
    shown, now = [], 0.0
    tracker.observe("Reading export", 0, 0, now)
    shown.append(tracker.percentage())
    now += 0.4
    for done in range(0, 401, 40):
        tracker.observe(MEDIA, done, 400, now)
        shown.append(tracker.percentage())
        now += 0.0005 * 40
    for done in range(0, 201, 10):
        tracker.observe(WORDPRESS, done, 200, now)
        shown.append(tracker.percentage())
        now += 0.06 * 10
    assert shown == sorted(shown)
    assert shown[0] == 0.0
    assert shown[-1] == 99.9
    # WordPress turned out to be most of the time: half of its posts are past half.
    assert tracker.phases[2].seconds == pytest.approx(12.0, rel=0.01)


def test_eta_waits_for_ten_percent_and_a_measured_phase() -> None:
    tracker = PhaseTracker()
    tracker.plan(import_plan())
    tracker.observe(MEDIA, 0, 400, 0.0)
    assert tracker.eta_seconds() is None
    tracker.observe(MEDIA, 400, 400, 0.2)  # 400 files in 0.2 s: far beyond the guess
    tracker.observe(WORDPRESS, 0, 200, 0.2)
    tracker.observe(WORDPRESS, 10, 200, 0.8)  # the first wave: the pace is timed from here
    assert tracker.percentage() < 10.0
    assert tracker.eta_seconds() is None  # estimating…
    tracker.observe(WORDPRESS, 40, 200, 2.6)  # 0.06 s a post, measured over 2.4 s
    assert tracker.percentage() >= 10.0
    # 160 posts at WordPress's own cost; the media phase's 2,000 files/s play no part.
    assert tracker.eta_seconds() == pytest.approx(160 * 0.06, rel=0.01)
    assert tracker.rate_unit() == "posts/s"


def test_eta_of_later_phases_uses_their_own_cost() -> None:
    tracker = PhaseTracker()
    tracker.plan([PhasePlan(MEDIA, "files", 0.01, 100), PhasePlan(WORDPRESS, "posts", 0.5, 100)])
    tracker.observe(MEDIA, 0, 100, 0.0)
    tracker.observe(MEDIA, 10, 100, 0.3)  # the first files: the pace is timed from here
    tracker.observe(MEDIA, 50, 100, 1.5)  # 0.03 s a file, 3× the guess
    tracker.percentage()
    tracker.shown_percent = max(tracker.shown_percent, 10.0)
    assert tracker.eta_seconds() == pytest.approx(50 * 0.03 + 100 * 0.5, rel=0.01)
    assert tracker.rate_unit() == "files/s"


def test_a_phase_entered_with_work_already_done_is_not_a_burst_of_speed() -> None:
    """A resumed import enters WordPress with 150 of 200 posts done by the last attempt;
    that jump is neither its rate nor its cost, nor is the lead time to its first post."""
    tracker = PhaseTracker()
    tracker.plan(import_plan())
    tracker.observe(WORDPRESS, 150, 200, 10.0)
    tracker.observe(WORDPRESS, 151, 200, 10.5)
    tracker.observe(WORDPRESS, 155, 200, 12.5)
    assert tracker.rate() is not None
    assert tracker.rate() < 5.0
    # Its pace is timed from its first post of this run: 4 posts in 2 s.
    assert tracker.phases[2].timed == 4
    assert tracker.phases[2].own_cost() == pytest.approx(2.0 / 4)


def test_a_restart_continues_from_the_stored_snapshot() -> None:
    tracker = PhaseTracker()
    tracker.plan(import_plan())
    tracker.observe(MEDIA, 0, 400, 0.0)
    tracker.observe(MEDIA, 400, 400, 1.0)
    tracker.observe(WORDPRESS, 0, 200, 1.0)
    tracker.observe(WORDPRESS, 100, 200, 3.0)
    before = tracker.percentage()
    snapshot = {"phases": tracker.to_json(), "phase": WORDPRESS, "percentage": before}

    again = PhaseTracker.from_snapshot(snapshot)
    assert again is not None
    again.plan(import_plan(posts=200))
    # The resumed job goes back through media for the posts still to do (done 0 of 80).
    again.observe(MEDIA, 0, 80, 100.0)
    assert again.percentage() == before
    again.observe(MEDIA, 80, 80, 100.1)
    again.observe(WORDPRESS, 100, 200, 100.1)
    assert again.percentage() >= before
    assert again.phases[2].seconds == pytest.approx(2.0)  # the downtime is not counted


def test_a_session_without_phases_has_no_tracker() -> None:
    assert PhaseTracker.from_snapshot({"phase": None, "percentage": 40.0}) is None
