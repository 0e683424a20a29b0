"""The catalog's contract: the documented tables and columns, versioned migrations, clear refusals."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from verifier.catalog import Catalog
from verifier.catalog.db import connect
from verifier.catalog.schema import LATEST, MIGRATIONS
from verifier.errors import CatalogError

VERSIONS = sorted(v for v, _, _ in MIGRATIONS)
CONTRACT = {
    "runs": "run_id, started_at, finished_at, level, status, exit_code, exports_checked, files_checked, bytes_read, "
    "errors, warnings",
    "destinations": "name, type, url, format, compression, manifest_expected, last_scanned_at",
    "exports": "destination, dataset_id, export_time, uri, kind, flow_run_id, file_count, total_bytes, record_count, "
    "status, level, first_seen_at, verified_at, run_id",
    "files": "destination, dataset_id, export_time, uri, name, role, size, modified_at, etag, checksum_algo, "
    "checksum, checksum_source, record_count, schema_hash, status, verified_level, verified_at",
    "verifications": "run_id, destination, dataset_id, export_time, level, status, files_checked, bytes_read, "
    "duration_s",
    "findings": "run_id, destination, dataset_id, export_time, uri, code, severity, message, found_at",
}


def test_contract_tables_and_columns(tmp_path: Path) -> None:
    Catalog(tmp_path / "c.duckdb").create()
    con = duckdb.connect(str(tmp_path / "c.duckdb"), read_only=True)
    for table, cols in CONTRACT.items():
        have = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
        missing = [c for c in cols.split(", ") if c not in have]
        assert not missing, f"{table} lacks {missing}"
    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'exports'"
        ).fetchall()
    )
    assert types["export_time"] == "TIMESTAMP"
    assert [v for (v,) in con.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()] == VERSIONS


def test_migrations_are_applied_once(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.duckdb")
    cat.create()
    cat.create()
    with connect(cat.path, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM schema_migrations").fetchone() == (len(VERSIONS),)


def test_a_newer_catalog_is_refused_not_damaged(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.duckdb")
    cat.create()
    con = duckdb.connect(str(cat.path))
    con.execute("INSERT INTO schema_migrations VALUES (?, 'from the future', now())", [LATEST + 1])
    con.close()
    with pytest.raises(CatalogError, match="newer than this verifier"):
        cat.create()
    with pytest.raises(CatalogError, match="newer than this verifier"), connect(cat.path, read_only=True):
        pass


def test_not_a_catalog(tmp_path: Path) -> None:
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CatalogError, match="cannot open catalog"):
        Catalog(junk).create()
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()
    with pytest.raises(CatalogError, match="not a verifier catalog"), connect(other, read_only=True):
        pass
