"""Small helpers shared by the tests: configs on disk, runs, catalog reads."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from verifier import config as cfgmod
from verifier.runner import RunSummary
from verifier.testing.runs import NOW, START, do_run, sql

__all__ = ["NOW", "START", "codes", "do_run", "later", "local_config", "sql", "toml_value", "write_config"]


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


def codes(summary: RunSummary, min_severity: str = "info") -> list[str]:
    order = {"info": 0, "warning": 1, "error": 2}
    return sorted(f.code for f in summary.findings if order[str(f.sev)] >= order[min_severity])


def later(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


def apply_limits(tmp_path: Path, monkeypatch: Any, table: str) -> None:
    """Load a config whose [limits] table holds `table` and apply it as a run does; the limits
    go back to their values for the tests after this one."""
    from verifier.checks import limits

    for name in limits.CONFIG:
        monkeypatch.setattr(limits, name, getattr(limits, name))
    p = tmp_path / "limits.toml"
    p.write_text(f'[catalog]\npath = "{tmp_path / "limits.duckdb"}"\n[limits]\n{table}\n')
    limits.configure(cfgmod.load(p, environ={}).limits)
