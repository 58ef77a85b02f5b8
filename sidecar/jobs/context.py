"""What a job kind gets and may do: its request, progress, its item ledger and state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..backends.base import Backend, JobQueue, Ledger
from ..config import Config
from ..domain.models import ItemState
from ..progress.engine import ProgressEngine
from ..progress.phases import PhasePlan
from ..sources.apify_token import ApifyToken
from ..uploads.storage import UploadStore

# The states an item may be recorded in, and the keys of a job's ``counts`` (with
# ``total``, their sum): ``already_imported`` means the post was in WordPress before
# this job, ``skipped`` any other deliberate skip.
RECORDED_ITEM_STATES = (ItemState.PENDING, ItemState.IMPORTED, ItemState.ALREADY_IMPORTED,
                        ItemState.SKIPPED, ItemState.FAILED)


@dataclass(frozen=True)
class ItemOutcome:
    """Where one item of a job stands: ``state`` is one of ``RECORDED_ITEM_STATES``."""

    source_id: str
    state: str
    wp_post_id: int | None = None
    reason: str | None = None
    detail: dict[str, Any] | None = None
    post_url: str | None = None  # the WordPress post's link, once WordPress told it
    thumbnail_url: str | None = None  # its first image in WordPress's media library


@dataclass(frozen=True)
class NewItem:
    """An item as a person knows it, registered before any work on it."""

    source_id: str
    caption_excerpt: str | None = None
    taken_at: str | None = None  # ISO 8601


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
    backend: Backend  # the media index and saved sources; ``jobs``/``ledger`` are its own
    jobs: JobQueue
    ledger: Ledger
    progress: ProgressEngine
    http: httpx.AsyncClient
    state: dict[str, Any] = field(default_factory=dict)
    uploads: UploadStore | None = None  # the exports a source may name by upload id
    apify_token: ApifyToken | None = None  # read for each job: wp-admin may change it
    # Called after the ledger changed: the runner tells the all-sessions stream.
    items_changed: Callable[[], None] = lambda: None

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

    def plan(self, phases: Sequence[PhasePlan]) -> None:
        """The job's phases, in order, with a first guess of each one's cost: the job's
        one bar goes over all of them (progress/phases.py)."""
        self.progress.plan(self.session_id, list(phases))

    async def save_state(self, **changes: Any) -> None:
        """Persist what a resumed job needs (an Apify run id, fetched posts…)."""
        self.state.update(changes)
        await self.jobs.save_state(self.job_id, self.state)

    async def add_items(self, items: Sequence[str | NewItem]) -> None:
        """Register the items a job will handle as ``pending`` (existing rows stay)."""
        new = [i if isinstance(i, NewItem) else NewItem(i) for i in items]
        await self.ledger.add_pending(self.job_id, [
            (i.source_id, i.caption_excerpt, i.taken_at) for i in new])
        self.items_changed()

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
        await self.ledger.record(self.job_id, [
            (o.source_id, o.state, o.wp_post_id, o.reason, o.detail, o.post_url,
             o.thumbnail_url) for o in outcomes])
        self.items_changed()

    async def items(self) -> dict[str, dict[str, Any]]:
        return {i["source_id"]: i for i in (await self.ledger.items_of([self.job_id]))[self.job_id]}


JobFunction = Callable[[JobContext], Awaitable[str]]


@dataclass(frozen=True)
class JobKind:
    name: str
    run: JobFunction
    operation: str  # what the progress session is called in the UI
    source_types: tuple[str, ...]  # the ``source["type"]`` values it can read
