"""Output for people (rich on a terminal, plain text otherwise) and for scripts (JSON)."""

from __future__ import annotations

import csv
import io
import sys
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from verifier.jsonable import dumps as dumps  # the CLI writes the JSON the service sends
from verifier.timeutil import iso


def is_tty() -> bool:
    return sys.stdout.isatty()


def cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, datetime):
        return iso(v) or "-"
    if isinstance(v, float):
        return f"{v:.1f}"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def table(rows: list[dict[str, Any]], columns: list[str] | None = None, title: str | None = None) -> None:
    """A rich table on a terminal; tab-separated text with a header otherwise."""
    columns = columns or (list(rows[0]) if rows else [])
    if is_tty():
        t = Table(title=title, show_lines=False)
        for c in columns:
            t.add_column(c, overflow="fold")
        for r in rows:
            t.add_row(*(cell(r.get(c)) for c in columns))
        Console().print(t)
        return
    if title:
        print(f"# {title}")
    print("\t".join(columns))
    for r in rows:
        print("\t".join(cell(r.get(c)) for c in columns))


def csv_text(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(columns)
    for r in rows:
        w.writerow([cell(v) if v is not None else "" for v in r])
    return buf.getvalue()
