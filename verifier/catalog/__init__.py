"""The DuckDB catalog: runs, destinations, exports, files, checksums, verifications, findings."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from verifier import redact
from verifier.catalog import db, sandbox
from verifier.catalog.db import connect, now_utc, to_db
from verifier.catalog.lock import RunLock
from verifier.catalog.records import (
    ExportOutcome,
    ExportRow,
    FileRow,
    SampledRunRow,
    VerificationRow,
    insert_findings,
    load_exports,
    load_files,
    load_open_findings,
    sampled_runs,
    streak_starts,
    write_outcomes,
)
from verifier.config import Destination
from verifier.errors import CatalogError
from verifier.findings import Finding

__all__ = ["Catalog", "ExportOutcome", "ExportRow", "FileRow", "RunLock", "VerificationRow"]


class Catalog:
    """A catalog file. Every method opens a connection for its own duration only, so that
    readers (`status`, `sql`, the service) get in between a run's writes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.identity: str | None = None  # pinned for a run: every later write checks it

    def create(self) -> None:
        self.identity = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with connect(self.path):
            pass

    def pin(self) -> None:
        """Remember which catalog this is, so that a run stops if the file is deleted or replaced."""
        with self._connect() as con:
            self.identity = db.identity(con)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if self.identity is not None and not self.path.exists():
            raise CatalogError(
                f"the catalog {self.path} was deleted during the run; the run stopped and recorded nothing more "
                "(restore the file from a backup, or run again to start a new catalog)"
            )
        try:
            with connect(self.path) as con:
                if self.identity is not None and db.identity(con) != self.identity:
                    raise CatalogError(
                        f"the catalog {self.path} was replaced by another file during the run; the run stopped "
                        "and wrote nothing to the new file"
                    )
                yield con
        except duckdb.Error as exc:  # a damaged file (a corrupt block) met mid-run, a full disk
            if "corrupt" in str(exc).lower():
                raise db.damaged(self.path, exc) from None
            raise CatalogError(
                f"the catalog {self.path} could not be read or written: {redact.scrub(str(exc))}; "
                "the file may be damaged: check the disk, restore it from a backup"
            ) from None

    # -- runs ---------------------------------------------------------------------
    def start_run(self, level: str, args: dict[str, Any]) -> int:
        with self._connect() as con:
            row = con.execute("SELECT nextval('run_id_seq')").fetchone()
            assert row
            run_id = int(row[0])
            con.execute(
                "INSERT INTO runs (run_id, started_at, level, status, pid, hostname, args) "
                "VALUES (?, ?, ?, 'running', ?, ?, ?)",
                [run_id, now_utc(), level, os.getpid(), socket.gethostname(), json.dumps(args, default=str)],
            )
        return run_id

    def finish_run(self, run_id: int, *, status: str, exit_code: int, stats: dict[str, Any]) -> None:
        cols = [
            "exports_checked",
            "files_checked",
            "bytes_read",
            "errors",
            "warnings",
            "infos",
            "exports_skipped",
            "duration_s",
        ]
        with self._connect() as con:
            con.execute(
                f"UPDATE runs SET finished_at = ?, status = ?, exit_code = ?, "
                f"{', '.join(c + ' = ?' for c in cols)} WHERE run_id = ?",
                [now_utc(), status, exit_code, *(stats.get(c, 0) for c in cols), run_id],
            )

    def abandon_stale_runs(self) -> None:
        """Runs left 'running' by a killed process: mark them so. Called under the run lock."""
        with self._connect() as con:
            con.execute(
                "UPDATE runs SET status = 'killed', finished_at = coalesce(finished_at, ?) WHERE status = 'running'",
                [now_utc()],
            )

    def sampled_runs(self) -> list[SampledRunRow]:
        """Finished runs that sampled (--sample or --budget), oldest first (sampling.py counts them)."""
        with self._connect() as con:
            return sampled_runs(con)

    def fail_running_runs(self) -> None:
        """The run stopped on a catalog error: mark it, if the catalog can still be written."""
        with self._connect() as con:
            con.execute(
                "UPDATE runs SET status = 'failed', exit_code = 4, finished_at = coalesce(finished_at, ?) "
                "WHERE status = 'running'",
                [now_utc()],
            )

    # -- destinations -------------------------------------------------------------
    def upsert_destination(
        self, dest: Destination, url: str, scanned_at: datetime | None, error: str | None = None
    ) -> None:
        sched = "auto" if dest.schedule is None else f"{int(dest.schedule.total_seconds() // 3600)}h"
        with self._connect() as con:
            con.execute("BEGIN TRANSACTION")
            con.execute("DELETE FROM destinations WHERE name = ?", [dest.name])
            con.execute(
                "INSERT INTO destinations VALUES (?,?,?,?,?,?,?,?,?,?)",
                [
                    dest.name,
                    dest.type,
                    url,
                    dest.format,
                    dest.compression,
                    dest.manifest,
                    dest.export_mode,
                    sched,
                    to_db(scanned_at),
                    error,
                ],
            )
            con.execute("COMMIT")

    # -- exports ------------------------------------------------------------------
    def load_exports(self, destination: str, *, files: bool = True) -> dict[tuple[str, datetime], ExportRow]:
        """Every export of a destination; with `files`, with their files (see `records.load_exports`)."""
        with self._connect() as con:
            return load_exports(con, destination, files=files)

    def load_files(
        self,
        destination: str,
        exports: dict[tuple[str, datetime], ExportRow],
        keys: Collection[tuple[str, datetime]],
    ) -> None:
        """Add their files to those of `exports` named by `keys` (loaded with `files=False`)."""
        with self._connect() as con:
            load_files(con, destination, exports, keys)

    def load_open_findings(self, destination: str) -> dict[tuple[str, datetime], list[Finding]]:
        with self._connect() as con:
            return load_open_findings(con, destination, None)

    def write_outcomes(self, run_id: int, outcomes: Sequence[ExportOutcome]) -> None:
        """The batch in one transaction, in one short connection: each export whole or not at all."""
        if not outcomes:
            return
        with self._connect() as con:
            write_outcomes(con, run_id, outcomes)

    def add_findings(self, run_id: int, findings: Sequence[Finding]) -> None:
        if not findings:
            return
        with self._connect() as con:
            con.execute("BEGIN TRANSACTION")
            insert_findings(con, run_id, list(findings))
            con.execute("COMMIT")

    def mark_streaks(self, run_id: int, findings: Sequence[Finding]) -> None:
        """Set each finding's extra["first_run_id"] to the first run of its streak (as open_findings
        says), so that every "new" / "open since" mark (CLI, service log, notifications) agrees."""
        with self._connect() as con:
            starts = streak_starts(con, run_id)
        for f in findings:
            first = starts.get((f.destination, f.dataset_id, to_db(f.export_time), f.code))
            if first is not None:
                f.extra["first_run_id"] = first

    # -- reading ------------------------------------------------------------------
    def query(self, sql: str, limits: sandbox.Limits | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """User SQL: read-only, sandboxed and bounded (sandbox.py); values as JSON has them."""
        ans = sandbox.query(self.path, sql, limits or sandbox.Limits())
        return ans.columns, [tuple(r) for r in ans.typed_rows()]
