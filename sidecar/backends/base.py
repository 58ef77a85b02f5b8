"""The ports: what the sidecar needs from a storage and job engine.

The job runner and job kinds talk to a ``Backend`` through these; the SQLite engine
(``backends/sqlite``) implements them today, and a Redis engine adds an
implementation, not callers. ``tests/unit/test_backend_contract.py`` runs the same
contract against every engine. Jobs and items are plain JSON-ready dicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
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


class PostLocks(Protocol):
    """Locks on posts shared by every process of an engine used by several."""

    def hold(self, site: str, source_ids: Sequence[str]) -> AbstractAsyncContextManager[None]:
        """Hold every one of ``source_ids`` of the WordPress ``site`` at once: no other
        holder, in any process, holds any of them until this one lets go."""
        ...


class Backend(Protocol):
    @property
    def jobs(self) -> JobQueue: ...

    @property
    def ledger(self) -> Ledger: ...

    @property
    def post_locks(self) -> PostLocks | None:
        """``None`` for an engine only one process uses (its in-process locks do)."""
        ...

    async def close(self) -> None: ...
