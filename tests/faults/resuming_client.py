"""An SSE client that resumes with ``Last-Event-ID`` after every broken connection.

It records the id of every event it was given, so a test can compare what a
client saw with the stored event log: nothing lost, nothing twice.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from tests.support.sse import Frame, iter_frames

TERMINAL_TYPES = frozenset({"complete", "error", "cancelled"})


@dataclass
class ResumingClient:
    url: str
    headers: dict[str, str]
    seed: int = 0
    event_ids: list[int] = field(default_factory=list)
    connections: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    last_id: int | None = None
    finished: bool = False
    stopped: threading.Event = field(default_factory=threading.Event)

    def follow(self, max_connections: int = 100_000) -> None:
        """Read until the session's terminal event (or a 204: everything was seen)."""
        rng = random.Random(self.seed)
        while (not self.finished and not self.stopped.is_set()
               and self.connections < max_connections):
            self.connections += 1
            headers = dict(self.headers)
            params: dict[str, int] = {}
            if self.last_id is None:
                params["last_event_id"] = 0  # the first connect replays from the start
            else:
                headers["Last-Event-ID"] = str(self.last_id)
            try:
                with httpx.stream("GET", self.url, params=params, headers=headers,
                                  timeout=httpx.Timeout(5.0, read=20.0)) as response:
                    if response.status_code == 204:
                        self.finished = True
                        return
                    response.raise_for_status()
                    for frame in iter_frames(response):
                        self._take(frame)
                        if self.finished or self.stopped.is_set():
                            return
            except httpx.TransportError as exc:
                self.errors[type(exc).__name__] += 1
            # A browser waits ``retry`` ms; a short seeded pause keeps the test quick.
            time.sleep(rng.uniform(0.0, 0.05))
        if not self.finished and not self.stopped.is_set():
            raise AssertionError(f"gave up after {self.connections} connections")

    def _take(self, frame: Frame) -> None:
        if frame.id is not None:
            self.last_id = frame.id
        if frame.data is None or frame.data["type"] == "snapshot":
            return
        assert frame.id is not None, f"an event without an id: {frame.data}"
        self.event_ids.append(frame.id)
        if frame.data["type"] in TERMINAL_TYPES:
            self.finished = True


def stored_event_ids(base_url: str, session_id: str, headers: dict[str, str]) -> list[int]:
    """The session's event log as the sidecar replays it from disk (not through a proxy)."""
    client = ResumingClient(f"{base_url}/api/progress/stream/{session_id}", headers)
    client.follow(max_connections=1)
    return client.event_ids
