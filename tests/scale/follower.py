"""An SSE client that keeps following a stream the way EventSource does: on a dropped
connection it reconnects with ``Last-Event-ID`` (ids kept as opaque strings), so a test
can count what it received across a crash of the process that was serving it.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import EventSource

TERMINAL = {"complete", "error", "cancelled"}


@dataclass
class Follower:
    base_url: str
    path: str  # e.g. /api/progress/stream/{id} or /api/progress/stream?session=a&session=b
    headers: dict[str, str]
    sessions: set[str]  # the stream is over once each of these had its terminal event
    frames: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    reconnects: int = 0
    subscribed: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    last_id: str | None = None
    _thread: threading.Thread | None = None

    def start(self) -> Follower:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float) -> None:
        assert self._thread is not None
        self._thread.join(timeout)
        assert not self._thread.is_alive(), (
            f"{self.path} still open after {timeout} s; ended: {sorted(self.ended())}, "
            f"{len(self.frames)} frames, {self.reconnects} reconnects")
        if self.error is not None:
            raise self.error

    def ended(self) -> set[str]:
        return {data["session_id"] for _, data in self.frames if data.get("type") in TERMINAL}

    def events(self, session_id: str) -> list[dict[str, Any]]:
        """Everything but snapshots for one session, in the order received."""
        return [data for _, data in self.frames
                if data.get("session_id") == session_id and data.get("type") != "snapshot"]

    def steps(self, session_id: str) -> list[int]:
        return [data["step"] for data in self.events(session_id) if data["type"] == "progress"]

    def repeated_ids(self) -> list[str]:
        """Event ids received more than once (a replay that overlapped the live part)."""
        counts = Counter(event_id for event_id, data in self.frames
                         if data.get("type") != "snapshot")
        return sorted(event_id for event_id, n in counts.items() if n > 1)

    def received(self, session_id: str, step: int) -> bool:
        return step in self.steps(session_id)

    def _run(self) -> None:
        try:
            timeout = httpx.Timeout(10, read=120)
            with httpx.Client(base_url=self.base_url, timeout=timeout) as client:
                while not self.sessions <= self.ended():
                    if self._follow_once(client):
                        return
                    self.reconnects += 1
        except BaseException as error:  # handed to the test thread by join()
            self.error = error

    def _follow_once(self, client: httpx.Client) -> bool:
        """One connection; True when the server says the stream is over."""
        headers = dict(self.headers)
        if self.last_id is not None:
            headers["Last-Event-ID"] = self.last_id
        try:
            with client.stream("GET", self.path, headers=headers) as response:
                if response.status_code == 204:
                    return True  # every named session had ended: EventSource stops
                if response.status_code >= 500:
                    return False  # nginx found no process that answers yet: try again
                response.raise_for_status()
                for sse in EventSource(response).iter_sse():
                    if not sse.data:
                        continue
                    data = json.loads(sse.data)
                    if sse.id:
                        self.last_id = sse.id
                    self.frames.append((sse.id, data))
                    if data.get("type") == "snapshot":
                        self.subscribed.set()
                    if self.sessions <= self.ended():
                        return True
        except (httpx.TransportError, httpx.RemoteProtocolError):
            pass  # the process serving us died: reconnect, as EventSource would
        return False
