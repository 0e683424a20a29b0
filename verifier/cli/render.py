"""Output for people (rich on a terminal, plain text otherwise) and for scripts (JSON)."""

from __future__ import annotations

import csv
import io
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from verifier.findings import Finding, Severity
from verifier.jsonable import dumps as dumps  # the CLI writes the JSON the service sends
from verifier.timeutil import iso

if TYPE_CHECKING:
    from verifier.demo import Demo
    from verifier.runner import RunSummary


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


def print_summary(summary: RunSummary) -> None:
    rows = [
        {
            "destination": d.name,
            "type": d.type,
            "reachable": d.reachable,
            "exports": d.exports_seen,
            "checked": d.exports_checked,
            "unchanged": d.exports_skipped,
            "files": d.files_checked,
            "MB read": round(d.bytes_read / 1e6, 1),
            "errors": d.errors,
            "warnings": d.warnings,
        }
        for d in summary.destinations
    ]
    table(rows, title=f"run {summary.run_id} ({summary.level}) — exit {summary.exit_code}")
    shown = [f for f in summary.findings if f.sev >= Severity.WARNING]
    print_findings(shown, {d.name: d.url for d in summary.destinations}, summary.run_id)
    click.echo(
        f"{summary.count(Severity.ERROR)} error(s), {summary.count(Severity.WARNING)} warning(s), "
        f"{summary.count(Severity.INFO)} info in {summary.duration_s:.1f}s; exit status {summary.exit_code}"
    )


_COLOURS = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "dim"}


def print_findings(findings: list[Finding], urls: dict[str, str], run_id: int | None, limit: int = 50) -> None:
    """Root causes first with their consequences under them (`triage`), paths relative to their
    destination, a mark for what is new in `run_id` and since when the rest has been open.
    The full URIs stay in `--json` and in the catalog."""
    from verifier.triage import flatten, relativizer, short_message, triage

    rel = relativizer(urls)
    items = flatten(triage(findings))
    tty = is_tty()
    console = Console(highlight=False) if tty else None
    cause_uri: str | None = None
    for f, consequence in items[:limit]:
        first = f.extra.get("first_run_id")
        mark = "new" if run_id is not None and first in (None, run_id) else f"open since run {first}"
        where = (
            rel(f)
            if f.uri
            else (
                f"{f.dataset_id or ''} export {f.export_time:%Y-%m-%d %H:%M}"
                if f.export_time
                else (f.dataset_id or f.destination)
            )
        )
        text = short_message(f, rel)
        if consequence:
            line = f"    ↳ {f.code}: {text}" if f.uri == cause_uri else f"    ↳ {f.code}  {where}: {text}"
        else:
            cause_uri = f.uri
            line = f"{str(f.sev).upper():7} {f.code}  {where}  [{mark}]\n        {text}"
        if console is not None:
            from rich.text import Text

            t = Text(line)
            if not consequence:
                t.stylize(_COLOURS[f.sev], 0, 7)
            console.print(t)
        else:
            click.echo(line)
    if len(items) > limit:
        click.echo(f"... and {len(items) - limit} more: verifier findings --last")


def finding_from_row(row: dict[str, Any]) -> Finding:
    """A row of queries.findings as a Finding, for print_findings."""
    from verifier.findings import CODES

    code = row["code"] if row["code"] in CODES else "layout.unexpected_entry"
    return Finding(
        code=code,
        message=row["message"] or "",
        destination=row["destination"] or "",
        dataset_id=row["dataset_id"],
        export_time=row["export_time"],
        uri=row["uri"],
        severity=Severity.parse(row["severity"]),
        extra={"first_run_id": row.get("first_run_id")},
    )


def invocation() -> str:
    """How the user can run verifier again, exactly: `verifier` when that is on PATH, else the
    script's path (`.venv/bin/verifier` after `make demo`), else `python -m verifier`."""
    import os
    import shutil
    from pathlib import Path

    script = Path(sys.argv[0])
    on_path = shutil.which("verifier")
    if on_path and script.name == "verifier" and Path(on_path).resolve() == script.resolve():
        return "verifier"
    if script.name == "verifier" and script.exists():
        try:
            return (
                os.path.relpath(script.resolve(), Path.cwd())
                if script.resolve().is_relative_to(Path.cwd())
                else str(script.resolve())
            )
        except ValueError:
            return str(script.resolve())
    if on_path:
        return "verifier"
    return f"{sys.executable} -m verifier"


def print_demo(demo: Demo) -> None:
    cfg = demo.config_path
    click.echo(f"== sample exports written under {cfg.parent / 'exports'}; config {cfg}")
    click.echo("\n== verifier run --level full")
    print_summary(demo.summary)
    click.echo("\n== verifier status")
    table([{label: r[key] for key, label in _DEMO_STATUS.items()} for r in demo.status])
    click.echo(f'\n== verifier sql "{demo.query}"')
    table([dict(zip(demo.columns, r, strict=True)) for r in demo.rows], demo.columns)
    click.echo("\n== verifier findings --last --severity warning")
    urls = {d.name: d.url for d in demo.summary.destinations}
    print_findings([finding_from_row(r) for r in demo.warnings], urls, demo.summary.run_id, limit=10**9)
    if demo.plan_text is not None:
        click.echo(f"\n== verifier restore-plan {demo.plan_dataset} --as-of now")
        click.echo(demo.plan_text)
    v = invocation()
    click.echo(f'\nTry: {v} --config {cfg} status   |   {v} --config {cfg} sql "SELECT * FROM findings"')
    click.echo(f"(the run exited {demo.summary.exit_code}: the demo plants broken exports on purpose)")


_DEMO_STATUS = {
    "dataset_id": "dataset",
    "destination": "destination",
    "latest_export": "latest export",
    "status": "status",
    "open_errors": "errors",
    "open_warnings": "warnings",
    "next_expected": "next expected",
}
