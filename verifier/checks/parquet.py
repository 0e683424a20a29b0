"""Parquet: footer and metadata sanity (metadata level), every page decoded (full level).

The footer is fetched with range requests and parsed from an in-memory buffer holding only
those bytes, so pyarrow cannot read past what was fetched. Its claims (lengths, offsets,
row counts, sizes) are checked against the file before anything trusts them.

Judged like the readers: what pyarrow refuses is put to DuckDB (`second_reader`) before it
is called damage, a limit is `file.too_large`, never corruption, and modular encryption is
recognised before pyarrow can abort on it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from verifier.checks import Outcome, ReadRange, limits, parquet_prescan, read_exact, second_reader
from verifier.checks.formats import (
    EXPECTED_CODEC,
    PARQUET_ENCRYPTED_MAGIC,
    PARQUET_MAGIC,
    describe,
    looks_pgp,
    parquet_codec_from_name,
    sniff,
)
from verifier.config import Destination

REEXPORT = "re-export this dataset run"
CORRUPT = "parquet.corrupt"
ENCRYPTED = "parquet.encrypted"
TOLERATED = "parquet.tolerated"
TOO_LARGE = "file.too_large"
FORMAT = "file.unexpected_format"
_NOT_AEP = (
    "AEP never writes Parquet modular encryption: this file was not written by the export, "
    "or was re-encrypted after it; it cannot be verified without its keys"
)


@dataclass
class Footer:
    metadata: pq.FileMetaData | None  # None: pyarrow refuses the footer, DuckDB reads it
    length: int  # bytes of the thrift FileMetaData


def inspect(read: ReadRange, size: int, name: str, dest: Destination, out: Outcome) -> Footer | None:
    """Magic, footer length, footer, metadata sanity, codec, schema and declared row count.

    Uses at most three reads: the head, a tail guess and (for a footer bigger than the guess)
    the footer. Returns None when the file is not usable Parquet (a problem was added).
    """
    got = [read_exact(read, start, end, out) for start, end in first_ranges(size)]
    head, tail = (got[0][:4], got[0]) if len(got) == 1 else (got[0], got[1])
    if not _magic_ok(head, out):
        return None
    if size < 12:
        out.add(
            CORRUPT, f"only {size} bytes, too small to be Parquet (at least 12); the file is truncated — {REEXPORT}"
        )
        return None
    if tail[-4:] == PARQUET_ENCRYPTED_MAGIC:
        out.add(ENCRYPTED, f"ends with the PARE magic: the footer is encrypted; {_NOT_AEP}")
        return None
    if tail[-4:] != PARQUET_MAGIC:
        found = tail[-4:].hex(" ")
        out.add(
            CORRUPT,
            f"does not end with the PAR1 magic (found {found}); the file is truncated (a partial "
            f"upload?) or damaged — {REEXPORT}",
        )
        return None
    footer_len = struct.unpack("<I", tail[-8:-4])[0]
    if footer_len == 0 or footer_len > size - 12:
        out.add(
            CORRUPT,
            f"footer length {footer_len} exceeds file size {size}; the file is truncated or not Parquet — {REEXPORT}"
            if footer_len
            else f"footer length is 0; the file is damaged — {REEXPORT}",
        )
        return None
    if footer_len > limits.MAX_FOOTER_BYTES:
        _footer_too_large(read, tail, size, footer_len, out)
        return None
    if footer_len + 8 <= len(tail):
        footer = tail[len(tail) - 8 - footer_len : len(tail) - 8]
    else:
        footer = read_exact(read, size - 8 - footer_len, size - 8, out)
    pre = parquet_prescan.prescan(footer)  # before pyarrow: it aborts the process on both
    if pre.algorithm:
        out.add(ENCRYPTED, f"the plaintext footer declares encrypted columns ({pre.algorithm}); {_NOT_AEP}")
        return None
    if pre.bad_codec:
        i, j, codec = pre.bad_codec
        out.add(CORRUPT, f"row group {i} column {j} names compression codec {codec}, which does not exist — {REEXPORT}")
        return None
    try:
        buf = pa.BufferReader(PARQUET_MAGIC + footer + tail[-8:])
        pf = pq.ParquetFile(buf, pre_buffer=False, **_thrift_limits())
        md = pf.metadata
        arrow_schema = pf.schema_arrow
    except MemoryError as exc:
        if not isinstance(exc, pa.ArrowMemoryError):
            raise
        out.add(CORRUPT, f"footer cannot be parsed within memory limits ({exc}) — {REEXPORT}")
        return None
    except Exception as exc:  # noqa: BLE001 - whatever pyarrow refuses goes to the second reader
        return _footer_refused(footer, tail[-8:], exc, out)
    rows = _sane(md, size, footer_len, out)
    if rows is None:
        return None
    _check_codec(md, name, dest, out)
    out.schema = flatten_schema(arrow_schema)
    out.record_count = rows
    return Footer(md, footer_len)


def first_ranges(size: int) -> list[tuple[int, int]]:
    """The reads inspect makes first, in order: the whole file when the tail guess covers it, else
    the magic and the tail guess (callers read them ahead for a remote store: `reads.prepare`)."""
    if size <= limits.TAIL_GUESS_BYTES:
        return [(0, size)]
    return [(0, 4), (size - limits.TAIL_GUESS_BYTES, size)]


# a FileMetaData's first field header in thrift's compact protocol: field 1 (version), an i32.
# Every writer puts it first; a footer length that points elsewhere is damage, not a big footer
_FOOTER_LEAD = 0x15


def _footer_too_large(read: ReadRange, tail: bytes, size: int, footer_len: int, out: Outcome) -> None:
    """A footer over MAX_FOOTER_BYTES inside the file: file.too_large if its first byte is where a
    footer begins (it is not fetched), parquet.corrupt if the length points at something else."""
    if footer_len + 8 <= len(tail):
        lead = tail[len(tail) - 8 - footer_len : len(tail) - 7 - footer_len]
    else:
        start = size - 8 - footer_len
        lead = read_exact(read, start, start + 1, out)
    if lead[0] != _FOOTER_LEAD:
        out.add(
            CORRUPT,
            f"the footer length field says {footer_len} bytes, but no footer starts there (byte "
            f"{lead[0]:#04x}, a footer starts with 0x15); the file is damaged — {REEXPORT}",
        )
        return
    out.add(
        TOO_LARGE,
        f"its footer is {footer_len} bytes ({limits.human_approx(footer_len)}), more than the "
        f"{limits.human(limits.MAX_FOOTER_BYTES)} footer limit: it was not read, so neither its metadata nor "
        f"its pages were checked and the file is not verified; raise {limits.key('MAX_FOOTER_BYTES')} in the "
        "config (and worker_memory_bytes if needed) to read it",
    )


def _footer_refused(footer: bytes, tail: bytes, exc: Exception, out: Outcome) -> Footer | None:
    """pyarrow cannot parse the footer: damage only if DuckDB cannot either."""
    why = _one_line(exc)
    duck = second_reader.reads_footer(footer, tail)
    if not duck.ok:
        out.add(
            CORRUPT,
            f"footer ({len(footer)} bytes) cannot be parsed: {why} (DuckDB cannot read it either: {duck.error}) "
            f"— {REEXPORT}",
        )
        return None
    out.add(
        TOLERATED,
        f"pyarrow refuses the footer ({why}) but DuckDB reads it: the readers differ in tolerance here, "
        "this is not damage; no schema is recorded, and a full read decodes it with DuckDB. Check that the "
        "tools you restore with can read it",
    )
    return Footer(None, len(footer))


def _magic_ok(head: bytes, out: Outcome) -> bool:
    if head == PARQUET_MAGIC:
        return True
    if head == PARQUET_ENCRYPTED_MAGIC:
        out.add(ENCRYPTED, f"starts with the PARE magic: an encrypted Parquet file; {_NOT_AEP}")
        return False
    kind = sniff(head)
    if kind in ("gzip", "json") or head.startswith(PARQUET_ENCRYPTED_MAGIC) or looks_pgp(head):
        out.add(
            FORMAT,
            f"named as Parquet but its first bytes are {describe(head)}; check the destination's "
            "format/compression in the config and the dataflow's export settings",
        )
    else:
        out.add(
            CORRUPT, f"does not start with the PAR1 magic (found {describe(head)}); not Parquet or damaged — {REEXPORT}"
        )
    return False


def _thrift_limits() -> dict[str, Any]:
    return {
        "thrift_string_size_limit": limits.THRIFT_STRING_LIMIT,
        "thrift_container_size_limit": limits.THRIFT_CONTAINER_LIMIT,
        "schema_depth_limit": limits.SCHEMA_DEPTH_LIMIT,
    }


def _sane(md: pq.FileMetaData, size: int, footer_len: int, out: Outcome) -> int | None:
    """The footer's claims fit the file: counts bounded, offsets inside the data section.

    Returns the rows its row groups hold (what every reader counts), None when it is damaged.
    """
    nrg, ncol, nrows = md.num_row_groups, md.num_columns, md.num_rows

    def bad(what: str) -> int | None:
        out.discard(TOLERATED)
        out.add(CORRUPT, f"metadata is inconsistent: {what}; the file is damaged — {REEXPORT}")
        return None

    if nrows < 0:
        return bad(f"negative row count {nrows}")
    over = [
        (what, n, name)
        for what, n, name in (
            ("row groups", nrg, "MAX_ROW_GROUPS"),
            ("columns", ncol, "MAX_COLUMNS"),
            ("column chunks (row groups x columns)", nrg * ncol, "MAX_COLUMN_CHUNKS"),
        )
        if n > getattr(limits, name)
    ]
    if over:  # the footer parsed: these are real counts, beyond what is walked and decoded here
        what, n, name = over[0]
        return _too_many(f"{limits.count(n)} {what}", name, out)
    data_end = size - 8 - footer_len
    total = 0
    for i in range(nrg):
        rg = md.row_group(i)
        if rg.num_rows < 0:
            return bad(f"row group {i} declares {rg.num_rows} rows")
        total += rg.num_rows
        if rg.num_rows == 0:
            continue  # an empty row group's chunks hold nothing to read (pyarrow writes offset 0)
        for j in range(rg.num_columns):
            col = rg.column(j)
            length = col.total_compressed_size
            start = col.data_page_offset
            if col.has_dictionary_page and col.dictionary_page_offset and col.dictionary_page_offset > 0:
                start = min(start, col.dictionary_page_offset)
            if length < 0 or start < 4 or start >= data_end:
                return bad(
                    f"row group {i} column {_path(col, j)}: chunk at offset {start} of {length} bytes "
                    f"lies outside the data section (bytes 4-{data_end} of {size})"
                )
            if start + length > data_end:  # readers stop at the page headers: the pages decide
                out.add(
                    TOLERATED,
                    f"row group {i} column {_path(col, j)}: the chunk at offset {start} claims {length} "
                    f"bytes, past the end of the data section ({data_end}); readers go by the page headers, "
                    "so a full read decides whether its pages are whole",
                )
    if total > limits.MAX_ROWS:
        return _too_many(f"{limits.count(total)} rows", "MAX_ROWS", out)
    if total != nrows:
        out.add(
            TOLERATED,
            f"the footer declares {nrows} rows but its row groups hold {total}; readers count the row "
            f"groups (some writers, e.g. older parquet-rs, wrote such footers), so {total} is the record count",
        )
    return total


def _too_many(what: str, name: str, out: Outcome) -> int | None:
    """A sound footer whose counts are beyond a limit: file.too_large, not damage."""
    out.discard(TOLERATED)
    out.add(
        TOO_LARGE,
        f"its footer declares {what}, more than the {limits.count(getattr(limits, name))} limit: its metadata "
        f"was not walked nor its pages decoded, so the file is not verified; raise {limits.key(name)} in the "
        "config to check it",
    )
    return None


def _path(col: pq.ColumnChunkMetaData, j: int) -> str:
    """The column's dotted path, for messages; its number when the name is not UTF-8."""
    try:
        return str(col.path_in_schema)
    except UnicodeDecodeError:
        return f"#{j} (its name is not UTF-8)"


def _check_codec(md: pq.FileMetaData, name: str, dest: Destination, out: Outcome) -> None:
    codecs: dict[str, str] = {}  # codec -> first column seen with it
    for i in range(md.num_row_groups):
        rg = md.row_group(i)
        for j in range(rg.num_columns):
            col = rg.column(j)
            codecs.setdefault(str(col.compression), _path(col, j))
    if not codecs:
        return
    why = []
    expected = EXPECTED_CODEC.get(dest.compression)
    other = {c: p for c, p in codecs.items() if c != expected}
    if expected and other:
        c, p = next(iter(other.items()))
        why.append(
            f"column chunks are {c} (e.g. {p}) but the destination's compression is {dest.compression} "
            f"(expects {expected})"
        )
    named = parquet_codec_from_name(name)
    if named and named not in codecs:
        why.append(f"the name says {named} but the column chunks are {', '.join(sorted(codecs))}")
    if why:
        out.add(FORMAT, "; ".join(why) + "; check compression in the config and the dataflow's export settings")


def flatten_schema(schema: pa.Schema) -> dict[str, str]:
    """Column path -> Arrow type string; structs flattened (``web.webPageDetails.URL``)."""
    out: dict[str, str] = {}

    def walk(prefix: str, f: pa.Field, depth: int) -> None:
        if len(out) >= limits.MAX_SCHEMA_COLUMNS:
            return
        path = prefix + f.name
        t = f.type
        if pa.types.is_struct(t) and t.num_fields and depth < limits.MAX_SCHEMA_DEPTH:
            for k in range(t.num_fields):
                walk(path + ".", t.field(k), depth + 1)
        else:
            out[path] = str(t)

    for f in schema:
        walk("", f, 0)
    return out


# -- full level --------------------------------------------------------------------------------
def decode(source: str | IO[bytes], footer: Footer, out: Outcome) -> None:
    """Decode every page of every column chunk, row group by row group, and count rows.

    `source` is a local path (spooled or a local store) or a seekable file object. Memory is
    one row group's compressed chunks (when small enough to pre-buffer) plus one batch.
    """
    out.record_count = None  # only a finished decode counts records
    md = footer.metadata
    if md is None:
        _second_opinion(source, "pyarrow refuses its footer", out)
        return
    for i in range(md.num_row_groups):
        rg = md.row_group(i)
        if rg.total_byte_size > limits.MAX_ROW_GROUP_BYTES:
            out.add(
                TOO_LARGE,
                f"row group {i} declares {rg.total_byte_size} uncompressed bytes, more than the "
                f"{limits.human(limits.MAX_ROW_GROUP_BYTES)} decode limit: its pages were not decoded, so the "
                f"file is not fully verified; raise {limits.key('MAX_ROW_GROUP_BYTES')} in the "
                "config to decode it",
            )
            return
    rows = 0
    for i in range(md.num_row_groups):
        rg = md.row_group(i)
        try:
            got = _decode_row_group(source, md, i)
        except _DecodeError as exc:
            where = f"row group {i}"
            column = _failing_column(source, md, i)
            if column:
                where += f", column {column}"
            why = f"{where}, after {rows + exc.rows} rows: {exc}"
            if any(m in str(exc) for m in _INTEGRITY_FAILED):  # a checksum disagrees: damage, whoever reads on
                out.add(CORRUPT, f"{why} — {REEXPORT}")
            else:
                _second_opinion(source, why, out)
            return
        if got != rg.num_rows:
            _second_opinion(source, f"row group {i} declares {rg.num_rows} rows but {got} were decoded", out)
            return
        rows += got
    out.record_count = rows


# a page CRC, or the gzip/zlib check of a compressed page, disagrees with the bytes: readers
# that skip those checks (DuckDB) still read values, but the bytes are not what was written
_INTEGRITY_FAILED = ("CRC checksum verification failed", "incorrect data check", "incorrect length check")


def _second_opinion(source: str | IO[bytes], why: str, out: Outcome) -> None:
    """pyarrow failed on the pages: damage only if DuckDB cannot read every row either."""
    if not isinstance(source, str):  # streamed from the store without a local copy: no second reader
        out.discard(TOLERATED)
        out.add(CORRUPT, f"{why} — {REEXPORT}")
        return
    duck = second_reader.reads_all(source)
    if duck.ok:
        out.add(
            TOLERATED,
            f"pyarrow cannot decode it ({why}) but DuckDB reads all {duck.rows} rows: the readers differ "
            "in tolerance here, this is not damage. Check that the tools you restore with can read it",
        )
        out.record_count = duck.rows
        return
    out.discard(TOLERATED)  # both refuse: not a matter of taste
    out.add(CORRUPT, f"{why} (DuckDB cannot read it either: {duck.error}) — {REEXPORT}")


class _DecodeError(Exception):
    def __init__(self, message: str, rows: int) -> None:
        super().__init__(message)
        self.rows = rows


def _decode_row_group(source: str | IO[bytes], md: pq.FileMetaData, i: int, columns: list[str] | None = None) -> int:
    """Rows decoded from row group `i` (every page of `columns`, default all). Raises _DecodeError."""
    rg = md.row_group(i)
    compressed = sum(rg.column(j).total_compressed_size for j in range(rg.num_columns))
    pre = compressed <= limits.PRE_BUFFER_MAX_BYTES
    got = 0
    try:
        pf = pq.ParquetFile(
            source,
            metadata=md,
            pre_buffer=pre,
            buffer_size=0 if pre else limits.DECODE_BUFFER_BYTES,
            page_checksum_verification=True,
            **_thrift_limits(),
        )
        batch = _batch_rows(rg.total_byte_size, rg.num_rows)
        for b in pf.iter_batches(batch_size=batch, row_groups=[i], columns=columns, use_threads=True):
            got += b.num_rows
    except MemoryError as exc:
        if not isinstance(exc, pa.ArrowMemoryError):
            raise
        raise _DecodeError(f"cannot be decoded within memory limits ({_one_line(exc)})", got) from None
    except OSError as exc:
        if exc.errno is not None:  # a real I/O error on the local copy, not the content
            raise
        raise _DecodeError(_one_line(exc), got) from None
    except Exception as exc:  # noqa: BLE001 - decode errors are corruption
        raise _DecodeError(_one_line(exc), got) from None
    return got


def _failing_column(source: str | IO[bytes], md: pq.FileMetaData, i: int) -> str | None:
    """Which top-level column of row group `i` fails to decode; only on the failure path."""
    names = md.schema.to_arrow_schema().names
    if len(names) < 2 or len(names) > 1000:
        return None
    for name in names:
        try:
            _decode_row_group(source, md, i, [name])
        except _DecodeError:
            return name
        except Exception:  # noqa: BLE001 - narrowing is best effort
            return None
    return None


def _batch_rows(uncompressed: int, nrows: int) -> int:
    """Rows per batch so one decoded batch is about DECODE_BATCH_BYTES."""
    if nrows <= 0 or uncompressed <= 0:
        return limits.DECODE_BATCH_ROWS
    per_row = max(1, uncompressed // nrows)
    return max(1024, min(limits.DECODE_BATCH_ROWS, limits.DECODE_BATCH_BYTES // per_row))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
