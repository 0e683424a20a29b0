"""NDJSON (.json.gz) checks: a good file is clean at every level; each break is one finding,
at the level where it first shows; hostile streams are bounded and reported fast."""

from __future__ import annotations

import gzip
import hashlib
import json
import struct
import time
import zlib
from pathlib import Path

import pytest

from tests.helpers import apply_limits
from verifier.backends.local import LocalBackend
from verifier.checks import limits
from verifier.checks.files import FileCheck, check_file
from verifier.config import Destination
from verifier.model import Entry

LEVELS = ("listing", "metadata", "full")
ROWS = 2000


def record(i: int) -> dict[str, object]:
    return {
        "_id": f"id-{i:08d}",
        "timestamp": "2024-05-01T00:00:00Z",
        "web": {"webPageDetails": {"URL": f"https://example.com/{i % 97}", "pageViews": {"value": 1}}},
        "productListItems": [{"SKU": f"S{i % 7}"}],
        "commerce": {"order": {"priceTotal": i * 0.5}} if i % 2 else {},
    }


def ndjson(n: int = ROWS, start: int = 0) -> bytes:
    return b"".join(json.dumps(record(i)).encode() + b"\n" for i in range(start, start + n))


def write(tmp_path: Path, data: bytes, name: str = "part-00000.json.gz") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def check(p: Path, level: str, entry: Entry | None = None) -> FileCheck:
    d = Destination(name="t", type="local", url=str(p.parent), format="json", compression="gzip")
    e = entry or Entry(path=str(p), name=p.name, is_dir=False, size=p.stat().st_size)
    return check_file(LocalBackend(d), e, "file://" + str(p), d, level)


def codes(fc: FileCheck) -> list[str]:
    return [f.code for f in fc.findings]


def first_level(p: Path, code: str) -> str:
    for level in LEVELS:
        got = codes(check(p, level))
        if got:
            assert got == [code], (level, got)
            return level
    return "none"


def big(tmp_path: Path, tail: bytes = b"") -> bytes:
    """A file bigger than the metadata head, so only full level sees its end."""
    raw = gzip.compress(ndjson(20_000) + tail)
    assert len(raw) > limits.JSON_HEAD_BYTES
    return raw


@pytest.mark.parametrize("level", LEVELS)
def test_good_file_is_clean_at_every_level(tmp_path: Path, level: str) -> None:
    fc = check(write(tmp_path, gzip.compress(ndjson())), level)
    assert codes(fc) == []
    r = fc.result
    assert (r.status, r.verified_level) == ("ok", level)
    if level == "full":
        assert r.record_count == ROWS
    else:
        assert r.record_count is None
    if level != "listing":
        assert r.schema is not None
        assert r.schema["web.webPageDetails.URL"] == "string"
        assert r.schema["productListItems"] == "array"


def test_full_schema_is_the_union_over_lines(tmp_path: Path) -> None:
    fc = check(write(tmp_path, gzip.compress(ndjson())), "full")
    assert fc.result.schema is not None and fc.result.schema["commerce.order.priceTotal"] == "number"
    meta = check(write(tmp_path, gzip.compress(ndjson())), "metadata")
    assert meta.result.schema is not None and "commerce.order.priceTotal" not in meta.result.schema


def test_full_hashes_every_byte(tmp_path: Path) -> None:
    p = write(tmp_path, big(tmp_path))
    fc = check(p, "full")
    assert codes(fc) == []
    assert fc.result.computed["md5"] == hashlib.md5(p.read_bytes()).hexdigest()
    assert fc.result.record_count == 20_000
    assert fc.result.bytes_read == p.stat().st_size


def test_multi_member_gzip_and_loose_endings_are_accepted(tmp_path: Path) -> None:
    data = gzip.compress(ndjson(10)) + gzip.compress(b"\n  \n" + ndjson(5, 10)[:-1]) + b"\0" * 16
    p = write(tmp_path, data)
    for level in LEVELS:
        assert codes(check(p, level)) == []
    assert check(p, "full").result.record_count == 15


def test_empty_file(tmp_path: Path) -> None:
    p = write(tmp_path, b"")
    for level in LEVELS:
        assert codes(check(p, level)) == ["file.empty"]


def test_parquet_bytes_under_json_name(tmp_path: Path) -> None:
    p = write(tmp_path, b"PAR1" + b"\0" * 100 + b"PAR1")
    fc = check(p, "metadata")
    assert codes(fc) == ["file.unexpected_format"] and "PAR1" in fc.findings[0].message
    assert codes(check(p, "full")) == ["file.unexpected_format"]


def test_uncompressed_json_is_unexpected_format(tmp_path: Path) -> None:
    assert first_level(write(tmp_path, ndjson(10)), "file.unexpected_format") == "metadata"


def test_wrong_name_is_seen_at_listing(tmp_path: Path) -> None:
    assert first_level(write(tmp_path, gzip.compress(ndjson(10)), "part-0.json"), "file.unexpected_format") == "listing"


def test_small_truncated_file_is_seen_at_metadata(tmp_path: Path) -> None:
    assert first_level(write(tmp_path, gzip.compress(ndjson(50))[:-20]), "json.corrupt") == "metadata"


def test_big_truncated_file_is_seen_at_full(tmp_path: Path) -> None:
    raw = big(tmp_path)
    # cut where the last 4 bytes (read as the trailer's ISIZE) are plausible, so metadata level cannot tell
    cut = next(n for n in range(1000, 2000) if struct.unpack("<I", raw[-n - 4 : -n])[0] < 2**27)
    p = write(tmp_path, raw[:-cut])
    assert first_level(p, "json.corrupt") == "full"
    assert "truncated" in check(p, "full").findings[0].message


def test_truncation_with_an_absurd_trailer_is_seen_at_metadata(tmp_path: Path) -> None:
    raw = big(tmp_path)
    cut = next(n for n in range(1000, 2000) if struct.unpack("<I", raw[-n - 4 : -n])[0] > 2**30)
    p = write(tmp_path, raw[:-cut])
    assert first_level(p, "json.corrupt") == "metadata"
    assert "truncated" in check(p, "metadata").findings[0].message


def test_trailer_crc_mismatch(tmp_path: Path) -> None:
    raw = bytearray(big(tmp_path))
    raw[-8] ^= 0xFF
    p = write(tmp_path, bytes(raw))
    assert first_level(p, "json.corrupt") == "full"
    assert "CRC32" in check(p, "full").findings[0].message


def test_garbage_after_the_last_member(tmp_path: Path) -> None:
    assert first_level(write(tmp_path, big(tmp_path) + b"\x01\x02\x05\0\0\0"), "json.corrupt") == "full"


def test_damaged_head_is_seen_at_metadata(tmp_path: Path) -> None:
    raw = bytearray(big(tmp_path))
    raw[20:60] = b"\xff" * 40
    assert first_level(write(tmp_path, bytes(raw)), "json.corrupt") == "metadata"


def test_bad_line_is_reported_with_its_number(tmp_path: Path) -> None:
    p = write(tmp_path, big(tmp_path, tail=b'{"ok": 1}\n{"broken": \n'))
    assert first_level(p, "json.corrupt") == "full"
    assert "line 20002 is not valid JSON" in check(p, "full").findings[0].message


def test_a_line_that_is_not_an_object(tmp_path: Path) -> None:
    p = write(tmp_path, gzip.compress(ndjson(3) + b"[1, 2]\n" + ndjson(3)))
    fc = check(p, "metadata")
    assert codes(fc) == ["json.corrupt"] and "line 4 is a JSON array, not an object" in fc.findings[0].message


def test_bad_utf8_names_the_line(tmp_path: Path) -> None:
    p = write(tmp_path, big(tmp_path, tail=b'{"name": "caf\xe9"}\n'))
    assert first_level(p, "json.corrupt") == "full"
    assert "line 20001 is not valid UTF-8" in check(p, "full").findings[0].message


def test_long_line_is_bounded_and_too_large(tmp_path: Path) -> None:
    data = gzip.compress(ndjson(1) + b'{"x": "' + b"a" * (70 * 2**20) + b'"}\n', compresslevel=1)
    p = write(tmp_path, data)
    t0 = time.monotonic()
    fc = check(p, "full")
    assert time.monotonic() - t0 < 3
    assert codes(fc) == ["file.too_large"] and [str(f.sev) for f in fc.findings] == ["warning"]
    msg = fc.findings[0].message
    assert "line 2 exceeds 64 MiB without a newline" in msg and "raise [limits] max_line_bytes" in msg
    assert (fc.result.status, fc.result.verified_level, fc.result.record_count) == ("ok", "metadata", None)


def full_too_large(p: Path, key: str) -> str:
    """Exactly file.too_large naming `key` at full level, hashed but not fully verified; its message."""
    fc = check(p, "full")
    assert codes(fc) == ["file.too_large"] and [str(f.sev) for f in fc.findings] == ["warning"]
    assert f"raise [limits] {key} in the config" in fc.findings[0].message
    r = fc.result
    assert (r.status, r.verified_level, r.record_count, r.schema) == ("ok", "metadata", None, None)
    assert r.computed["md5"] == hashlib.md5(p.read_bytes()).hexdigest()
    return fc.findings[0].message


def fully_clean(p: Path, records: int) -> None:
    fc = check(p, "full")
    assert codes(fc) == [] and (fc.result.verified_level, fc.result.record_count) == ("full", records)


def test_line_over_the_limit_is_too_large_until_the_limit_is_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = write(tmp_path, big(tmp_path, tail=b'{"long": "' + "é".encode() * 3000 + b'"}\n'))
    apply_limits(tmp_path, monkeypatch, 'max_line_bytes = "4KiB"')
    assert codes(check(p, "metadata")) == []  # the long line is past the head
    assert "line 20001 exceeds 4 KiB without a newline" in full_too_large(p, "max_line_bytes")
    apply_limits(tmp_path, monkeypatch, 'max_line_bytes = "8KiB"')
    fully_clean(p, 20_001)


@pytest.mark.parametrize(
    "line,says",
    [
        (b'"just a string' + b"x" * 9000, "is not a JSON object: it starts with '\"'"),
        (b"\0" * 9000, "is not a JSON object: it starts with byte 0x00"),
        (b'{"x": "' + b"\x01" * 9000, "is not JSON: it holds the control byte 0x01 at column 8"),
        (b'{"x": "' + b"\xe9" * 9000, "is not valid UTF-8 (byte 0xe9 at column 8)"),
    ],
)
def test_a_long_line_that_cannot_be_json_is_corrupt_not_too_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: bytes, says: str
) -> None:
    p = write(tmp_path, big(tmp_path, tail=line + b"\n"))
    apply_limits(tmp_path, monkeypatch, 'max_line_bytes = "4KiB"')
    fc = check(p, "full")
    assert codes(fc) == ["json.corrupt"]
    assert f"line 20001 exceeds 4 KiB without a newline, and it {says}" in fc.findings[0].message


def repetitive(lines: int) -> bytes:
    """Valid NDJSON that gzip shrinks about 100x, as exports of mostly empty columns can be."""
    return gzip.compress(b"".join(b'{"_id": "%08d", "pad": "%s"}\n' % (i, b" " * 2000) for i in range(lines)))


def test_expansion_over_the_ratio_is_too_large_until_the_limit_is_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = repetitive(5000)
    p = write(tmp_path, raw)
    apply_limits(tmp_path, monkeypatch, 'max_expansion_ratio = 20\nexpansion_floor_bytes = "64KiB"')
    meta = check(p, "metadata")  # the trailer says so
    assert codes(meta) == ["file.too_large"] and "[limits] max_expansion_ratio" in meta.findings[0].message
    msg = full_too_large(p, "max_expansion_ratio")
    assert f"(20× its {len(raw)} compressed bytes, at least 64 KiB)" in msg
    assert "The whole gzip stream was decompressed" in msg
    apply_limits(tmp_path, monkeypatch, "max_expansion_ratio = 1000")
    assert codes(check(p, "metadata")) == []
    fully_clean(p, 5000)


def test_expansion_over_the_floor_names_the_floor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write(tmp_path, repetitive(200))  # ~400 KB inflated from a few KB
    apply_limits(tmp_path, monkeypatch, 'max_expansion_ratio = 2\nexpansion_floor_bytes = "64KiB"')
    full_too_large(p, "expansion_floor_bytes")
    apply_limits(tmp_path, monkeypatch, 'expansion_floor_bytes = "1MiB"')
    fully_clean(p, 200)


@pytest.mark.parametrize("damage", ["truncated", "garbled"])
def test_damage_past_the_expansion_limit_is_still_corrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    raw = bytearray(repetitive(5000))
    if damage == "truncated":
        raw = raw[: len(raw) * 3 // 4]
    else:
        raw[len(raw) * 3 // 4 : len(raw) * 3 // 4 + 64] = b"\xa5" * 64
    p = write(tmp_path, bytes(raw))
    apply_limits(tmp_path, monkeypatch, 'max_expansion_ratio = 20\nexpansion_floor_bytes = "64KiB"')
    fc = check(p, "full")
    assert codes(fc) == ["json.corrupt"], fc.findings


@pytest.fixture(scope="module")
def zeros_member() -> bytes:
    c = zlib.compressobj(1, zlib.DEFLATED, 31)
    block = b"\0" * 2**20
    return b"".join(c.compress(block) for _ in range(300)) + c.flush()  # 300 MiB -> ~300 KB


def test_gzip_bomb_is_seen_from_the_trailer(tmp_path: Path, zeros_member: bytes) -> None:
    p = write(tmp_path, zeros_member)
    t0 = time.monotonic()
    fc = check(p, "metadata")
    assert time.monotonic() - t0 < 1
    # a bomb of junk is damage: a limit is only what a valid file can go past
    assert codes(fc) == ["json.corrupt"]
    assert "line 1 is not a JSON object: it starts with byte 0x00" in fc.findings[0].message


def test_gzip_bomb_is_bounded_at_full(tmp_path: Path, zeros_member: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    # a small last member hides the bomb from the trailer; streaming still stops it
    p = write(tmp_path, zeros_member + gzip.compress(ndjson(1)))
    assert codes(check(p, "metadata")) == []
    monkeypatch.setattr(limits, "MAX_LINE_BYTES", 512 * 2**20)  # zeros have no newline: let the bomb bound act
    t0 = time.monotonic()
    fc = check(p, "full")
    assert time.monotonic() - t0 < 3
    assert codes(fc) == ["json.corrupt"]
    assert (
        "line 1 (unfinished where the file inflated past its expansion limit) is not a JSON object: "
        "it starts with byte 0x00" in fc.findings[0].message
    )
    assert fc.result.computed["md5"] == hashlib.md5(p.read_bytes()).hexdigest()


def test_trailer_isize_mismatch(tmp_path: Path) -> None:
    raw = bytearray(big(tmp_path))
    isize = struct.unpack("<I", raw[-4:])[0]
    raw[-4:] = struct.pack("<I", isize + 1)
    p = write(tmp_path, bytes(raw))
    assert first_level(p, "json.corrupt") == "full"
    assert "ISIZE" in check(p, "full").findings[0].message
