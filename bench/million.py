"""python -m bench.million [--files 1000000] [--repeat 1]: the nightly rerun over a million files.

A destination of N tiny files in the AEP layout, `<dataset>/exportTime=YYYYMMDDHHMM/part-*.parquet`
plus a manifest per export: 50 datasets exporting every 3 hours (a large customer keeping a year),
10 entries per export (9 Parquet part files and the manifest). Every part file is a hard link of
one small real Parquet file and every manifest a hard link of one manifest listing the nine
parts with their size (no `scheduledTime`, which AEP may leave out), so 1,000,000 files take
100,000 folders, a few seconds of `os.link` and almost no disk. Generated once and cached in
`bench/data/million-<N>/` (git ignores `bench/data`).

Measured, each as its own process (wall, CPU, peak RSS; `bench.measure`):
- `verifier run --level listing` on a fresh catalog (records every export and file);
- the **unchanged rerun**: the same command again on that catalog, nothing new; with what it wrote
  to disk (`ru_oublock`), the catalog file's growth and its verification rows (one per export, the
  history the catalog keeps), against the fresh run's: an unchanged night should write what changed,
  not what exists;
- `rclone lsjson -R` on the same tree.
Targets (issue 13): rerun within 2x rclone, peak RSS under 1 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import measure
from bench.measure import Measurement

HERE = Path(__file__).resolve().parent
VERIFIER = [sys.executable, "-m", "verifier"]
DATASETS = 50
PARTS = 9  # data files per export; with the manifest, 10 entries
CADENCE = timedelta(hours=3)
FIRST = datetime(2025, 1, 1, tzinfo=UTC)  # fixed: the tree is cached, its times must not move
MTIME = datetime(2025, 1, 1, tzinfo=UTC).timestamp()  # older than any settle_time
DEST = "aep"
RERUN_TARGET = 2.0  # unchanged rerun / rclone lsjson -R, at most
RSS_TARGET_MB = 1024
LINKS_PER_SOURCE = 50_000


def log(msg: str) -> None:
    print(msg, flush=True)


def shape(files: int) -> tuple[int, int]:
    """(datasets, exports per dataset) for about `files` files, 10 a export."""
    per_export = PARTS + 1
    datasets = max(1, min(DATASETS, files // (per_export * 2)))
    exports = max(1, round(files / (datasets * per_export)))
    return datasets, exports


def dataset_id(i: int) -> str:
    return f"{0x5F1E2D3C4B5A6978 + i:016x}{i:08x}"  # 24 hex digits, as AEP's dataset ids


def build(data_dir: Path, files: int, say: Any = log) -> tuple[Path, dict[str, Any]]:
    """The cached tree for `files` files: (its root, which holds the destination folder `aep`; meta)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = data_dir / f"million-{files}"
    meta_path = base / "meta.json"
    if meta_path.exists():
        return base / "tree", json.loads(meta_path.read_text())
    datasets, exports = shape(files)
    say(f"  [million] generating {datasets} datasets x {exports} exports x {PARTS + 1} files in {base} ...")
    t0 = time.monotonic()
    tmpl = base / "template"
    tree_root = base / "tree"
    for p in (tree_root, tmpl):
        if p.exists():  # a generation cut short: start again
            shutil.rmtree(p)
    tmpl.mkdir(parents=True)
    part = tmpl / "part.parquet"
    pq.write_table(
        pa.table({"id": pa.array(range(10), pa.int64()), "name": pa.array([f"r{i}" for i in range(10)])}),
        part,
        compression="gzip",
    )
    size = part.stat().st_size
    names = [f"part-{i:05d}-{'0' * 8}-c000.gz.parquet" for i in range(PARTS)]
    manifest = tmpl / "manifest.json"
    manifest.write_text(
        json.dumps({"exportResults": [{"name": n, "size": size} for n in names]}, separators=(",", ":"))
    )
    for p in (part, manifest):
        os.utime(p, (MTIME, MTIME))
    manifest_name = "manifest-bench-0000.json"
    count = 0
    sources = {"part": part, "manifest": manifest}
    for d in range(datasets):
        ds = tree_root / DEST / dataset_id(d)
        for x in range(exports):
            t = FIRST + x * CADENCE
            folder = ds / f"exportTime={t:%Y%m%d%H%M}"
            folder.mkdir(parents=True)
            if count % LINKS_PER_SOURCE < PARTS + 1:  # ext4 allows 65,000 links to one inode: a fresh copy
                for k, src in sources.items():
                    sources[k] = src.with_name(f"{k}-{count}{src.suffix}")
                    shutil.copy2(src, sources[k])
            for n in names:
                os.link(sources["part"], folder / n)
            os.link(sources["manifest"], folder / manifest_name)
            count += PARTS + 1
    meta = {
        "files": count,
        "datasets": datasets,
        "exports_per_dataset": exports,
        "exports": datasets * exports,
        "part_bytes": size,
        "generate_s": round(time.monotonic() - t0, 1),
    }
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    say(f"  [million] {count:,} files in {meta['generate_s']:.0f}s")
    return tree_root, meta


def config(work: Path, root: Path, name: str) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    catalog = work / f"{name}.duckdb"
    for suffix in ("", ".wal", ".lock"):
        Path(f"{catalog}{suffix}").unlink(missing_ok=True)
    path = work / f"{name}.toml"
    path.write_text(
        f'[catalog]\npath = "{catalog}"\n\n[defaults]\nstale_after = "36500d"\nschedule = "3h"\n\n'
        f'[[destinations]]\nname = "{DEST}"\ntype = "local"\nurl = "{root / DEST}"\n'
    )
    return path


def _verifier(cfg: Path, files: int, label: str) -> Measurement:
    out = cfg.with_suffix(".summary.json")
    m = measure.run(
        label,
        [*VERIFIER, "--config", str(cfg), "run", "--level", "listing", "--json", str(out)],
        files=files,
        ok_codes=(0, 1),
    )
    summary = json.loads(out.read_text())
    m.extra["exit"] = m.exit_code
    m.extra["findings"] = len(summary.get("findings", []))
    m.extra["run_id"] = summary.get("run_id")
    return m


def _catalog_counts(cfg: Path, run_id: int | None) -> dict[str, int]:
    """Rows in the catalog, and the verification rows (one per export: the history) of a run."""
    import duckdb

    with duckdb.connect(str(cfg.with_suffix(".duckdb")), read_only=True) as con:

        def one(sql: str, *args: Any) -> int:
            row = con.execute(sql, list(args)).fetchone()
            return int(row[0]) if row else 0

        return {
            "file_rows": one("SELECT count(*) FROM files"),
            "export_rows": one("SELECT count(*) FROM exports"),
            "verification_rows_of_run": one("SELECT count(*) FROM verifications WHERE run_id = ?", run_id),
        }


def bench(data_dir: Path, files: int, repeat: int = 1, say: Any = log) -> dict[str, Measurement]:
    """The three measurements (fresh listing, unchanged rerun, rclone), keyed for `rows`."""
    root, meta = build(data_dir, files, say)
    n = int(meta["files"])
    work = data_dir / "work-million"
    work.mkdir(parents=True, exist_ok=True)
    cfg = config(work, root, f"million-{n}")
    r: dict[str, Measurement] = {}
    say(f"  [million] verifier listing, fresh catalog, {n:,} files ...")
    r["verifier listing"] = first = _verifier(cfg, n, "verifier listing (fresh catalog)")
    first.extra.update(_catalog_counts(cfg, first.extra["run_id"]))
    catalog = cfg.with_suffix(".duckdb")
    say(f"  [million] {first.wall_s:.1f}s, {first.peak_rss_mb:.0f} MB RSS; unchanged rerun ...")

    def rerun() -> Measurement:
        before = catalog.stat().st_size
        m = _verifier(cfg, n, "verifier unchanged rerun")
        m.extra["catalog_growth_bytes"] = catalog.stat().st_size - before
        m.extra.update(_catalog_counts(cfg, m.extra["run_id"]))
        return m

    r["verifier rerun"] = again = measure.best_of(repeat, rerun)
    say(
        f"  [million] {again.wall_s:.1f}s, {again.peak_rss_mb:.0f} MB RSS, {again.extra['written_kb']:,} KB written "
        f"(fresh: {first.extra['written_kb']:,} KB); rclone lsjson -R ..."
    )
    r["rclone lsjson"] = rc = measure.best_of(
        repeat,
        lambda: measure.run(
            "rclone lsjson -R",
            ["rclone", "--config", "/dev/null", "lsjson", "-R", "--no-mimetype", str(root / DEST)],
            files=n,
        ),
    )
    say(f"  [million] rclone {rc.wall_s:.1f}s, {rc.peak_rss_mb:.0f} MB RSS")
    for m in r.values():
        m.extra["tree"] = meta
    return r


def rows(ms: dict[str, Measurement]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows of the results table and of the targets table, in `bench.report`'s shape."""
    v, again, rc = ms.get("verifier listing"), ms.get("verifier rerun"), ms.get("rclone lsjson")
    out: list[dict[str, Any]] = []
    targets: list[dict[str, Any]] = []
    if v is None or again is None or rc is None:
        return out, targets
    store = f"local, {v.files:,} files"

    def row(label: str, m: Measurement, kind: str, target: float | None) -> dict[str, Any]:
        ratio = rc.wall_s / m.wall_s if kind == "speed" else m.wall_s / rc.wall_s
        met = None if target is None else (ratio >= target if kind == "speed" else ratio <= target)
        return {
            "store": store,
            "comparison": label,
            "verifier_s": m.wall_s,
            "peer_s": rc.wall_s,
            "ratio": round(ratio, 2),
            "kind": kind,
            "target": target,
            "met": met,
            "verifier_mb_s": 0.0,
            "verifier_files_s": round(m.files_per_s, 1),
            "verifier_rss_mb": m.peak_rss_mb,
            "peer_rss_mb": rc.peak_rss_mb,
        }

    out.append(row("listing (fresh catalog) vs rclone lsjson -R", v, "speed", None))
    rerun_row = row("unchanged rerun (listing) ÷ rclone lsjson -R", again, "time", RERUN_TARGET)
    out.append(rerun_row)
    targets.append(rerun_row)
    targets.append(
        {
            "store": store,
            "comparison": "peak RSS, unchanged rerun (MB)",
            "ratio": again.peak_rss_mb,
            "kind": "time",
            "target": RSS_TARGET_MB,
            "met": again.peak_rss_mb < RSS_TARGET_MB,
        }
    )
    return out, targets


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.million", description=__doc__)
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=1, help="unchanged reruns and rclone runs; the fastest counts")
    ap.add_argument("--data", type=Path, default=HERE / "data", help="where generated trees are cached")
    args = ap.parse_args(argv)
    ms = bench(args.data, args.files, args.repeat)
    out, targets = rows(ms)
    print(json.dumps({"measurements": {k: m.as_dict() for k, m in ms.items()}}, indent=1, default=str))
    for r in out + [t for t in targets if t not in out]:
        print(f"{r['store']} | {r['comparison']} | {r['ratio']} | target {r['target']} | met {r['met']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
