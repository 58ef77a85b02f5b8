"""What a request handler may use: the resources one process opened at start-up."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import IO

import httpx

from ..backends.base import Backend
from ..config import Config
from ..jobs.runner import JobRunner
from ..progress.engine import ProgressEngine
from ..sources.apify_token import ApifyToken
from ..uploads.storage import UploadStore


@dataclass
class Services:
    """Everything a request handler may use, opened once per process."""

    config: Config
    backend: Backend
    progress: ProgressEngine
    runner: JobRunner
    http: httpx.AsyncClient
    lock_file: IO[str]
    uploads: UploadStore
    apify_token: ApifyToken
    background: list[asyncio.Task[None]] = field(default_factory=list)

    def end_streams(self) -> None:
        """Let open SSE streams finish so a server shutdown never waits on them."""
        self.progress.closing = True
        for sub in self.progress.all_subscriptions():
            sub.close()
