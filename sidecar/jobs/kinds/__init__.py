"""The job kinds: each module holds one kind's run function; the registry is below."""

from __future__ import annotations

from ..context import JobKind
from .cache_images import run_cache_images
from .import_posts import run_import
from .preview import run_preview
from .repair import run_repair
from .scrape import run_scrape
from .sync import run_sync


def default_kinds() -> dict[str, JobKind]:
    """Every job kind the sidecar knows. New kinds are added here and nowhere else."""
    kinds = [
        JobKind("cache_images", run_cache_images, "Caching images", ("urls",)),
        JobKind("scrape", run_scrape, "Scraping Instagram", ("apify", "export")),
        JobKind("import", run_import, "Importing into WordPress", ("apify", "export")),
        JobKind("sync", run_sync, "Syncing a saved source", ("apify", "export")),
        JobKind("preview", run_preview, "Previewing posts", ("apify", "export")),
        JobKind("repair", run_repair, "Repairing imported posts", ("apify", "export", "site")),
    ]
    return {k.name: k for k in kinds}
