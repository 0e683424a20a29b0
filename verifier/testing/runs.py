"""Runs at a fixed time and reads of their catalog, for tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import duckdb

from verifier.runner import RunOptions, RunSummary, run
from verifier.settings import Config

# A fixed "now" so that settle/stale judgements never depend on the wall clock.
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
START = datetime(2026, 11, 17, 6, 0, tzinfo=UTC)  # three daily exports: 17th, 18th, 19th at 06:00


def do_run(config: Config, level: str = "metadata", now: datetime = NOW, **kw: Any) -> RunSummary:
    return run(config, RunOptions(level=level, **kw), now=now)


def sql(config: Config, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(config.catalog_path), read_only=True)
    try:
        return con.execute(query, params or []).fetchall()
    finally:
        con.close()
