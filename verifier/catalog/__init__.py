"""The DuckDB catalog: runs, destinations, exports, files, checksums, verifications, findings."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

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
    load_open_findings,
    sampled_runs,
    write_outcomes,
)
from verifier.config import Destination
from verifier.findings import Finding

__all__ = ["Catalog", "ExportOutcome", "ExportRow", "FileRow", "RunLock", "VerificationRow"]


class Catalog:
    """A catalog file. Every method opens a connection for its own duration only, so that
    readers (`status`, `sql`, the service) get in between a run's writes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with connect(self.path):
            pass

    # -- runs ---------------------------------------------------------------------
    def start_run(self, level: str, args: dict[str, Any]) -> int:
        with connect(self.path) as con:
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
        with connect(self.path) as con:
            con.execute(
                f"UPDATE runs SET finished_at = ?, status = ?, exit_code = ?, "
                f"{', '.join(c + ' = ?' for c in cols)} WHERE run_id = ?",
                [now_utc(), status, exit_code, *(stats.get(c, 0) for c in cols), run_id],
            )

    def abandon_stale_runs(self) -> None:
        """Runs left 'running' by a killed process: mark them so. Called under the run lock."""
        with connect(self.path) as con:
            con.execute(
                "UPDATE runs SET status = 'killed', finished_at = coalesce(finished_at, ?) WHERE status = 'running'",
                [now_utc()],
            )

    def sampled_runs(self) -> list[SampledRunRow]:
        """Finished runs that sampled (--sample or --budget), oldest first (sampling.py counts them)."""
        with connect(self.path) as con:
            return sampled_runs(con)

    # -- destinations -------------------------------------------------------------
    def upsert_destination(
        self, dest: Destination, url: str, scanned_at: datetime | None, error: str | None = None
    ) -> None:
        sched = "auto" if dest.schedule is None else f"{int(dest.schedule.total_seconds() // 3600)}h"
        with connect(self.path) as con:
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
    def load_exports(self, destination: str) -> dict[tuple[str, datetime], ExportRow]:
        with connect(self.path) as con:
            return load_exports(con, destination)

    def load_open_findings(self, destination: str) -> dict[tuple[str, datetime], list[Finding]]:
        with connect(self.path) as con:
            return load_open_findings(con, destination, None)

    def write_outcomes(self, run_id: int, outcomes: Sequence[ExportOutcome]) -> None:
        """The batch in one transaction, in one short connection: each export whole or not at all."""
        if not outcomes:
            return
        with connect(self.path) as con:
            write_outcomes(con, run_id, outcomes)

    def add_findings(self, run_id: int, findings: Sequence[Finding]) -> None:
        if not findings:
            return
        with connect(self.path) as con:
            con.execute("BEGIN TRANSACTION")
            insert_findings(con, run_id, list(findings))
            con.execute("COMMIT")

    # -- reading ------------------------------------------------------------------
    def query(
        self,
        sql: str,
        params: Sequence[Any] = (),
        limit: int | None = None,
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """User SQL: read-only, sandboxed (no other file can be read or written)."""
        with connect(self.path, read_only=True, sandbox=True) as con:
            cur = con.execute(sql, list(params))
            cols = [d[0] for d in cur.description or []]
            rows = cur.fetchmany(limit) if limit else cur.fetchall()
            return cols, rows
