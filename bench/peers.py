"""The peer tools' workloads, each run as ``python -m bench.peers KIND JSON`` in its own process so that
its wall time and peak memory are measured like verifier's.

KIND is one of: duckdb_file_metadata, duckdb_metadata, duckdb_parquet_scan, duckdb_json_scan,
pyarrow_hash. JSON: {"glob": ..., "files": [...], "s3": {endpoint, key, secret} or null}.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any


def _duckdb(args: dict[str, Any]) -> Any:
    import duckdb

    con = duckdb.connect()
    if args.get("s3"):
        # DuckDB's httpfs extension is downloaded at run time (not possible here): use s3fs through fsspec
        con.register_filesystem(_s3fs(args["s3"]))
    return con


def _s3fs(s3: dict[str, str]) -> Any:
    import s3fs

    return s3fs.S3FileSystem(key=s3["key"], secret=s3["secret"], endpoint_url=s3["endpoint"], skip_instance_cache=True)


def duckdb_file_metadata(args: dict[str, Any]) -> Any:
    con = _duckdb(args)
    return con.execute("SELECT count(*), sum(num_rows) FROM parquet_file_metadata(?)", [args["glob"]]).fetchall()


def duckdb_metadata(args: dict[str, Any]) -> Any:
    con = _duckdb(args)
    return con.execute("SELECT count(DISTINCT file_name), count(*) FROM parquet_metadata(?)", [args["glob"]]).fetchall()


def duckdb_parquet_scan(args: dict[str, Any]) -> Any:
    """Every column of every row decoded: a hash of each value, folded per column."""
    con = _duckdb(args)
    return con.execute(
        "SELECT count(*), bit_xor(hash(COLUMNS(*))) FROM read_parquet(?, union_by_name = true)", [args["glob"]]
    ).fetchall()


def duckdb_json_scan(args: dict[str, Any]) -> Any:
    con = _duckdb(args)
    return con.execute(
        "SELECT count(*), bit_xor(hash(COLUMNS(*))) FROM read_json(?, format = 'newline_delimited', "
        "compression = 'gzip', union_by_name = true)",
        [args["glob"]],
    ).fetchall()


def pyarrow_hash(args: dict[str, Any]) -> Any:
    """The plain loop a user would write: read each file once, MD5 it, decode it with pyarrow."""
    import pyarrow as pa
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    fs = _s3fs(args["s3"]) if args.get("s3") else None
    rows = 0
    for path in args["files"]:
        if fs is not None:
            data = fs.cat_file(path)
        else:
            with open(path, "rb") as f:
                data = f.read()
        hashlib.md5(data).hexdigest()
        if path.endswith(".parquet"):
            rows += pq.read_table(pa.BufferReader(data)).num_rows
        else:
            rows += pajson.read_json(pa.BufferReader(gzip.decompress(data))).num_rows
    return rows


KINDS = {
    f.__name__: f for f in (duckdb_file_metadata, duckdb_metadata, duckdb_parquet_scan, duckdb_json_scan, pyarrow_hash)
}

if __name__ == "__main__":
    kind, raw = sys.argv[1], sys.argv[2]
    args = json.loads(Path(raw[1:]).read_text() if raw.startswith("@") else raw)
    print(KINDS[kind](args), flush=True)
    # leave without the interpreter's teardown: pyarrow's thread pools have aborted it
    # ("terminate called without an active exception", exit 134) after the answer was printed
    os._exit(0)
