"""The benchmark's export tree: a few thousand Parquet and NDJSON files, cached by size and seed.

Built with the fixtures generator (``generate_dataset``), shaped like a real destination: several
datasets per format, a full export then incrementals, each export split over many part files
(AEP writes one file per Spark task). Plus one big Parquet file, alone in its own destination,
for the peak-memory target.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from fixtures import generate as gen
from fixtures import xdm

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)  # fixed: the tree is cached, its times must not move
AVG_FILE_BYTES = 700_000  # ~3000 files in 2 GB, the size of a Spark task's part file for a mid-size dataset
MIN_FILES, MAX_FILES = 200, 4000


@dataclass(frozen=True)
class Profile:
    name: str  # the destination folder (and config entry)
    fmt: str
    compression: str
    cadence: timedelta
    datasets: int
    count: int  # exports per dataset: one full, the rest incremental
    share: float  # of the bytes and of the files


PROFILES = (
    Profile("parquet-gzip", "parquet", "gzip", timedelta(hours=24), 4, 12, 0.40),
    Profile("parquet-plain", "parquet", "none", timedelta(hours=12), 2, 12, 0.35),
    Profile("json-gzip", "json", "gzip", timedelta(hours=6), 2, 16, 0.25),
)
FULL_FACTOR = gen.FULL_FACTOR  # a full export holds this many incrementals' worth of rows and files


def parse_size(text: str) -> int:
    units = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
    t = text.strip().upper()
    num = t.rstrip("KMGIB")
    unit = t[len(num) :]
    if unit not in units:
        raise ValueError(f"bad size {text!r}: use e.g. 200MB, 2GB")
    return int(float(num) * units[unit])


def tree_dir(data_dir: Path, size: int, seed: int) -> Path:
    return data_dir / f"tree-{size // 10**6}MB-seed{seed}"


def build_tree(data_dir: Path, size: int, seed: int, log: Any = print) -> tuple[Path, dict[str, Any]]:
    """The tree for (size, seed), generated once and reused; returns its folder and description."""
    root = tree_dir(data_dir, size, seed)
    meta_path = root / "tree.json"
    if meta_path.exists():
        return root, json.loads(meta_path.read_text())
    if root.exists():
        shutil.rmtree(root)  # an interrupted generation
    tmp = root.with_name(root.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    t0 = time.monotonic()
    files_total = max(MIN_FILES, min(MAX_FILES, size // AVG_FILE_BYTES))
    dests = []
    for p_index, prof in enumerate(PROFILES):
        level = gen.FAST_GZIP_LEVEL
        per_row = gen._bytes_per_row(prof.fmt, prof.compression, level)
        rows_ds = size * prof.share / prof.datasets / per_row
        rows_inc = max(1, int(rows_ds / (FULL_FACTOR + prof.count - 1)))
        files_ds = files_total * prof.share / prof.datasets
        files_inc = max(1, math.floor(files_ds / (FULL_FACTOR + prof.count - 1)))
        last = gen.last_export_time(NOW, prof.cadence)
        start = last - (prof.count - 1) * prof.cadence
        ids = []
        for d in range(prof.datasets):
            dataset_id = xdm.hex_id(random.Random(f"bench/{seed}/{p_index}/{d}"), 24)
            log(f"  generating {prof.name}/{dataset_id} ({prof.count} exports)")
            gen.generate_dataset(
                tmp / prof.name,
                dataset_id,
                fmt=prof.fmt,
                compression=prof.compression,
                manifest=True,
                start=start,
                cadence=prof.cadence,
                count=prof.count,
                files_per_export=files_inc,
                files_full=FULL_FACTOR * files_inc,
                rows_full=FULL_FACTOR * rows_inc,
                rows_incremental=rows_inc,
                seed=seed,
                gzip_level=level,
                workers=os.cpu_count() or 1,
            )
            ids.append(dataset_id)
        dests.append(
            {
                "name": prof.name,
                "format": prof.fmt,
                "compression": prof.compression,
                "schedule": f"{int(prof.cadence.total_seconds() // 3600)}h",
                "datasets": ids,
            }
        )
    meta = {"size": size, "seed": seed, "destinations": dests, "generated_s": round(time.monotonic() - t0, 1)}
    meta.update(_census(tmp))
    (tmp / "tree.json").write_text(json.dumps(meta, indent=1))
    tmp.rename(root)
    return root, meta


def _census(root: Path) -> dict[str, Any]:
    files = parquet = ndjson = 0
    nbytes = pbytes = jbytes = 0
    for p in root.rglob("*"):
        if not p.is_file() or p.name == "tree.json":
            continue
        files += 1
        n = p.stat().st_size
        nbytes += n
        if p.name.endswith(".parquet"):
            parquet += 1
            pbytes += n
        elif p.name.endswith(".json.gz"):
            ndjson += 1
            jbytes += n
    return {
        "files": files,
        "bytes": nbytes,
        "parquet_files": parquet,
        "parquet_bytes": pbytes,
        "ndjson_files": ndjson,
        "ndjson_bytes": jbytes,
    }


def build_big_file(data_dir: Path, size: int, seed: int, log: Any = print) -> tuple[Path, dict[str, Any]]:
    """One destination holding one dataset with one export of ONE Parquet file of about ``size`` bytes,
    written row group by row group (the generator never holds more than one row group)."""
    root = data_dir / f"big-{size // 10**6}MB-seed{seed}"
    meta_path = root / "tree.json"
    if meta_path.exists():
        return root, json.loads(meta_path.read_text())
    tmp = root.with_name(root.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    t0 = time.monotonic()
    dataset_id = xdm.hex_id(random.Random(f"bench/{seed}/big"), 24)
    when = gen.last_export_time(NOW, timedelta(hours=24))
    folder = tmp / "big" / dataset_id / gen.export_folder_name(when)
    folder.mkdir(parents=True)
    rng = random.Random(f"bench/{seed}/big/names")
    name = xdm.file_name(0, xdm.signed_int64(rng), xdm.uuid4(rng), 10_001, ".parquet")
    path = folder / name
    rows_per_group = xdm.ROW_GROUP_ROWS * 4
    pool_key = f"bench/{seed}/big/pool"
    log(f"  generating one {size / 1e9:.1f} GB Parquet file (compression none)")
    writer: pq.ParquetWriter | None = None
    i = 0
    try:
        while not path.exists() or path.stat().st_size < size:
            rows = xdm.make_rows(
                random.Random(f"bench/{seed}/big/{i}"), rows_per_group, when - timedelta(days=30), when, None, pool_key
            )
            if writer is None:
                writer = pq.ParquetWriter(path, rows.table.schema, compression="none")
            writer.write_table(rows.table, row_group_size=rows_per_group)
            i += 1
            if i % 20 == 0:
                log(f"    {path.stat().st_size / 1e9:.2f} GB")
    finally:
        if writer is not None:
            writer.close()
    export = gen.ExportInfo(
        dataset_id=dataset_id,
        export_time=when,
        path=folder,
        kind="full",
        files=[path],
        manifest=None,
        flow_run_id=xdm.uuid4(rng),
        record_count=i * rows_per_group,
        fmt="parquet",
        compression="none",
        sink_path=f"/aep-exports/{dataset_id}/{folder.name}/",
    )
    gen.write_manifest(export)
    t = when.timestamp() + 300
    os.utime(path, (t, t))
    meta = {
        "size": path.stat().st_size,
        "rows": i * rows_per_group,
        "row_groups": i,
        "dataset": dataset_id,
        "generated_s": round(time.monotonic() - t0, 1),
    }
    (tmp / "tree.json").write_text(json.dumps(meta, indent=1))
    tmp.rename(root)
    return root, meta
