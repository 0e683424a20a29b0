"""`verifier catalog export`: every table and view as Parquet, read back with DuckDB, row for row
counted against the catalog — to a local folder, incrementally, and to S3 (moto)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from tests.aep_world import FLOW, make_world
from tests.helpers import NOW, do_run, local_config
from tests.history import A, History, build
from tests.servers import Store
from verifier.catalog.export import TABLES
from verifier.catalog.references import accept

VERIFIER = [sys.executable, "-m", "verifier"]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return build(tmp_path_factory.mktemp("history"))


def in_catalog(path: Path) -> tuple[list[str], list[str]]:
    """The catalog's own base tables and views, as DuckDB lists them: not the exporter's list."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [
            r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT internal ORDER BY 1").fetchall()
        ]
        views = [
            r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall()
        ]
    finally:
        con.close()
    return tables, views


@pytest.fixture(scope="module")
def everything(history: History) -> list[str]:
    tables, views = in_catalog(history.config.catalog_path)
    return [*tables, *views]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VERIFIER, *args], capture_output=True, text=True, timeout=120)


def catalog_counts(path: Path, where: dict[str, str] | None = None) -> dict[str, int]:
    tables, views = in_catalog(path)
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            t: con.execute(f"SELECT count(*) FROM {t} {(where or {}).get(t, '')}").fetchone()[0]  # type: ignore[index]
            for t in [*tables, *views]
        }
    finally:
        con.close()


def parquet_counts(folder: Path) -> dict[str, int]:
    """Every folder of the export, read back: a table written but not in the catalog shows too.
    An incremental export leaves the folder of a table with nothing new empty."""
    con = duckdb.connect()
    return {
        t.name: con.execute(
            f"SELECT count(*) FROM read_parquet('{t}/**/*.parquet', hive_partitioning = true)"
        ).fetchone()[0]  # type: ignore[index]
        if any(t.rglob("*.parquet"))
        else 0
        for t in sorted(folder.iterdir())
    }


def test_the_exporter_knows_every_base_table_of_the_catalog(history: History) -> None:
    tables, views = in_catalog(history.config.catalog_path)
    assert sorted(TABLES) == tables
    assert len(tables) == 14 and len(views) == 6


def test_every_table_and_view_round_trips_to_a_local_folder(history: History, tmp_path: Path) -> None:
    target = tmp_path / "warehouse"
    r = cli("catalog", "export", "--config", str(history.config.path), str(target), "--json")
    assert r.returncode == 0, r.stderr
    written = {w["table"]: w for w in json.loads(r.stdout)}
    expected = catalog_counts(history.config.catalog_path)
    assert {t: w["rows"] for t, w in written.items()} == expected
    assert parquet_counts(target) == expected
    assert expected["files"] == 18 and expected["findings"] == 8 and expected["open_findings"] == 5
    # references: the six data files of A that night 3 read in full
    assert (expected["file_references"], expected["schema_migrations"], expected["catalog_identity"]) == (6, 7, 1)
    assert (expected["flows"], expected["flow_runs"], expected["accepts"]) == (0, 0, 0)  # no AEP here, no accept
    # per-export tables are partitioned by destination; a loader can take one destination
    assert sorted(p.name for p in (target / "files").iterdir()) == ["destination=local"]
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT dataset_id, status FROM read_parquet('{target}/dataset_health/*.parquet') ORDER BY 1"
    ).fetchall()
    assert [s for _, s in rows] == ["failing", "failing"]
    # again: a snapshot replaces the previous one, it never doubles it
    assert cli("catalog", "export", "--config", str(history.config.path), str(target)).returncode == 0
    assert parquet_counts(target) == expected


def test_since_writes_only_what_later_runs_added(history: History, tmp_path: Path) -> None:
    target = tmp_path / "warehouse"
    r = cli("catalog", "export", "--config", str(history.config.path), str(target), "--since", "2", "--json")
    assert r.returncode == 0, r.stderr
    later = "WHERE run_id > 2"
    changed = (
        "WHERE (destination, dataset_id, export_time) IN (SELECT (destination, dataset_id, export_time) "
        "FROM exports WHERE run_id > 2)"
    )
    where = {
        "runs": later,
        "exports": later,
        "verifications": later,
        "findings": later,
        "files": changed,
        "checksums": changed,
        "file_references": changed,
    }
    expected = catalog_counts(history.config.catalog_path, where)
    assert parquet_counts(target) == expected
    assert (expected["runs"], expected["exports"], expected["verifications"], expected["findings"]) == (1, 3, 3, 2)
    assert expected["files"] == 9  # night 3 recorded A's three exports, three files each
    assert expected["file_references"] == 6  # and read their six data files in full
    modes = {w["table"]: w["mode"] for w in json.loads(r.stdout)}
    appended = {"runs", "exports", "files", "checksums", "file_references", "verifications", "findings"}
    assert sorted(t for t, m in modes.items() if m == "append") == sorted(appended)
    whole = ["accepts", "catalog_identity", "destinations", "flow_runs", "flows", "notified", "schema_migrations"]
    assert sorted(t for t, m in modes.items() if m == "replace" and t in TABLES) == whole


def test_since_writes_the_references_an_accept_rewrote_after_that_run(history: History, tmp_path: Path) -> None:
    # on a copy: an accept changes the catalog the other tests read
    catalog = tmp_path / "catalog.duckdb"
    shutil.copy(history.config.catalog_path, catalog)
    cfg = tmp_path / "verifier.toml"
    cfg.write_text(f'[catalog]\npath = "{catalog}"\n')
    a17 = history.a[0].export_time
    accept(catalog, reason="checked by hand", export=("local", A, a17), who="ops@host")
    target = tmp_path / "warehouse"
    r = cli("catalog", "export", "--config", str(cfg), str(target), "--since", "3", "--json")
    assert r.returncode == 0, r.stderr
    got = parquet_counts(target)
    # nothing ran after run 3; the accept of A@17th rewrote its two references; accepts is kept whole
    assert (got["runs"], got["exports"], got["files"], got["findings"]) == (0, 0, 0, 0)
    assert (got["file_references"], got["accepts"]) == (2, 2)  # one accept row per file
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT dataset_id, export_time, source FROM read_parquet('{target}/file_references/**/*.parquet') "
        "GROUP BY ALL"
    ).fetchall()
    assert rows == [(A, a17.replace(tzinfo=None), "accept")]


def test_a_bad_target_is_a_clear_refusal(history: History, tmp_path: Path) -> None:
    r = cli("catalog", "export", "--config", str(history.config.path), "nosuch-protocol://x/y")
    assert r.returncode == 4 and "cannot write to nosuch-protocol://x/y" in r.stderr, r.stderr
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    r = cli("catalog", "export", "--config", str(history.config.path), str(blocker / "sub"))
    assert r.returncode == 4 and "cannot write the export" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_export_to_s3_with_a_configured_destination(history: History, s3_store: Store, tmp_path: Path) -> None:
    cfg = tmp_path / "verifier.toml"
    cfg.write_text(f'[catalog]\npath = "{history.config.catalog_path}"\n\n' + s3_store.toml_snippet("warehouse"))
    bucket = s3_store.root.split("/")[0]
    r = cli("catalog", "export", "--config", str(cfg), f"s3://{bucket}/catalog", "--destination", "warehouse")
    assert r.returncode == 0, r.stderr
    assert all(secret not in r.stdout + r.stderr for secret in s3_store.secrets.values())
    local = tmp_path / "downloaded"
    s3_store.fs.get(f"{bucket}/catalog/", str(local), recursive=True)
    assert parquet_counts(local) == catalog_counts(history.config.catalog_path)


def test_adobes_flows_are_exported_and_no_secret_it_echoes_reaches_the_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for w in make_world(tmp_path, monkeypatch):
        w.runs_for_exports()
        # Adobe echoing the credentials it was sent in a failed run's error
        echoed = f"Job aborted: client_secret={w.fake.client_secret} rejected by the target"
        w.fake.add_run(FLOW, NOW - timedelta(hours=6), status="failed", errors=[{"code": "E-1", "message": echoed}])
        config = local_config(tmp_path, w.folder, w.aep_toml(), flows=[FLOW], stale_after="3650d")
        do_run(config)
        target = tmp_path / "warehouse"
        r = cli("catalog", "export", "--config", str(config.path), str(target))
        assert r.returncode == 0, r.stderr
    got = parquet_counts(target)
    assert got == catalog_counts(config.catalog_path)
    # 8 successful runs (4 daily exports x 2 datasets) and the failed one
    assert (got["flows"], got["flow_runs"], got["flow_health"]) == (1, 9, 1)
    con = duckdb.connect()
    everything = "".join(
        str(con.execute(f"SELECT * FROM read_parquet('{t}/**/*.parquet', hive_partitioning = true)").fetchall())
        for t in target.iterdir()
        if any(t.rglob("*.parquet"))
    )
    assert "rejected by the target" in everything and w.fake.client_secret not in everything
