"""A preview's thumbnails: one image of each post, small enough to keep where every
process reads it, and found again by its sha256 by whichever process is asked.

A thumbnail is the post's own cached image when it is at most ``THUMBNAIL_MAX_BYTES``
(most are: Instagram serves feed photos at 1080 px, JPEG or WebP of typically
100–400 KB; the sample export's are 4–105 KB); a larger one (a PNG, a HEIC kept as its JPEG, a
camera original in an export) is shrunk to a JPEG of at most ``THUMBNAIL_SIDE`` px,
kept in the media cache beside it under its own sha256. Either way the URL's hash is
the hash of the bytes every process serves. On an engine several processes share
(``Backend.thumbnails``) the bytes are kept there too, for as long as the preview is
of use; elsewhere the media cache alone serves them, as it always did.
"""

from __future__ import annotations

import asyncio
import io
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from ..backends.base import SharedThumbnails
from ..errors import MediaError
from .cache import CachedMedia, MediaCache
from .convert import MAX_PIXELS
from .sniff import kind_of

# The most a thumbnail may weigh in the shared store (Redis keeps it in memory for a
# day): above most feed photos Instagram serves, so those pass untouched (no decoding),
# far below the media cache's own limit (200 MB by default, for videos), which would
# let one preview fill Redis. A preview of N posts costs Redis at most about N × this
# while it lasts (docs/capacity.md: 640 KiB of memory at the cap).
THUMBNAIL_MAX_BYTES = 512 * 1024
# A preview tile is about 150–250 CSS px wide; this covers it twice over (HiDPI).
THUMBNAIL_SIDE = 640
JPEG_QUALITY = 85
# Thumbnails written to the shared store in one step.
BATCH_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Thumbnail:
    """A thumbnail to serve: a file of this process's media cache, or the shared bytes."""

    sha256: str
    content_type: str
    path: Path | None = None
    data: bytes | None = None


async def prepare(cache: MediaCache, shared: SharedThumbnails | None,
                  images: dict[str, CachedMedia], ttl_seconds: float) -> dict[str, CachedMedia]:
    """Each post's thumbnail (``images`` by source id: their cached image), shrunk where
    it is too large and kept in ``shared`` for ``ttl_seconds``, a few MB per write so
    neither this process nor one Redis transaction holds a whole preview; a post whose
    image cannot be made small enough is left out (it shows without one)."""
    ready: dict[str, CachedMedia] = {}
    batch: dict[str, tuple[str, str, bytes]] = {}
    batch_bytes = 0
    for source_id, image in images.items():
        try:
            thumbnail, data = await asyncio.to_thread(_small_enough, cache, image,
                                                      shared is not None)
        except MediaError:
            continue
        if thumbnail is not image:
            await cache.record([(thumbnail, None)])
        ready[source_id] = thumbnail
        if shared is not None and data is not None:
            if thumbnail.sha256 not in batch:
                batch_bytes += len(data)
            batch[thumbnail.sha256] = (thumbnail.sha256, thumbnail.content_type, data)
            if batch_bytes >= BATCH_BYTES:
                await shared.keep(list(batch.values()), ttl_seconds)
                batch.clear()
                batch_bytes = 0
    if shared is not None and batch:
        await shared.keep(list(batch.values()), ttl_seconds)
    return ready


async def find(cache: MediaCache, shared: SharedThumbnails | None,
               sha256: str) -> Thumbnail | None:
    """The image ``sha256``: from this process's media cache, else from the shared store;
    None when neither has it (or it is no image)."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        return None
    cached = await cache.lookup_sha256(sha256)
    if cached is not None and cached.kind == "image":
        return Thumbnail(sha256, cached.content_type, path=cached.path)
    found = await shared.get(sha256) if shared is not None else None
    if found is None or kind_of(found[0]) != "image":
        return None
    return Thumbnail(sha256, found[0], data=found[1])


def _small_enough(cache: MediaCache, image: CachedMedia,
                  read: bool) -> tuple[CachedMedia, bytes | None]:
    """The image itself or its shrunk copy in the cache, with its bytes when ``read``
    (blocking: a worker thread)."""
    if image.size <= THUMBNAIL_MAX_BYTES:
        return image, image.path.read_bytes() if read else None
    data = shrink(image.path)
    if len(data) > THUMBNAIL_MAX_BYTES:  # cannot happen at 640 px, but never store more
        raise MediaError(f"the thumbnail of {image.sha256} is still {len(data)} bytes")
    return cache.keep(data), data if read else None


def shrink(path: Path) -> bytes:
    """A JPEG of the image at ``path``, upright, at most ``THUMBNAIL_SIDE`` px a side;
    transparency becomes white. ``MediaError`` when it cannot be decoded."""
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise MediaError(f"{path.name} is {image.width} × {image.height} pixels, "
                                 f"more than the {MAX_PIXELS:,} igbridge decodes")
            image.draft("RGB", (THUMBNAIL_SIDE, THUMBNAIL_SIDE))  # JPEG: decode smaller
            small = ImageOps.exif_transpose(image)
            small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
            if small.mode in ("RGBA", "LA", "PA") or "transparency" in small.info:
                rgba = small.convert("RGBA")
                small = Image.new("RGB", rgba.size, "white")
                small.paste(rgba, mask=rgba.getchannel("A"))
            out = io.BytesIO()
            small.convert("RGB").save(out, format="JPEG", quality=JPEG_QUALITY)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError,
            SyntaxError) as exc:
        raise MediaError(f"{path.name} cannot be shrunk to a thumbnail ({exc})") from exc
    return out.getvalue()
