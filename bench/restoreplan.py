"""`restore-plan` and `status` latency on a synthetic catalog of a million (or ten million) file rows,
written straight into DuckDB with the real schema (``verifier.catalog.db.connect`` runs the
migrations) by ``INSERT ... SELECT FROM range()``.

Shape, per ROWS file rows: ROWS / (EXPORTS x FILES) datasets (50 at 1 M, 500 at 10 M), each with
EXPORTS exports 6 hours apart (a full one, then incrementals) of FILES Parquet files, every file with
an S3 MD5 in ``checksums``. Around them, what a week of nightly ``--sample 10`` runs leaves: RUNS runs,
a verification row per export per run (carried exports are recorded every night), a third of the
files read in full (computed MD5 and CRC32C, in ``files`` and ``checksums``), and one export in a
thousand failed with a ``parquet.corrupt`` finding carried through every run (never in the dataset
whose chain is planned: that one stays intact, 20,000 files).

Catalogs are cached in ``bench/data/catalog-<rows>-v<BUILD>.duckdb`` (git ignores bench/data):
building 10 M rows takes a few minutes once.

    .venv/bin/python -m bench.restoreplan --rows 1000000 --repeat 7
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

EXPORTS, FILES = 2000, 10
START = datetime(2020, 1, 1, tzinfo=UTC)
CADENCE_H = 6
RUNS = 7
DEST = "bench-s3"
BUILD = 2  # bump when what build() writes changes: cached catalogs of another build are rebuilt
HERE = Path(__file__).resolve().parent
ROWS = 1_000_000
DATASETS = ROWS // (EXPORTS * FILES)  # at the default size (kept for callers of the 1 M case)


def dataset_id(i: int) -> str:
    return f"{i:024x}"


def datasets_for(rows: int) -> int:
    return max(1, rows // (EXPORTS * FILES))


def planned_dataset(rows: int) -> str:
    """The dataset whose whole chain is planned: the middle one (never given a failed export)."""
    return dataset_id(datasets_for(rows) // 2)


def build(path: Path, rows: int = ROWS) -> dict[str, Any]:
    from verifier.catalog.db import connect

    if path.exists():
        path.unlink()
    n_ds = datasets_for(rows)
    middle = n_ds // 2
    t0 = time.monotonic()
    start = START.replace(tzinfo=None)
    end = start + timedelta(hours=CADENCE_H * EXPORTS)
    ts = f"TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}'"
    te = f"TIMESTAMP '{end:%Y-%m-%d %H:%M:%S}'"
    # run r (1..RUNS): nightly, the last one after the last export
    run_start = f"({te} - to_days({RUNS} - r) + INTERVAL 1 HOUR)"
    with connect(path) as con:
        con.execute(
            "INSERT INTO destinations (name, type, url, format, compression, manifest_expected, export_mode, schedule) "
            "VALUES (?, 's3', 's3://bench/aep', 'parquet', 'gzip', true, 'first_full_then_incremental', '6h')",
            [DEST],
        )
        args = json.dumps({"destinations": [DEST], "datasets": [], "sample": 10, "budget": None})
        con.execute(f"""
            INSERT INTO runs (run_id, started_at, finished_at, level, status, exit_code, exports_checked,
                files_checked, args)
            SELECT r, {run_start}, {run_start} + INTERVAL 20 MINUTE, 'metadata', 'completed', 2,
                {n_ds * EXPORTS}, {n_ds * EXPORTS * FILES}, '{args}'
            FROM range(1, {RUNS + 1}) rr(r)""")
        # one export in a thousand failed (its file 3 is corrupt), never in the planned dataset
        exports = f"""
            SELECT d, e, lpad(printf('%x', d), 24, '0') AS ds,
                   {ts} + to_hours(e * {CADENCE_H}) AS t,
                   (e % 1000 = 500 AND d <> {middle}) AS bad
            FROM range({n_ds}) r1(d), range({EXPORTS}) r2(e)"""
        con.execute(f"""
            INSERT INTO exports (destination, dataset_id, export_time, uri, kind, flow_run_id, file_count,
                total_bytes, record_count, status, level, first_seen_at, verified_at, run_id, listing_hash,
                last_seen_at, newest_modified_at, export_time_raw)
            SELECT '{DEST}', ds, t, 's3://bench/aep/' || ds || '/exportTime=' || strftime(t, '%Y%m%d%H%M'),
                CASE WHEN e = 0 THEN 'full' ELSE 'incremental' END, md5(ds || e::VARCHAR), {FILES},
                {FILES} * 700000, {FILES} * 5000, CASE WHEN bad THEN 'failed' ELSE 'ok' END, 'metadata',
                t + INTERVAL 1 HOUR, t + INTERVAL 1 HOUR, {RUNS},
                md5(ds || t::VARCHAR), t + INTERVAL 1 HOUR, t + INTERVAL 5 MINUTE, strftime(t, '%Y%m%d%H%M')
            FROM ({exports})""")
        # a third of the files read in full, by one of the runs
        files = f"""
            SELECT ds, t, e, f, bad AND f = 3 AS corrupt, (e + f) % 3 = 0 AS read,
                'part-' || lpad(f::VARCHAR, 5, '0') || '-' || md5(ds || t::VARCHAR || f::VARCHAR)
                || '-c000.gz.parquet' AS name, md5(ds || t::VARCHAR || f::VARCHAR || 'data') AS sum
            FROM ({exports}), range({FILES}) r3(f)"""
        con.execute(f"""
            INSERT INTO files (destination, dataset_id, export_time, uri, name, role, size, modified_at, etag,
                checksum_algo, checksum, checksum_source, record_count, schema_hash, status, verified_level,
                verified_at, full_read_at, md5, crc32c, schema_json, first_seen_at, full_read_run, first_seen_run)
            SELECT '{DEST}', ds, t, 's3://bench/aep/' || ds || '/exportTime=' || strftime(t, '%Y%m%d%H%M') || '/'
                || name, name, 'data', 700000 + f, t + INTERVAL 5 MINUTE, sum, 'md5', sum, 'service', 5000,
                'schemahash', CASE WHEN corrupt THEN 'failed' ELSE 'ok' END,
                CASE WHEN read THEN 'full' ELSE 'metadata' END, t + INTERVAL 1 HOUR,
                CASE WHEN read THEN {te} + to_days(e % {RUNS}) - to_days({RUNS - 1}) END,
                CASE WHEN read THEN sum END, CASE WHEN read THEN left(sum, 8) END, NULL, t + INTERVAL 1 HOUR,
                CASE WHEN read THEN 1 + e % {RUNS} END, 1
            FROM ({files})""")
        con.execute(f"""
            INSERT INTO checksums (destination, dataset_id, export_time, name, algo, value, source, recorded_at)
            SELECT '{DEST}', ds, t, name, 'md5', sum, 'service', t + INTERVAL 1 HOUR FROM ({files})
            UNION ALL SELECT '{DEST}', ds, t, name, 'md5', sum, 'computed', t + INTERVAL 1 HOUR
                FROM ({files}) WHERE read
            UNION ALL SELECT '{DEST}', ds, t, name, 'crc32c', left(sum, 8), 'computed', t + INTERVAL 1 HOUR
                FROM ({files}) WHERE read""")
        con.execute(f"""
            INSERT INTO verifications (run_id, destination, dataset_id, export_time, level, status, files_checked,
                bytes_read, duration_s, skipped)
            SELECT r, '{DEST}', ds, t, 'metadata', CASE WHEN bad THEN 'failed' ELSE 'ok' END, 0, 0, 0.0, true
            FROM ({exports}), range(1, {RUNS + 1}) rr(r)""")
        con.execute(f"""
            INSERT INTO findings (run_id, destination, dataset_id, export_time, uri, code, severity, message,
                found_at, first_run_id)
            SELECT r, '{DEST}', ds, t, 's3://bench/aep/' || ds || '/exportTime=' || strftime(t, '%Y%m%d%H%M')
                || '/part-00003.gz.parquet', 'parquet.corrupt', 'error', 'bad page header in row group 0',
                {run_start}, 1
            FROM ({exports}), range(1, {RUNS + 1}) rr(r) WHERE bad""")
        con.execute("CHECKPOINT")
        row = con.execute("SELECT count(*) FROM files").fetchone()
        assert row is not None
        n_files = int(row[0])
    return {
        "file_rows": n_files,
        "export_rows": n_ds * EXPORTS,
        "datasets": n_ds,
        "build_s": round(time.monotonic() - t0, 1),
    }


def cached(data: Path, rows: int, log: Callable[[str], None] = print) -> tuple[Path, dict[str, Any]]:
    """The catalog of `rows` file rows in `data`, built once (and again when BUILD changes)."""
    data.mkdir(parents=True, exist_ok=True)
    path = data / f"catalog-{rows}-v{BUILD}.duckdb"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return path, json.loads(meta.read_text())
    log(f"  building a catalog of {rows:,} file rows in {path} ...")
    info = build(path, rows)
    meta.write_text(json.dumps(info) + "\n")
    return path, info


def write_config(folder: Path, catalog: Path, name: str = "restore-plan.toml") -> Path:
    cfg = folder / name
    cfg.write_text(
        f'[catalog]\npath = "{catalog.resolve()}"\n\n[[destinations]]\nname = "{DEST}"\ntype = "s3"\n'
        'url = "s3://bench/aep"\nschedule = "6h"\n'
    )
    return cfg


def as_of() -> datetime:
    return START + timedelta(hours=CADENCE_H * EXPORTS)  # after the last export: the longest chain


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[dict[str, Any], Any]:
    """Wall and CPU time (this process, every thread: DuckDB's too) of each call; on a machine shared
    with other work the CPU time is the steadier of the two."""
    times, cpu, last = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        last = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {
        "median_ms": round(statistics.median(times) * 1000, 1),
        "best_ms": round(min(times) * 1000, 1),
        "cpu_median_ms": round(statistics.median(cpu) * 1000, 1),
        "runs_ms": [round(t * 1000, 1) for t in times],
    }, last


def in_process(cfg: Path, repeat: int = 7, rows: int = ROWS) -> dict[str, Any]:
    """Median and best of ``repeat`` plan() calls for the middle dataset (the first call warms the OS cache)."""
    from verifier import config as cfgmod
    from verifier.restore.plan import plan

    config = cfgmod.load(cfg)
    ds = planned_dataset(rows)
    stats, p = _timed(lambda: plan(config, ds, as_of()), repeat)
    return {**stats, "plan_files": p.file_count, "intact": p.intact, "dataset": ds}


def status_in_process(cfg: Path, repeat: int = 5) -> dict[str, Any]:
    """Median and best of ``repeat`` calls of what `verifier status` asks (queries.status)."""
    from verifier import config as cfgmod
    from verifier import queries
    from verifier.catalog import Catalog

    catalog = Catalog(cfgmod.load(cfg).catalog_path)
    stats, rows = _timed(lambda: queries.status(catalog), repeat)
    return {**stats, "status_rows": len(rows)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.restoreplan", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=ROWS, help="file rows of the synthetic catalog (default 1,000,000)")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--data", type=Path, default=HERE / "data", help="where catalogs are cached")
    ap.add_argument("--what", choices=("both", "plan", "status"), default="both")
    args = ap.parse_args(argv)
    path, info = cached(args.data, args.rows)
    cfg = write_config(args.data, path, f"catalog-{args.rows}.toml")
    print(json.dumps(info))
    if args.what in ("both", "plan"):
        print("restore-plan", json.dumps(in_process(cfg, args.repeat, args.rows)))
    if args.what in ("both", "status"):
        print("status", json.dumps(status_in_process(cfg, args.repeat)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
