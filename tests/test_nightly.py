"""Nightly runs that remember: unchanged exports cost a listing, changes behind our back are caught."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fixtures.defects import inject
from fixtures.generate import generate_dataset
from tests.helpers import NOW, START, codes, do_run, later, local_config, sql, write_config


@pytest.fixture
def chain(tmp_path: Path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "exports"
    exports = generate_dataset(folder, start=START, count=3, seed=21, rows_full=150, rows_incremental=50)
    return folder, exports, local_config(tmp_path, folder, stale_after="3650d")


def test_second_run_over_an_unchanged_tree_reads_nothing(chain) -> None:  # type: ignore[no-untyped-def]
    _, _, config = chain
    first = do_run(config, "metadata")
    assert first.destinations[0].exports_checked == 3 and first.destinations[0].bytes_read > 0
    second = do_run(config, "metadata", now=later(1))
    d = second.destinations[0]
    assert (d.exports_checked, d.exports_skipped, d.bytes_read, d.files_checked) == (0, 3, 0, 0)
    assert second.exit_code == 0
    # a deeper level than recorded is not "unchanged": it reads
    third = do_run(config, "full", now=later(2))
    assert third.destinations[0].exports_checked == 3
    # --rescan forces it
    assert do_run(config, "listing", now=later(3), rescan=True).destinations[0].exports_checked == 3
    rows = sql(
        config,
        "SELECT run_id, count(*), sum(CASE WHEN skipped THEN 1 ELSE 0 END) FROM verifications "
        "GROUP BY run_id ORDER BY run_id",
    )
    assert rows == [(1, 3, 0), (2, 3, 3), (3, 3, 0), (4, 3, 0)]


def test_broken_export_stays_reported_while_unchanged(chain) -> None:  # type: ignore[no-untyped-def]
    _, exports, config = chain
    inject(exports[1], "parquet_truncated")
    assert codes(do_run(config, "metadata")) == ["parquet.corrupt", "restore.chain_broken"]
    again = do_run(config, "metadata", now=later(1))
    assert again.destinations[0].exports_skipped == 3
    assert codes(again) == ["parquet.corrupt", "restore.chain_broken"] and again.exit_code == 2
    first = sql(config, "SELECT DISTINCT first_run_id FROM findings WHERE code = 'parquet.corrupt'")
    assert first == [(1,)]


def test_byte_flipped_in_place_is_caught_by_the_next_full_read(chain) -> None:  # type: ignore[no-untyped-def]
    _, exports, config = chain
    assert codes(do_run(config, "full")) == []
    inject(exports[0], "flip_byte")  # same size, same mtime: the listing cannot tell
    assert codes(do_run(config, "metadata", now=later(1))) == []
    s = do_run(config, "metadata", now=later(2), sample=100)
    # the flipped byte lies in gzip-compressed pages, so decoding fails too
    assert codes(s) == ["file.checksum_mismatch", "parquet.corrupt", "restore.chain_broken"]
    assert s.findings[0].export_time == exports[0].export_time


def test_file_rewritten_with_a_new_mtime_is_reported_as_changed(chain) -> None:  # type: ignore[no-untyped-def]
    _, exports, config = chain
    assert codes(do_run(config, "full")) == []
    victim = exports[0].files[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))  # same size, new mtime
    s = do_run(config, "metadata", now=later(1))
    assert codes(s) == ["file.changed", "parquet.corrupt", "restore.chain_broken"]
    assert "MD5" in next(f.message for f in s.findings if f.code == "file.changed")


def test_vanished_file_and_export(chain) -> None:  # type: ignore[no-untyped-def]
    _, exports, config = chain
    assert codes(do_run(config, "metadata")) == []
    exports[1].files[0].unlink()
    inject(exports[2], "delete_export")
    s = do_run(config, "metadata", now=later(1))
    assert codes(s) == ["export.vanished", "file.vanished", "manifest.file_missing"]
    assert sql(config, "SELECT status FROM exports ORDER BY export_time") == [("ok",), ("failed",), ("vanished",)]
    # a vanished export is reported once, when it goes
    assert codes(do_run(config, "metadata", now=later(2))) == ["file.vanished", "manifest.file_missing"]


def test_sample_ten_percent_over_ten_nights_reads_every_file_once(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    for seed in range(4):
        generate_dataset(
            folder, start=START, count=5, seed=100 + seed, files_per_export=2, rows_full=80, rows_incremental=40
        )
    config = local_config(tmp_path, folder, stale_after="3650d")
    total = sql_total = None
    reads_per_night = []
    for night in range(10):
        s = do_run(config, "listing", now=later(24 * night), sample=10)
        assert s.exit_code == 0
        n = sql(config, "SELECT count(*) FROM files WHERE role = 'data' AND full_read_at IS NOT NULL")[0][0]
        reads_per_night.append(n)
        total = sql(config, "SELECT count(*), sum(size) FROM files WHERE role = 'data'")[0]
    assert total is not None
    sql_total = total[0]
    assert reads_per_night == sorted(reads_per_night)
    assert reads_per_night[-1] == sql_total, reads_per_night
    # each night reads about a tenth, never the same file twice while others wait
    assert reads_per_night[0] < sql_total / 5
    status = json.loads(
        json.dumps(
            [
                r
                for r in __import__("verifier.queries", fromlist=["status"]).status(
                    __import__("verifier.catalog", fromlist=["Catalog"]).Catalog(config.catalog_path)
                )
            ],
            default=str,
        )
    )
    assert all(r["full_read_pct"] == 100.0 for r in status)


def test_budget_is_a_hard_cap(chain) -> None:  # type: ignore[no-untyped-def]
    _, exports, config = chain
    smallest = min(p.stat().st_size for e in exports for p in e.files)
    s = do_run(config, "listing", budget=smallest)
    assert sql(config, "SELECT count(*) FROM files WHERE full_read_at IS NOT NULL") == [(1,)]
    assert s.destinations[0].bytes_read <= smallest + 10_000  # plus the manifests


def test_json_summary_and_prometheus_metrics_parse(chain, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, exports, config = chain
    inject(exports[1], "manifest_size_mismatch")
    metrics = tmp_path / "m" / "verifier.prom"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "verifier",
            "run",
            "--config",
            str(config.path),
            "--json",
            "-",
            "--metrics",
            str(metrics),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    summary = json.loads(r.stdout)
    assert summary["counts"]["error"] == 2
    assert summary["by_code"] == {"manifest.size_mismatch": 1, "restore.chain_broken": 1}
    assert summary["destinations"][0]["name"] == "local"
    families = {f.name: f for f in text_string_to_metric_families(metrics.read_text())}
    assert families["verifier_run_exit_status"].samples[0].value == 2
    status = [s for s in families["verifier_dataset_status"].samples if s.value == 1]
    assert [s.labels["status"] for s in status] == ["failing"]
    errs = [s for s in families["verifier_dataset_open_findings"].samples if s.labels["severity"] == "error"]
    assert [s.value for s in errs] == [2.0]
    assert families["verifier_dataset_open_findings"].documentation == (
        "Findings open now (view open_findings: recorded by the latest run that looked at the dataset), by severity"
    )


def test_auto_schedule_and_next_expected(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    from datetime import timedelta

    generate_dataset(folder, start=START, count=4, cadence=timedelta(hours=6), seed=2)
    config = local_config(tmp_path, folder, schedule="auto")
    assert codes(do_run(config, "listing", now=NOW)) == ["dataset.stale"]  # 60 h since the last, > 48 h
    from verifier import queries
    from verifier.catalog import Catalog

    (row,) = queries.status(Catalog(config.catalog_path), now=NOW)
    assert row["cadence_h"] == 6.0
    assert row["next_expected"] == START + timedelta(hours=24)
    assert row["overdue"] is True  # NOW is two days after the last 6-hourly export


def _big_tree(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    for seed in range(6):
        generate_dataset(
            folder, start=START, count=6, seed=300 + seed, files_per_export=3, rows_full=3000, rows_incremental=2000
        )
    return write_config(tmp_path, [{"name": "local", "type": "local", "url": str(folder), "stale_after": "3650d"}])


def _freeze_after_first_write(proc: subprocess.Popen[bytes], catalog: Path) -> None:
    """Run the process 20 ms at a time, frozen in between, until an export is recorded; leave it frozen.

    Deterministic however fast the run is: it can never finish between two looks. A look that finds
    the catalog held (frozen mid-write) just lets the run go on a little.
    """
    from verifier.catalog.db import connect
    from verifier.errors import CatalogError, CatalogLocked

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        os.kill(proc.pid, signal.SIGCONT)
        time.sleep(0.02)
        os.kill(proc.pid, signal.SIGSTOP)
        assert proc.poll() is None, "the run finished before it could be frozen"
        if not catalog.exists():
            continue
        try:
            with connect(catalog, read_only=True, wait_s=0) as con:  # a reader gets in while the run writes
                row = con.execute("SELECT count(*) FROM verifications").fetchone()
        except (CatalogLocked, CatalogError):
            continue
        if row and row[0] >= 1:
            return
    raise AssertionError("no export was recorded within 120 s")


def test_kill_mid_run_leaves_a_consistent_catalog_and_reads_work_during_a_run(tmp_path: Path) -> None:
    cfg = _big_tree(tmp_path)
    cmd = [sys.executable, "-m", "verifier", "run", "--level", "full", "--jobs", "1", "--config", str(cfg)]
    env = {**os.environ, "VERIFIER_FLUSH_EVERY": "2"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        _freeze_after_first_write(proc, tmp_path / "catalog.duckdb")
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=60)  # the first holds the lock
        assert second.returncode == 4 and "catalog is locked" in second.stderr
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    from verifier import config as cfgmod

    config = cfgmod.load(cfg)
    # no half-recorded export: every recorded export has all its file rows
    bad = sql(
        config,
        "SELECT e.dataset_id, e.export_time, e.file_count, count(f.name) FROM exports e "
        "LEFT JOIN files f ON f.destination = e.destination AND f.dataset_id = e.dataset_id "
        "AND f.export_time = e.export_time AND f.role = 'data' GROUP BY ALL "
        "HAVING count(f.name) <> e.file_count",
    )
    assert bad == []
    recorded = sql(config, "SELECT count(*) FROM exports")[0][0]
    assert 1 <= recorded < 36
    assert sql(config, "SELECT status FROM runs") == [("running",)]
    # the next run finishes the job
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert sql(config, "SELECT status FROM runs ORDER BY run_id") == [("killed",), ("completed",)]
    assert sql(config, "SELECT count(*) FROM exports WHERE level = 'full' AND status = 'ok'") == [(36,)]


def test_a_bug_in_one_export_check_never_stops_the_others(chain, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    _, exports, config = chain
    assert codes(do_run(config, "metadata")) == []
    from verifier import exportcheck

    real = exportcheck.check_export

    def flaky(backend, plan, **kw):  # type: ignore[no-untyped-def]
        if plan.listing.export_time == exports[1].export_time:
            raise RuntimeError("a bug")
        return real(backend, plan, **kw)

    monkeypatch.setattr(exportcheck, "check_export", flaky)
    s = do_run(config, "metadata", now=later(1), rescan=True)
    assert [(f.code, f.export_time) for f in s.findings] == [("file.unreadable", exports[1].export_time)]
    assert "RuntimeError: a bug" in s.findings[0].message
    rows = sql(config, "SELECT status, file_count FROM exports ORDER BY export_time")
    assert rows == [("ok", 2), ("unverified", 2), ("ok", 2)]  # what the catalog knew of its files is kept


def test_a_dataset_the_store_will_not_list_is_incomplete_not_vanished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "exports"
    locked = generate_dataset(folder, start=START, count=2, seed=61, rows_full=40, rows_incremental=10)
    generate_dataset(folder, start=START, count=2, seed=62, rows_full=40, rows_incremental=10)
    config = local_config(tmp_path, folder, stale_after="3650d")
    assert codes(do_run(config, "metadata")) == []
    from verifier.backends.local import LocalBackend
    from verifier.errors import StoreError

    real_list = LocalBackend.list
    denied = str(locked[0].dataset_path)

    def list_(self: LocalBackend, path: str):  # type: ignore[no-untyped-def]
        if path.rstrip("/") == denied:
            raise StoreError("PermissionError: access denied")
        return real_list(self, path)

    monkeypatch.setattr(LocalBackend, "list", list_)
    s = do_run(config, "metadata", now=later(1))
    assert [(f.code, f.dataset_id) for f in s.findings] == [("backend.unreachable", locked[0].dataset_id)]
    assert s.exit_code == 3  # incomplete: nothing is known to be broken
    assert s.destinations[0].exports_skipped == 2  # the other dataset was still looked at
    assert sql(config, "SELECT DISTINCT status FROM exports") == [("ok",)]  # nothing called vanished
