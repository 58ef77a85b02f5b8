"""Small, valid media files for fakes and tests: real encoders, colourful gradients."""

from __future__ import annotations

import struct

from sidecar.sample.make_sample import encoded_image, png_bytes

Color = tuple[int, int, int]

SUNRISE: list[Color] = [(255, 94, 77), (255, 195, 113), (106, 27, 154), (255, 111, 145)]
LAGOON: list[Color] = [(0, 105, 148), (135, 206, 235), (0, 51, 102), (64, 224, 208)]
FOREST: list[Color] = [(34, 139, 34), (173, 255, 47), (0, 100, 0), (240, 230, 140)]


def jpeg(width: int = 64, height: int = 64, corners: list[Color] = SUNRISE) -> bytes:
    return encoded_image(width, height, corners, "jpeg")


def webp(width: int = 64, height: int = 64, corners: list[Color] = LAGOON) -> bytes:
    return encoded_image(width, height, corners, "webp")


def png(width: int = 64, height: int = 64, corners: list[Color] = FOREST) -> bytes:
    return png_bytes(width, height, corners)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4(payload_bytes: int = 2048) -> bytes:
    """An ISO-BMFF file (ftyp, free, mdat): enough for type sniffing and upload, not playback."""
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41")
    return ftyp + _box(b"free", b"") + _box(b"mdat", bytes(range(256)) * (payload_bytes // 256))
