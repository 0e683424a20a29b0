"""What the isolated check path costs per file: every export of a small generated tree checked at
each level in this process and through the worker pool, one export after another, repeated; medians.

    .venv/bin/python -m bench.isolation [--repeat 7] [--jobs 1] [--json]

`python -m bench` (`make bench`) runs it with `--repeat 7 --json` and reports the rows.

The difference divided by the number of data files is the pool's cost per file (pickling the task
and its result, two pipe hops, the worker's backend lookup). Listing level never uses the pool
(no native code), so its two columns should agree. The first pooled pass, which forks the
workers, is not counted. See bench/README.md for the numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fixtures.generate import generate_dataset
from verifier.backends import make_backend
from verifier.exportcheck import ExportPlan, check_export
from verifier.layout import scan
from verifier.settings import Destination
from verifier.workers import CheckPool

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LEVELS = ("listing", "metadata", "full")


def build(root: Path) -> list[Destination]:
    start = NOW - timedelta(days=12)
    generate_dataset(root / "pq", start=start, count=12, seed=1, rows_full=2000, rows_incremental=400)
    generate_dataset(root / "js", fmt="json", start=start, count=12, seed=2, rows_full=2000, rows_incremental=400)
    return [
        Destination(name="pq", type="local", url=str(root / "pq")),
        Destination(name="js", type="local", url=str(root / "js"), format="json"),
    ]


def one_pass(dests: list[Destination], level: str, pool: CheckPool | None) -> tuple[float, int]:
    files, t0 = 0, time.perf_counter()
    for dest in dests:
        backend = make_backend(dest)
        for ds in scan(backend).datasets.values():
            for ex in ds.exports:
                out = check_export(backend, ExportPlan(ex, "full", level, None), now=NOW, run_id=1, pool=pool)
                files += out.verification.files_checked if out.verification else 0
    return time.perf_counter() - t0, files


def measure(repeat: int, jobs: int) -> list[dict[str, float | int | str]]:
    """One row per level: data files, median seconds in this process and through the pool, and the
    pool's cost per file in ms."""
    pool = CheckPool(jobs)
    rows: list[dict[str, float | int | str]] = []
    with tempfile.TemporaryDirectory(prefix="verifier-bench-iso-") as tmp:
        dests = build(Path(tmp))
        one_pass(dests, "metadata", pool)  # start the workers; warm the page cache
        for level in LEVELS:
            inproc, pooled, files = [], [], 0
            for _ in range(repeat):  # interleaved, so that load from others hits both alike
                t, files = one_pass(dests, level, None)
                inproc.append(t)
                pooled.append(one_pass(dests, level, pool)[0])
            a, b = statistics.median(inproc), statistics.median(pooled)
            rows.append(
                {
                    "level": level,
                    "files": files,
                    "in_process_s": round(a, 3),
                    "pool_s": round(b, 3),
                    "pool_cost_per_file_ms": round(1000 * (b - a) / files, 2),
                }
            )
    pool.close()
    return rows


def table(rows: list[dict[str, float | int | str]]) -> list[str]:
    out = ["| level | files | in-process s | pool s | pool cost per file ms |", "| --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        out.append(
            f"| {r['level']} | {r['files']} | {r['in_process_s']:.3f} | {r['pool_s']:.3f} | "
            f"{r['pool_cost_per_file_ms']:.2f} |"
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--jobs", type=int, default=1, help="worker processes in the pool")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = ap.parse_args()
    rows = measure(args.repeat, args.jobs)
    print(json.dumps(rows) if args.json else "\n".join(table(rows)))


if __name__ == "__main__":
    main()
