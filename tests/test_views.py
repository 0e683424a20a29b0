"""The catalog's views, row by row, on a catalog with history (tests/history.py): three nights,
a finding fixed and back, an error open since the first night, an export that vanished."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.aep_world import RUN_DELAY
from tests.helpers import NOW, START, sql
from tests.history import A, B, History, build
from verifier import queries
from verifier.catalog import Catalog, schema
from verifier.catalog.db import connect
from verifier.catalog.views import NAMES

VERIFIER = [sys.executable, "-m", "verifier"]
D17, D18, D19 = START, START + timedelta(days=1), START + timedelta(days=2)
N1, N2, N3 = (NOW.replace(tzinfo=None) + timedelta(hours=h) for h in range(3))
d17, d18, d19 = (t.replace(tzinfo=None) for t in (D17, D18, D19))


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return build(tmp_path_factory.mktemp("history"))


def test_the_history_is_what_the_tests_below_assume(history: History) -> None:
    assert [(r.run_id, r.exit_code) for r in history.runs] == [(1, 2), (2, 2), (3, 2)]


def test_open_findings_are_those_of_the_last_run_of_each_dataset_with_since_when(history: History) -> None:
    rows = sql(
        history.config,
        "SELECT dataset_id, export_time, code, severity, first_run_id, last_run_id, found_at FROM open_findings "
        "ORDER BY ALL",
    )
    assert rows == [
        # A: night 3 looked at A only; the size mismatch came back that night (fixed on night 2)
        (A, d18, "manifest.size_mismatch", "error", 3, 3, N3),
        (A, d18, "restore.chain_broken", "error", 3, 3, N3),
        # B: its last night is night 2; the truncated file is open since night 1
        (B, d18, "export.vanished", "error", 2, 2, N2),
        (B, d18, "restore.chain_broken", "error", 2, 2, N2),
        (B, d19, "parquet.corrupt", "error", 1, 2, N1),
    ]
    since = sql(
        history.config,
        "SELECT count(*) FROM open_findings o JOIN runs r ON r.run_id = o.first_run_id WHERE o.since = r.started_at",
    )
    assert since == [(5,)]


def test_latest_exports_latest_intact_and_restorable(history: History) -> None:
    rows = sql(history.config, "SELECT * FROM latest_exports ORDER BY dataset_id")
    chain = "first_full_then_incremental"
    assert rows == [
        # A@18th is failed: the 19th is intact, but restorable only up to the 17th
        ("local", A, chain, d17, d19, "ok", d19, d17, d18),
        # B@18th vanished, B@19th failed
        ("local", B, chain, d17, d19, "failed", d17, d17, d18),
    ]


def test_dataset_health_is_what_status_shows(history: History) -> None:
    rows = sql(history.config, "SELECT * FROM dataset_health ORDER BY dataset_id")
    nxt = (D19 + timedelta(days=1)).replace(tzinfo=None)
    # destination, type, dataset_id, latest_export, last_verified, status, exports, failed_exports,
    # vanished_exports, open_errors/warnings/infos, cadence_h, next_expected, full_read_pct,
    # oldest_full_read, latest_intact_export, latest_restorable, unread_files, newest_unread_seen_run
    assert rows == [
        # A: night 3 read all six data files; A@18th failed, so restorable only up to the 17th
        ("local", "local", A, d19, N3, "failing", 3, 1, 0, 2, 0, 0, 24.0, nxt, 100.0, N3, d19, d17, 0, None),
        # B: never read in full (four data files present, first seen in run 1); B@18th vanished
        ("local", "local", B, d19, N1, "failing", 2, 1, 1, 3, 0, 0, 24.0, nxt, 0.0, None, d17, d17, 4, 1),
    ]
    shown = queries.status(Catalog(history.config.catalog_path), now=NOW)
    assert [(r["dataset_id"], r["status"], r["open_errors"], r["full_read_pct"], r["overdue"]) for r in shown] == [
        (A, "failing", 2, 100.0, False),
        (B, "failing", 3, 0.0, False),
    ]
    assert shown[0]["next_expected"] == datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    assert shown[0]["latest_restorable"] == D17


def test_export_history_every_verification_with_its_outcome(history: History) -> None:
    rows = sql(
        history.config,
        "SELECT dataset_id, export_time, run_id, level, status, skipped, files_checked, bytes_read > 0, errors, "
        "warnings, codes FROM export_history ORDER BY ALL",
    )
    broken = ["manifest.size_mismatch", "restore.chain_broken"]
    assert rows == [
        (A, d17, 1, "metadata", "ok", False, 2, True, 0, 0, []),
        (A, d17, 2, "metadata", "ok", True, 0, False, 0, 0, []),  # unchanged: not read again
        (A, d17, 3, "full", "ok", False, 2, True, 0, 0, []),
        (A, d18, 1, "metadata", "failed", False, 2, True, 2, 0, broken),
        (A, d18, 2, "metadata", "ok", False, 2, True, 0, 0, []),  # put right: verified again, nothing found
        (A, d18, 3, "full", "failed", False, 2, True, 2, 0, broken),
        (A, d19, 1, "metadata", "ok", False, 2, True, 0, 0, []),
        (A, d19, 2, "metadata", "ok", True, 0, False, 0, 0, []),
        (A, d19, 3, "full", "ok", False, 2, True, 0, 0, []),
        (B, d17, 1, "metadata", "ok", False, 2, True, 0, 0, []),
        (B, d17, 2, "metadata", "ok", True, 0, False, 0, 0, []),
        (B, d18, 1, "metadata", "ok", False, 2, True, 0, 0, []),
        (B, d18, 2, "metadata", "vanished", False, 0, False, 2, 0, ["export.vanished", "restore.chain_broken"]),
        (B, d19, 1, "metadata", "failed", False, 2, True, 1, 0, ["parquet.corrupt"]),
        (B, d19, 2, "metadata", "failed", True, 0, False, 1, 0, ["parquet.corrupt"]),  # carried, not read
    ]
    started = sql(
        history.config,
        "SELECT count(*) FROM export_history h JOIN runs r USING (run_id) WHERE h.run_started_at = r.started_at",
    )
    assert started == [(15,)]


def test_file_coverage_last_full_read_and_never_read(history: History) -> None:
    rows = sql(
        history.config,
        "SELECT dataset_id, export_time, role, status, verified_level, verified_at, last_full_read_at, never_read, "
        "md5 IS NOT NULL FROM file_coverage ORDER BY ALL",
    )
    a_read = ("full", N3, N3, False, True)  # night 3 read A fully; its manifests are not data: never read
    a_manifest = ("full", N3, None, True, False)
    b = ("metadata", N1, None, True, False)  # B was last read on night 1, at the metadata level
    assert rows == [
        *[(A, t, "data", "ok", *a_read) for t in (d17, d17)],
        (A, d17, "manifest", "ok", *a_manifest),
        *[(A, t, "data", "ok", *a_read) for t in (d18, d18)],
        (A, d18, "manifest", "ok", *a_manifest),
        *[(A, t, "data", "ok", *a_read) for t in (d19, d19)],
        (A, d19, "manifest", "ok", *a_manifest),
        (B, d17, "data", "ok", *b),
        (B, d17, "data", "ok", *b),
        (B, d17, "manifest", "ok", *b),
        (B, d18, "data", "vanished", *b),
        (B, d18, "data", "vanished", *b),
        (B, d18, "manifest", "vanished", *b),
        (B, d19, "data", "failed", *b),  # the truncated file
        (B, d19, "data", "ok", *b),
        (B, d19, "manifest", "ok", *b),
    ]
    # one row per file recorded, each file once
    assert sql(history.config, "SELECT count(*), count(DISTINCT uri) FROM file_coverage") == [(18, 18)]


def test_an_older_catalog_gets_the_views_when_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.duckdb"
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
    monkeypatch.setattr("verifier.catalog.db.MIGRATIONS", schema.MIGRATIONS[:1])
    Catalog(path).create()
    monkeypatch.undo()
    with connect(path, read_only=True) as con:
        names = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        assert names == set(NAMES)
        assert con.execute("SELECT count(*) FROM dataset_health").fetchone() == (0,)


def test_a_later_migration_that_rebuilds_a_table_keeps_the_views(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.duckdb"
    Catalog(path).create()
    rebuild = [
        "CREATE TABLE exports_new AS SELECT *, NULL::VARCHAR AS note FROM exports",
        "DROP TABLE exports",
        "ALTER TABLE exports_new RENAME TO exports",
    ]
    monkeypatch.setattr("verifier.catalog.db.MIGRATIONS", [*schema.MIGRATIONS, (99, "rebuild exports", rebuild)])
    monkeypatch.setattr("verifier.catalog.db.LATEST", 99)
    Catalog(path).create()
    con = duckdb.connect(str(path), read_only=True)
    try:
        for name in NAMES:  # each view was re-created over the new table and reads it
            assert con.execute(f"SELECT count(*) FROM {name}").fetchone() == (0,)
        assert con.execute("SELECT max(version) FROM schema_migrations").fetchone() == (99,)
    finally:
        con.close()


def test_verifier_sql_json_over_a_view_and_its_help_names_the_views(history: History) -> None:
    cfg = str(history.config.path)
    query = "SELECT dataset_id, status, open_errors, latest_restorable FROM dataset_health ORDER BY 1"
    r = subprocess.run([*VERIFIER, "--config", cfg, "sql", "--json", query], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [
        {"dataset_id": A, "status": "failing", "open_errors": 2, "latest_restorable": "2026-11-17T06:00:00Z"},
        {"dataset_id": B, "status": "failing", "open_errors": 3, "latest_restorable": "2026-11-17T06:00:00Z"},
    ]
    r = subprocess.run([*VERIFIER, "sql", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and all(f"  {name} " in r.stdout for name in NAMES), r.stdout
    # and every base table of the catalog, as DuckDB lists them
    with connect(history.config.catalog_path, read_only=True) as con:
        tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT internal").fetchall()]
    listed = r.stdout.split("Tables:", 1)[1].split("Options:", 1)[0]
    assert len(tables) == 14 and sorted(t for t in tables if f" {t}," in listed or f" {t}." in listed) == sorted(tables)


def test_a_finding_open_since_a_metadata_run_stays_so_after_a_full_reread(tmp_path: Path) -> None:
    from fixtures.defects import inject
    from fixtures.generate import generate_dataset
    from tests.helpers import do_run, local_config

    exports = generate_dataset(tmp_path / "exports", A, start=START, count=3, seed=21)
    inject(exports[2], "parquet_truncated")
    config = local_config(tmp_path, tmp_path / "exports")
    do_run(config, "metadata", now=NOW)
    do_run(config, "full", now=NOW + timedelta(hours=1))  # reads it again: recorded anew in run 2
    assert sql(config, "SELECT run_id, first_run_id FROM findings WHERE code = 'parquet.corrupt' ORDER BY 1") == [
        (1, 1),
        (2, 2),
    ]
    rows = sql(
        config,
        "SELECT o.code, o.first_run_id, o.last_run_id, o.since = r.started_at FROM open_findings o "
        "JOIN runs r ON r.run_id = 1 WHERE o.code = 'parquet.corrupt'",
    )
    assert rows == [("parquet.corrupt", 1, 2, True)]


FLOW2 = "0b9e1c2d-3f4a-4b5c-8d6e-7f8091a2b3c4"


def test_flow_health_per_dataflow_its_latest_run_and_failures_of_the_last_7_days(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.aep_world import DS_A, FLOW, make_world
    from tests.helpers import do_run, local_config

    query = "SELECT * FROM flow_health ORDER BY flow_id"
    for w in make_world(tmp_path, monkeypatch):
        w.runs_for_exports()  # eight successful runs (4 exports x 2 datasets), the last on the 20th at 06:05
        old = w.fake.add_run(FLOW, NOW - timedelta(days=8), status="failed")  # before the 7 days
        w.fake.add_flow(FLOW2, {DS_A: "Events"}, name="Paused export", state="disabled", start=START)
        config = local_config(tmp_path, w.folder, w.aep_toml(), flows=[FLOW, FLOW2], stale_after="3650d")
        do_run(config, now=NOW)
        last = sql(config, "SELECT flow_run_id FROM flow_runs WHERE flow_id = ? ORDER BY started_at DESC", [FLOW])
        n1 = NOW.replace(tzinfo=None)
        first = [
            (*("local", FLOW2, "Paused export", "disabled", None, n1), None, None, None, 0),
            (
                *("local", FLOW, "Dataset export", "enabled", None, n1),
                last[0][0],
                "success",
                d19 + timedelta(days=1) + RUN_DELAY,
                0,
            ),
        ]
        assert sql(config, query) == first
        assert len(last) == 9 and (old,) in last
        # Adobe's next run fails; the next night sees it
        failed = w.fake.add_run(FLOW, NOW + timedelta(minutes=30), status="failed")
        do_run(config, now=NOW + timedelta(hours=1))
        n2 = n1 + timedelta(hours=1)
        assert sql(config, query) == [
            (*("local", FLOW2, "Paused export", "disabled", None, n2), None, None, None, 0),
            (*("local", FLOW, "Dataset export", "enabled", None, n2), failed, "failed", n1 + timedelta(minutes=30), 1),
        ]
