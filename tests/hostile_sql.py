"""The worst SQL we could think of, shared by the sandbox's tests and the service's memory test."""

from __future__ import annotations

CROSS_JOIN = "SELECT sum(hash(a.range + b.range)) FROM range(1000000) a, range(1000000) b"
# issue 15.1: two columns of long values made a 1.3 GB answer (10 000 rows); six ended in MemoryError.
# 200 rows are 28 MB, enough to pass every cap, and quick to build on a busy machine
TWO_LONG_COLUMNS = "SELECT repeat('x', 70000) AS a, repeat('y', 70000) AS b FROM range(200)"
SIX_LONG_COLUMNS = "SELECT " + ", ".join(f"repeat('x', 65536) AS c{i}" for i in range(6)) + " FROM range(10000)"
ONE_HUGE_VALUE = "SELECT repeat('x', 1500000000)"  # 1.5 GB in one cell: DuckDB's memory_limit does not see it


def planning_bomb(levels: int = 16) -> str:
    """Each CTE joins the one before with itself and may not be materialised: the plan doubles at
    every level (4 s of planning at 12 levels here, about 20 s and 2 GB at 13), and DuckDB does not
    look at interrupt() while it plans."""
    ctes = ["c0 AS (SELECT 1 AS x)"]
    ctes += [f"c{i} AS NOT MATERIALIZED (SELECT a.x FROM c{i - 1} a, c{i - 1} b)" for i in range(1, levels)]
    return "WITH " + ", ".join(ctes) + f" SELECT count(*) FROM c{levels - 1}"
