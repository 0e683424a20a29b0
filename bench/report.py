"""Ratios verifier ÷ peer, the targets of issue 13, and the table printed and written into bench/README.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.measure import Measurement

BEGIN, END = "<!-- results -->", "<!-- /results -->"

# (label, verifier key, peer key, target, kind): kind "speed" = peer time / verifier time (>= target);
# "time" = verifier time / peer time (<= target)
COMPARISONS: list[tuple[str, str, str, float | None, str]] = [
    ("listing vs rclone lsjson -R", "verifier listing", "rclone lsjson", 0.8, "speed"),
    (
        "metadata (Parquet) vs DuckDB parquet_file_metadata()",
        "verifier metadata parquet",
        "duckdb parquet_file_metadata",
        1.0,
        "speed",
    ),
    (
        "metadata (Parquet) vs DuckDB parquet_metadata()",
        "verifier metadata parquet",
        "duckdb parquet_metadata",
        None,
        "speed",
    ),
    (
        "full (Parquet, + MD5/CRC32C) vs DuckDB scan of every column",
        "verifier full parquet",
        "duckdb parquet full scan",
        0.9,
        "speed",
    ),
    (
        "full (NDJSON, + MD5/CRC32C) vs DuckDB read_json every column",
        "verifier full json",
        "duckdb json full scan",
        0.9,
        "speed",
    ),
    ("full (all) vs pyarrow read + MD5 + decode loop", "verifier full all", "pyarrow read+md5+decode", None, "speed"),
    ("full (all) vs rclone md5sum", "verifier full all", "rclone md5sum", None, "speed"),
    ("full (all) vs cat | md5sum (read-and-hash floor)", "verifier full all", "cat | md5sum", None, "speed"),
    (
        "full (all) vs rclone cat | md5sum (read-and-hash floor)",
        "verifier full all",
        "rclone cat | md5sum",
        None,
        "speed",
    ),
    ("unchanged rerun (metadata) ÷ rclone lsjson -R", "verifier rerun unchanged", "rclone lsjson", None, "time"),
    (
        "unchanged rerun (metadata) ÷ verifier listing (fresh catalog)",
        "verifier rerun unchanged",
        "verifier listing",
        None,
        "time",
    ),
]


def ratios(
    stores: dict[str, dict[str, Measurement]], big: dict[str, Measurement], rp: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows, targets = [], []
    for store, ms in stores.items():
        for label, vkey, pkey, target, kind in COMPARISONS:
            v, p = ms.get(vkey), ms.get(pkey)
            if v is None or p is None or not v.wall_s or not p.wall_s:
                continue
            ratio = p.wall_s / v.wall_s if kind == "speed" else v.wall_s / p.wall_s
            met = None if target is None else (ratio >= target if kind == "speed" else ratio <= target)
            row = {
                "store": store,
                "comparison": label,
                "verifier_s": v.wall_s,
                "peer_s": p.wall_s,
                "ratio": round(ratio, 2),
                "kind": kind,
                "target": target,
                "met": met,
                "verifier_mb_s": round(v.mb_per_s, 1),
                "verifier_files_s": round(v.files_per_s, 1),
                "verifier_rss_mb": v.peak_rss_mb,
                "peer_rss_mb": p.peak_rss_mb,
            }
            rows.append(row)
            if target is not None:
                targets.append(row)
    if rp:
        targets.append(
            {
                "store": "catalog",
                "comparison": "restore-plan median at 1 M file rows (ms)",
                "ratio": rp["median_ms"],
                "kind": "time",
                "target": 100,
                "met": rp["median_ms"] < 100,
            }
        )
    st = (rp or {}).get("status")
    if st:
        targets.append(
            {
                "store": "catalog",
                "comparison": f"status at {st['file_rows'] / 1e6:.0f} M file rows (s)",
                "ratio": st["median_ms"] / 1000,
                "kind": "time",
                "target": 1,
                "met": st["median_ms"] < 1000,
            }
        )
    for m in big.values():
        targets.append(
            {
                "store": "local",
                "comparison": f"peak RSS, full level, one {m.bytes / 1e9:.1f} GB Parquet file (MB)",
                "ratio": m.peak_rss_mb,
                "kind": "time",
                "target": 300,
                "met": m.peak_rss_mb < 300,
            }
        )
    return rows, targets


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.2f}" if x < 100 else f"{x:.0f}"
    return "" if x is None else str(x)


def render(results: dict[str, Any]) -> str:
    m, t = results["machine"], results["tree"]
    out = [
        f"Run {results['started_at'][:19]}Z on {m['nproc']} cores ({m['cpu']}), {m['memory_mb'] / 1024:.0f} GB RAM; "
        f"Python {m['python']}, DuckDB {m['duckdb']}, pyarrow {m['pyarrow']}, {m['rclone']}, moto {m['moto']}, "
        f"s3fs {m['s3fs']}.",
        f"Tree: {t['files']} files, {t['bytes'] / 1e9:.2f} GB ({t['parquet_files']} Parquet, {t['ndjson_files']} "
        f"gzip NDJSON, the rest manifests), seed {t['seed']}. Whole `make bench`: {results.get('total_s', 0):.0f} s.",
        "",
        "| store | what | verifier s | peer s | ratio | verifier MB/s | verifier files/s | RSS MB (v / peer) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results["ratios"]:
        kind = "×" if r["kind"] == "speed" else "÷"
        out.append(
            f"| {r['store']} | {r['comparison']} | {_fmt(r['verifier_s'])} | {_fmt(r['peer_s'])} | "
            f"{kind} {r['ratio']:.2f} | {r['verifier_mb_s']:.0f} | {r['verifier_files_s']:.0f} | "
            f"{r['verifier_rss_mb']:.0f} / {r['peer_rss_mb']:.0f} |"
        )
    out += [
        "",
        "× = peer time ÷ verifier time (above 1: verifier is faster); ÷ = verifier time ÷ peer time.",
        "",
        "| target | store | value | target | met |",
        "| --- | --- | ---: | ---: | :---: |",
    ]
    for r in results["targets"]:
        sign = r.get("sign") or ("≥" if r["kind"] == "speed" else "≤" if "rerun" in r["comparison"] else "<")
        out.append(
            f"| {r['comparison']} | {r['store']} | {_fmt(r['ratio'])} | {sign} {_fmt(r['target'])} | "
            f"{'yes' if r['met'] else 'NO'} |"
        )
    iso = results.get("isolation")
    if iso:
        out += [
            "",
            "The worker pool's cost per file (`bench.isolation`: a small tree's 48 data files checked in-process "
            "and through the pool, interleaved, medians):",
            "",
            "| level | files | in-process s | pool s | pool cost per file ms |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for r in iso:
            out.append(
                f"| {r['level']} | {r['files']} | {r['in_process_s']:.3f} | {r['pool_s']:.3f} | "
                f"{r['pool_cost_per_file_ms']:.2f} |"
            )
    rp = results.get("restore_plan")
    if rp:
        out += [
            "",
            f"restore-plan: {rp['file_rows']:,} file rows, {rp['export_rows']:,} exports; a plan of "
            f"{rp['plan_files']:,} files: plan() median {rp['median_ms']} ms (best {rp['best_ms']} ms), "
            f"`verifier restore-plan --json` {rp['cli_wall_s']:.2f} s wall.",
        ]
        st = rp.get("status")
        if st:
            out.append(
                f"status: {st['file_rows']:,} file rows, {st['datasets']:,} datasets: `queries.status()` median "
                f"{st['median_ms']} ms (CPU {st['cpu_median_ms']} ms), `verifier status --json` {st['cli_wall_s']:.2f} s wall."
            )
    return "\n".join(out)


def update_readme(readme: Path, text: str) -> None:
    body = readme.read_text() if readme.exists() else f"{BEGIN}\n{END}\n"
    if BEGIN not in body or END not in body:
        body += f"\n{BEGIN}\n{END}\n"
    head, rest = body.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")
