"""Issue 15 (5, 6, 7): the catalog and its run lock resist links, directories, foreign files and
being replaced or deleted during a run; each ends with exit 4 and a precise message."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from fixtures.generate import generate_dataset
from tests.helpers import START, write_config
from verifier import config as cfgmod
from verifier import runner
from verifier.catalog import Catalog, ExportOutcome
from verifier.errors import CatalogError
from verifier.runner import Progress, RunOptions


def verifier(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "verifier", *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    generate_dataset(tmp_path / "exports", "ds1", start=START, count=2, rows_full=20, rows_incremental=5)
    dest = {"name": "local", "type": "local", "url": str(tmp_path / "exports"), "stale_after": "3650d"}
    return write_config(tmp_path, [dest])


def test_a_link_at_the_lock_path_is_not_followed(cfg: Path, tmp_path: Path) -> None:
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    lock = tmp_path / "catalog.duckdb.runlock"
    lock.symlink_to(precious)
    r = verifier("run", "--config", str(cfg))
    assert (r.returncode, r.stderr) == (
        4,
        f"verifier: {lock} is a symbolic link, where verifier keeps its run lock file; verifier will not "
        "follow it (that would overwrite its target): remove it\n",
    )
    assert precious.read_text() == "keep me\n"


def test_a_directory_at_the_lock_path_is_a_clear_error(cfg: Path, tmp_path: Path) -> None:
    lock = tmp_path / "catalog.duckdb.runlock"
    lock.mkdir()
    r = verifier("run", "--config", str(cfg))
    assert (r.returncode, r.stderr) == (
        4,
        f"verifier: {lock} is a directory, where verifier keeps its run lock file; remove it\n",
    )


class Sabotage(Progress):
    """Does something to the catalog once the run has checked its first export."""

    def __init__(self, act: Callable[[], object]) -> None:
        self.act, self.done = act, False

    def export_done(self, name: str, outcome: ExportOutcome) -> None:
        if not self.done:
            self.done = True
            self.act()


def test_a_foreign_duckdb_file_is_refused_untouched(cfg: Path, tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "catalog.duckdb")) as con:
        con.execute("CREATE TABLE orders (id INTEGER)")
    r = verifier("run", "--config", str(cfg))
    assert (r.returncode, r.stderr) == (
        4,
        f"verifier: {tmp_path / 'catalog.duckdb'} is a DuckDB database but not a verifier catalog (it has tables "
        "orders, no schema_migrations); verifier wrote nothing to it: point [catalog] path at a new file\n",
    )
    with duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True) as con:
        assert con.execute("SELECT table_name FROM information_schema.tables").fetchall() == [("orders",)]


def test_a_catalog_deleted_mid_run_stops_the_run(cfg: Path) -> None:
    config = cfgmod.load(cfg)
    path = config.catalog_path
    with pytest.raises(CatalogError) as exc:
        runner.run(config, RunOptions(level="listing"), progress=Sabotage(path.unlink))
    assert str(exc.value) == (
        f"the catalog {path} was deleted during the run; the run stopped and recorded nothing more "
        "(restore the file from a backup, or run again to start a new catalog)"
    )
    assert not path.exists()  # no new, history-less catalog made silently


def test_a_catalog_replaced_mid_run_stops_the_run(cfg: Path, tmp_path: Path) -> None:
    config = cfgmod.load(cfg)
    path, other = config.catalog_path, tmp_path / "other.duckdb"

    def replace() -> None:
        Catalog(other).create()
        os.replace(other, path)

    with pytest.raises(CatalogError) as exc:
        runner.run(config, RunOptions(level="listing"), progress=Sabotage(replace))
    assert str(exc.value) == (
        f"the catalog {path} was replaced by another file during the run; the run stopped "
        "and wrote nothing to the new file"
    )
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM exports)").fetchone() == (0, 0)


def test_a_corrupt_block_mid_run_is_a_catalog_error(cfg: Path) -> None:
    config = cfgmod.load(cfg)
    path = config.catalog_path

    def corrupt() -> None:  # every block but the first: the file opens, its tables do not read
        with path.open("r+b") as f:
            for block in range(12288 + 262144, path.stat().st_size, 262144):
                f.seek(block + 8)
                f.write(b"\xff" * 64)

    with pytest.raises(CatalogError) as exc:
        runner.run(config, RunOptions(level="listing"), progress=Sabotage(corrupt))
    text = str(exc.value)
    assert text.startswith(f"the catalog {path} is damaged (Corrupt database file: computed checksum ")
    assert "internal error" not in text
    assert text.endswith("); restore it from a backup, or move it aside to start anew")


def test_a_write_that_fails_mid_run_leaves_the_run_failed_not_running(
    cfg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A catalog write that fails during a run (a full disk) while the file stays writable: the
    run stops with a CatalogError and its row says failed, exit 4, with a finish time (issue 15:
    a run is never left `running`)."""
    import verifier.catalog as catalog_mod

    config = cfgmod.load(cfg)

    def full_disk(con: object, run_id: int, outcomes: object) -> None:
        raise duckdb.IOException("No space left on device")

    monkeypatch.setattr(catalog_mod, "write_outcomes", full_disk)
    with pytest.raises(CatalogError, match="could not be read or written: No space left on device"):
        runner.run(config, RunOptions(level="listing"))
    with duckdb.connect(str(config.catalog_path), read_only=True) as con:
        rows = con.execute("SELECT run_id, status, exit_code, finished_at IS NOT NULL FROM runs").fetchall()
    assert rows == [(1, "failed", 4, True)]
