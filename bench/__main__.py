"""python -m bench [--size 2GB] [--seed 0] [--big 2GB] [--files 1000000] [--skip-s3] [--repeat N]: see bench/README.md."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import measure, million, report, restoreplan, tree
from bench.measure import Measurement
from bench.s3 import BUCKET, Moto, moto_server, upload

HERE = Path(__file__).resolve().parent
VERIFIER = [sys.executable, "-m", "verifier"]
PARQUET_DESTS = ("parquet-gzip", "parquet-plain")
JSON_DESTS = ("json-gzip",)


def log(msg: str) -> None:
    print(msg, flush=True)


class Store:
    """One place the tree lives (a local folder or moto S3), with what each tool needs to reach it."""

    def __init__(self, kind: str, root: str, meta: dict[str, Any], moto: Moto | None = None) -> None:
        self.kind, self.root, self.meta, self.moto = kind, root.rstrip("/"), meta, moto

    def url(self, dest: str) -> str:
        return f"{self.root}/{dest}"

    def duck_glob(self, dests: tuple[str, ...], pattern: str) -> list[str] | str:
        globs = [f"{self.url(d)}/*/*/{pattern}" for d in dests]
        return globs if len(globs) > 1 else globs[0]

    def rclone_path(self) -> str:
        return self.root if self.moto is None else "moto:" + self.root.removeprefix("s3://")

    def env(self) -> dict[str, str | None]:
        return (
            {}
            if self.moto is None
            else {**self.moto.rclone_env(), "BENCH_S3_KEY": self.moto.key, "BENCH_S3_SECRET": self.moto.secret}
        )

    def config(self, folder: Path, name: str, dests: tuple[str, ...]) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        catalog = folder / f"{name}.duckdb"
        for suffix in ("", ".wal", ".lock"):
            Path(f"{catalog}{suffix}").unlink(missing_ok=True)
        lines = [f'[catalog]\npath = "{catalog}"\n', '[defaults]\nstale_after = "36500d"\n']
        for d in self.meta["destinations"]:
            if d["name"] not in dests:
                continue
            lines += [
                "[[destinations]]",
                f'name = "{d["name"]}"',
                f'type = "{"local" if self.moto is None else "s3"}"',
                f'url = "{self.url(d["name"])}"',
                f'format = "{d["format"]}"',
                f'compression = "{d["compression"]}"',
                f'schedule = "{d["schedule"]}"',
            ]
            if self.moto is not None:
                lines += [
                    "[destinations.options]",
                    f'endpoint_url = "{self.moto.endpoint}"',
                    'region_name = "us-east-1"',
                    "[destinations.secrets]",
                    'key = "${BENCH_S3_KEY}"',
                    'secret = "${BENCH_S3_SECRET}"',
                ]
            lines.append("")
        path = folder / f"{name}.toml"
        path.write_text("\n".join(lines))
        return path


def counts(meta: dict[str, Any], dests: tuple[str, ...]) -> tuple[int, int]:
    """Data files and their bytes in these destinations."""
    return sum(meta["per_dest"][d]["files"] for d in dests), sum(meta["per_dest"][d]["bytes"] for d in dests)


def per_dest(root: Path) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for d in root.iterdir():
        if not d.is_dir():
            continue
        data = [p for p in d.rglob("*") if p.is_file() and not p.name.startswith("manifest-")]
        out[d.name] = {"files": len(data), "bytes": sum(p.stat().st_size for p in data)}
    return out


def data_files(root: Path, dests: tuple[str, ...]) -> list[Path]:
    return sorted(p for d in dests for p in (root / d).rglob("*") if p.is_file() and not p.name.startswith("manifest-"))


def verifier_run(
    store: Store,
    work: Path,
    name: str,
    dests: tuple[str, ...],
    level: str,
    *,
    fresh: bool = True,
    cfg: Path | None = None,
) -> tuple[Measurement, Path]:
    cfg = cfg or store.config(work, f"{store.kind}-{name}", dests)
    files, nbytes = counts(store.meta, dests)
    out = work / f"{store.kind}-{name}.json"
    m = measure.run(
        f"verifier {level}",
        [*VERIFIER, "--config", str(cfg), "run", "--level", level, "--json", str(out)],
        env=store.env(),
        files=files,
        nbytes=nbytes,
        ok_codes=(0, 1),
    )
    summary = json.loads(out.read_text())
    m.extra["exit"] = m.exit_code
    m.extra["findings"] = len(summary.get("findings", []))
    return m, cfg


def peer(store: Store, work: Path, label: str, kind: str, args: dict[str, Any], files: int, nbytes: int) -> Measurement:
    args = {**args, "s3": store.moto.creds() if store.moto else None}
    argfile = work / f"{store.kind}-{kind}.args.json"
    argfile.write_text(json.dumps(args))
    return measure.run(label, [sys.executable, "-m", "bench.peers", kind, f"@{argfile}"], files=files, nbytes=nbytes)


def bench_store(store: Store, local_root: Path, work: Path, repeat: int) -> dict[str, Measurement]:
    """Every measurement on one store; keys name them for the ratio table."""
    r: dict[str, Measurement] = {}
    all_dests = PARQUET_DESTS + JSON_DESTS
    fa, ba = counts(store.meta, all_dests)
    fp, bp = counts(store.meta, PARQUET_DESTS)
    fj, bj = counts(store.meta, JSON_DESTS)
    env = store.env()
    rclone = ["rclone", "--config", "/dev/null"]
    if store.moto is not None:
        rclone += ["--use-server-modtime", "--fast-list", "--s3-no-check-bucket"]

    def step(key: str, fn: Any) -> None:
        log(f"  [{store.kind}] {key} ...")
        try:
            r[key] = fn()
        except measure.CommandFailed as exc:
            log(f"  [{store.kind}] {key} FAILED: {exc}")
            return
        m = r[key]
        log(
            f"  [{store.kind}] {key}: {m.wall_s:.2f}s, {m.files_per_s:.0f} files/s, {m.mb_per_s:.0f} MB/s, "
            f"{m.peak_rss_mb:.0f} MB RSS"
        )

    # listing: the whole tree
    step(
        "verifier listing",
        lambda: measure.best_of(repeat, lambda: verifier_run(store, work, "listing", all_dests, "listing")[0]),
    )
    step(
        "rclone lsjson",
        lambda: measure.best_of(
            repeat,
            lambda: measure.run(
                "rclone lsjson -R",
                [*rclone, "lsjson", "-R", "--no-mimetype", store.rclone_path()],
                env=env,
                files=fa,
                nbytes=0,
            ),
        ),
    )
    # metadata: Parquet destinations against DuckDB's footer scan; NDJSON on its own (no peer reads gzip trailers)
    step(
        "verifier metadata parquet",
        lambda: measure.best_of(repeat, lambda: verifier_run(store, work, "meta-pq", PARQUET_DESTS, "metadata")[0]),
    )
    glob_pq = store.duck_glob(PARQUET_DESTS, "*.parquet")
    step(
        "duckdb parquet_file_metadata",
        lambda: measure.best_of(
            repeat,
            lambda: peer(
                store, work, "duckdb parquet_file_metadata()", "duckdb_file_metadata", {"glob": glob_pq}, fp, 0
            ),
        ),
    )
    step(
        "duckdb parquet_metadata",
        lambda: peer(store, work, "duckdb parquet_metadata()", "duckdb_metadata", {"glob": glob_pq}, fp, 0),
    )
    step("verifier metadata json", lambda: verifier_run(store, work, "meta-json", JSON_DESTS, "metadata")[0])

    # the nightly rerun: everything recorded, nothing new -> compare with a bare listing
    def rerun() -> Measurement:
        _, cfg = verifier_run(store, work, "rerun", all_dests, "metadata")
        return measure.best_of(repeat, lambda: verifier_run(store, work, "rerun", all_dests, "metadata", cfg=cfg)[0])

    step("verifier rerun unchanged", rerun)
    # full: every byte read, hashed and decoded
    step("verifier full parquet", lambda: verifier_run(store, work, "full-pq", PARQUET_DESTS, "full")[0])
    step(
        "duckdb parquet full scan",
        lambda: peer(store, work, "duckdb read_parquet every column", "duckdb_parquet_scan", {"glob": glob_pq}, fp, bp),
    )
    step("verifier full json", lambda: verifier_run(store, work, "full-json", JSON_DESTS, "full")[0])
    glob_js = store.duck_glob(JSON_DESTS, "*.json.gz")
    step(
        "duckdb json full scan",
        lambda: peer(store, work, "duckdb read_json every column", "duckdb_json_scan", {"glob": glob_js}, fj, bj),
    )
    if "verifier full parquet" in r and "verifier full json" in r:
        a, b = r["verifier full parquet"], r["verifier full json"]
        r["verifier full all"] = Measurement(
            "verifier full (parquet + json runs)",
            round(a.wall_s + b.wall_s, 3),
            round(a.cpu_s + b.cpu_s, 3),
            max(a.peak_rss_mb, b.peak_rss_mb),
            0,
            fa,
            ba,
        )
    files = [
        str(p) if store.moto is None else f"{BUCKET}/tree/{p.relative_to(local_root).as_posix()}"
        for p in data_files(local_root, all_dests)
    ]
    step(
        "pyarrow read+md5+decode",
        lambda: peer(store, work, "pyarrow read + md5 + decode loop", "pyarrow_hash", {"files": files}, fa, ba),
    )
    md5 = [*rclone, "md5sum", store.rclone_path(), "--include", "*.parquet", "--include", "*.json.gz"]
    if store.moto is not None:
        md5.insert(-4, "--download")  # else rclone prints S3's ETags and reads nothing
    step(
        "rclone md5sum",
        lambda: measure.run("rclone md5sum" + (" --download" if store.moto else ""), md5, env=env, files=fa, nbytes=ba),
    )
    if store.moto is None:
        listed = work / "local-files.txt"
        listed.write_text("\0".join(files))
        step(
            "cat | md5sum",
            lambda: measure.run(
                "cat files | md5sum", f"xargs -0 cat < {listed} | md5sum", shell=True, files=fa, nbytes=ba
            ),
        )
    else:
        step(
            "rclone cat | md5sum",
            lambda: measure.run(
                "rclone cat | md5sum",
                " ".join([*rclone, "cat", store.rclone_path(), "--include", "'*.parquet'", "--include", "'*.json.gz'"])
                + " | md5sum",
                shell=True,
                env=env,
                files=fa,
                nbytes=ba,
            ),
        )
    return r


def big_file(data_dir: Path, size: int, seed: int, work: Path) -> dict[str, Measurement]:
    root, meta = tree.build_big_file(data_dir, size, seed, log)
    cfg = work / "big.toml"
    catalog = work / "big.duckdb"
    catalog.unlink(missing_ok=True)
    cfg.write_text(
        f'[catalog]\npath = "{catalog}"\n\n[defaults]\nstale_after = "36500d"\n\n[[destinations]]\n'
        f'name = "big"\ntype = "local"\nurl = "{root / "big"}"\ncompression = "none"\n'
    )
    log(f"  [big] verifier full on one {meta['size'] / 1e9:.2f} GB Parquet file ...")
    m = measure.run(
        "verifier full, one big file",
        [*VERIFIER, "--config", str(cfg), "run", "--level", "full"],
        files=1,
        nbytes=meta["size"],
        ok_codes=(0, 1),
    )
    log(f"  [big] {m.wall_s:.1f}s, {m.mb_per_s:.0f} MB/s, peak RSS {m.peak_rss_mb:.0f} MB")
    return {"verifier full big file": m}


def restore_plan(data: Path, work: Path, status_rows: int) -> dict[str, Any]:
    """restore-plan at 1 M file rows; `verifier status` at `status_rows` (catalogs cached in `data`)."""
    catalog, built = restoreplan.cached(data, restoreplan.ROWS, log)
    cfg = restoreplan.write_config(work, catalog)
    inproc = restoreplan.in_process(cfg)
    ds = restoreplan.planned_dataset(restoreplan.ROWS)
    cli = measure.best_of(
        3,
        lambda: measure.run(
            "verifier restore-plan",
            [
                *VERIFIER,
                "--config",
                str(cfg),
                "restore-plan",
                ds,
                "--as-of",
                restoreplan.as_of().strftime("%Y-%m-%dT%H:%MZ"),
                "--json",
            ],
            ok_codes=(0, 2),
        ),
    )
    log(
        f"  [restore-plan] plan() median {inproc['median_ms']} ms over {inproc['plan_files']} files; CLI {cli.wall_s:.2f}s"
    )
    out = {**built, **inproc, "cli_wall_s": cli.wall_s, "cli_peak_rss_mb": cli.peak_rss_mb}
    if status_rows:
        scatalog, sbuilt = restoreplan.cached(data, status_rows, log)
        scfg = restoreplan.write_config(work, scatalog, "status.toml")
        st = restoreplan.status_in_process(scfg, repeat=3)
        scli = measure.best_of(
            3, lambda: measure.run("verifier status", [*VERIFIER, "--config", str(scfg), "status", "--json"])
        )
        out["status"] = {**sbuilt, **st, "cli_wall_s": scli.wall_s, "cli_peak_rss_mb": scli.peak_rss_mb}
        log(f"  [status] {status_rows:,} file rows: median {st['median_ms']} ms in-process; CLI {scli.wall_s:.2f}s")
    return out


def machine() -> dict[str, Any]:
    import duckdb
    import pyarrow

    import verifier

    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    rclone = os.popen("rclone version 2>/dev/null").readline().strip()
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        "",
    )
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_mb": mem,
        "python": platform.python_version(),
        "os": platform.platform(),
        "verifier": verifier.__version__,
        "duckdb": duckdb.__version__,
        "pyarrow": pyarrow.__version__,
        "rclone": rclone,
        "moto": __import__("moto").__version__,
        "s3fs": __import__("s3fs").__version__,
    }


def isolation_rows(repeat: int) -> list[dict[str, Any]]:
    """`bench.isolation` in a process of its own (it imports verifier and starts a worker pool)."""
    cmd = [sys.executable, "-m", "bench.isolation", "--repeat", str(repeat), "--json"]
    r = subprocess.run(cmd, cwd=HERE.parent, capture_output=True, text=True)
    if r.returncode != 0:
        log(f"  bench.isolation FAILED (exit {r.returncode}): {r.stderr.strip()[-500:]}")
        return []
    rows: list[dict[str, Any]] = json.loads(r.stdout.strip().splitlines()[-1])
    for row in rows:
        log(f"  {row['level']}: {row['pool_cost_per_file_ms']} ms per file")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--size", default="2GB", help="tree size (default 2GB; 200MB for a quick run)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--big", default=None, help="size of the one-file peak-RSS case (default: --size; 0 to skip)")
    ap.add_argument("--files", type=int, default=1_000_000, help="the million-file case's size (0 to skip)")
    ap.add_argument("--status-rows", type=int, default=10_000_000, help="file rows of the status case (0 to skip)")
    ap.add_argument("--skip-s3", action="store_true", help="local folder only")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each cheap measurement; the fastest counts")
    ap.add_argument("--data", type=Path, default=HERE / "data", help="where generated trees are cached")
    ap.add_argument(
        "--isolation-repeat", type=int, default=7, help="repeats of the worker pool's cost per file (0 to skip)"
    )
    ap.add_argument("--no-readme", action="store_true", help="do not write the table into bench/README.md")
    args = ap.parse_args(argv)
    t_start = time.monotonic()
    size = tree.parse_size(args.size)
    big = tree.parse_size(args.big) if args.big is not None else size
    log(f"bench: tree of {size / 1e9:.2f} GB (seed {args.seed}) in {args.data}")
    local_root, meta = tree.build_tree(args.data, size, args.seed, log)
    meta["per_dest"] = per_dest(local_root)
    work = args.data / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    results: dict[str, Any] = {"machine": machine(), "tree": meta, "started_at": datetime.now(UTC).isoformat()}
    stores: dict[str, dict[str, Measurement]] = {}
    log("local folder:")
    stores["local"] = bench_store(Store("local", str(local_root), meta), local_root, work, args.repeat)
    if not args.skip_s3:
        with moto_server(work) as moto:
            log("moto S3: uploading the tree ...")
            secs = upload(moto, local_root, "tree")
            results["s3_upload_s"] = round(secs, 1)
            log(f"  uploaded in {secs:.0f}s")
            stores["s3"] = bench_store(Store("s3", f"s3://{BUCKET}/tree", meta, moto), local_root, work, args.repeat)
    extra: dict[str, Measurement] = {}
    if big:
        extra = big_file(args.data, big, args.seed, work)
    log("restore-plan:")
    results["restore_plan"] = restore_plan(args.data, work, args.status_rows)
    results["measurements"] = {s: {k: m.as_dict() for k, m in ms.items()} for s, ms in stores.items()}
    results["measurements"]["big"] = {k: m.as_dict() for k, m in extra.items()}
    results["ratios"], results["targets"] = report.ratios(stores, extra, results["restore_plan"])
    if args.files:
        log(f"{args.files:,} files:")
        ms = million.bench(args.data, args.files, args.repeat, log)
        results["measurements"]["million"] = {k: m.as_dict() for k, m in ms.items()}
        rows, targets = million.rows(ms)
        results["ratios"] += rows
        results["targets"] += targets
    if args.isolation_repeat:
        log("the worker pool's cost per file (bench.isolation):")
        results["isolation"] = isolation_rows(args.isolation_repeat)
    results["total_s"] = round(time.monotonic() - t_start, 1)
    out = HERE / "results" / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(results, indent=1, default=str) + "\n")
    text = report.render(results)
    print(text)
    if not args.no_readme:
        report.update_readme(HERE / "README.md", text)
    log(f"results: {out} ({results['total_s']:.0f}s in all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
