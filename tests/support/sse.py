"""Reading SSE in tests: a blocking frame reader over httpx, with what it saw recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx


class EventId(str):
    """An SSE id as a client holds it (opaque text), ordered the way the sidecar's log
    orders ids, so a test can check order on either engine: a whole number (SQLite)
    or ``<epoch>:<ms>-<seq>`` (Redis; ids of one epoch compare)."""

    def key(self) -> tuple[int, int]:
        _, _, entry = self.rpartition(":")
        ms, _, seq = entry.partition("-")
        return (int(ms), int(seq or 0))

    def __lt__(self, other: object) -> bool:
        return self.key() < EventId(str(other)).key()

    def __le__(self, other: object) -> bool:
        return self.key() <= EventId(str(other)).key()

    def __gt__(self, other: object) -> bool:
        return self.key() > EventId(str(other)).key()

    def __ge__(self, other: object) -> bool:
        return self.key() >= EventId(str(other)).key()

    def __eq__(self, other: object) -> bool:
        # A snapshot's last_event_id is a JSON number on SQLite: the same id.
        return str.__eq__(self, str(other) if isinstance(other, int) else other)

    __hash__ = str.__hash__


@dataclass
class Frame:
    id: EventId | None
    data: dict[str, Any] | None
    comment: str | None = None
    retry: int | None = None


def iter_frames(response: httpx.Response) -> Iterator[Frame]:
    buffer = ""
    for text in response.iter_text():
        buffer += text
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            frame = Frame(id=None, data=None)
            data_lines = []
            for line in block.split("\n"):
                if line.startswith(":"):
                    frame.comment = line[1:].strip()
                    continue
                name, _, value = line.partition(": ")
                if name == "id":
                    frame.id = EventId(value)
                elif name == "data":
                    data_lines.append(value)
                elif name == "retry":
                    frame.retry = int(value)
            if data_lines:
                frame.data = json.loads("\n".join(data_lines))
            yield frame


@dataclass
class Recorder:
    """Frames a client has received, and the ids it would resume from."""

    frames: list[Frame] = field(default_factory=list)

    @property
    def events(self) -> list[Frame]:
        return [f for f in self.frames if f.data and f.data["type"] != "snapshot"]

    @property
    def last_id(self) -> EventId | None:
        ids = [f.id for f in self.frames if f.id is not None]
        return ids[-1] if ids else None
