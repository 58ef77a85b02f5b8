"""The export reader under hostile ZIPs: bounded memory against a 1 GiB bomb whether its
size is declared honestly or the central directory lies, and nothing ever written to
disk (it reads in place, never extracts).

``tests/unit/test_export_fuzz.py`` fuzzes the reader's answers (posts or SourceError);
this adds what it does not look at: memory and the file system.
"""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar.errors import MediaError, SourceError
from sidecar.sources.export_zip import LAYOUT_FILES, read_export, read_member

MIB = 1024 * 1024
BOMB_MIB = 1024  # the member inflates to 1 GiB
MEMORY_BOUND = 64 * MIB
MEDIA_MAX_BYTES = 200 * MIB  # Config.media_max_bytes' default
POSTS = LAYOUT_FILES[0]
MEDIA = "media/posts/202401/bomb.jpg"


def deflated_zeros(mebibytes: int) -> tuple[bytes, bytes]:
    """A raw deflate stream of ``mebibytes`` MiB of zeros, built without ever holding
    them: a full flush resets the compressor, so every MiB compresses to the same bytes.
    Returns (stream, one MiB's chunk) so a test can check the chunk inflates to 1 MiB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert again == chunk
    return chunk * mebibytes + compressor.flush(), chunk


def crc_of_zeros(mebibytes: int) -> int:
    crc, block = 0, bytes(MIB)
    for _ in range(mebibytes):
        crc = zlib.crc32(block, crc)
    return crc


def zip_with(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A ZIP written by hand so its headers can say anything: each member is
    (name, raw deflate data, declared uncompressed size, crc, method)."""
    out = bytearray()
    central = bytearray()
    for name, data, declared, crc, method in members:
        encoded = name.encode()
        offset = len(out)
        header = (4, 20, 0, method, 0, 0x21, crc, len(data), declared, len(encoded), 0)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, *header[1:]) + encoded + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21,
                               crc, len(data), declared, len(encoded), 0, 0, 0, 0, 0, offset)
        central += encoded
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members),
                      len(central), len(out), 0)
    return bytes(out + central + end)


def posts_json(media: str) -> bytes:
    return (b'[{"media": [{"uri": "' + media.encode() + b'", "creation_timestamp": 1700000000,'
            b' "title": "bomb"}]}]')


def stored(name: str, data: bytes) -> tuple[str, bytes, int, int, int]:
    return (name, data, len(data), zlib.crc32(data), zipfile.ZIP_STORED)


@pytest.fixture(scope="module")
def bomb() -> tuple[bytes, bytes]:
    return deflated_zeros(BOMB_MIB)


def peak_memory(action: Callable[[], Any]) -> tuple[Any, int]:
    """(what ``action`` returned or raised, peak bytes Python allocated meanwhile)."""
    tracemalloc.start()
    try:
        try:
            outcome: Any = action()
        except (SourceError, MediaError) as refused:
            outcome = refused
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return outcome, peak


def test_the_bomb_really_inflates_to_a_gibibyte(bomb: tuple[bytes, bytes]) -> None:
    stream, chunk = bomb
    assert zlib.decompressobj(-15).decompress(chunk) == bytes(MIB)
    assert stream.startswith(chunk * BOMB_MIB)
    assert len(stream) < 2 * MIB  # a 1 MB file that would become 1 GiB


@pytest.mark.slow
def test_the_bomb_really_inflates_to_a_gibibyte_all_of_it(bomb: tuple[bytes, bytes]) -> None:
    inflater, data, total = zlib.decompressobj(-15), bomb[0], 0
    while data:
        total += len(inflater.decompress(data, 64 * MIB))
        data = inflater.unconsumed_tail
    assert total + len(inflater.flush()) == BOMB_MIB * MIB
    assert inflater.eof


def test_posts_file_declared_a_gibibyte(tmp_path: Path, bomb: tuple[bytes, bytes]) -> None:
    path = tmp_path / "declared.zip"
    path.write_bytes(zip_with([(POSTS, bomb[0], BOMB_MIB * MIB, crc_of_zeros(BOMB_MIB),
                                zipfile.ZIP_DEFLATED)]))
    outcome, peak = peak_memory(lambda: read_export(path))
    assert isinstance(outcome, SourceError)
    assert outcome.message == (f"{POSTS} in declared.zip is larger than {64 * MIB} bytes")
    assert peak < MEMORY_BOUND


@pytest.mark.parametrize("declared", [100, MIB, 60 * MIB])
def test_posts_file_lying_about_its_size(tmp_path: Path, bomb: tuple[bytes, bytes],
                                         declared: int) -> None:
    """The central directory says ``declared`` bytes; the data inflates to 1 GiB. zipfile
    stops at the declared size and the CRC check fails: refused, having read at most that."""
    path = tmp_path / "liar.zip"
    path.write_bytes(zip_with([(POSTS, bomb[0], declared, 0x1234, zipfile.ZIP_DEFLATED)]))
    outcome, peak = peak_memory(lambda: read_export(path))
    assert isinstance(outcome, SourceError)
    assert outcome.message == f"liar.zip is not a readable ZIP file (Bad CRC-32 for file '{POSTS}')"
    # At most the declared bytes, once as chunks and once joined: never the 1 GiB.
    assert peak < MEMORY_BOUND + 2 * declared


def media_bomb(tmp_path: Path, bomb: bytes, declared: int, crc: int) -> Path:
    path = tmp_path / "media-bomb.zip"
    path.write_bytes(zip_with([stored(POSTS, posts_json(MEDIA)),
                               (MEDIA, bomb, declared, crc, zipfile.ZIP_DEFLATED)]))
    return path


def test_media_declared_a_gibibyte(tmp_path: Path, bomb: tuple[bytes, bytes]) -> None:
    path = media_bomb(tmp_path, bomb[0], BOMB_MIB * MIB, crc_of_zeros(BOMB_MIB))
    assert [p.media[0].zip_member for p in read_export(path).posts] == [MEDIA]
    outcome, peak = peak_memory(lambda: read_member(path, MEDIA, MEDIA_MAX_BYTES))
    assert isinstance(outcome, MediaError)
    assert outcome.message == (f"{MEDIA} in media-bomb.zip is {BOMB_MIB * MIB} bytes, over the "
                               f"{MEDIA_MAX_BYTES} byte limit")
    assert peak < MEMORY_BOUND


@pytest.mark.parametrize("declared", [100, 8 * MIB])
def test_media_lying_about_its_size(tmp_path: Path, bomb: tuple[bytes, bytes],
                                    declared: int) -> None:
    path = media_bomb(tmp_path, bomb[0], declared, 0x1234)
    outcome, peak = peak_memory(lambda: read_member(path, MEDIA, 16 * MIB))
    assert isinstance(outcome, MediaError)
    assert outcome.message == (f"cannot read {MEDIA} from media-bomb.zip (BadZipFile: "
                               f"Bad CRC-32 for file '{MEDIA}')")
    assert peak < MEMORY_BOUND


# -- nothing is written, whatever the names say ---------------------------------------------


@pytest.fixture
def private_tempdir(tmp_path: Path) -> Iterator[Path]:
    """Point tempfile at an empty folder of our own, so "nothing was written" is checkable
    while other processes use /tmp."""
    folder = tmp_path / "tempdir"
    folder.mkdir()
    saved = tempfile.tempdir
    tempfile.tempdir = str(folder)
    try:
        yield folder
    finally:
        tempfile.tempdir = saved


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sentinel")


def hostile_names(sentinel: Path) -> st.SearchStrategy[str]:
    """Names aimed at the sentinel folder from every angle a naive extractor would follow."""
    depth = "../" * len(Path.cwd().parts)
    return st.sampled_from([
        f"{sentinel}/absolute.jpg", f"{depth}{str(sentinel).lstrip('/')}/relative.jpg",
        "../sibling.jpg", "media/../../escape.jpg", "..\\windows.jpg", "C:/drive.jpg",
        "media/posts/ok.jpg", "media/posts/", POSTS,
    ]) | st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)),
                 min_size=1, max_size=20)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_nothing_is_written_anywhere(tmp_path: Path, private_tempdir: Path, sentinel: Path,
                                     data: st.DataObject) -> None:
    names = data.draw(st.lists(hostile_names(sentinel), min_size=1, max_size=5, unique=True))
    uris = data.draw(st.lists(st.sampled_from(names), max_size=3))
    folder = tmp_path / f"zip-{len(os.listdir(tmp_path))}"
    folder.mkdir()
    path = folder / "export.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(name, posts_json(uris[0]) if name == POSTS and uris else b"\xff\xd8")
    cwd_before = sorted(os.listdir(Path.cwd()))

    outcome, _peak = peak_memory(lambda: read_export(path))
    for name in names:
        with contextlib.suppress(MediaError):
            read_member(path, name, MIB)

    assert isinstance(outcome, SourceError) or outcome.posts
    assert tree(folder) == ["export.zip"]
    assert tree(private_tempdir) == []
    assert tree(sentinel) == []
    assert sorted(os.listdir(Path.cwd())) == cwd_before
