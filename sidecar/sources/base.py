"""What a source is: something that reads posts for a job, reporting as it goes."""

from __future__ import annotations

from typing import Any, Protocol

from ..domain.models import Post, Skipped


class SourceJob(Protocol):
    """What a source may do with the job that reads it: report progress, and keep what
    a resumed job needs (an Apify run id) in the job's saved state."""

    @property
    def state(self) -> dict[str, Any]: ...

    def report(self, message: str, *, phase: str | None = None) -> None: ...

    async def save_state(self, **changes: Any) -> None: ...


class Source(Protocol):
    """One kind of source (``{"type": ...}`` of a job); ``sources/registry.py`` picks it."""

    async def read(self, job: SourceJob) -> tuple[list[Post], list[Skipped]]:
        """Every post of the source, and the items deliberately not imported."""
        ...
