"""What a job kind gets and may do: its request, progress, its item ledger and state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..backends.sqlite import store as db
from ..config import Config
from ..domain.models import ItemState
from ..progress.engine import ProgressEngine

# The states an item may be recorded in, and the keys of a job's ``counts``.
# ``already_imported`` joins them once the importer records it (with its counts).
RECORDED_ITEM_STATES = (ItemState.IMPORTED, ItemState.SKIPPED, ItemState.FAILED,
                        ItemState.PENDING)


@dataclass(frozen=True)
class ItemOutcome:
    """Where one item of a job stands: ``state`` is one of ``RECORDED_ITEM_STATES``."""

    source_id: str
    state: str
    wp_post_id: int | None = None
    reason: str | None = None
    detail: dict[str, Any] | None = None


@dataclass
class JobContext:
    """What a job kind gets: its request, progress reporting, its ledger and state."""

    job_id: str
    session_id: str
    kind: str
    source: dict[str, Any]
    options: dict[str, Any]
    attempt: int
    config: Config
    store: db.Store
    progress: ProgressEngine
    http: httpx.AsyncClient
    state: dict[str, Any] = field(default_factory=dict)

    def report(
        self,
        message: str,
        *,
        phase: str | None = None,
        done: int | None = None,
        total: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Progress for the job's session; microseconds, committed by the writer."""
        self.progress.update(
            self.session_id, step=done, total=total, message=message, details=details,
            phase=phase,
        )

    async def save_state(self, **changes: Any) -> None:
        """Persist what a resumed job needs (an Apify run id, fetched posts…)."""
        self.state.update(changes)
        await db.save_job_state(self.store, self.job_id, self.state)

    async def add_items(self, source_ids: list[str]) -> None:
        """Register the items a job will handle as ``pending`` (existing rows stay)."""
        await db.add_pending_items(self.store, self.job_id, source_ids)

    async def set_item(
        self,
        source_id: str,
        state: str,
        *,
        wp_post_id: int | None = None,
        reason: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        await self.set_items([ItemOutcome(source_id, state, wp_post_id, reason, detail)])

    async def set_items(self, outcomes: Sequence[ItemOutcome]) -> None:
        """Record several items' outcomes in one transaction."""
        for outcome in outcomes:
            if outcome.state not in RECORDED_ITEM_STATES:
                raise ValueError(f"unknown item state {outcome.state!r}")
        if not outcomes:
            return
        await db.record_items(self.store, self.job_id, [
            (o.source_id, o.state, o.wp_post_id, o.reason, o.detail) for o in outcomes])

    async def items(self) -> dict[str, dict[str, Any]]:
        return {i["source_id"]: i for i in await db.fetch_items(self.store.reader, self.job_id)}


JobFunction = Callable[[JobContext], Awaitable[str]]


@dataclass(frozen=True)
class JobKind:
    name: str
    run: JobFunction
    operation: str  # what the progress session is called in the UI
