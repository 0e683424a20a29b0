"""Small helpers shared by the tests: configs on disk, runs, catalog reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from verifier import config as cfgmod
from verifier.runner import RunOptions, RunSummary, run

# A fixed "now" so that settle/stale judgements never depend on the wall clock.
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
START = datetime(2026, 11, 17, 6, 0, tzinfo=UTC)  # three daily exports: 17th, 18th, 19th at 06:00


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(
    tmp: Path,
    destinations: list[dict[str, Any]],
    extra: str = "",
    catalog: str = "catalog.duckdb",
) -> Path:
    lines = [f'[catalog]\npath = "{tmp / catalog}"\n']
    for d in destinations:
        lines.append("[[destinations]]")
        for k, v in d.items():
            if isinstance(v, dict):
                continue
            lines.append(f"{k} = {toml_value(v)}")
        for table in ("options", "secrets"):
            if d.get(table):
                lines.append(f"[destinations.{table}]")
                lines.extend(f"{k} = {toml_value(v)}" for k, v in d[table].items())
        lines.append("")
    lines.append(extra)
    path = tmp / "verifier.toml"
    path.write_text("\n".join(lines))
    return path


def local_config(tmp: Path, folder: Path, extra: str = "", **dest: Any) -> cfgmod.Config:
    d = {"name": "local", "type": "local", "url": str(folder), **dest}
    return cfgmod.load(write_config(tmp, [d], extra))


def do_run(config: cfgmod.Config, level: str = "metadata", now: datetime = NOW, **kw: Any) -> RunSummary:
    return run(config, RunOptions(level=level, **kw), now=now)


def codes(summary: RunSummary, min_severity: str = "info") -> list[str]:
    order = {"info": 0, "warning": 1, "error": 2}
    return sorted(f.code for f in summary.findings if order[str(f.sev)] >= order[min_severity])


def sql(config: cfgmod.Config, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(config.catalog_path), read_only=True)
    try:
        return con.execute(query, params or []).fetchall()
    finally:
        con.close()


def later(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)
