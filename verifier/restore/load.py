"""`restore --into`: load a restored chain into one table, in export order, union by name.

``PATH.duckdb`` gets a table ``dataset_<id>`` (created in one transaction); ``PATH.parquet`` gets
one Parquet file of that table (written to a temporary name, then linked into place, never
replacing an existing file). Columns added by later exports are tolerated (DuckDB's
``union_by_name``: earlier rows hold NULL there); an ``_export_time`` column (UTC) says which
export each row came from. Only the restored local files are read.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from verifier.errors import ConfigError, TerminalError

KINDS = {".duckdb": "duckdb", ".parquet": "parquet"}
EXPORT_TIME_COLUMN = "_export_time"
_FILE_COLUMN = "_verifier_source_file"
_GLOB = re.compile(r"[*?\[\]{}]")


class LoadError(TerminalError):
    """The restored files could not be loaded into the table."""


@dataclass
class LoadResult:
    path: Path
    kind: str  # duckdb | parquet
    table: str
    rows: int
    expected_records: int | None
    columns: list[str] = field(default_factory=list)
    message: str = ""


def table_name(dataset_id: str) -> str:
    """``dataset_<id>`` with anything but letters, digits and _ replaced by _."""
    return "dataset_" + re.sub(r"[^0-9A-Za-z_]", "_", dataset_id)


def _kind(into: Path) -> str:
    kind = KINDS.get(into.suffix.lower())
    if kind is None:
        raise ConfigError(f"--into {into}: use a path ending in .duckdb (a table) or .parquet (one file)")
    return kind


def check_target(into: Path, catalog_path: Path, dataset_id: str) -> None:
    """Refuse, before anything is fetched, a target that cannot or must not be written."""
    kind = _kind(into)
    if into.exists() and into.resolve() == catalog_path.resolve():
        raise ConfigError(f"--into {into}: that is the catalog; load into another DuckDB file")
    if kind == "parquet" and (into.exists() or into.is_symlink()):
        raise ConfigError(f"--into {into}: already exists; it is never overwritten — remove it or choose another path")
    if kind == "duckdb" and into.exists():
        name = table_name(dataset_id)
        try:
            con = duckdb.connect(str(into), read_only=True)
        except duckdb.Error as exc:
            raise ConfigError(f"--into {into}: cannot open it as a DuckDB database: {exc}") from None
        try:
            row = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchone()
        finally:
            con.close()
        if row and row[0]:
            raise ConfigError(
                f"--into {into}: table {name} already exists; it is never replaced — drop it or choose another file"
            )


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _select(files: list[tuple[Path, datetime]], fmt: str) -> str:
    paths = [str(p.resolve()) for p, _ in files]
    for p in paths:
        if _GLOB.search(p):
            raise LoadError(f"{p}: the path has a wildcard character, which DuckDB would expand; not loaded")
    plist = "[" + ", ".join(_lit(p) for p in paths) + "]"
    tlist = "[" + ", ".join(f"TIMESTAMP {_lit(t.strftime('%Y-%m-%d %H:%M:%S'))}" for _, t in files) + "]"
    if fmt == "json":
        source = (
            f"read_json({plist}, format='newline_delimited', union_by_name=true, hive_partitioning=false, "
            f"sample_size=-1, filename={_lit(_FILE_COLUMN)})"
        )
    else:
        source = f"read_parquet({plist}, union_by_name=true, hive_partitioning=false, filename={_lit(_FILE_COLUMN)})"
    return (
        f'SELECT * EXCLUDE ("{_FILE_COLUMN}"), MAP({plist}, {tlist})["{_FILE_COLUMN}"] AS "{EXPORT_TIME_COLUMN}" '
        f"FROM {source}"
    )


def load(
    into: Path,
    dataset_id: str,
    files: list[tuple[Path, datetime]],
    fmt: str,
    expected_records: int | None,
) -> LoadResult:
    """Load `files` (restored local paths with their export times, in chain order) into `into`."""
    kind = _kind(into)
    name = table_name(dataset_id)
    if not files:
        return LoadResult(into, kind, name, 0, expected_records, [], "the chain holds no data files; nothing loaded")
    select = _select(files, fmt)
    into.parent.mkdir(parents=True, exist_ok=True)
    try:
        if kind == "duckdb":
            rows, cols = _into_duckdb(into, name, select)
        else:
            rows, cols = _into_parquet(into, select)
    except duckdb.Error as exc:
        raise LoadError(f"could not load the restored files into {into}: {' '.join(str(exc).split())[:500]}") from None
    msg = f"{rows} rows into {name if kind == 'duckdb' else into.name}"
    if expected_records is not None and rows != expected_records:
        msg += f"; the catalog records {expected_records} — check the exports' record counts"
    return LoadResult(into, kind, name, rows, expected_records, cols, msg)


def _into_duckdb(into: Path, name: str, select: str) -> tuple[int, list[str]]:
    con = duckdb.connect(str(into))
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f'CREATE TABLE "{name}" AS {select}')
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        row = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()
        cols = [r[0] for r in con.execute(f'DESCRIBE "{name}"').fetchall()]
    finally:
        con.close()
    return int(row[0]) if row else 0, cols


def _into_parquet(into: Path, select: str) -> tuple[int, list[str]]:
    temp = into.parent / f".{into.name}.part-{secrets.token_hex(6)}"
    con = duckdb.connect()
    try:
        cols = [r[0] for r in con.execute(f"DESCRIBE {select}").fetchall()]
        row = con.execute(f"COPY ({select}) TO {_lit(str(temp))} (FORMAT parquet)").fetchone()
        try:
            os.link(temp, into)  # fails if `into` appeared meanwhile: never replaced
        except FileExistsError:
            raise LoadError(f"{into} appeared while loading; it was not overwritten") from None
        except OSError:
            if into.exists() or into.is_symlink():  # a file system without hard links: check, then rename
                raise LoadError(f"{into} appeared while loading; it was not overwritten") from None
            os.replace(temp, into)
    finally:
        con.close()
        temp.unlink(missing_ok=True)
    return int(row[0]) if row else 0, cols


def to_dict(r: LoadResult) -> dict[str, Any]:
    return {
        "path": str(r.path),
        "kind": r.kind,
        "table": r.table,
        "rows": r.rows,
        "expected_records": r.expected_records,
        "columns": r.columns,
        "export_time_column": EXPORT_TIME_COLUMN,
        "message": r.message,
    }


__all__ = ["EXPORT_TIME_COLUMN", "LoadError", "LoadResult", "check_target", "load", "table_name", "to_dict"]
