"""What a file really is, from its first bytes: extensions and servers' types lie."""

from __future__ import annotations

EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/heic": "heic",
    "image/avif": "avif",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
}
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"}
AVIF_BRANDS = {b"avif", b"avis"}
MP4_BRANDS = {b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1",
              b"dash", b"M4V ", b"M4A ", b"mmp4", b"3gp4", b"3gp5", b"MSNV"}


def sniff_content_type(head: bytes) -> str | None:
    """The media type the bytes really are, or None when they are not media we keep."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        brands = {head[8:12]} | {head[i:i + 4] for i in range(16, min(len(head), 64), 4)}
        if head[8:12] in AVIF_BRANDS:
            return "image/avif"
        if head[8:12] in HEIF_BRANDS:
            return "image/heic"
        if head[8:12] == b"qt  ":
            return "video/quicktime"
        if brands & MP4_BRANDS:
            return "video/mp4"
        if brands & AVIF_BRANDS:
            return "image/avif"
        if brands & HEIF_BRANDS:
            return "image/heic"
    return None


def describe_non_media(head: bytes, declared: str) -> str:
    text = head[:512].lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html")) or b"<html" in text:
        return "an HTML page, not media"
    if text.startswith((b"{", b"[")):
        return "JSON, not media"
    return f"not a supported image or video (server said {declared or 'no content type'})"
