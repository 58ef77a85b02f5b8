"""From a job's ``source`` to the ``Source`` that reads it: new source types go here."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import SourceError
from .apify import ApifySource
from .base import Source
from .export_zip import ExportSource


def open_source(source: Mapping[str, Any], config: Config) -> Source:
    """The reader for ``source``; a clear error for a type that has none."""
    if source.get("type") == "apify":
        return ApifySource(config, str(source.get("username", "")),
                           int(source.get("limit") or 20),
                           only_newer_than=source.get("only_newer_than"))
    if source.get("type") == "export":
        paths = source.get("paths") or [source.get("path", "")]
        return ExportSource(tuple(Path(str(p)) for p in paths))
    raise SourceError(f"unknown source type {source.get('type')!r}; use 'apify' or 'export'")
