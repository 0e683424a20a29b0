"""Issue 15 (1, 4, 8): user SQL is bounded in rows, columns, bytes, memory and time, planning
included, and a long query cannot keep a run out of the catalog. Real DuckDB files, real processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from fixtures.generate import generate_dataset
from tests.helpers import START, write_config
from tests.hostile_sql import CROSS_JOIN, ONE_HUGE_VALUE, SIX_LONG_COLUMNS, TWO_LONG_COLUMNS, planning_bomb
from verifier import writer_waiting
from verifier.catalog import Catalog, sandbox
from verifier.errors import CatalogError, CatalogLocked


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sandbox") / "catalog.duckdb"
    Catalog(path).create()
    return path


def test_rows_and_bytes_are_capped(catalog: Path) -> None:
    ans = sandbox.query(catalog, "SELECT range AS i FROM range(25000)")
    assert (len(ans.rows), ans.rows[-1], ans.truncated) == (10_000, [9_999], True)
    # each row is 2008 bytes of compact JSON with its comma: 8 MiB holds 4177 of them
    ans = sandbox.query(catalog, "SELECT repeat('x', 1000) AS a, repeat('y', 1000) AS b FROM range(10000)")
    assert (len(ans.rows), ans.truncated) == (4177, True)
    # issue 15.1's shape (1.3 GB before): values cut at 64 KiB, 63 rows fill the 8 MiB
    ans = sandbox.query(catalog, TWO_LONG_COLUMNS)
    assert (len(ans.rows), len(ans.rows[0][0]), ans.truncated) == (63, 65536, True)


def test_columns_and_memory_are_capped(catalog: Path) -> None:
    wide = "SELECT " + ", ".join(f"{i} AS c{i}" for i in range(201))
    with pytest.raises(sandbox.SqlError, match=r"^the query returns 201 columns; at most 200$"):
        sandbox.query(catalog, wide)
    for query in (SIX_LONG_COLUMNS, ONE_HUGE_VALUE):
        with pytest.raises(sandbox.SqlError, match=r"^the query needs more memory than the sandbox allows \(256 MB\)$"):
            sandbox.query(catalog, query)


def test_nothing_but_the_catalog_is_reachable(catalog: Path, tmp_path: Path) -> None:
    for query in (f"COPY runs TO '{tmp_path}/leak.csv'", "SET memory_limit = '64GB'", "SET threads = 64"):
        with pytest.raises(sandbox.SqlError):
            sandbox.query(catalog, query)
    assert not (tmp_path / "leak.csv").exists()


def test_planning_is_stopped_at_the_time_limit(catalog: Path) -> None:
    t0 = time.monotonic()
    with pytest.raises(sandbox.SqlTimeout, match=r"^the query ran longer than 1s and was stopped$"):
        sandbox.query(catalog, planning_bomb(), sandbox.Limits(timeout_s=1))
    assert time.monotonic() - t0 < 1 + sandbox.STARTUP_S


def test_a_long_cli_query_cannot_keep_a_run_out(tmp_path: Path) -> None:
    """The longest time limit allowed (15 s, the CLI's and the API's alike) still lets a run in:
    a run waits 30 s for the catalog. Anything longer is refused, pointing to `catalog export`."""
    generate_dataset(tmp_path / "exports", "ds1", start=START, count=2, rows_full=20, rows_incremental=5)
    dest = {"name": "local", "type": "local", "url": str(tmp_path / "exports"), "stale_after": "3650d"}
    cfg = write_config(tmp_path, [dest])
    Catalog(tmp_path / "catalog.duckdb").create()
    verifier = [sys.executable, "-m", "verifier"]
    longer = subprocess.run(
        [*verifier, "sql", "--config", str(cfg), "--timeout", "15.5", "SELECT 1"], capture_output=True, text=True
    )
    assert longer.returncode == 4
    assert longer.stderr.splitlines()[-1] == (
        "Invalid value for '--timeout': 15.5 s: a query may run at most 15 s, so that it can never keep a "
        "`verifier run` out (a run waits 30 s for the catalog); for longer analysis, copy the catalog out "
        "with `verifier catalog export DIR` and query the copy"
    )
    with pytest.raises(sandbox.SqlError, match=r"^time limit 3600 s: a query may run at most 15 s"):
        sandbox.Limits(timeout_s=3600)  # POST /api/sql's limit goes through the same check
    sql = subprocess.Popen(
        [*verifier, "sql", "--config", str(cfg), "--timeout", "15", CROSS_JOIN],  # the longest allowed
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2)  # the query is (about to be) running and holding the file
    run = subprocess.run(
        [*verifier, "run", "--config", str(cfg), "--level", "listing"], capture_output=True, text=True, timeout=120
    )
    _, err = sql.communicate(timeout=60)
    assert sql.returncode == 4
    assert err in (
        "verifier: query failed: the query ran longer than 15s and was stopped\n",
        "verifier: the catalog is busy (a run is writing it); try again in a moment\n",  # the run got in first
    )
    assert run.returncode == 0, run.stderr


def _dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(child.stdout)


def _until(what: str, ok: Callable[[], bool], within_s: float = 15.0) -> None:
    deadline = time.monotonic() + within_s
    while not ok():
        assert time.monotonic() < deadline, f"not within {within_s:g} s: {what}"
        time.sleep(0.05)


def _held_by_a_reader(path: Path) -> bool:
    """True while another process has the file open (a write connection is refused); the test's own
    write attempt goes straight to DuckDB, so it announces nothing."""
    try:
        duckdb.connect(str(path)).close()
    except duckdb.Error as exc:
        return "lock" in str(exc).lower()
    return False


def test_queries_do_not_start_while_a_run_waits(tmp_path: Path) -> None:
    """Issue 15.4, overlapping queries: DuckDB lets read-only processes share the file, so queries
    started back to back could keep a run out past its 30 s. A run kept out announces that it waits
    (`<catalog>.writer-waiting`); a query started meanwhile is refused at once, the one running ends
    at its limit, and the run gets in. A marker whose writer is gone refuses nothing."""
    generate_dataset(tmp_path / "exports", "ds1", start=START, count=2, rows_full=20, rows_incremental=5)
    dest = {"name": "local", "type": "local", "url": str(tmp_path / "exports"), "stale_after": "3650d"}
    cfg = write_config(tmp_path, [dest])
    path = tmp_path / "catalog.duckdb"
    Catalog(path).create()
    marker = writer_waiting.marker_path(path)
    verifier = [sys.executable, "-m", "verifier"]
    refused = "verifier: a run is waiting to write the catalog; try again when it has started\n"

    long_query = subprocess.Popen(
        [*verifier, "sql", "--config", str(cfg), "--timeout", "5", CROSS_JOIN],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _until("the long query holds the catalog", lambda: _held_by_a_reader(path))
    t0 = time.monotonic()
    run = subprocess.Popen(
        [*verifier, "run", "--config", str(cfg), "--level", "listing"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _until("the run announces that it waits", marker.exists)
    assert marker.read_text().startswith(f"pid={run.pid} ")
    second = subprocess.run([*verifier, "sql", "--config", str(cfg), "SELECT 1"], capture_output=True, text=True)
    assert (second.returncode, second.stdout, second.stderr) == (4, "", refused)
    with pytest.raises(CatalogLocked, match=r"^a run is waiting to write the catalog; try again when it has started$"):
        sandbox.query(path, "SELECT 1")

    _, err = long_query.communicate(timeout=30)
    assert (long_query.returncode, err) == (4, "verifier: query failed: the query ran longer than 5s and was stopped\n")
    _, err = run.communicate(timeout=60)
    waited = time.monotonic() - t0
    assert run.returncode == 0, err
    assert not marker.exists()
    assert waited < 5 + sandbox.STARTUP_S, waited  # one query's limit (and a busy machine's start-up)

    # a marker left by a writer that is gone (killed while it waited), or whose wait is over: ignored
    now = time.time()
    for pid, since in ((_dead_pid(), now), (os.getpid(), now - 60)):
        marker.write_text(f"pid={pid} host={socket.gethostname()} since={since:.3f} until={since + 30:.3f}\n")
        assert sandbox.query(path, "SELECT 42 AS x").rows == [[42]]
    marker.write_text(f"pid={os.getpid()} host={socket.gethostname()} since={now:.3f} until={now + 30:.3f}\n")
    with pytest.raises(CatalogLocked):  # the same marker, alive: refused (so the two above were stale)
        sandbox.query(path, "SELECT 42 AS x")


def test_a_link_where_the_writer_marks_its_wait_is_not_followed(tmp_path: Path) -> None:
    path = tmp_path / "catalog.duckdb"
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    writer_waiting.marker_path(path).symlink_to(victim)
    with pytest.raises(CatalogError, match=r"is a symbolic link, where verifier marks that a run waits"):
        writer_waiting.Announcement(path).announce(30)
    assert victim.read_text() == "precious\n"
    assert not writer_waiting.waiting(path)  # and a reader does not follow it either
