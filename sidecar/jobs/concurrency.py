"""Running a job's work together: tasks that stand or fall together, per-key locks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Iterable
from contextlib import asynccontextmanager
from typing import Any

from ..errors import WordPressAuthError


@asynccontextmanager
async def keyed_lock(table: dict[str, tuple[asyncio.Lock, int]], key: str) -> AsyncIterator[None]:
    """One holder per key in this process (one sidecar owns a data dir); the entry
    goes away with its last user."""
    lock, users = table.get(key, (asyncio.Lock(), 0))
    table[key] = (lock, users + 1)
    try:
        async with lock:
            yield
    finally:
        lock, users = table[key]
        if users == 1:
            del table[key]
        else:
            table[key] = (lock, users - 1)


async def run_together(coroutines: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run ``coroutines`` as tasks that stand or fall together: the first failure cancels
    the others and is raised as itself (a refused password before anything else)."""
    try:
        async with asyncio.TaskGroup() as group:
            for coroutine in coroutines:
                group.create_task(coroutine)
    except BaseExceptionGroup as failed:
        errors = list(failed.exceptions)
        raise next((e for e in errors if isinstance(e, WordPressAuthError)), errors[0]) from None
