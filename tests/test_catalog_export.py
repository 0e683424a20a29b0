"""`verifier catalog export`: every table and view as Parquet, read back with DuckDB, row for row
counted against the catalog — to a local folder, incrementally, and to S3 (moto)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.history import History, build
from tests.servers import Store
from verifier.catalog.export import TABLES
from verifier.catalog.views import NAMES

VERIFIER = [sys.executable, "-m", "verifier"]
EVERYTHING = [*TABLES, *NAMES]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return build(tmp_path_factory.mktemp("history"))


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VERIFIER, *args], capture_output=True, text=True, timeout=120)


def catalog_counts(history: History, where: dict[str, str] | None = None) -> dict[str, int]:
    con = duckdb.connect(str(history.config.catalog_path), read_only=True)
    try:
        return {
            t: con.execute(f"SELECT count(*) FROM {t} {(where or {}).get(t, '')}").fetchone()[0]  # type: ignore[index]
            for t in EVERYTHING
        }
    finally:
        con.close()


def parquet_counts(folder: Path) -> dict[str, int]:
    con = duckdb.connect()
    return {
        t: con.execute(
            f"SELECT count(*) FROM read_parquet('{folder / t}/**/*.parquet', hive_partitioning = true)"
        ).fetchone()[0]  # type: ignore[index]
        for t in EVERYTHING
    }


def test_every_table_and_view_round_trips_to_a_local_folder(history: History, tmp_path: Path) -> None:
    target = tmp_path / "warehouse"
    r = cli("catalog", "export", "--config", str(history.config.path), str(target), "--json")
    assert r.returncode == 0, r.stderr
    written = {w["table"]: w for w in json.loads(r.stdout)}
    expected = catalog_counts(history)
    assert {t: w["rows"] for t, w in written.items()} == expected
    assert parquet_counts(target) == expected
    assert expected["files"] == 18 and expected["findings"] == 8 and expected["open_findings"] == 5
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
    }
    expected = catalog_counts(history, where)
    assert parquet_counts(target) == expected
    assert (expected["runs"], expected["exports"], expected["verifications"], expected["findings"]) == (1, 3, 3, 2)
    assert expected["files"] == 9  # night 3 recorded A's three exports, three files each


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
    assert parquet_counts(local) == catalog_counts(history)
