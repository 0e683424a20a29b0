"""python -m bench.listing [--files 2000] [--repeat 7]: the layout scan on moto S3, walk against one listing.

Uploads a tree of tiny files (datasets x exports x files, one PUT each) to a moto server it
starts itself, then times `verifier.layout.scan` in-process, alternating the folder-by-folder
walk (one ListObjectsV2 per folder) and the one recursive listing, and prints the median and
best of each. Listing only: the checksum-mode HEADs of the listing level are not in it.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.s3 import BUCKET, moto_server, upload
from verifier.backends.s3 import S3Backend
from verifier.layout import scan
from verifier.settings import Destination


class _WalkedS3(S3Backend):
    flat_listing = False  # the scan before one recursive listing: one request per folder


def _tree(root: Path, files: int) -> None:
    datasets, per_export = 20, 10
    exports = max(1, files // (datasets * per_export))
    for d in range(datasets):
        for x in range(exports):
            folder = root / f"ds{d:02d}" / f"exportTime=2026{1 + x // 28:02d}{1 + x % 28:02d}0300"
            folder.mkdir(parents=True)
            (folder / "manifest-0.json").write_text("{}")
            for i in range(per_export - 1):
                (folder / f"part-{i:05d}.parquet").write_bytes(b"PAR1")


def _time(backend: S3Backend) -> tuple[float, int]:
    t0 = time.perf_counter()
    result = scan(backend, jobs=backend.default_jobs)
    return time.perf_counter() - t0, result.entries_listed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, moto_server(Path(tmp)) as moto:
        _tree(Path(tmp) / "tree", args.files)
        upload(moto, Path(tmp) / "tree", "listing")
        dest = Destination(
            name="bench",
            type="s3",
            url=f"s3://{BUCKET}/listing",
            options={"endpoint_url": moto.endpoint},
            secrets={"key": moto.key, "secret": moto.secret},
        )
        times: dict[str, list[float]] = {"walk": [], "one listing": []}
        for _ in range(args.repeat):
            for name, cls in (("walk", _WalkedS3), ("one listing", S3Backend)):
                seconds, listed = _time(cls(dest))
                times[name].append(seconds)
        for name, ts in times.items():
            print(
                f"{name:12} entries {listed}  median {statistics.median(ts):.3f} s  best {min(ts):.3f} s  ({len(ts)} runs)"
            )


if __name__ == "__main__":
    main()
