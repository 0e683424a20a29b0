"""DuckDB, asked only when pyarrow refuses a Parquet file.

Readers differ in tolerance: pyarrow refuses a Presto-style map whose keys are not marked
required, DuckDB reads it; DuckDB refuses INT96 timestamps out of its range, pyarrow reads
them. A file one of them reads in full is not damage, so before calling a file corrupt the
verifier asks the other reader. It is never asked when pyarrow succeeds: that would double
the cost of every full read.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

from verifier.checks import limits
from verifier.checks.formats import PARQUET_MAGIC

if TYPE_CHECKING:  # imported when first asked: a worker that never needs it starts faster
    import duckdb


@dataclass
class Verdict:
    ok: bool
    rows: int | None = None  # rows read, when the whole file was read
    error: str = ""  # DuckDB's own words when it refuses


# hashing each whole row makes DuckDB decode every column; count(*) alone would read none
_READ_ALL = "SELECT count(hash(t)) FROM read_parquet(?) t"


def _connect() -> duckdb.DuckDBPyConnection:
    import duckdb

    config: dict[str, str | bool | int | float | list[str]] = {
        "threads": 1,
        "memory_limit": limits.SECOND_READER_MEMORY,
    }
    return duckdb.connect(config=config)


def reads_all(path: str) -> Verdict:
    """Does DuckDB decode every value of every row of the file at `path`?"""
    try:
        con = _connect()
        try:
            row = con.execute(_READ_ALL, [path]).fetchone()
        finally:
            con.close()
    except Exception as exc:  # noqa: BLE001 - what DuckDB refuses is its verdict
        return Verdict(False, error=one_line(exc))
    return Verdict(True, int(row[0]) if row else 0)


def reads_footer(footer: bytes, tail: bytes) -> Verdict:
    """Does DuckDB accept this footer (schema and metadata)? Only the footer is needed: it is
    written after the magic into a scratch file, as a file with no data pages."""
    fd, path = tempfile.mkstemp(prefix="verifier-footer-", suffix=".parquet", dir=limits.SPOOL_DIR)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(PARQUET_MAGIC + footer + tail)
        con = _connect()
        try:
            con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()
        finally:
            con.close()
    except Exception as exc:  # noqa: BLE001 - what DuckDB refuses is its verdict
        return Verdict(False, error=one_line(exc))
    finally:
        os.unlink(path)
    return Verdict(True)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = text.split(" LINE 1:", 1)[0]  # DuckDB quotes our own query after its message
    return text if len(text) <= 300 else text[:297] + "..."
