"""Issue 13: a restore plan reads the catalog's files as columns and builds a file's object only
when it is asked for; the totals, the checksums and the first file that breaks a link are the
same as when every file was an object."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.test_restore import make_chain, write_config
from verifier import config as cfgmod
from verifier.model import Checksum
from verifier.restore.plan import plan


@pytest.fixture
def store(local_store: Any) -> Any:
    return local_store


def test_totals_come_from_the_rows_and_files_are_built_only_when_asked(tmp_path: Path, store: Any) -> None:
    c = make_chain(tmp_path, store)
    p = plan(c.config, c.dataset, c.exports[3].export_time)
    assert p.intact and len(p.links) == 4
    assert all(lk._files is None for lk in p.links)  # nothing flagged: no file object built while planning
    counts = [(lk.file_count, lk.total_bytes, lk.record_count) for lk in p.links]
    assert [lk.file_count for lk in p.links] == [2, 2, 2, 2]
    assert p.total_bytes == sum(f.stat().st_size for e in c.exports for f in e.files)
    assert p.total_records == 120 + 3 * 30
    # once built, the objects give the same totals, in name order, with every checksum recorded
    for lk, (n, nbytes, records) in zip(p.links, counts, strict=True):
        names = [f.name for f in lk.files]
        assert names == sorted(names) and len(names) == n
        assert sum(f.size for f in lk.files) == nbytes and sum(f.record_count or 0 for f in lk.files) == records
        for f in lk.files:
            assert f.checksum is not None and f.checksum.algo == "md5"
            assert len(set(f.checksums)) == len(f.checksums)
    assert p.links[0].files is p.links[0].files  # built once


def test_the_first_file_that_breaks_a_link_is_found_among_many(tmp_path: Path, store: Any) -> None:
    c = make_chain(tmp_path, store)
    catalog = tmp_path / "edited.duckdb"
    shutil.copy(c.config.catalog_path, catalog)
    t = c.exports[2].export_time.replace(tzinfo=None)
    con = duckdb.connect(str(catalog))
    # 40 more files in the third export: two of them cannot be restored, "b" first in name order
    con.execute(
        "INSERT INTO files (destination, dataset_id, export_time, uri, name, role, size, record_count, status) "
        "SELECT 'primary', ?, ?, 'file:///x/' || n, n, 'data', 10, 1, 'ok' "
        "FROM (SELECT 'zz-' || lpad(i::VARCHAR, 3, '0') AS n FROM range(40) t(i))",
        [c.dataset, t],
    )
    con.execute("UPDATE files SET status = 'failed' WHERE name = 'zz-030'")
    con.execute("UPDATE files SET name = 'zz-007' || chr(7) WHERE name = 'zz-007'")
    con.execute(
        "INSERT INTO checksums VALUES ('primary', ?, ?, 'zz-001', 'md5', 'ABCDEF', 'client', NULL), "
        "('primary', ?, ?, 'zz-001', 'crc32c', '0a0b0c0d', 'service', NULL)",
        [c.dataset, t, c.dataset, t],
    )
    con.execute("UPDATE files SET md5 = 'abcdef', crc32c = 'FFFF0000' WHERE name = 'zz-001'")
    con.close()
    (tmp_path / "edited").mkdir()
    cfg = write_config(tmp_path / "edited", [store.toml_snippet("primary", prefix="primary")], catalog)
    p = plan(cfgmod.load(cfg), c.dataset, c.exports[3].export_time)
    assert not p.intact
    third = p.links[2]
    assert third.problem is not None and "'zz-007\\x07'" in third.problem and "control characters" in third.problem
    assert third._files is None and third.file_count == 42
    assert third.total_bytes == sum(f.stat().st_size for f in c.exports[2].files) + 40 * 10
    assert p.links[3].problem is None and p.links[3]._files is None  # an intact link after it: nothing built
    by_name = {f.name: f for f in third.files}
    assert by_name["zz-007\x07"].problem is not None and by_name["zz-030"].problem is None  # the check stopped
    # the recorded checksums sorted by (algo, source), then the computed ones not already there
    assert by_name["zz-001"].checksums == [
        Checksum("crc32c", "0a0b0c0d", "service"),
        Checksum("md5", "abcdef", "client"),
        Checksum("md5", "abcdef", "computed"),
        Checksum("crc32c", "ffff0000", "computed"),
    ]
    assert by_name["zz-001"].checksum == Checksum("md5", "abcdef", "computed")
