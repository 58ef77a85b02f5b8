"""Property: whatever a ZIP holds, the export reader gives posts or a SourceError, never more."""

from __future__ import annotations

import io
import json
import zipfile
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar.errors import SourceError
from sidecar.sources.export_zip import LAYOUT_FILES, ExportResult, read_export

_files = count()
FUZZ_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

KEYS = st.sampled_from(
    [
        "media", "title", "creation_timestamp", "uri", "photos", "videos", "caption",
        "taken_at", "path", "location", "media_metadata", "ig_posts",
    ]
)  # fmt: skip
MEDIA_NAMES = st.sampled_from(
    ["media/posts/a.jpg", "media/posts/b.mp4", "../a.jpg", "/etc/passwd", "", "a", "x.txt"]
)
# zipfile cannot write names with NUL or lone surrogates, so no ZIP holds them.
MEMBER_NAMES = st.text(
    st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), min_size=1, max_size=40
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | MEDIA_NAMES
    | st.sampled_from(["2019-05-04T12:34:56", "9999-12-31T23:59:59-23:59", "\u00f0\u009f"])
)
JSONISH = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(KEYS | st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def read_or_source_error(path: Path) -> ExportResult | SourceError:
    try:
        return read_export(path, max_uncompressed=1024 * 1024)
    except SourceError as caught:
        error = caught
    assert path.name in error.message  # the message names the file
    return error


def dumps(document: Any) -> bytes:
    return json.dumps(document, allow_nan=True).encode()


@FUZZ_SETTINGS
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes(workdir: Path, data: bytes) -> None:
    path = workdir / f"bytes-{next(_files)}.zip"
    path.write_bytes(data)
    read_or_source_error(path)


@FUZZ_SETTINGS
@given(
    layout=st.sampled_from(LAYOUT_FILES),
    document=JSONISH,
    media=st.lists(MEDIA_NAMES, max_size=3, unique=True),
)
def test_arbitrary_json_in_an_export_layout(
    workdir: Path, layout: str, document: Any, media: list[str]
) -> None:
    path = workdir / f"json-{next(_files)}.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(layout, dumps(document))
        for name in media:
            if name:
                archive.writestr(name, b"\xff\xd8\xff\xe0")
    result = read_or_source_error(path)
    if isinstance(result, ExportResult):
        assert result.posts
        for post in result.posts:
            assert post.taken_at.tzinfo is not None
            assert post.media


@FUZZ_SETTINGS
@given(
    names=st.lists(MEMBER_NAMES | st.sampled_from(LAYOUT_FILES), max_size=5, unique=True),
    payload=st.binary(max_size=64),
)
def test_arbitrary_member_names_and_payloads(
    workdir: Path, names: list[str], payload: bytes
) -> None:
    path = workdir / f"names-{next(_files)}.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(name, payload)
    read_or_source_error(path)


@FUZZ_SETTINGS
@given(document=JSONISH, cut=st.integers(min_value=0, max_value=400), flip=st.integers(0, 255))
def test_damaged_valid_exports(workdir: Path, document: Any, cut: int, flip: int) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(LAYOUT_FILES[0], dumps([{"media": [document]}]))
        archive.writestr("media/posts/a.jpg", b"\xff\xd8\xff\xe0" * 20)
    data = bytearray(out.getvalue())
    data[cut % len(data)] ^= flip
    path = workdir / f"damaged-{next(_files)}.zip"
    path.write_bytes(bytes(data))
    read_or_source_error(path)
