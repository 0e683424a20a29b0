"""A reference per file version that nothing overwrites: an in-place change of the bytes stays an
open file.checksum_mismatch in every run until the file is replaced or an operator accepts it."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from fixtures.generate import generate_dataset
from tests.helpers import START, codes, do_run, later, local_config, sql
from verifier.catalog import Catalog
from verifier.catalog.db import connect
from verifier.catalog.schema import MIGRATIONS

ID = re.compile(rb"[0-9a-f]{32}")  # the _id values in the dictionary page of an uncompressed file


def _rewrite_id(path: Path, nth: int, *, keep_mtime: bool) -> None:
    """Change 8 bytes of one _id value: the file stays readable Parquet, its MD5 changes."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    at = list(ID.finditer(bytes(data)))[nth].start()
    data[at : at + 8] = bytes(b ^ 0x01 for b in data[at : at + 8])
    path.write_bytes(bytes(data))
    assert pq.read_table(io.BytesIO(bytes(data))).num_rows > 0  # both readers still read it
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    else:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 60 * 10**9))


@pytest.fixture
def flipped(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Three exports verified in full; then 8 bytes of the last export's last file changed in
    place, size and mtime kept, so that no listing can tell."""
    folder = tmp_path / "exports"
    exports = generate_dataset(
        folder, start=START, count=3, seed=21, rows_full=150, rows_incremental=50, compression="none"
    )
    config = local_config(tmp_path, folder, stale_after="3650d", compression="none")
    assert codes(do_run(config, "full")) == []
    victim = exports[-1].files[-1]
    _rewrite_id(victim, 0, keep_mtime=True)
    return config, victim


def _mismatch_run(config, hours: float, **kw) -> None:  # type: ignore[no-untyped-def]
    s = do_run(config, "metadata", now=later(hours), **kw)
    assert codes(s) == ["file.checksum_mismatch"], codes(s)
    assert s.exit_code == 2


def _reference_md5(config, victim: Path) -> str:  # type: ignore[no-untyped-def]
    rows = sql(config, "SELECT r.md5 FROM file_references r WHERE r.name = ?", [victim.name])
    assert len(rows) == 1
    return str(rows[0][0])


def test_an_in_place_change_stays_open_in_every_run_until_replaced(flipped) -> None:  # type: ignore[no-untyped-def]
    config, victim = flipped
    reference = _reference_md5(config, victim)
    assert codes(do_run(config, "metadata", now=later(1))) == []  # the listing cannot tell
    _mismatch_run(config, 2, sample=100)  # the first full read since: found
    _mismatch_run(config, 3)  # plain: carried
    _mismatch_run(config, 4, sample=100)  # read again: the reference was not overwritten
    _mismatch_run(config, 5, rescan=True)  # verified again without a full read of it
    _mismatch_run(config, 6)
    _mismatch_run(config, 7, sample=10)
    assert _reference_md5(config, victim) == reference
    msg = sql(config, "SELECT message FROM findings WHERE code = 'file.checksum_mismatch' ORDER BY run_id DESC")
    assert f"the reference {reference}" in msg[0][0] and "verifier accept" in msg[0][0]
    # replaced (its listing changes): file.changed once, its bytes the new reference, clean afterwards
    _rewrite_id(victim, 1, keep_mtime=False)
    s = do_run(config, "metadata", now=later(8))
    assert codes(s) == ["file.changed"] and s.exit_code == 2
    assert _reference_md5(config, victim) != reference
    assert codes(do_run(config, "metadata", now=later(9))) == []
    assert codes(do_run(config, "metadata", now=later(10), sample=100)) == []
    assert codes(do_run(config, "metadata", now=later(11), rescan=True)) == []


def _accept(config, *args: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    cfg = str(config.catalog_path.parent / "verifier.toml")
    return subprocess.run(
        [sys.executable, "-m", "verifier", "accept", "--config", cfg, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_accepted_bytes_become_the_reference_and_the_accept_is_recorded(flipped) -> None:  # type: ignore[no-untyped-def]
    config, victim = flipped
    old = _reference_md5(config, victim)
    _mismatch_run(config, 1, sample=100)
    uri = sql(config, "SELECT uri FROM files WHERE name = ?", [victim.name])[0][0]
    r = _accept(config, uri)
    assert r.returncode == 4 and "--reason" in r.stderr  # why is not optional
    r = _accept(config, "file:///nowhere.parquet", "--reason", "x")
    assert r.returncode == 4 and "no data file recorded" in r.stderr
    r = _accept(config, uri, "--reason", "rewritten by the vendor's repair job, ticket OPS-17", "--json")
    assert r.returncode == 0, r.stderr
    new = sql(config, "SELECT md5 FROM files WHERE name = ?", [victim.name])[0][0]
    assert [(a["name"], a["old_md5"], a["new_md5"]) for a in json.loads(r.stdout)] == [(victim.name, old, new)]
    row = sql(config, "SELECT accepted_by, reason, old_md5, new_md5, accepted_at IS NOT NULL FROM accepts")
    assert len(row) == 1 and re.fullmatch(r".+@.+", row[0][0])
    assert row[0][1:] == ("rewritten by the vendor's repair job, ticket OPS-17", old, new, True)
    assert sql(config, "SELECT md5, source FROM file_references WHERE name = ?", [victim.name]) == [(new, "accept")]
    # the next runs, plain and reading it again, are clean
    assert codes(do_run(config, "metadata", now=later(2))) == []
    assert codes(do_run(config, "metadata", now=later(3), sample=100)) == []


def test_accept_a_whole_export_and_refuse_files_never_read(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    exports = generate_dataset(folder, start=START, count=1, seed=3, rows_full=40)
    config = local_config(tmp_path, folder, stale_after="3650d")
    do_run(config, "metadata")
    spec = f"local/{exports[0].dataset_id}/{exports[0].export_time:%Y%m%d%H%M}"
    r = _accept(config, "--export", spec, "--reason", "checked by hand")
    assert r.returncode == 4 and "never read in full" in r.stderr
    assert _accept(config, "--export", "local/x", "--reason", "r").returncode == 4  # bad argument
    do_run(config, "full", now=later(1))
    r = _accept(config, "--export", spec, "--reason", "checked by hand")
    assert r.returncode == 0, r.stderr
    assert sql(config, "SELECT count(*), min(reason) FROM accepts") == [(2, "checked by hand")]


def test_migration_two_takes_the_last_full_read_as_reference(tmp_path: Path) -> None:
    """A catalog of the first schema: its recorded MD5s become references, its files count as
    seen (and read, where they were) in its latest run."""
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    for sql_text in next(m for m in MIGRATIONS if m[0] == 1)[2]:
        con.execute(sql_text)
    con.execute("CREATE TABLE schema_migrations (version INTEGER, description VARCHAR, applied_at TIMESTAMP)")
    con.execute("INSERT INTO schema_migrations VALUES (1, 'initial schema', now())")
    con.execute("INSERT INTO runs (run_id, started_at, level, status) VALUES (7, now(), 'full', 'completed')")
    con.execute(
        "INSERT INTO files (destination, dataset_id, export_time, name, role, size, md5, full_read_at) VALUES "
        "('d', 'ds', '2026-11-17 06:00', 'a.parquet', 'data', 10, 'abc', '2026-11-18'), "
        "('d', 'ds', '2026-11-17 06:00', 'b.parquet', 'data', 10, NULL, NULL)"
    )
    con.close()
    Catalog(path).create()
    with connect(path, read_only=True) as c:
        refs = c.execute("SELECT name, md5, source FROM file_references").fetchall()
        runs = c.execute("SELECT name, first_seen_run, full_read_run FROM files ORDER BY name").fetchall()
    assert refs == [("a.parquet", "abc", "full_read")]
    assert runs == [("a.parquet", 7, 7), ("b.parquet", 7, None)]


def test_accept_is_refused_while_a_run_holds_the_lock(tmp_path: Path) -> None:
    from verifier.catalog.lock import RunLock
    from verifier.catalog.references import accept
    from verifier.errors import CatalogLocked

    path = tmp_path / "c.duckdb"
    Catalog(path).create()
    with RunLock(path), pytest.raises(CatalogLocked, match="catalog is locked"):
        accept(path, reason="checked", uri="file:///x.parquet")
    with connect(path, read_only=True) as c:
        assert c.execute("SELECT count(*) FROM accepts").fetchone() == (0,)
