"""User SQL over the catalog, bounded: the one implementation behind `verifier sql` and `POST /api/sql`.

Each query runs in a child process (sandbox_child.py) on a read-only connection that can touch no
other file and cannot change its settings, with DuckDB's `memory_limit` and thread count set and
the child's address space capped. The child is killed at the time limit, whatever DuckDB is doing:
`con.interrupt()` is only looked at while a query executes, not while it is planned, and a killed
child also lets go of the catalog file at once, so a query can never keep the nightly run out for
longer than the limit. The answer is capped in rows, columns and bytes before it leaves the child,
so the asking process (the service) holds at most `max_bytes` of it.

Why these limits (see the README's SQL section): the catalog of a large estate answers every
useful question in well under a second with 256 MB; a run waits 30 s for the catalog file, so a
10 s query cannot make it fail; 8 MiB of JSON is far more than a person reads and small enough for
a browser; Python and DuckDB map about 0.7 GiB of address space before doing anything, hence 1.5 GiB.
A query's time limit is at most half the run's wait (MAX_TIMEOUT_S): the other half is margin for
the kill, the child's exit and a busy machine, so no allowed limit can keep the nightly run out.
Nor can queries that overlap (DuckDB lets read-only processes share the file): a writer kept out
announces that it waits (verifier/writer_waiting.py), and no query starts until it has got in.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from verifier import writer_waiting
from verifier.catalog.db import LOCK_WAIT_S
from verifier.errors import CatalogError, CatalogLocked

CHILD = Path(__file__).with_name("sandbox_child.py")
STARTUP_S = 15.0  # a cold interpreter importing DuckDB on a busy machine; not part of the query's limit
MAX_TIMEOUT_S = LOCK_WAIT_S / 2  # 15 s: a query killed at its limit lets go of the file well before a run gives up


def timeout_problem(timeout_s: float) -> str | None:
    """Why a time limit is not allowed (None: it is), for the CLI's --timeout and Limits alike."""
    if 0 < timeout_s <= MAX_TIMEOUT_S:
        return None
    return (
        f"{timeout_s:g} s: a query may run at most {MAX_TIMEOUT_S:g} s, so that it can never keep a "
        f"`verifier run` out (a run waits {LOCK_WAIT_S:g} s for the catalog); for longer analysis, copy the "
        "catalog out with `verifier catalog export DIR` and query the copy"
    )


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0
    max_rows: int = 10_000
    max_columns: int = 200
    max_bytes: int = 8 * 1024 * 1024
    memory_limit_mb: int = 256
    threads: int = 1
    address_space_mb: int = 1536
    lock_wait_s: float = 10.0  # while a run writes: then "catalog busy"

    def __post_init__(self) -> None:
        problem = timeout_problem(self.timeout_s)
        if problem:
            raise SqlError(f"time limit {problem}")


@dataclass
class Answer:
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    truncated: bool = False
    types: list[str] = field(default_factory=list)  # DuckDB's names: TIMESTAMP, VARCHAR...

    def typed_rows(self) -> list[list[Any]]:
        """The rows with timestamps as datetimes again (they travel as ISO text), for the CLI's output."""
        stamps = [i for i, t in enumerate(self.types) if t.startswith("TIMESTAMP")]
        if not stamps:
            return self.rows
        out = []
        for row in self.rows:
            row = list(row)
            for i in stamps:
                if isinstance(row[i], str):
                    row[i] = datetime.fromisoformat(row[i])
            out.append(row)
        return out


class SqlError(ValueError):
    """The query is not valid, not read-only, touches what the sandbox forbids, or is too big."""


class SqlTimeout(Exception):
    pass


def query(path: Path, sql: str, limits: Limits = Limits()) -> Answer:
    """Run `sql` on the catalog at `path` within `limits`. Raises SqlError, SqlTimeout,
    CatalogLocked (a run holds the file for longer than `lock_wait_s`) or CatalogError."""
    if not path.exists():
        raise CatalogError(f"no catalog at {path} yet; run `verifier run` first (or check [catalog] path)")
    if writer_waiting.waiting(path):  # asked again by the child once it holds the file: see there
        raise CatalogLocked(writer_waiting.REFUSED)
    request = {"path": str(path), "query": sql, **asdict(limits)}
    out = _run_child(json.dumps(request).encode(), limits)
    return _answer(out, path, limits)


def _run_child(request: bytes, limits: Limits) -> bytes:
    # -I: no user site, no PYTHON* variables; the environment is emptied so no secret reaches it
    proc = subprocess.Popen(
        [sys.executable, "-I", str(CHILD)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={"PATH": os.defpath, "LC_ALL": "C.UTF-8"},
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(request)
        proc.stdin.close()
        return _read_bounded(proc, limits)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _read_bounded(proc: subprocess.Popen[bytes], limits: Limits) -> bytes:
    """The child's stdout: a line once it holds the catalog (the query's clock starts then), then
    the answer. Kills the child at the deadline or if it says more than it may."""
    assert proc.stdout is not None
    ceiling = 2 * limits.max_bytes + 1024 * 1024  # JSON escaping can double the text
    deadline = time.monotonic() + STARTUP_S + limits.lock_wait_s
    started = False
    buf = bytearray()
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                proc.kill()
                if started:
                    raise SqlTimeout(f"the query ran longer than {limits.timeout_s:g}s and was stopped")
                raise CatalogLocked("the catalog is busy (a run is writing it); try again in a moment")
            chunk = os.read(proc.stdout.fileno(), 1 << 16)
            if not chunk:
                return bytes(buf)
            buf += chunk
            if not started and b"\n" in buf:
                started = True
                del buf[: buf.index(b"\n") + 1]
                deadline = time.monotonic() + limits.timeout_s
            if len(buf) > ceiling:
                proc.kill()
                raise SqlError("the answer is larger than the sandbox allows")


def _answer(out: bytes, path: Path, limits: Limits) -> Answer:
    try:
        data = json.loads(out)
    except ValueError:  # killed by the kernel (the address-space cap), or died some other way
        raise SqlError(f"the query needs more memory than the sandbox allows ({limits.memory_limit_mb} MB)") from None
    error = data.get("error")
    if error == "writer-waiting":
        raise CatalogLocked(writer_waiting.REFUSED)
    if error == "locked":
        raise CatalogLocked("the catalog is busy (a run is writing it); try again in a moment")
    if error == "catalog":
        raise CatalogError(f"cannot open catalog {path}: {data['message']}")
    if error == "memory":
        raise SqlError(f"the query needs more memory than the sandbox allows ({limits.memory_limit_mb} MB)")
    if error:
        raise SqlError(str(data["message"]))
    return Answer(columns=data["columns"], rows=data["rows"], truncated=data["truncated"], types=data["types"])
