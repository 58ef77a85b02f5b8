"""Photos that browsers cannot show, converted on import: HEIC/HEIF → JPEG.

Instagram's exports carry ``.heic`` photos since mid-2024. Only Safari shows them and
WordPress makes no sizes of them, so they are converted with pillow-heif (libheif)
and Pillow. The photo is turned upright first (HEIF's own rotation and the EXIF
orientation both), so it looks the same as before in every viewer; its EXIF (camera,
time, place) and colour profile are kept, with the orientation then saying "upright".
WebP and AVIF are shown by every current browser and WordPress: they stay as they are.
Blocking: call from a worker thread.
"""

from __future__ import annotations

import io
from pathlib import Path

import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import MediaError

CONVERTED_TYPES = {"image/heic": "HEIC"}
JPEG_QUALITY = 90
# A photo is decoded whole to be converted: refuse what would not fit in bounded memory
# (Instagram's own are about 1080 × 1350; a 48-megapixel phone photo still passes).
MAX_PIXELS = 50_000_000
ORIENTATION_TAG = 0x0112

pillow_heif.register_heif_opener()


def needs_conversion(content_type: str) -> bool:
    return content_type in CONVERTED_TYPES


def heic_to_jpeg(source: Path | bytes, label: str = "") -> bytes:
    """The JPEG of the HEIC/HEIF photo at ``source`` (a file or its bytes);
    ``MediaError`` naming ``label`` when it cannot be decoded."""
    name = label or (source.name if isinstance(source, Path) else "the photo")
    try:
        with Image.open(source if isinstance(source, Path) else io.BytesIO(source)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise MediaError(f"{name} is a HEIC photo of {image.width} × {image.height} "
                                 f"pixels, more than the {MAX_PIXELS:,} igbridge converts")
            image.load()
            upright = ImageOps.exif_transpose(image)
            exif = upright.getexif()
            if ORIENTATION_TAG in exif:
                exif[ORIENTATION_TAG] = 1  # the pixels are upright now
            icc = image.info.get("icc_profile")
            out = io.BytesIO()
            upright.convert("RGB").save(
                out, format="JPEG", quality=JPEG_QUALITY, exif=exif.tobytes(),
                **({"icc_profile": icc} if icc else {}))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError,
            SyntaxError) as exc:
        raise MediaError(f"{name} is a HEIC photo that cannot be decoded ({exc})") from exc
    return out.getvalue()
