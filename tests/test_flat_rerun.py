"""An unchanged night is flat in the number of files: carried exports never become per-file
Python objects and their file rows are never rewritten; what changed or went is loaded and
rewritten as before (bench/million.py measures it at a million files)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from fixtures.defects import inject
from fixtures.generate import generate_dataset
from tests.helpers import START, codes, do_run, later, local_config, sql
from verifier.catalog import Catalog


@pytest.fixture
def chain(tmp_path: Path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "exports"
    exports = generate_dataset(
        folder, start=START, count=4, seed=33, rows_full=120, rows_incremental=40, extra_columns={3: "campaign"}
    )
    return folder, exports, local_config(tmp_path, folder, stale_after="3650d")


def _mark(config) -> None:  # type: ignore[no-untyped-def]
    """A value no run writes: a rewritten file row loses it (the contract columns are recomputed)."""
    con = duckdb.connect(str(config.catalog_path))
    try:
        con.execute("UPDATE files SET checksum_source = 'sentinel'")
    finally:
        con.close()


def _marked(config) -> list[tuple[str, bool]]:  # type: ignore[no-untyped-def]
    rows = sql(
        config,
        "SELECT strftime(export_time, '%Y%m%d%H%M'), bool_and(checksum_source IS NOT DISTINCT FROM 'sentinel') "
        "FROM files GROUP BY 1 ORDER BY 1",
    )
    return [(t, bool(m)) for t, m in rows]


def test_unchanged_rerun_writes_no_file_rows(chain) -> None:  # type: ignore[no-untyped-def]
    _, _, config = chain
    first = do_run(config, "metadata")
    assert codes(first) == ["dataset.schema_drift"]
    files_before = sql(config, "SELECT count(*) FROM files")[0][0]
    _mark(config)
    again = do_run(config, "metadata", now=later(1))
    assert again.destinations[0].exports_skipped == 4 and again.destinations[0].exports_checked == 0
    # the same findings (the drift is seen across carried exports, from schemas read in SQL)
    assert codes(again) == codes(first)
    assert [m for _, m in _marked(config)] == [True] * 4
    assert sql(config, "SELECT count(*) FROM files")[0][0] == files_before
    assert sql(config, "SELECT count(*), bool_and(skipped) FROM verifications WHERE run_id = 2") == [(4, True)]


def test_a_changed_export_is_rewritten_alone_from_what_the_catalog_knew(chain) -> None:  # type: ignore[no-untyped-def]
    _, exports, config = chain
    do_run(config, "metadata")
    _mark(config)
    inject(exports[2], "file_empty")
    again = do_run(config, "metadata", now=later(1))
    assert again.destinations[0].exports_checked == 1 and again.destinations[0].exports_skipped == 3
    assert codes(again) == ["dataset.schema_drift", "file.changed", "file.empty", "restore.chain_broken"]
    assert [m for _, m in _marked(config)] == [True, True, False, True]
    # its files were loaded before the check: first seen by run 1, not by tonight's
    assert sql(config, "SELECT DISTINCT first_seen_run FROM files") == [(1,)]


def test_a_vanished_export_marks_its_files(chain) -> None:  # type: ignore[no-untyped-def]
    _, exports, config = chain
    do_run(config, "listing")
    shutil.rmtree(exports[1].path)
    again = do_run(config, "listing", now=later(1))
    assert "export.vanished" in codes(again)
    t = exports[1].export_time.strftime("%Y%m%d%H%M")
    rows = sql(config, "SELECT strftime(export_time, '%Y%m%d%H%M'), status, count(*) FROM files GROUP BY 1, 2")
    assert {r[0] for r in rows if r[1] == "vanished"} == {t}
    assert sum(r[2] for r in rows if r[1] == "vanished") == len(exports[1].files) + 1  # and its manifest


def test_export_schemas_without_files_match_the_files(chain) -> None:  # type: ignore[no-untyped-def]
    _, _, config = chain
    do_run(config, "metadata")
    catalog = Catalog(config.catalog_path)
    with_files = catalog.load_exports("local", files=True)
    without = catalog.load_exports("local", files=False)
    assert with_files.keys() == without.keys()
    assert all(not e.files and not e.files_loaded for e in without.values())
    schemas = {k: e.data_schema() for k, e in with_files.items()}
    assert {k: e.data_schema() for k, e in without.items()} == schemas
    assert len({str(s) for s in schemas.values()}) == 2 and all(schemas.values())  # the drift, both sides
    # files added later are the catalog's, exactly
    key = sorted(without)[1]
    catalog.load_files("local", without, [key])
    assert without[key].files_loaded and without[key].files == with_files[key].files
    assert not any(e.files_loaded for k, e in without.items() if k != key)


def test_local_listing_is_what_fsspec_lists(tmp_path: Path) -> None:
    """LocalBackend.list (os.scandir) gives the very entries Backend.list makes of fsspec's ls."""
    from verifier.backends.base import Backend
    from verifier.backends.local import LocalBackend
    from verifier.settings import Destination

    root = tmp_path / "root"
    (root / "ds" / "exportTime=202501010000").mkdir(parents=True)
    (root / "ds" / "exportTime=202501010000" / "part-0.parquet").write_bytes(b"PAR1" * 10)
    (root / "ds" / "empty.parquet").write_bytes(b"")
    (root / "ds" / "link-file").symlink_to(root / "ds" / "exportTime=202501010000" / "part-0.parquet")
    (root / "ds" / "link-dir").symlink_to(root / "ds" / "exportTime=202501010000")
    (root / "ds" / "dangling").symlink_to(root / "nowhere")
    backend = LocalBackend(Destination(name="l", type="local", url=str(root)))

    def by_fsspec(path: str) -> list:  # type: ignore[type-arg]
        return sorted(Backend.list(backend, path), key=lambda e: e.path)

    for path in (str(root), str(root / "ds"), str(root / "ds" / "exportTime=202501010000")):
        assert sorted(backend.list(path), key=lambda e: e.path) == by_fsspec(path)
    assert len(backend.list(str(root / "ds"))) == 5
    assert backend.list(str(root / "missing")) == by_fsspec(str(root / "missing")) == []
    assert backend.list(str(root / "ds" / "empty.parquet")) == by_fsspec(str(root / "ds" / "empty.parquet")) == []
