"""Rows of the catalog as dataclasses, and the transactional writes of one export."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from verifier import redact
from verifier.catalog.db import from_db, now_utc, to_db
from verifier.catalog.references import REF_COLS, Reference, load_references, ref_row
from verifier.findings import Finding
from verifier.model import Checksum


@dataclass
class FileRow:
    destination: str
    dataset_id: str
    export_time: datetime
    uri: str
    name: str
    role: str
    size: int
    modified_at: datetime | None = None
    etag: str | None = None
    record_count: int | None = None
    schema_hash: str | None = None
    status: str = "unverified"
    verified_level: str | None = None
    verified_at: datetime | None = None
    full_read_at: datetime | None = None
    md5: str | None = None
    crc32c: str | None = None
    schema_json: str | None = None
    first_seen_at: datetime | None = None
    checksums: list[Checksum] = field(default_factory=list)  # native ones, with provenance
    full_read_run: int | None = None  # the run of the last full read (sampling counts runs)
    first_seen_run: int | None = None
    reference: Reference | None = None  # what every read of this version is compared against

    def primary_checksum(self) -> Checksum | None:
        """The checksum shown in the contract columns: MD5 first, then CRC32C, then any."""
        computed = [Checksum("md5", self.md5, "computed")] if self.md5 else []
        computed += [Checksum("crc32c", self.crc32c, "computed")] if self.crc32c else []
        pool = [*self.checksums, *computed]
        for algo in ("md5", "crc32c", "sha256", "crc64nvme", "crc32", "sha1"):
            for source in ("service", "client", "computed"):
                for c in pool:
                    if c.algo == algo and c.source == source:
                        return c
        return None


@dataclass
class ExportRow:
    destination: str
    dataset_id: str
    export_time: datetime
    uri: str
    kind: str
    status: str
    flow_run_id: str | None = None
    file_count: int = 0
    total_bytes: int = 0
    record_count: int | None = None
    level: str | None = None
    first_seen_at: datetime | None = None
    verified_at: datetime | None = None
    run_id: int | None = None
    listing_hash: str | None = None
    last_seen_at: datetime | None = None
    newest_modified_at: datetime | None = None
    export_time_raw: str | None = None
    files: dict[str, FileRow] = field(default_factory=dict)
    #: False while `files` has not been read from the catalog (`load_exports(files=False)`)
    files_loaded: bool = True
    #: the union of the data files' schemas when `files` is not loaded (see `data_schema`)
    schema: dict[str, str] | None = None

    def data_schema(self) -> dict[str, str] | None:
        """The union of the data files' schemas (first file first), or None if none was recorded."""
        if not self.files_loaded:
            return self.schema
        merged: dict[str, str] = {}
        any_schema = False
        for f in self.files.values():
            if f.role == "data" and f.schema_json:
                any_schema = True
                for k, v in json.loads(f.schema_json).items():
                    merged.setdefault(k, v)
        return merged if any_schema else None


@dataclass
class VerificationRow:
    level: str
    status: str
    files_checked: int
    bytes_read: int
    duration_s: float
    skipped: bool = False


@dataclass
class ExportOutcome:
    """Everything one export's check produced: written in one transaction."""

    export: ExportRow
    findings: list[Finding]
    verification: VerificationRow | None


_EXPORT_COLS = (
    "destination",
    "dataset_id",
    "export_time",
    "uri",
    "kind",
    "flow_run_id",
    "file_count",
    "total_bytes",
    "record_count",
    "status",
    "level",
    "first_seen_at",
    "verified_at",
    "run_id",
    "listing_hash",
    "last_seen_at",
    "newest_modified_at",
    "export_time_raw",
)
_FILE_COLS = (
    "destination",
    "dataset_id",
    "export_time",
    "uri",
    "name",
    "role",
    "size",
    "modified_at",
    "etag",
    "checksum_algo",
    "checksum",
    "checksum_source",
    "record_count",
    "schema_hash",
    "status",
    "verified_level",
    "verified_at",
    "full_read_at",
    "md5",
    "crc32c",
    "schema_json",
    "first_seen_at",
    "full_read_run",
    "first_seen_run",
)
_KEY = "destination = ? AND dataset_id = ? AND export_time = ?"


def insert_findings(con: duckdb.DuckDBPyConnection, run_id: int, findings: list[Finding]) -> None:
    if not findings:
        return
    rows = [
        [
            run_id,
            f.destination,
            f.dataset_id,
            to_db(f.export_time),
            redact.scrub(f.uri or "") or None,
            f.code,
            str(f.sev),
            redact.scrub(f.message),
            to_db(f.found_at) or now_utc(),
            f.extra.get("first_run_id", run_id),
        ]
        for f in findings
    ]
    con.executemany(
        "INSERT INTO findings (run_id, destination, dataset_id, export_time, uri, code, severity, "
        "message, found_at, first_run_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
        rows,
    )


def write_outcomes(con: duckdb.DuckDBPyConnection, run_id: int, outcomes: Sequence[ExportOutcome]) -> None:
    """Replace several exports' rows, add their verifications and findings, in ONE transaction: each
    export is recorded whole or not at all (a kill loses the batch, never half an export).

    Set-based: one DELETE per table for all the batch's keys and one INSERT ... SELECT per table from
    Arrow tables. Per export, three DELETEs, row-by-row executemany and a COMMIT cost ~20 ms; this
    costs ~20 ms per batch of 50 (bench/README.md)."""
    if not outcomes:
        return
    keys: list[list[Any]] = []
    rewritten: list[list[Any]] = []  # exports whose files are rewritten; carried ones keep their rows
    erows: list[list[Any]] = []
    frows: list[list[Any]] = []
    crows: list[list[Any]] = []
    rrows: list[list[Any]] = []
    vrows: list[list[Any]] = []
    findings: list[Finding] = []
    recorded = now_utc()
    carried: list[list[Any]] = []  # exports carried forward: only kind, run_id and last_seen_at change
    for out in outcomes:
        e = out.export
        key = [e.destination, e.dataset_id, to_db(e.export_time)]
        if out.verification is not None and out.verification.skipped:
            # unchanged since it was verified (history.carry_forward): its file rows stand, and its
            # export row is updated in place, set-based, instead of being deleted and written again
            carried.append([*key, e.kind, e.run_id, to_db(e.last_seen_at)])
            v = out.verification
            vrows.append([run_id, *key, v.level, v.status, v.files_checked, v.bytes_read, v.duration_s, v.skipped])
            findings.extend(out.findings)
            continue
        keys.append(key)
        erows.append([to_db(v) if isinstance(v, datetime) else v for v in (getattr(e, c) for c in _EXPORT_COLS)])
        if not e.files_loaded:  # its file rows would be replaced by none: a bug, never a silent loss
            raise ValueError(f"{e.uri}: the export's files were not loaded from the catalog before it was rewritten")
        files = list(e.files.values())
        rewritten.append(key)
        for f in files:
            p = f.primary_checksum()
            vals = {
                **f.__dict__,
                "checksum_algo": p.algo if p else None,
                "checksum": p.value if p else None,
                "checksum_source": p.source if p else None,
            }
            frows.append([to_db(v) if isinstance(v, datetime) else v for v in (vals[c] for c in _FILE_COLS)])
            if f.reference is not None:
                rrows.append(ref_row(key, f.name, f.size, f.etag, f.modified_at, f.reference))
            for c in f.checksums:
                crows.append([*key, f.name, c.algo, c.value, c.source, recorded])
            for algo in ("md5", "crc32c"):
                if getattr(f, algo):
                    crows.append([*key, f.name, algo, getattr(f, algo), "computed", to_db(f.full_read_at)])
        if out.verification is not None:
            v = out.verification
            vrows.append([run_id, *key, v.level, v.status, v.files_checked, v.bytes_read, v.duration_s, v.skipped])
        findings.extend(out.findings)
    con.execute("BEGIN TRANSACTION")
    try:
        con.register("_batch_keys", _arrow(("destination", "dataset_id", "export_time"), keys, _TYPES))
        con.register("_rewritten_keys", _arrow(("destination", "dataset_id", "export_time"), rewritten, _TYPES))
        for table, keyset in (
            ("exports", "_batch_keys"),
            ("files", "_rewritten_keys"),
            ("checksums", "_rewritten_keys"),
            ("file_references", "_rewritten_keys"),
        ):
            if not (rewritten if keyset == "_rewritten_keys" else keys):
                continue  # nothing of the batch in this table to replace: no table scan
            con.execute(
                f"DELETE FROM {table} WHERE (destination, dataset_id, export_time) IN "
                f"(SELECT (destination, dataset_id, export_time) FROM {keyset})"
            )
        for table, cols, rows in (
            ("exports", _EXPORT_COLS, erows),
            ("files", _FILE_COLS, frows),
            ("checksums", _CHECKSUM_COLS, crows),
            ("file_references", REF_COLS, rrows),
            ("verifications", _VERIFICATION_COLS, vrows),
        ):
            if rows:
                con.register("_batch_rows", _arrow(cols, rows, _TYPES))
                con.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM _batch_rows")
                con.unregister("_batch_rows")
        con.unregister("_batch_keys")
        con.unregister("_rewritten_keys")
        if carried:
            con.register("_carried", _arrow(("destination", "dataset_id", "export_time", *_CARRIED), carried, _TYPES))
            con.execute(
                f"UPDATE exports SET {', '.join(f'{c} = k.{c}' for c in _CARRIED)} FROM _carried k "
                "WHERE exports.destination = k.destination AND exports.dataset_id = k.dataset_id "
                "AND exports.export_time = k.export_time"
            )
            con.unregister("_carried")
        insert_findings(con, run_id, findings)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


_CARRIED = ("kind", "run_id", "last_seen_at")  # what history.carry_forward changes of an export row
_CHECKSUM_COLS = ("destination", "dataset_id", "export_time", "name", "algo", "value", "source", "recorded_at")
_VERIFICATION_COLS = (
    "run_id",
    "destination",
    "dataset_id",
    "export_time",
    "level",
    "status",
    "files_checked",
    "bytes_read",
    "duration_s",
    "skipped",
)
# explicit Arrow types for columns that may be all NULL in a batch (inference would give the null type)
_TIME_COLS = (
    "export_time",
    "first_seen_at",
    "verified_at",
    "last_seen_at",
    "newest_modified_at",
    "modified_at",
    "full_read_at",
    "recorded_at",
)
_TYPES: dict[str, pa.DataType] = {
    **{c: pa.timestamp("us") for c in _TIME_COLS},
    **{
        c: pa.int64()
        for c in (
            "file_count",
            "total_bytes",
            "record_count",
            "run_id",
            "size",
            "files_checked",
            "bytes_read",
            "full_read_run",
            "first_seen_run",
        )
    },
    "duration_s": pa.float64(),
    "skipped": pa.bool_(),
}


def _arrow(cols: Sequence[str], rows: list[list[Any]], types: dict[str, pa.DataType]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in cols]
    return pa.table(
        {c: pa.array(list(vals), type=types.get(c, pa.string())) for c, vals in zip(cols, columns, strict=True)}
    )


def load_exports(
    con: duckdb.DuckDBPyConnection, destination: str, *, files: bool = True
) -> dict[tuple[str, datetime], ExportRow]:
    """Every export recorded for a destination; with `files`, with its files and native checksums.

    Without, only the export rows (one Python object per export, none per file) and each export's
    schema (`ExportRow.schema`, for the checks across a dataset's exports): `load_files` adds the
    files of the few exports that need them (the ones checked again, the ones gone)."""
    out: dict[tuple[str, datetime], ExportRow] = {}
    times = [i for i, c in enumerate(_EXPORT_COLS) if c in _TIME_COLS]
    for row in con.execute(
        f"SELECT {', '.join(_EXPORT_COLS)} FROM exports WHERE destination = ?", [destination]
    ).fetchall():
        vals = list(row)
        for i in times:
            if vals[i] is not None:
                vals[i] = vals[i].replace(tzinfo=UTC)  # from_db, without a call per value
        e = ExportRow(**dict(zip(_EXPORT_COLS, vals, strict=True)), files_loaded=False)
        out[(e.dataset_id, e.export_time)] = e
    if files:
        load_files(con, destination, out, None)
    else:
        _load_schemas(con, destination, out)
    return out


def load_files(
    con: duckdb.DuckDBPyConnection,
    destination: str,
    exports: dict[tuple[str, datetime], ExportRow],
    keys: Collection[tuple[str, datetime]] | None,
) -> None:
    """Fill in the files (with native checksums and references) of `exports`: of all of them
    (`keys` None), or of those whose (dataset_id, export_time) is in `keys`."""
    con = con.cursor()  # its own result state: the caller's connection may hold an unfinished one
    if keys is not None:
        keys = [k for k in keys if k in exports and not exports[k].files_loaded]
        if not keys:
            return
        table = pa.table(
            {
                "dataset_id": pa.array([k[0] for k in keys], pa.string()),
                "export_time": pa.array([to_db(k[1]) for k in keys], pa.timestamp("us")),
            }
        )
        con.register("_wanted_exports", table)
        where = (
            "destination = ? AND (dataset_id, export_time) IN (SELECT (dataset_id, export_time) FROM _wanted_exports)"
        )
    else:
        where = "destination = ?"
    for e in exports.values() if keys is None else (exports[k] for k in keys):
        e.files, e.files_loaded = {}, True
    cols = [c for c in _FILE_COLS if c not in ("checksum_algo", "checksum", "checksum_source")]
    for row in con.execute(f"SELECT {', '.join(cols)} FROM files WHERE {where}", [destination]).fetchall():
        vals = dict(zip(cols, row, strict=True))
        for k, v in vals.items():
            if isinstance(v, datetime):
                vals[k] = from_db(v)
        f = FileRow(**vals)
        parent = exports.get((f.dataset_id, f.export_time))
        if parent is not None:
            parent.files[f.name] = f
    for d, t, name, algo, value, source in con.execute(
        f"SELECT dataset_id, export_time, name, algo, value, source FROM checksums WHERE {where} AND source <> 'computed'",
        [destination],
    ).fetchall():
        parent = exports.get((d, from_db(t)))  # type: ignore[arg-type]
        if parent is not None and name in parent.files:
            parent.files[name].checksums.append(Checksum(algo, value, source))
    if keys is None:
        refs = load_references(con, destination)
    else:
        refs = {
            (d, t, name): Reference(md5, crc, n, sh, src, from_db(at), run)  # type: ignore[misc]
            for d, t, name, md5, crc, n, sh, src, at, run in con.execute(
                "SELECT dataset_id, export_time, name, md5, crc32c, record_count, schema_hash, source, recorded_at, "
                f"run_id FROM file_references WHERE {where}",
                [destination],
            ).fetchall()
        }
        con.unregister("_wanted_exports")
    for (d, t, name), ref in refs.items():
        parent = exports.get((d, from_db(t)))  # type: ignore[arg-type]
        if parent is not None and name in parent.files:
            parent.files[name].reference = ref


def _load_schemas(
    con: duckdb.DuckDBPyConnection, destination: str, exports: dict[tuple[str, datetime], ExportRow]
) -> None:
    """Each export's schema, the union of its data files' (first file first, as `ExportRow.data_schema`
    merges them), without a Python object per file: one row per distinct schema of an export."""
    parsed: dict[str, dict[str, str]] = {}
    for d, t, text in con.execute(
        "SELECT dataset_id, export_time, schema_json FROM files "
        "WHERE destination = ? AND role = 'data' AND schema_json IS NOT NULL "
        "GROUP BY dataset_id, export_time, schema_json ORDER BY min(rowid)",
        [destination],
    ).fetchall():
        e = exports.get((d, from_db(t)))  # type: ignore[arg-type]
        if e is None:
            continue
        if text not in parsed:
            parsed[text] = json.loads(text)
        merged = e.schema if e.schema is not None else {}
        for k, v in parsed[text].items():
            merged.setdefault(k, v)
        e.schema = merged


def load_open_findings(
    con: duckdb.DuckDBPyConnection,
    destination: str,
    run_id: int | None,
) -> dict[tuple[str, datetime], list[Finding]]:
    """Findings of the run that last verified each export (to carry them forward unchanged)."""
    out: dict[tuple[str, datetime], list[Finding]] = {}
    rows = con.execute(
        "SELECT f.dataset_id, f.export_time, f.uri, f.code, f.severity, f.message, f.found_at, f.first_run_id "
        "FROM findings f JOIN exports e ON f.destination = e.destination AND f.dataset_id = e.dataset_id "
        "AND f.export_time = e.export_time AND f.run_id = e.run_id "
        "WHERE f.destination = ? AND f.code NOT LIKE 'dataset.%' AND f.code NOT LIKE 'flow.%' "
        # what AEP reconciliation concludes is concluded afresh every run, never carried
        "AND f.code NOT IN ('export.no_run', 'export.missing', 'export.record_count_mismatch', 'aep.unreachable')",
        [destination],
    ).fetchall()
    from verifier.findings import Severity

    for d, t, uri, code, sev, msg, found, first in rows:
        tt = from_db(t)
        assert tt is not None
        out.setdefault((d, tt), []).append(
            Finding(
                code=code,
                message=msg,
                destination=destination,
                dataset_id=d,
                export_time=tt,
                uri=uri,
                severity=Severity.parse(sev),
                found_at=from_db(found),
                extra={"first_run_id": first},
            )
        )
    return out


StreakKey = tuple[str | None, str | None, datetime | None, str]  # destination, dataset, export time, code


def streak_starts(con: duckdb.DuckDBPyConnection, run_id: int) -> dict[StreakKey, int]:
    """For the findings of `run_id`: the first run of each one's unbroken streak, as the view
    open_findings says it (its SQL, views.STREAK_CTES). A re-read at a deeper level records a
    finding anew (first_run_id = that run) without starting a new streak."""
    from verifier.catalog.views import STREAK_CTES

    rows = con.execute(
        f"WITH open AS (SELECT * FROM findings WHERE run_id = ?), {STREAK_CTES} "
        "SELECT destination, dataset_id, export_time, code, min(opened_in) FROM opened GROUP BY ALL",
        [run_id],
    ).fetchall()
    return {(d, ds, t, code): int(first) for d, ds, t, code, first in rows}


@dataclass
class SampledRunRow:
    run_id: int
    started_at: datetime | None
    destinations: list[str]
    datasets: list[str]  # empty: every dataset
    percent: float | None  # None: --budget only


def sampled_runs(con: duckdb.DuckDBPyConnection) -> list[SampledRunRow]:
    """Finished runs that sampled (--sample or --budget), oldest first, with what they covered."""
    rows = con.execute(
        "SELECT run_id, started_at, args FROM runs WHERE status IN ('completed', 'incomplete') ORDER BY run_id"
    ).fetchall()
    out = []
    for run_id, started, args in rows:
        try:
            a = json.loads(args or "{}")
        except ValueError:
            continue
        if isinstance(a, dict) and (a.get("sample") is not None or a.get("budget") is not None):
            dests, ds = list(a.get("destinations") or []), list(a.get("datasets") or [])
            pct = float(a["sample"]) if a.get("sample") is not None else None
            out.append(SampledRunRow(int(run_id), from_db(started), dests, ds, pct))
    return out
