"""What an import says when it ends: the one place that turns its counts into words.

Posts in the source = imported + already imported + skipped + failed. "Imported"
counts only posts created by this job; posts WordPress already had are "already in
WordPress", never part of "Imported N of M" (a rerun that created nothing says
"Nothing new").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

# How many distinct reasons a message names before it says "and N more".
REASONS_SHOWN = 2


@dataclass(frozen=True)
class ImportTally:
    """One import's outcome: the counts, and the reasons of what did not go in."""

    imported: int
    already_imported: int
    skipped_reasons: Sequence[str]
    failed_reasons: Sequence[str]

    @property
    def skipped(self) -> int:
        return len(self.skipped_reasons)

    @property
    def failed(self) -> int:
        return len(self.failed_reasons)

    @property
    def total(self) -> int:
        return self.imported + self.already_imported + self.skipped + self.failed


def posts(count: int) -> str:
    return f"{count} post" if count == 1 else f"{count} posts"


def import_message(tally: ImportTally) -> str:
    """"Imported 2 of 5 posts: 3 failed (video file unreadable: …)", "Nothing new: 8
    posts already in WordPress", and every mix of them, in that order: what was
    created, what was there already, what was left out on purpose, what failed."""
    parts = []
    if tally.already_imported:
        parts.append(f"{tally.already_imported} already in WordPress")
    if tally.skipped:
        parts.append(f"{tally.skipped} skipped ({_reasons(tally.skipped_reasons)})")
    if tally.failed:
        parts.append(f"{tally.failed} failed ({_reasons(tally.failed_reasons)})")
    if tally.imported == 0 and tally.failed == 0:
        head = "Nothing new"
        if not parts:
            return "Nothing new: the source has no posts"
        if tally.already_imported and not tally.skipped:
            parts[0] = f"{posts(tally.already_imported)} already in WordPress"
    else:
        head = f"Imported {tally.imported} of {posts(tally.total)}"
    message = head + (": " + "; ".join(parts) if parts else "")
    if tally.failed:
        message += ". Retry the failed ones from the job"
    return message


def _reasons(reasons: Sequence[str]) -> str:
    """The most common reasons first, each with its count when it is shared."""
    # "duplicate in the feed (post 12)" and "(post 13)" are one reason, said once.
    counted = Counter((r or "no reason given").split(" (post ")[0] for r in reasons).most_common()
    shown = [reason if n == 1 else f"{n}× {reason}" for reason, n in counted[:REASONS_SHOWN]]
    rest = sum(n for _reason, n in counted[REASONS_SHOWN:])
    if rest:
        shown.append(f"{rest} more")
    return "; ".join(shown) if len(shown) == 1 else ", ".join(shown)
