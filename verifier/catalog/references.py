"""Reference hashes per file version, and operators' accepts of new bytes (migration 2).

A reference is written by the first full read of a file version and replaced only when the
file is replaced (its listing changes) or by `verifier accept`, never by a read that disagrees.
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from verifier.catalog.db import connect, from_db, now_utc, to_db
from verifier.catalog.lock import RunLock
from verifier.errors import VerifierError


@dataclass
class Reference:
    md5: str | None
    crc32c: str | None
    record_count: int | None = None
    schema_hash: str | None = None
    source: str = "full_read"  # full_read | accept
    recorded_at: datetime | None = None
    run_id: int | None = None


REF_COLS = (
    "destination",
    "dataset_id",
    "export_time",
    "name",
    "size",
    "etag",
    "modified_at",
    "md5",
    "crc32c",
    "record_count",
    "schema_hash",
    "source",
    "recorded_at",
    "run_id",
)


def ref_row(key: list[Any], name: str, size: int, etag: str | None, modified: Any, ref: Reference) -> list[Any]:
    """One file_references row, in REF_COLS order (key: destination, dataset_id, db export_time)."""
    return [
        *key,
        name,
        size,
        etag,
        to_db(modified),
        ref.md5,
        ref.crc32c,
        ref.record_count,
        ref.schema_hash,
        ref.source,
        to_db(ref.recorded_at),
        ref.run_id,
    ]


def load_references(con: duckdb.DuckDBPyConnection, destination: str) -> dict[tuple[str, datetime, str], Reference]:
    out: dict[tuple[str, datetime, str], Reference] = {}
    for d, t, name, md5, crc, n, sh, src, at, run in con.execute(
        "SELECT dataset_id, export_time, name, md5, crc32c, record_count, schema_hash, source, recorded_at, run_id "
        "FROM file_references WHERE destination = ?",
        [destination],
    ).fetchall():
        out[(d, from_db(t), name)] = Reference(md5, crc, n, sh, src, from_db(at), run)  # type: ignore[index]
    return out


@dataclass
class Accepted:
    destination: str
    dataset_id: str
    export_time: datetime
    name: str
    uri: str | None
    old_md5: str | None
    new_md5: str


def operator() -> str:
    """Who accepts: the OS user at this host (no secret, and what an audit needs)."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (a container without a passwd entry)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def accept(
    catalog_path: Any,
    *,
    reason: str,
    uri: str | None = None,
    export: tuple[str, str, datetime] | None = None,
    who: str | None = None,
) -> list[Accepted]:
    """Make the bytes of the last full read the reference of the file at `uri`, or of every data
    file of `export`; record who, when and why. The export is verified again by the next run.

    Holds the run lock: a run in progress would rewrite the same rows. Raises VerifierError when
    nothing matches or a file was never read in full (there are no bytes to accept)."""
    if not reason.strip():
        raise VerifierError("accept needs a --reason: say why these bytes are right")
    with RunLock(catalog_path), connect(catalog_path) as con:
        files = _targets(con, uri, export)
        never = [f[4] or f[3] for f in files if f[5] is None]
        if never:
            raise VerifierError(
                f"never read in full, so there are no bytes to accept: {', '.join(never)}; "
                "run `verifier run --level full` (or --rescan --sample 100) on it first"
            )
        return _record(con, files, reason.strip(), who or operator())


def _targets(con: duckdb.DuckDBPyConnection, uri: str | None, export: tuple[str, str, datetime] | None) -> list[Any]:
    cols = "f.destination, f.dataset_id, f.export_time, f.name, f.uri, f.md5, f.crc32c, f.record_count, f.schema_hash"
    cols += ", f.size, f.etag, f.modified_at, f.full_read_run"
    if uri is not None:
        rows = con.execute(
            f"SELECT {cols} FROM files f WHERE f.uri = ? AND f.role = 'data' AND f.status <> 'vanished'", [uri]
        ).fetchall()
        what = uri
    elif export is not None:
        rows = con.execute(
            f"SELECT {cols} FROM files f WHERE f.destination = ? AND f.dataset_id = ? AND f.export_time = ? "
            "AND f.role = 'data' AND f.status <> 'vanished' ORDER BY f.name",
            [export[0], export[1], to_db(export[2])],
        ).fetchall()
        what = f"{export[0]}/{export[1]}/{export[2]:%Y%m%d%H%M}"
    else:
        raise VerifierError("say what to accept: a file's URI or --export DEST/DATASET/EXPORT_TIME")
    if not rows:
        raise VerifierError(f'no data file recorded for {what}; see `verifier sql "SELECT uri FROM files"`')
    return rows


def _record(con: duckdb.DuckDBPyConnection, files: list[Any], reason: str, who: str) -> list[Accepted]:
    at = now_utc()
    out = []
    con.execute("BEGIN TRANSACTION")
    try:
        for d, ds, t, name, uri, md5, crc, n, sh, size, etag, mod, run in files:
            key = [d, ds, t]
            old = con.execute(
                "SELECT md5, crc32c FROM file_references WHERE destination = ? AND dataset_id = ? "
                "AND export_time = ? AND name = ?",
                [*key, name],
            ).fetchone()
            con.execute(
                "DELETE FROM file_references WHERE destination = ? AND dataset_id = ? AND export_time = ? AND name = ?",
                [*key, name],
            )
            ref = Reference(md5, crc, n, sh, "accept", at, run)
            con.execute(
                f"INSERT INTO file_references ({', '.join(REF_COLS)}) VALUES ({', '.join('?' * len(REF_COLS))})",
                ref_row(key, name, size, etag, mod, ref),
            )
            con.execute(
                "INSERT INTO accepts VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [at, who, reason, *key, name, uri, old[0] if old else None, md5, old[1] if old else None, crc],
            )
            out.append(Accepted(d, ds, from_db(t), name, uri, old[0] if old else None, md5))  # type: ignore[arg-type]
        # the next run verifies the export again instead of carrying its findings forward
        for d, ds, t in {(f[0], f[1], f[2]) for f in files}:
            con.execute(
                "UPDATE exports SET listing_hash = NULL WHERE destination = ? AND dataset_id = ? AND export_time = ?",
                [d, ds, t],
            )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return out
