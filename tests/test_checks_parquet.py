"""Parquet checks: a good file is clean at every level; each break is one finding, at the
level where it first shows."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.helpers import apply_limits
from verifier.backends.local import LocalBackend
from verifier.checks import limits
from verifier.checks.files import FileCheck, check_file
from verifier.config import Destination
from verifier.model import Entry

LEVELS = ("listing", "metadata", "full")
ROWS = 3000


def xdm_table(n: int = ROWS) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "_id": f"id-{i:08d}",
                "timestamp": 1_700_000_000_000 + i,
                "web": {"webPageDetails": {"URL": f"https://example.com/{i % 97}", "name": f"page {i % 13}"}},
                "commerce": {"order": {"priceTotal": i * 0.5}},
                "productListItems": [{"SKU": f"S{i % 7}", "quantity": i % 3}] * (i % 3),
            }
            for i in range(n)
        ]
    )


def write(tmp_path: Path, name: str = "part-00000.gz.parquet", compression: str = "gzip", **kw: object) -> Path:
    p = tmp_path / name
    pq.write_table(xdm_table(), p, compression=compression, row_group_size=1000, **kw)  # type: ignore[arg-type]
    return p


def dest(tmp_path: Path, compression: str = "gzip") -> Destination:
    return Destination(name="t", type="local", url=str(tmp_path), format="parquet", compression=compression)


def check(p: Path, level: str, compression: str = "gzip", entry: Entry | None = None) -> FileCheck:
    d = dest(p.parent, compression)
    e = entry or Entry(path=str(p), name=p.name, is_dir=False, size=p.stat().st_size)
    return check_file(LocalBackend(d), e, "file://" + str(p), d, level)


def codes(fc: FileCheck) -> list[str]:
    return [f.code for f in fc.findings]


def first_level(p: Path, code: str, compression: str = "gzip") -> str:
    """The level at which `code` first appears, asserting it is the only finding there."""
    for level in LEVELS:
        got = codes(check(p, level, compression))
        if got:
            assert got == [code], (level, got)
            return level
    return "none"


def patch(p: Path, offset: int, data: bytes) -> None:
    raw = bytearray(p.read_bytes())
    raw[offset : offset + len(data)] = data
    p.write_bytes(bytes(raw))


@pytest.mark.parametrize("compression,name", [("gzip", "part-0.gz.parquet"), ("none", "part-0.parquet")])
@pytest.mark.parametrize("level", LEVELS)
def test_good_file_is_clean_at_every_level(tmp_path: Path, level: str, compression: str, name: str) -> None:
    p = write(tmp_path, name, "gzip" if compression == "gzip" else "none")
    fc = check(p, level, compression)
    assert codes(fc) == []
    r = fc.result
    assert (r.status, r.verified_level, r.role) == ("ok", level, "data")
    if level == "listing":
        assert r.bytes_read == 0 and r.record_count is None and r.schema is None
    else:
        assert r.record_count == ROWS
        assert r.schema is not None and r.schema["web.webPageDetails.URL"] == "string"
        assert r.schema_hash and len(r.schema_hash) == 16


def test_full_counts_rows_and_hashes_every_byte(tmp_path: Path) -> None:
    p = write(tmp_path)
    fc = check(p, "full")
    assert codes(fc) == []
    assert fc.result.record_count == ROWS
    assert fc.result.computed["md5"] == hashlib.md5(p.read_bytes()).hexdigest()
    assert len(fc.result.computed["crc32c"]) == 8
    assert fc.result.bytes_read >= p.stat().st_size


def test_empty_file_is_one_finding_at_every_level(tmp_path: Path) -> None:
    p = tmp_path / "part-0.gz.parquet"
    p.write_bytes(b"")
    for level in LEVELS:
        fc = check(p, level)
        assert codes(fc) == ["file.empty"]
        assert fc.result.status == "failed"


def test_wrong_name_is_seen_at_listing(tmp_path: Path) -> None:
    p = write(tmp_path, "part-0.csv")
    assert first_level(p, "file.unexpected_format") == "listing"


def test_gzip_bytes_under_parquet_name_are_unexpected_format(tmp_path: Path) -> None:
    p = tmp_path / "part-0.gz.parquet"
    p.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 200)
    assert first_level(p, "file.unexpected_format") == "metadata"


def test_bad_head_magic_is_corrupt(tmp_path: Path) -> None:
    p = write(tmp_path)
    patch(p, 0, b"XXXX")
    assert first_level(p, "parquet.corrupt") == "metadata"


def test_truncated_file_is_corrupt(tmp_path: Path) -> None:
    p = write(tmp_path)
    p.write_bytes(p.read_bytes()[:-100])
    assert first_level(p, "parquet.corrupt") == "metadata"


def test_footer_claiming_2_gib_is_bounded(tmp_path: Path) -> None:
    p = write(tmp_path)
    size = p.stat().st_size
    patch(p, size - 8, struct.pack("<I", 2**31))
    fc = check(p, "metadata")
    assert codes(fc) == ["parquet.corrupt"]
    msg = fc.findings[0].message
    assert f"footer length 2147483648 exceeds file size {size}" in msg and str(p) in msg
    assert fc.result.bytes_read < 100_000


def too_large_at_every_level(p: Path, key: str) -> str:
    """A valid file over a limit: exactly file.too_large (a warning naming the [limits] key) from the
    metadata level on, and at full it is hashed but not counted as fully verified. Its message."""
    assert codes(check(p, "listing")) == []
    fc = check(p, "metadata")
    assert codes(fc) == ["file.too_large"] and [str(f.sev) for f in fc.findings] == ["warning"]
    assert f"raise [limits] {key} in the config" in fc.findings[0].message
    full = check(p, "full")
    assert codes(full) == ["file.too_large"]
    r = full.result
    assert (r.status, r.verified_level, r.record_count) == ("ok", "metadata", None)
    assert r.computed["md5"] == hashlib.md5(p.read_bytes()).hexdigest()
    return fc.findings[0].message


def test_footer_over_the_limit_is_too_large_and_not_fetched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write(tmp_path)
    flen = struct.unpack("<I", p.read_bytes()[-8:-4])[0]
    monkeypatch.setattr(limits, "TAIL_GUESS_BYTES", 64)  # the footer is not in the first read
    apply_limits(tmp_path, monkeypatch, "max_footer_bytes = 1024")
    msg = too_large_at_every_level(p, "max_footer_bytes")
    assert f"its footer is {flen} bytes" in msg and "more than the 1 KiB footer limit" in msg
    assert check(p, "metadata").result.bytes_read == 4 + 64 + 1  # magic, tail, the footer's first byte
    apply_limits(tmp_path, monkeypatch, 'max_footer_bytes = "1MiB"')
    assert [codes(check(p, level)) for level in LEVELS] == [[], [], []]


def test_footer_length_pointing_at_no_footer_is_corrupt_not_too_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = write(tmp_path)
    size = p.stat().st_size
    raw = p.read_bytes()
    claim = next(n for n in range(2000, size - 12) if raw[size - 8 - n] != 0x15)  # inside the file, not a footer
    patch(p, size - 8, struct.pack("<I", claim))
    apply_limits(tmp_path, monkeypatch, "max_footer_bytes = 1024")
    fc = check(p, "metadata")
    assert codes(fc) == ["parquet.corrupt"] and "no footer starts there" in fc.findings[0].message


@pytest.mark.parametrize(
    "key,value,says",
    [
        ("max_row_groups", 2, "3 row groups, more than the 2 limit"),
        ("max_columns", 6, "7 columns, more than the 6 limit"),
        ("max_column_chunks", 20, "21 column chunks (row groups x columns), more than the 20 limit"),
        ("max_rows", 2999, "3,000 rows, more than the 2,999 limit"),
    ],
)
def test_counts_over_their_limit_are_too_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, value: int, says: str
) -> None:
    p = write(tmp_path)  # 3 row groups of 1000 rows, 7 leaf columns
    apply_limits(tmp_path, monkeypatch, f"{key} = {value}")
    msg = too_large_at_every_level(p, key)
    assert f"its footer declares {says}" in msg
    apply_limits(tmp_path, monkeypatch, f"{key} = {value + 1}")
    fc = check(p, "full")
    assert codes(fc) == [] and (fc.result.verified_level, fc.result.record_count) == ("full", ROWS)


def test_garbled_footer_is_corrupt(tmp_path: Path) -> None:
    p = write(tmp_path)
    size = p.stat().st_size
    flen = struct.unpack("<I", p.read_bytes()[-8:-4])[0]
    patch(p, size - 8 - flen, b"\xff" * min(flen, 64))
    assert first_level(p, "parquet.corrupt") == "metadata"


def test_bytes_cut_from_the_middle_put_chunks_outside_the_file(tmp_path: Path) -> None:
    p = write(tmp_path)
    raw = p.read_bytes()
    p.write_bytes(raw[:1000] + raw[3000:])  # footer intact, offsets now point past the data
    fc = check(p, "metadata")
    assert codes(fc) == ["parquet.corrupt"]
    assert "outside the data section" in fc.findings[0].message


def test_damaged_page_is_found_only_at_full(tmp_path: Path) -> None:
    p = write(tmp_path)
    md = pq.read_metadata(p)
    col = md.row_group(1).column(0)  # _id of the second row group
    patch(p, col.data_page_offset + 40, b"\xa5" * 200)
    assert first_level(p, "parquet.corrupt") == "full"
    assert "row group 1" in check(p, "full").findings[0].message


def test_codec_disagreeing_with_destination_is_unexpected_format(tmp_path: Path) -> None:
    p = write(tmp_path, "part-0.parquet", compression="snappy")
    assert first_level(p, "file.unexpected_format") == "metadata"
    q = write(tmp_path, "part-1.parquet", compression="none")
    assert first_level(q, "file.unexpected_format", compression="gzip") == "metadata"
    r = write(tmp_path, "part-2.gz.parquet", compression="gzip")
    assert first_level(r, "file.unexpected_format", compression="none") == "metadata"


def test_name_codec_disagreeing_with_content_is_unexpected_format(tmp_path: Path) -> None:
    p = write(tmp_path, "part-0.gz.parquet", compression="none")
    fc = check(p, "metadata", compression="none")
    assert codes(fc) == ["file.unexpected_format"] and "the name says GZIP" in fc.findings[0].message


def test_row_group_over_the_decode_limit_is_too_large_not_corrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = write(tmp_path)
    apply_limits(tmp_path, monkeypatch, "max_row_group_bytes = 1000")
    assert codes(check(p, "metadata")) == []  # the decode limit acts at full level only
    fc = check(p, "full")
    assert codes(fc) == ["file.too_large"]
    assert [str(f.sev) for f in fc.findings] == ["warning"]
    msg = fc.findings[0].message
    assert "more than the 1000 bytes decode limit" in msg and "[limits] max_row_group_bytes" in msg
    # hashed in full, but its pages were not decoded: not fully verified, no record count
    r = fc.result
    assert (r.status, r.verified_level, r.record_count) == ("ok", "metadata", None)
    assert r.computed["md5"] == hashlib.md5(p.read_bytes()).hexdigest()
    apply_limits(tmp_path, monkeypatch, 'max_row_group_bytes = "1MiB"')
    fc = check(p, "full")
    assert codes(fc) == [] and (fc.result.verified_level, fc.result.record_count) == ("full", ROWS)


@pytest.mark.parametrize("level", LEVELS)
def test_zero_row_file_is_valid(tmp_path: Path, level: str) -> None:
    p = tmp_path / "part-0.gz.parquet"
    pq.write_table(xdm_table(10).slice(0, 0), p, compression="gzip")
    rg = pq.read_metadata(p).row_group(0)  # pyarrow writes one empty row group, data pages at offset 0
    assert (rg.num_rows, rg.column(0).data_page_offset) == (0, 0)
    fc = check(p, level)
    assert codes(fc) == []
    assert fc.result.record_count == (None if level == "listing" else 0)


def test_encrypted_footer_magic_is_parquet_encrypted(tmp_path: Path) -> None:
    p = write(tmp_path)
    patch(p, 0, b"PARE")
    patch(p, p.stat().st_size - 4, b"PARE")
    assert first_level(p, "parquet.encrypted") == "metadata"
    assert "AEP never writes Parquet modular encryption" in check(p, "full").findings[0].message


def test_page_crc_mismatch_is_corrupt(tmp_path: Path) -> None:
    p = write(tmp_path, compression="none", name="part-0.parquet", write_page_checksum=True)
    col = pq.read_metadata(p).row_group(2).column(1)  # timestamp, plain int64 values
    start = col.dictionary_page_offset if col.has_dictionary_page else col.data_page_offset
    patch(p, start + col.total_compressed_size - 16, b"\x01\x02\x03\x04")
    assert first_level(p, "parquet.corrupt", compression="none") == "full"
    fc = check(p, "full", compression="none")
    msg = fc.findings[0].message
    assert "row group 2, column timestamp" in msg and "CRC" in msg
    assert fc.result.record_count is None  # the footer's count is not a count of what was decoded


@pytest.mark.parametrize("level", ["metadata", "full"])
def test_column_name_not_utf8_is_read_like_the_readers(tmp_path: Path, level: str) -> None:
    """pyarrow and DuckDB both read such a file; it once was file.unreadable "re-run" (a
    UnicodeDecodeError from the column path)."""
    p = tmp_path / "part-0.gz.parquet"
    pq.write_table(pa.table({"abcd": [1, 2, 3]}), p, compression="gzip", store_schema=False)
    raw = p.read_bytes()
    patch(p, raw.rfind(b"abcd"), b"\xff\xfe\xfd\xfc")
    with pytest.raises(UnicodeDecodeError):
        _ = pq.read_metadata(p).row_group(0).column(0).path_in_schema
    assert pq.read_table(p).num_rows == 3
    fc = check(p, level)
    assert codes(fc) == []
    assert (fc.result.status, fc.result.record_count) == ("ok", 3)
