"""The words an import ends with, from its counts (sidecar/domain/outcomes.py)."""

from __future__ import annotations

import pytest

from sidecar.domain.outcomes import ImportTally, import_message


@pytest.mark.parametrize(("tally", "message"), [
    (ImportTally(2, 0, [], ["video file unreadable: media/posts/202403/FQIo_1807",
                            "video file unreadable: media/posts/202403/FQIo_1808",
                            "video file unreadable: media/posts/202403/FQIo_1808"]),
     "Imported 2 of 5 posts: 3 failed (2× video file unreadable: media/posts/202403/FQIo_1808, "
     "video file unreadable: media/posts/202403/FQIo_1807). Retry the failed ones from the job"),
    (ImportTally(0, 8, [], []), "Nothing new: 8 posts already in WordPress"),
    (ImportTally(0, 1, [], []), "Nothing new: 1 post already in WordPress"),
    (ImportTally(5, 0, [], []), "Imported 5 of 5 posts"),
    (ImportTally(1, 0, [], []), "Imported 1 of 1 post"),
    (ImportTally(3, 4, ["collab post by @other (post 12)", "duplicate in the feed (post 7)",
                        "duplicate in the feed (post 9)"], []),
     "Imported 3 of 10 posts: 4 already in WordPress; 3 skipped (2× duplicate in the feed, "
     "collab post by @other)"),
    (ImportTally(0, 2, ["collab post by @other"], []),
     "Nothing new: 2 already in WordPress; 1 skipped (collab post by @other)"),
    (ImportTally(0, 0, ["a", "b", "c", "c"], ["x"]),
     "Imported 0 of 5 posts: 4 skipped (2× c, a, 1 more); 1 failed (x). "
     "Retry the failed ones from the job"),
    (ImportTally(0, 0, [], []), "Nothing new: the source has no posts"),
])
def test_the_message_says_what_happened(tally: ImportTally, message: str) -> None:
    assert import_message(tally) == message


def test_the_total_is_every_post_of_the_source() -> None:
    tally = ImportTally(2, 3, ["s"], ["f", "g"])
    assert (tally.total, tally.skipped, tally.failed) == (8, 1, 2)
