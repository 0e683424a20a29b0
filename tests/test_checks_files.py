"""check_file as the runner sees it: names, levels, store errors, checksums, remote spooling."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path
from typing import IO

import google_crc32c
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from verifier.backends.local import LocalBackend
from verifier.checks import hashing, limits
from verifier.checks.files import FileCheck, check_file
from verifier.checks.formats import expected_suffixes, is_data_name, sniff
from verifier.config import Destination
from verifier.errors import StoreError
from verifier.model import Checksum, Entry

ROWS = 5000


def dest(tmp_path: Path, fmt: str = "parquet", compression: str = "gzip") -> Destination:
    return Destination(name="t", type="local", url=str(tmp_path), format=fmt, compression=compression)


def parquet_file(tmp_path: Path, name: str = "part-00000.gz.parquet") -> Path:
    p = tmp_path / name
    t = pa.table({"_id": [f"id-{i}" for i in range(ROWS)], "n": list(range(ROWS))})
    pq.write_table(t, p, compression="gzip", row_group_size=2000)
    return p


def entry(p: Path, *checksums: Checksum) -> Entry:
    return Entry(path=str(p), name=p.name, is_dir=False, size=p.stat().st_size, checksums=checksums)


def run(backend: LocalBackend, e: Entry, level: str) -> FileCheck:
    return check_file(backend, e, "file://" + e.path, backend.dest, level)


def codes(fc: FileCheck) -> list[str]:
    return [f.code for f in fc.findings]


class RemoteLike(LocalBackend):
    """A local folder that pretends to be remote: no local path, so full level spools."""

    def local_path(self, path: str) -> str | None:
        return None


class Refusing(LocalBackend):
    """Every read is refused, as a store would on a denied or vanished object."""

    def read_range(self, path: str, start: int, end: int) -> bytes:
        raise StoreError("AccessDenied: you shall not pass")

    def open(self, path: str, block_size: int = 4 * 2**20) -> IO[bytes]:
        raise StoreError("AccessDenied: you shall not pass")

    def local_path(self, path: str) -> str | None:
        return None


class NoReads(LocalBackend):
    def read_range(self, path: str, start: int, end: int) -> bytes:
        raise AssertionError("listing level must not read")

    def open(self, path: str, block_size: int = 4 * 2**20) -> IO[bytes]:
        raise AssertionError("listing level must not read")

    def local_path(self, path: str) -> str | None:
        raise AssertionError("listing level must not read")


# -- formats -----------------------------------------------------------------------------------
def test_expected_suffixes(tmp_path: Path) -> None:
    assert expected_suffixes(dest(tmp_path)) == (".gz.parquet", ".parquet")
    assert expected_suffixes(dest(tmp_path, compression="none")) == (".parquet",)
    assert expected_suffixes(dest(tmp_path, "json")) == (".json.gz",)


@pytest.mark.parametrize(
    "name,data",
    [
        ("part-00000-tid-1-c000.gz.parquet", True),
        ("x.parquet", True),
        ("x.json.gz", True),
        ("x.json", True),
        ("x.csv", True),
        ("x.parquet.gpg", True),
        ("manifest-abc-def.json", False),
        ("_SUCCESS", False),
        (".part-0.parquet.crc", False),
        ("notes.txt", False),
        ("", False),
    ],
)
def test_is_data_name(name: str, data: bool) -> None:
    assert is_data_name(name) is data


@pytest.mark.parametrize(
    "head,kind",
    [
        (b"PAR1\x15\x04", "parquet"),
        (b"\x1f\x8b\x08\x00", "gzip"),
        (b'{"a": 1}', "json"),
        (b"  \n[1]", "json"),
        (b"\xef\xbb\xbf{}", "json"),
        (b"", "unknown"),
        (b"hello", "unknown"),
    ],
)
def test_sniff(head: bytes, kind: str) -> None:
    assert sniff(head) == kind


# -- levels and store errors --------------------------------------------------------------------
def test_listing_reads_nothing(tmp_path: Path) -> None:
    p = parquet_file(tmp_path)
    fc = run(NoReads(dest(tmp_path)), entry(p), "listing")
    assert codes(fc) == [] and fc.result.bytes_read == 0 and fc.result.verified_level == "listing"


def test_unknown_level_is_a_programming_error(tmp_path: Path) -> None:
    p = parquet_file(tmp_path)
    with pytest.raises(ValueError):
        run(LocalBackend(dest(tmp_path)), entry(p), "deep")


@pytest.mark.parametrize("level", ["metadata", "full"])
@pytest.mark.parametrize("fmt", ["parquet", "json"])
def test_store_refusal_is_unreadable(tmp_path: Path, level: str, fmt: str) -> None:
    p = parquet_file(tmp_path) if fmt == "parquet" else tmp_path / "x.json.gz"
    if fmt == "json":
        p.write_bytes(gzip.compress(b'{"a": 1}\n'))
    fc = run(Refusing(dest(tmp_path, fmt)), entry(p), level)
    assert codes(fc) == ["file.unreadable"]
    assert "AccessDenied" in fc.findings[0].message and fc.result.status == "failed"


@pytest.mark.parametrize("level", ["metadata", "full"])
def test_vanished_file_is_unreadable(tmp_path: Path, level: str) -> None:
    p = parquet_file(tmp_path)
    e = entry(p)
    p.unlink()
    assert codes(run(LocalBackend(dest(tmp_path)), e, level)) == ["file.unreadable"]


def test_file_shorter_than_listed_is_unreadable(tmp_path: Path) -> None:
    p = parquet_file(tmp_path)
    e = entry(p)
    e.size += 10
    for level in ("metadata", "full"):
        fc = run(LocalBackend(dest(tmp_path)), e, level)
        assert codes(fc) == ["file.unreadable"], level
        assert "changed" in fc.findings[0].message


# -- checksums -------------------------------------------------------------------------------------
def test_matching_native_checksums_are_clean(tmp_path: Path) -> None:
    p = parquet_file(tmp_path)
    raw = p.read_bytes()
    e = entry(
        p,
        Checksum("md5", hashlib.md5(raw).hexdigest(), "client"),
        Checksum("crc32c", f"{google_crc32c.value(raw):08x}", "service"),
        Checksum("crc32", f"{zlib.crc32(raw):08x}", "service"),
        Checksum("sha256", hashlib.sha256(raw).hexdigest().upper(), "service"),
    )
    fc = run(LocalBackend(dest(tmp_path)), e, "full")
    assert codes(fc) == []
    assert fc.result.computed["crc32c"] == f"{google_crc32c.value(raw):08x}"
    assert set(fc.result.computed) == {"md5", "crc32c", "crc32", "sha256"}


def test_wrong_native_md5_is_a_checksum_mismatch_only_at_full(tmp_path: Path) -> None:
    p = parquet_file(tmp_path)
    e = entry(p, Checksum("md5", "0" * 32, "service"))
    b = LocalBackend(dest(tmp_path))
    assert codes(run(b, e, "metadata")) == []
    fc = run(b, e, "full")
    assert codes(fc) == ["file.checksum_mismatch"]
    msg = fc.findings[0].message
    assert hashlib.md5(p.read_bytes()).hexdigest() in msg and "0" * 32 in msg and "computed by the store" in msg


def test_malformed_native_checksum_is_not_compared(tmp_path: Path) -> None:
    p = parquet_file(tmp_path)
    e = entry(p, Checksum("md5", "d41d8cd98f00b204e9800998ecf8427e-3", "service"))  # an S3 multipart ETag
    assert codes(run(LocalBackend(dest(tmp_path)), e, "full")) == []


def test_crc32c_fallback_matches_the_c_extension() -> None:
    data = bytes(range(256)) * 40
    assert hashing.crc32c_py(0, data) == google_crc32c.value(data)
    assert hashing.crc32c_py(hashing.crc32c_py(0, data[:100]), data[100:]) == google_crc32c.value(data)


# -- remote stores: one read, spooled ------------------------------------------------------------
def test_remote_parquet_is_read_once_and_spooled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(limits, "SPOOL_DIR", str(spool))
    monkeypatch.setattr(limits, "READ_BLOCK_BYTES", 4096)
    data = tmp_path / "data"
    data.mkdir()
    p = parquet_file(data)
    fc = run(RemoteLike(dest(data)), entry(p), "full")
    assert codes(fc) == []
    assert fc.result.record_count == ROWS
    assert fc.result.bytes_read == p.stat().st_size
    assert fc.result.computed["md5"] == hashlib.md5(p.read_bytes()).hexdigest()
    assert list(spool.iterdir()) == []  # the spool file is gone


def test_remote_parquet_without_spool_room_reads_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "SPOOL_HEADROOM_BYTES", 2**62)
    p = parquet_file(tmp_path)
    fc = run(RemoteLike(dest(tmp_path)), entry(p), "full")
    assert codes(fc) == [] and fc.result.record_count == ROWS
    assert fc.result.bytes_read >= 2 * p.stat().st_size


def test_remote_damaged_parquet_is_corrupt(tmp_path: Path) -> None:
    p = parquet_file(tmp_path)
    md = pq.read_metadata(p)
    raw = bytearray(p.read_bytes())
    off = md.row_group(1).column(0).data_page_offset + 30
    raw[off : off + 100] = b"\xa5" * 100
    p.write_bytes(bytes(raw))
    fc = run(RemoteLike(dest(tmp_path)), entry(p), "full")
    assert codes(fc) == ["parquet.corrupt"]
    assert fc.result.computed["md5"] == hashlib.md5(bytes(raw)).hexdigest()


def test_remote_json_is_streamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "READ_BLOCK_BYTES", 1000)
    p = tmp_path / "x.json.gz"
    p.write_bytes(gzip.compress(b"".join(b'{"i": %d}\n' % i for i in range(3000))))
    fc = run(RemoteLike(dest(tmp_path, "json")), entry(p), "full")
    assert codes(fc) == [] and fc.result.record_count == 3000
    assert fc.result.bytes_read == p.stat().st_size


def test_messages_carry_the_uri(tmp_path: Path) -> None:
    p = tmp_path / "part-0.gz.parquet"
    p.write_bytes(b"nope")
    fc = run(LocalBackend(dest(tmp_path)), entry(p), "metadata")
    assert codes(fc) == ["parquet.corrupt"]
    f = fc.findings[0]
    assert f.uri == "file://" + str(p) and f.message.startswith(f.uri + ": ")


class CountingRemote(RemoteLike):
    """RemoteLike that notes every range request."""

    def __init__(self, d: Destination) -> None:
        super().__init__(d)
        self.requests: list[tuple[int, int]] = []

    def read_range(self, path: str, start: int, end: int) -> bytes:
        self.requests.append((start, end))
        return super().read_range(path, start, end)


def _same(a: FileCheck, b: FileCheck) -> None:
    assert [(f.code, f.message) for f in a.findings] == [(f.code, f.message) for f in b.findings]
    ra, rb = a.result, b.result
    fields = ("status", "verified_level", "record_count", "schema_hash", "schema", "computed", "bytes_read")
    assert [getattr(ra, k) for k in fields] == [getattr(rb, k) for k in fields]


@pytest.mark.parametrize("damage", [None, "tail", "head"])
def test_a_small_remote_object_is_fetched_in_one_request_and_checked_as_before(
    tmp_path: Path, damage: str | None
) -> None:
    from verifier.checks import reads

    p = tmp_path / "part-00000.gz.parquet"
    rows = 20_000
    pq.write_table(pa.table({"h": [hashlib.md5(str(i).encode()).hexdigest() for i in range(rows)]}), p)
    size = p.stat().st_size
    assert limits.TAIL_GUESS_BYTES < size <= limits.WHOLE_OBJECT_BYTES
    if damage == "tail":
        p.write_bytes(p.read_bytes()[:-100] + b"\0" * 100)
    elif damage == "head":
        p.write_bytes(b"\x1f\x8b\x08\x00" + p.read_bytes()[4:])
    d = dest(tmp_path)
    e = entry(p)
    remote = CountingRemote(d)
    prepared = reads.prepare(remote, e, d, "metadata")
    assert prepared is not None and remote.requests == [(0, size)]
    got = check_file(remote, e, "file://" + e.path, d, "metadata", prepared)
    assert remote.requests == [(0, size)]  # nothing asked of the store again
    _same(got, run(LocalBackend(d), e, "metadata"))
    assert got.result.bytes_read == 4 + limits.TAIL_GUESS_BYTES  # what the check reads, not what was fetched


def test_a_big_remote_objects_ranges_are_fetched_as_the_check_reads_them(tmp_path: Path) -> None:
    from verifier.checks import reads

    p = parquet_file(tmp_path)
    size = p.stat().st_size
    d = dest(tmp_path)
    e = entry(p)
    remote = CountingRemote(d)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(limits, "WHOLE_OBJECT_BYTES", 1024)
        mp.setattr(limits, "TAIL_GUESS_BYTES", 1024)
        prepared = reads.prepare(remote, e, d, "metadata")
        assert remote.requests == [(0, 4), (size - 1024, size)]
        got = check_file(remote, e, "file://" + e.path, d, "metadata", prepared)
        assert remote.requests[:2] == [(0, 4), (size - 1024, size)]  # a footer over the guess: asked later
        _same(got, run(LocalBackend(d), e, "metadata"))
