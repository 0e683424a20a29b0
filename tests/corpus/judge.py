"""Judge corpus files step by step: what pyarrow, DuckDB and verifier make of each.

Run as a child process by tests/test_corpus.py: reads one JSON list of steps
``[path, kind, judge]`` on stdin and prints one JSON line per finished step. A reader that
aborts on hostile bytes (pyarrow does, with SIGABRT) kills only this process; the parent
records the crash for the step that printed nothing and starts a new child after it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROWS_PER_FETCH = 10_000


def pyarrow_reads(path: str, kind: str) -> dict[str, Any]:
    """Every page decoded (page checksums verified, as an integrity check must)."""
    import pyarrow as pa
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    if kind == "json":
        with pa.input_stream(path, compression="detect") as f:
            return {"rows": pj.read_json(f).num_rows}
    pf = pq.ParquetFile(path, page_checksum_verification=True)
    return {"rows": sum(b.num_rows for b in pf.iter_batches())}


def duckdb_reads(path: str, kind: str) -> dict[str, Any]:
    """Every value fetched: SELECT * so no column is pruned away."""
    import duckdb

    fn = "read_ndjson" if kind == "json" else "read_parquet"
    con = duckdb.connect()
    try:
        cur = con.execute(f"SELECT * FROM {fn}(?)", [path])
        rows = 0
        while batch := cur.fetchmany(ROWS_PER_FETCH):
            rows += len(batch)
        return {"rows": rows}
    finally:
        con.close()


def verifier_says(path: str, kind: str, level: str) -> dict[str, Any]:
    from verifier.backends.local import LocalBackend
    from verifier.checks.files import check_file
    from verifier.model import Entry
    from verifier.settings import Destination

    p = Path(path)
    fmt = "json" if kind == "json" else "parquet"
    d = Destination(name="corpus", type="local", url=str(p.parent), format=fmt, compression="gzip")
    # a neutral name: the corpus files' own names would add file.unexpected_format
    name = "part-00000.json.gz" if fmt == "json" else "part-00000.parquet"
    e = Entry(path=str(p), name=name, is_dir=False, size=p.stat().st_size)
    fc = check_file(LocalBackend(d), e, "file://" + str(p), d, level)
    return {
        "findings": [[f.code, str(f.sev), f.message] for f in fc.findings],
        "rows": fc.result.record_count,
        "level": fc.result.verified_level,
    }


def judge(path: str, kind: str, who: str) -> dict[str, Any]:
    try:
        if who == "pyarrow":
            return {"ok": True, **pyarrow_reads(path, kind)}
        if who == "duckdb":
            return {"ok": True, **duckdb_reads(path, kind)}
        return {"ok": True, **verifier_says(path, kind, who)}
    except Exception as exc:  # noqa: BLE001 - what a reader refuses is the label
        return {"ok": False, "error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"}


def main() -> None:
    steps = json.load(sys.stdin)
    for path, kind, who in steps:
        print(json.dumps({"step": [path, kind, who], **judge(path, kind, who)}), flush=True)


if __name__ == "__main__":
    main()
