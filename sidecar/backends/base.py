"""The ports: what the sidecar needs from a storage and job engine.

The job runner, job kinds, the media cache and the saved sources talk to a
``Backend`` through these; the SQLite engine (``backends/sqlite``) implements them
today, and a Redis engine adds an implementation, not callers.
``tests/unit/test_backend_contract.py`` runs the same contract against every engine.
Everything crossing a port is engine-neutral: plain JSON-ready dicts and tuples,
timestamps as float seconds since the epoch, no connection objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class JobQueue(Protocol):
    """Jobs: their request, status, attempts, saved state, owner and heartbeat."""

    async def add(self, job_id: str, session_id: str, kind: str, source: dict[str, Any],
                  options: dict[str, Any], state: dict[str, Any]) -> None:
        """A new job, ``queued``."""
        ...

    async def get(self, job_id: str) -> dict[str, Any] | None: ...

    async def find(self, *, status: str | None = None, statuses: Sequence[str] | None = None,
                   limit: int = 50, before: float | None = None) -> list[dict[str, Any]]:
        """Newest first."""
        ...

    async def page(self, *, status: str | None, limit: int,
                   after: tuple[float, str] | None) -> list[dict[str, Any]]:
        """Up to ``limit`` jobs, newest first, after the ``(created_at, job_id)`` of
        ``after``: the keyset the opaque cursors of ``GET /api/jobs`` carry."""
        ...

    async def start_attempt(self, job_id: str, attempt: int, owner: str) -> None:
        """The job is ``running`` its ``attempt``-th attempt in the process ``owner``."""
        ...

    async def finish(self, job_id: str, status: str, error: str | None) -> None: ...

    async def heartbeat(self, job_ids: Sequence[str]) -> None:
        """The running ones of ``job_ids`` are alive."""
        ...

    async def save_state(self, job_id: str, state: dict[str, Any]) -> None: ...

    async def ids_starting_with(self, prefix: str, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` jobs whose id starts with ``prefix``, in id order. Letters
        match in any case (a person types what a screen shows); every other character,
        ``%`` and ``_`` too, stands for itself."""
        ...

    async def neighbours(self, job_id: str) -> tuple[str | None, str | None]:
        """The ids just before and just after ``job_id`` in id order (``job_id`` need not
        exist): the only ones that can share a longer prefix with it."""
        ...


class Ledger(Protocol):
    """Each job's items: one row per source item with its state and outcome."""

    async def add_pending(self, job_id: str,
                          items: Sequence[tuple[str, str | None, str | None]]) -> None:
        """Register items ``(source_id, caption_excerpt, taken_at)`` as ``pending`` in this
        order; existing items stay as they are."""
        ...

    async def record(self, job_id: str, outcomes: Sequence[tuple[
            str, str, int | None, str | None, Any, str | None, str | None]]) -> None:
        """``(source_id, state, wp_post_id, reason, detail, post_url, thumbnail_url)``
        each, all or none; a link already known stays when an outcome carries none."""
        ...

    async def page(self, job_id: str, *, limit: int,
                   after: tuple[int, str] | None) -> list[dict[str, Any]]:
        """Up to ``limit`` of a job's items in ledger order, after ``(position,
        source_id)``; each with its ``position``."""
        ...

    async def items_of(self, job_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Each job's items in ledger order."""
        ...

    async def counts_of(self, job_ids: Sequence[str]) -> dict[str, dict[str, int]]: ...

    async def finished_source_ids(self, source_ids: Sequence[str]) -> set[str]:
        """Which of ``source_ids`` some job, any job, recorded ``imported``."""
        ...


class MediaIndex(Protocol):
    """The media cache's index (files by sha256, the URLs they came from) and which
    cached file is already in which WordPress site's media library."""

    async def cached(self, url: str) -> dict[str, Any] | None:
        """The file downloaded from ``url``: ``{sha256, path, content_type, size}``."""
        ...

    async def cached_file(self, sha256: str) -> dict[str, Any] | None:
        """The file with this hash: ``{sha256, path, content_type, size}``."""
        ...

    async def record_cached(
            self, files: Sequence[tuple[str, str, str, int, str | None]]) -> None:
        """Cached files ``(sha256, path, content_type, size, source url or None)``, all or
        none. A sha256 already known keeps its first row; a URL points at its latest file."""
        ...

    async def uploaded(self, site: str, sha256: str) -> tuple[int, str] | None:
        """``(wp_media_id, url)`` of the file ``sha256`` in the media library of ``site``."""
        ...

    async def record_uploaded(self, site: str, sha256: str, wp_media_id: int,
                              url: str) -> None:
        """The file ``sha256`` is ``wp_media_id`` at ``site`` (replacing what was known)."""
        ...

    async def forget_uploaded(self, site: str, wp_media_ids: Sequence[int]) -> None:
        """These attachments are gone from ``site``: the next upload of their files makes
        new ones (repair)."""
        ...


# A sync claim whose job never appeared (its process died between the claim and the
# job's ``add``) is free again after this long.
STALE_CLAIM_SECONDS = 60.0


class SourceStore(Protocol):
    """Saved sources (issue 14): settings, schedule, the one sync each may run, and the
    last sync's outcome. A source is ``{source_id, spec, mapping, every_minutes, paused,
    next_run_at, last_sync, newest_taken_at, reachable, sync_job_id, sync_claimed_at,
    created_at, updated_at}``; ``spec``/``mapping`` dicts, ``last_sync`` a dict or None.

    The two claims are compare-and-set steps, atomic against every other process that
    shares the engine: of two concurrent calls on the same source exactly one returns
    True. With them exactly one process starts a given sync or fires a given run."""

    async def get(self, source_id: str) -> dict[str, Any] | None: ...

    async def all(self) -> list[dict[str, Any]]:
        """Every source, oldest first (``created_at``, then ``source_id``)."""
        ...

    async def due(self, moment: float) -> list[dict[str, Any]]:
        """Scheduled (``every_minutes`` set), unpaused sources whose ``next_run_at`` is at
        or before ``moment``, earliest first."""
        ...

    async def next_run_at(self) -> float | None:
        """The earliest ``next_run_at`` of the scheduled, unpaused sources."""
        ...

    async def add(self, source_id: str, spec: dict[str, Any], mapping: dict[str, Any],
                  every_minutes: int | None, paused: bool, next_run_at: float | None) -> None:
        """A new source, never synced, reachable false, no sync claimed."""
        ...

    async def update_settings(self, source_id: str, spec: dict[str, Any],
                              mapping: dict[str, Any], every_minutes: int | None,
                              paused: bool, next_run_at: float | None) -> None:
        """Replace a source's settings; its sync claim and last sync stay."""
        ...

    async def delete(self, source_id: str) -> None: ...

    async def claim_sync(self, source_id: str, job_id: str) -> bool:
        """Atomically: make ``job_id`` the source's ``sync_job_id`` (``sync_claimed_at``
        = now) and return True, if and only if the source exists and its current
        ``sync_job_id`` is none, is ``job_id`` itself (a resumed job keeps its claim),
        names a job of this backend's ``JobQueue`` that is neither ``queued`` nor
        ``running``, or names no job at all and was claimed more than
        ``STALE_CLAIM_SECONDS`` ago. Otherwise change nothing and return False."""
        ...

    async def release_sync(self, source_id: str, job_id: str) -> None:
        """Atomically: clear ``sync_job_id`` only if it is still ``job_id``."""
        ...

    async def claim_due_run(self, source_id: str, due_at: float, next_run_at: float) -> bool:
        """Atomically: set ``next_run_at`` to ``next_run_at`` and return True if and only
        if the source exists, is not paused and its ``next_run_at`` is still exactly
        ``due_at``; otherwise change nothing and return False. The caller that gets
        True fires the run."""
        ...

    async def record_sync(self, source_id: str, last_sync: dict[str, Any], *,
                          newest_taken_at: float | None, reachable: bool) -> None:
        """A sync's outcome: ``last_sync`` replaced; ``newest_taken_at`` and
        ``reachable`` only ever grow (the larger of the stored and the given value)."""
        ...


class Backend(Protocol):
    @property
    def jobs(self) -> JobQueue: ...

    @property
    def ledger(self) -> Ledger: ...

    @property
    def media(self) -> MediaIndex: ...

    @property
    def sources(self) -> SourceStore: ...

    async def close(self) -> None: ...
