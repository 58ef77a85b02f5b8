"""How the import cuts its queue into waves for its workers."""

from __future__ import annotations

import pytest

from sidecar.jobs.kinds.import_posts import wave_size


@pytest.mark.parametrize(("remaining", "workers", "batch", "size"), [
    (100, 4, 10, 10),  # a long queue: full waves
    (20, 4, 10, 5),    # the last 20 shared by the 4 workers
    (8, 4, 10, 2),     # the demo's 8 posts: every worker gets two
    (3, 4, 10, 1),     # fewer posts than workers: one each
    (7, 1, 10, 7),     # one worker takes what is left
    (50, 1, 1, 1),     # batch 1: one post a wave, as before waves
])
def test_wave_sizes(remaining: int, workers: int, batch: int, size: int) -> None:
    assert wave_size(remaining, workers, batch) == size
