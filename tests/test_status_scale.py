"""Issue 13: `status` reads one row per dataset, not one per never-read file. How many sampled runs
until every file has been read (full_coverage_in_runs) now comes from two numbers per dataset of
dataset_health's one scan of the files; it must equal the per-file answer it replaced."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from verifier import queries
from verifier.catalog import Catalog
from verifier.catalog.db import connect
from verifier.sampling import RunLedger, SampledRun, runs_to_full_coverage

T0 = datetime(2026, 11, 1)
DEST = "s3-prod"


def _catalog(tmp_path: Path) -> Catalog:
    catalog = Catalog(tmp_path / "catalog.duckdb")
    catalog.create()
    con = duckdb.connect(str(catalog.path))
    con.execute(
        "INSERT INTO destinations (name, type, url, export_mode, schedule) "
        "VALUES (?, 's3', 's3://b/aep', 'first_full_then_incremental', '24h')",
        [DEST],
    )
    # six nightly runs: 1-4 sample every dataset at 25 %, 5 only dataset "c" at 50 %, 6 does not sample
    for run_id in range(1, 7):
        args: dict[str, object] = {"destinations": [DEST], "datasets": [], "sample": 25}
        if run_id == 5:
            args = {"destinations": [DEST], "datasets": ["c"], "sample": 50}
        if run_id == 6:
            args = {"destinations": [DEST], "datasets": [], "sample": None}
        con.execute(
            "INSERT INTO runs (run_id, started_at, finished_at, level, status, args) "
            "VALUES (?, ?, ?, 'metadata', 'completed', ?)",
            [run_id, T0 + timedelta(days=run_id), T0 + timedelta(days=run_id, hours=1), json.dumps(args)],
        )
    # per dataset: (size, first_seen_run, full_read_run, status) of each data file
    files = {
        "a": [(10, 1, None, "ok"), (10, 3, None, "ok"), (10, 2, 4, "ok")],  # the one seen in run 3 decides
        "b": [(10, None, None, "ok"), (10, 1, None, "ok")],  # never counted as seen: waited none
        "c": [(10, 2, None, "ok"), (0, 5, None, "ok")],  # a zero-byte file counts as read
        "d": [(10, 1, 2, "ok"), (10, 1, None, "vanished")],  # everything present was read
        "e": [(0, 1, None, "ok")],  # nothing with bytes
    }
    for ds, rows in files.items():
        t = T0 + timedelta(days=1)
        con.execute(
            "INSERT INTO exports (destination, dataset_id, export_time, status, kind) VALUES (?, ?, ?, 'ok', 'full')",
            [DEST, ds, t],
        )
        for i, (size, seen, read, status) in enumerate(rows):
            con.execute(
                "INSERT INTO files (destination, dataset_id, export_time, name, role, size, status, "
                "first_seen_run, full_read_run, full_read_at) VALUES (?, ?, ?, ?, 'data', ?, ?, ?, ?, ?)",
                [DEST, ds, t, f"part-{i}.parquet", size, status, seen, read, t if read else None],
            )
    con.close()
    return catalog


def _per_file(catalog: Catalog) -> dict[str, int | None]:
    """The answer as it was computed before: every never-read file's wait, one Python row each."""
    with connect(catalog.path, read_only=True) as con:
        runs = queries.sampled_runs(con)
        ledger = RunLedger(SampledRun(r.run_id, frozenset(r.destinations), frozenset(r.datasets)) for r in runs)
        waits: dict[str, list[int]] = {}
        for d, ds, seen in con.execute(
            "SELECT destination, dataset_id, first_seen_run FROM files WHERE role = 'data' AND size > 0 "
            "AND status <> 'vanished' AND full_read_run IS NULL"
        ).fetchall():
            waits.setdefault(ds, []).append(ledger.waited(d, ds, seen, inclusive=True))
        datasets = [r[0] for r in con.execute("SELECT DISTINCT dataset_id FROM exports").fetchall()]
    out: dict[str, int | None] = {}
    for ds in datasets:
        mine = [r for r in runs if DEST in r.destinations and (not r.datasets or ds in r.datasets)]
        out[ds] = runs_to_full_coverage(waits.get(ds, []), mine[-1].percent if mine else None)
    return out


def test_full_coverage_in_runs_is_the_per_file_answer(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path)
    rows = {r["dataset_id"]: r for r in queries.status(catalog, now=datetime(2026, 11, 10, tzinfo=UTC))}
    got = {ds: r["full_coverage_in_runs"] for ds, r in rows.items()}
    assert got == _per_file(catalog)
    # a: period 4 at 25 %; the file first seen in run 3 has waited runs 3 and 4: 2 more.
    # b: a file never counted as seen has waited nothing: 4. c: run 5 samples it at 50 %: period 2,
    # its file seen in run 2 has waited 2, 3, 4, 5: 1 (never less than one). d, e: all read.
    assert got == {"a": 2, "b": 4, "c": 1, "d": 0, "e": 0}
    assert {ds: (r["unread_files"], r["newest_unread_seen_run"]) for ds, r in rows.items()} == {
        "a": (2, 3),
        "b": (2, None),
        "c": (1, 2),
        "d": (0, None),
        "e": (0, None),
    }
    assert rows["a"]["full_coverage_by"] is not None and rows["d"]["full_coverage_by"] is None
    # the two numbers status takes from dataset_health's one scan are those of the never-read files
    assert {ds: (r["unread_files"], r["newest_unread_seen_run"]) for ds, r in rows.items()} == _unread(catalog)


def _unread(catalog: Catalog) -> dict[str, tuple[int, int | None]]:
    """Per dataset, from its files one by one: how many data files with bytes were never read in
    full, and the run the newest of them was first seen in (None if one was never counted as seen)."""
    with connect(catalog.path, read_only=True) as con:
        files = con.execute(
            "SELECT dataset_id, first_seen_run FROM files WHERE role = 'data' AND size > 0 "
            "AND status <> 'vanished' AND full_read_run IS NULL"
        ).fetchall()
        datasets = [r[0] for r in con.execute("SELECT DISTINCT dataset_id FROM exports").fetchall()]
    out: dict[str, tuple[int, int | None]] = {}
    for ds in datasets:
        seen = [s for d, s in files if d == ds]
        out[ds] = (len(seen), None if not seen or None in seen else max(seen))
    return out
