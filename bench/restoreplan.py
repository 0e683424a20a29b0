"""`restore-plan` latency on a catalog of a million file rows, synthesised straight into DuckDB with the
real schema (``verifier.catalog.db.connect`` runs the migrations): DATASETS datasets x EXPORTS exports
x FILES files, each export verified ok, each file with an S3 MD5 in ``checksums``."""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DATASETS, EXPORTS, FILES = 50, 2000, 10
START = datetime(2020, 1, 1, tzinfo=UTC)
CADENCE_H = 6
DEST = "bench-s3"


def dataset_id(i: int) -> str:
    return f"{i:024x}"


def build(path: Path) -> dict[str, Any]:
    from verifier.catalog.db import connect

    if path.exists():
        path.unlink()
    t0 = time.monotonic()
    start = START.replace(tzinfo=None)
    with connect(path) as con:
        con.execute(
            "INSERT INTO destinations (name, type, url, format, compression, manifest_expected, export_mode, schedule) "
            "VALUES (?, 's3', 's3://bench/aep', 'parquet', 'gzip', true, 'first_full_then_incremental', '6h')",
            [DEST],
        )
        exports = f"""
            SELECT d, e, lpad(printf('%x', d), 24, '0') AS ds,
                   TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}' + to_hours(e * {CADENCE_H}) AS t
            FROM range({DATASETS}) r1(d), range({EXPORTS}) r2(e)"""
        con.execute(f"""
            INSERT INTO exports (destination, dataset_id, export_time, uri, kind, flow_run_id, file_count,
                total_bytes, record_count, status, level, first_seen_at, verified_at, run_id, listing_hash,
                last_seen_at, newest_modified_at, export_time_raw)
            SELECT '{DEST}', ds, t, 's3://bench/aep/' || ds || '/exportTime=' || strftime(t, '%Y%m%d%H%M'),
                CASE WHEN e = 0 THEN 'full' ELSE 'incremental' END, md5(ds || e::VARCHAR), {FILES},
                {FILES} * 700000, {FILES} * 5000, 'ok', 'metadata', t + INTERVAL 1 HOUR, t + INTERVAL 1 HOUR, 1,
                md5(ds || t::VARCHAR), t + INTERVAL 1 HOUR, t + INTERVAL 5 MINUTE, strftime(t, '%Y%m%d%H%M')
            FROM ({exports})""")
        files = f"""
            SELECT ds, t, f, 'part-' || lpad(f::VARCHAR, 5, '0') || '-' || md5(ds || t::VARCHAR || f::VARCHAR)
                || '-c000.gz.parquet' AS name, md5(ds || t::VARCHAR || f::VARCHAR || 'data') AS sum
            FROM ({exports}), range({FILES}) r3(f)"""
        con.execute(f"""
            INSERT INTO files (destination, dataset_id, export_time, uri, name, role, size, modified_at, etag,
                checksum_algo, checksum, checksum_source, record_count, schema_hash, status, verified_level,
                verified_at, full_read_at, md5, crc32c, schema_json, first_seen_at)
            SELECT '{DEST}', ds, t, 's3://bench/aep/' || ds || '/exportTime=' || strftime(t, '%Y%m%d%H%M') || '/'
                || name, name, 'data', 700000 + f, t + INTERVAL 5 MINUTE, sum, 'md5', sum, 'service', 5000,
                'schemahash', 'ok', 'metadata', t + INTERVAL 1 HOUR, NULL, NULL, NULL, NULL, t + INTERVAL 1 HOUR
            FROM ({files})""")
        con.execute(f"""
            INSERT INTO checksums (destination, dataset_id, export_time, name, algo, value, source, recorded_at)
            SELECT '{DEST}', ds, t, name, 'md5', sum, 'service', t + INTERVAL 1 HOUR FROM ({files})""")
        row = con.execute("SELECT count(*) FROM files").fetchone()
        assert row is not None
        n_files = int(row[0])
    return {"file_rows": n_files, "export_rows": DATASETS * EXPORTS, "build_s": round(time.monotonic() - t0, 1)}


def write_config(folder: Path, catalog: Path) -> Path:
    cfg = folder / "restore-plan.toml"
    cfg.write_text(
        f'[catalog]\npath = "{catalog}"\n\n[[destinations]]\nname = "{DEST}"\ntype = "s3"\n'
        'url = "s3://bench/aep"\nschedule = "6h"\n'
    )
    return cfg


def as_of() -> datetime:
    from datetime import timedelta

    return START + timedelta(hours=CADENCE_H * EXPORTS)  # after the last export: the longest chain


def in_process(cfg: Path, repeat: int = 7) -> dict[str, Any]:
    """Median and best of ``repeat`` plan() calls for the middle dataset (the first call warms the OS cache)."""
    from verifier import config as cfgmod
    from verifier.restore.plan import plan

    config = cfgmod.load(cfg)
    ds = dataset_id(DATASETS // 2)
    times, files = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        p = plan(config, ds, as_of())
        times.append(time.perf_counter() - t0)
        files = p.file_count
    return {
        "median_ms": round(statistics.median(times) * 1000, 1),
        "best_ms": round(min(times) * 1000, 1),
        "runs_ms": [round(t * 1000, 1) for t in times],
        "plan_files": files,
        "dataset": ds,
    }


if __name__ == "__main__":  # python -m bench.restoreplan CONFIG: the in-process timing, for profiling
    print(in_process(Path(sys.argv[1])))
