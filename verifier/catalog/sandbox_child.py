"""The process that runs one user query for `sandbox.py`; it imports only the standard library,
DuckDB, `verifier.jsonable` and `verifier.writer_waiting` (themselves standard library only), so
that it starts fast and never holds a secret.

Reads one JSON request on stdin, writes one JSON answer on stdout:
`{"columns": [...], "rows": [[...]], "truncated": bool}` or `{"error": kind, "message": text}`.
Its address space is capped before DuckDB is loaded, so a query that builds one enormous value
ends here as an out-of-memory error, never in the process that asked.
"""

from __future__ import annotations

import json
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a file under `python -I`: if the package is not installed, the one
    sys.path.append(str(Path(__file__).resolve().parents[2]))  # this file is in

from verifier import writer_waiting  # after the path is set
from verifier.jsonable import convert

MAX_CELL_CHARS = 64 * 1024
COMPACT = (",", ":")  # the size counted is that of compact JSON, as the service sends it
FETCH = 256  # rows converted at a time: the byte cap is checked between batches


def _connect(req: dict[str, Any], deadline: float) -> Any:
    import duckdb

    config = {
        "enable_external_access": False,  # no other file: COPY TO, read_csv, ATTACH, INSTALL
        "memory_limit": f"{req['memory_limit_mb']}MB",
        "threads": req["threads"],
        "lock_configuration": True,  # and the query cannot SET any of this back
    }
    delay = 0.05
    while True:
        try:
            return duckdb.connect(req["path"], read_only=True, config=config)
        except duckdb.Error as exc:  # a run holds the file: wait while the time limit allows
            text = str(exc).lower()
            if "lock" not in text or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay + random.random() * delay)
            delay = min(delay * 2, 0.5)


def answer(req: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + req["lock_wait_s"]
    try:
        con = _connect(req, deadline)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which words it
        kind = "locked" if "lock" in str(exc).lower() else "catalog"
        return {"error": kind, "message": str(exc)}
    # asked again now that this process holds the file: a writer that announced itself since the
    # parent asked is seen here, and one that announces itself later waits for this query at most
    if writer_waiting.waiting(Path(req["path"])):
        con.close()
        return {"error": "writer-waiting", "message": writer_waiting.REFUSED}
    sys.stdout.write("connected\n")  # the parent starts the query's clock now
    sys.stdout.flush()
    try:
        cur = con.execute(req["query"])
        if cur.description is None:
            return {"columns": [], "rows": [], "truncated": False, "types": []}
        columns = [str(d[0]) for d in cur.description]
        if len(columns) > req["max_columns"]:
            return {
                "error": "query",
                "message": f"the query returns {len(columns)} columns; at most {req['max_columns']}",
            }
        return {
            **_collect(cur, columns, req["max_rows"], req["max_bytes"]),
            "types": [str(d[1]) for d in cur.description],
        }
    except MemoryError:
        return {"error": "memory", "message": "the query needs more memory than the sandbox allows"}
    except Exception as exc:  # noqa: BLE001 - duckdb.Error and its kin: the query's own fault
        kind = "memory" if "out of memory" in str(exc).lower() else "query"
        return {"error": kind, "message": str(exc)}


def _collect(cur: Any, columns: list[str], max_rows: int, max_bytes: int) -> dict[str, Any]:
    rows: list[list[Any]] = []
    size = len(json.dumps(columns, separators=COMPACT))
    truncated = False
    while not truncated:
        batch = cur.fetchmany(min(FETCH, max_rows + 1 - len(rows)))
        if not batch:
            break
        converted, cut = convert(batch, MAX_CELL_CHARS)
        truncated = cut
        # one dumps per batch (rows are usually small): "[r1,r2]" is each row plus a comma, less one
        whole = len(json.dumps(converted, separators=COMPACT)) - 1
        if size + whole <= max_bytes:
            size += whole
            rows.extend(converted)
        else:
            for row in converted:  # the row that overflows is left out whole, and the rest with it
                size += len(json.dumps(row, separators=COMPACT)) + 1
                if size > max_bytes:
                    truncated = True
                    break
                rows.append(row)
        if len(rows) > max_rows:
            del rows[max_rows:]
            truncated = True
    return {"columns": columns, "rows": rows, "truncated": truncated}


def main() -> None:
    req = json.loads(sys.stdin.read())
    cap = req["address_space_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    out = answer(req)
    if "error" in out:
        sys.stdout.write("\n")  # the error may come before the line that starts the clock
    sys.stdout.write(json.dumps(out))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
