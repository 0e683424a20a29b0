"""`verifier restore-plan` and `verifier restore`: parse, call verifier.restore, format."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from verifier.cli import render as out
from verifier.cli.context import Context, config_option
from verifier.exitcodes import RESTORE_EXIT_CODES, help_text
from verifier.timeutil import iso

RESTORE_EPILOG = "\b\nExit status:\n" + help_text(RESTORE_EXIT_CODES)


def _time(_ctx: Any, _p: Any, value: str | None) -> str | None:
    from verifier.restore import asof

    if value is None:
        return None
    try:
        return asof.check(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _resolve(ctx: Context, dataset: str, as_of: str, destination: str | None, allow_unverified: bool) -> datetime:
    from verifier.restore import asof

    return asof.resolve(ctx.config(), dataset, as_of, destination=destination, allow_unverified=allow_unverified)


def _common(f: Any) -> Any:
    f = click.option("--json", "as_json", is_flag=True, help="JSON output, for scripts.")(f)
    f = click.option(
        "--allow-unverified",
        is_flag=True,
        help="Accept exports never verified (failed, vanished, pending still break).",
    )(f)
    f = click.option("--destination", metavar="NAME", help="Try this destination first, then the others.")(f)
    f = click.option(
        "--as-of",
        "as_of",
        required=True,
        callback=_time,
        metavar="TIME",
        help="Point in time, UTC: ISO 8601 (2024-05-01T06:00Z), YYYYMMDDHHMM, now or latest-intact.",
    )(f)
    f = click.argument("dataset")(f)
    return config_option(f)


@click.command("restore-plan", epilog=RESTORE_EPILOG)
@_common
@click.pass_obj
def restore_plan(
    ctx: Context, dataset: str, as_of: str, destination: str | None, allow_unverified: bool, as_json: bool
) -> int:
    """The exports and files needed to rebuild DATASET as of TIME, and whether they are all intact.

    Reads the catalog only. The chain starts at the dataset's earliest export
    (export_mode = first_full_then_incremental) or is the latest export at or before TIME
    (export_mode = full).
    """
    from verifier.restore import plan as restore_plan_mod

    when = _resolve(ctx, dataset, as_of, destination, allow_unverified)
    p = restore_plan_mod.plan(ctx.config(), dataset, when, destination=destination, allow_unverified=allow_unverified)
    if as_json:
        click.echo(out.dumps(restore_plan_mod.to_dict(p)))
    elif out.is_tty():
        _print_plan_rich(p)
    else:
        click.echo(restore_plan_mod.describe(p))
    return p.exit_code


@click.command("restore", epilog=RESTORE_EPILOG)
@_common
@click.option(
    "--to",
    "to",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Where to put the files: DIR/<datasetID>/exportTime=.../<name>. Nothing is written outside it.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be fetched or skipped; write nothing.")
@click.option("--jobs", type=click.IntRange(1, 256), metavar="N", help="Concurrent downloads (default per store).")
@click.option(
    "--into",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Also load the restored chain into a table: PATH.duckdb (table dataset_<id>) or PATH.parquet.",
)
@click.option(
    "--decrypt",
    is_flag=True,
    help="Encrypted destination: write the plaintext (integrity-checked, decoded) instead of the ciphertext.",
)
@click.pass_obj
def restore(
    ctx: Context,
    dataset: str,
    as_of: str,
    destination: str | None,
    allow_unverified: bool,
    as_json: bool,
    to: Path,
    dry_run: bool,
    jobs: int | None,
    into: Path | None,
    decrypt: bool,
) -> int:
    """Fetch the files that rebuild DATASET as of TIME into DIR, each checked against the catalog.

    Each file is written to a temporary name, its size and checksum compared with the catalog,
    then moved into place. Existing files are never overwritten: an identical one counts as
    already restored (so a rerun resumes), a different one is refused.
    """
    from verifier.restore import fetch, results

    when = _resolve(ctx, dataset, as_of, destination, allow_unverified)
    with _progress(quiet=as_json) as progress:
        r = fetch.restore(
            ctx.config(),
            dataset,
            when,
            to,
            destination=destination,
            allow_unverified=allow_unverified,
            dry_run=dry_run,
            jobs=jobs,
            into=into,
            progress=progress,
            decrypt=decrypt,
        )
    if as_json:
        click.echo(out.dumps(results.to_dict(r)))
    else:
        _print_restore(r, dry_run, into)
    return r.exit_code


def _print_restore(r: Any, dry_run: bool, into: Path | None) -> None:
    from verifier.restore import plan as plan_mod
    from verifier.restore import results

    if not r.plan.intact:
        click.echo(plan_mod.describe(r.plan))
        click.echo("nothing was fetched: the chain is not intact")
        return
    if out.is_tty():
        out.table(
            [
                {
                    "export": iso(f.export_time),
                    "file": f.name,
                    "bytes": f.size,
                    "action": f.action,
                    "verified by / note": "; ".join(x for x in (f.verified_by, f.message) if x),
                }
                for f in r.files
            ],
            title=f"restore {r.plan.dataset_id} as of {iso(r.plan.as_of)} from {r.plan.chosen.destination if r.plan.chosen else '-'}",
        )
        click.echo(results.summary_line(r))
    else:
        click.echo(results.describe(r))
    if dry_run and into is not None:
        click.echo(f"would load the chain into {into}")
    if r.load is not None:
        click.echo(f"loaded: {r.load.message} ({r.load.path})")
    if r.load_error:
        click.echo(f"not loaded: {r.load_error}", err=True)


def _print_plan_rich(p: Any) -> None:
    click.echo(p.message)
    links = [
        {
            "export": lk.export_time,
            "kind": lk.kind,
            "status": lk.status,
            "files": lk.file_count,
            "bytes": lk.total_bytes,
            "records": lk.record_count,
            "problem": lk.problem or "",
        }
        for lk in p.links
    ]
    shown = p.shown
    if links and shown is not None:
        state = "intact" if p.intact else "BROKEN"
        out.table(links, title=f"chain on {shown.destination} ({shown.export_mode}): {state}")
        files = []
        for lk in p.links:
            for f in lk.files:
                c = f.checksum
                files.append(
                    {
                        "export": lk.export_time,
                        "file": f.name,
                        "bytes": f.size,
                        "records": f.record_count,
                        "checksum": f"{c.algo}:{c.value}" if c else "none recorded",
                        "source": c.source if c else "",
                        "status": f.status,
                    }
                )
        out.table(files, title="files")
        recs = "unknown" if p.total_records is None else p.total_records
        click.echo(f"total: {len(p.links)} export(s), {p.file_count} file(s), {p.total_bytes} bytes, {recs} records")
    if len(p.attempts) > 1 or (p.attempts and not p.intact):
        out.table([{"destination": a.destination, "reason": a.reason} for a in p.attempts], title="destinations")
    for f in p.findings:
        click.echo(f"{f.sev!s:7} {f.code}  {f.message}")


@contextlib.contextmanager
def _progress(quiet: bool) -> Iterator[Any]:
    from verifier.restore.fetch import FetchProgress

    if quiet or not sys.stderr.isatty():
        yield FetchProgress()
        return
    bar = _RichFetchProgress()
    with bar.bar:
        yield bar


class _RichFetchProgress:
    """Bytes and files fetched, on stderr; workers call it from their threads."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            transient=True,
            console=Console(stderr=True),
        )
        self._lock = threading.Lock()
        self._task: Any = None
        self._files = 0
        self._done = 0

    def start(self, files: int, total_bytes: int) -> None:
        self._files = files
        self._task = self.bar.add_task(f"restoring 0/{files} files", total=total_bytes)

    def advance(self, nbytes: int) -> None:
        if self._task is not None:
            self.bar.advance(self._task, nbytes)

    def file_done(self, result: Any) -> None:
        with self._lock:
            self._done += 1
            done = self._done
        if self._task is not None:
            self.bar.update(self._task, description=f"restoring {done}/{self._files} files")
