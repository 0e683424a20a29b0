"""The commands. Each parses, calls the library, formats; nothing else."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from verifier.cli import render as out
from verifier.cli.context import RUN_EPILOG, Context, config_option, fail
from verifier.exitcodes import NOT_RUN
from verifier.levels import LEVELS

CLI_SQL_BYTES = 64 * 1024 * 1024  # a person at a terminal may want more than the API's 8 MiB
LEVEL_CHOICE = click.Choice(LEVELS)


def _executor(_ctx: Any, _p: Any, value: str) -> str:
    from verifier.executors import parse_spec

    try:
        parse_spec(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _sql_timeout(_ctx: Any, _p: Any, value: float) -> float:
    from verifier.catalog.sandbox import timeout_problem

    problem = timeout_problem(value)
    if problem:
        raise click.BadParameter(problem)
    return value


def _coverage(runs: int | None) -> str:
    """Sampled runs until every data file has been read in full once."""
    return "done" if runs == 0 else "-" if runs is None else f"{runs} sampled run{'s' if runs > 1 else ''}"


def _size(_ctx: Any, _p: Any, value: str | None) -> int | None:
    from verifier.timeutil import parse_size

    if value is None:
        return None
    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command(epilog=RUN_EPILOG)
@config_option
@click.option(
    "--destination", "destinations", multiple=True, metavar="NAME", help="Only this destination (repeatable)."
)
@click.option("--dataset", "datasets", multiple=True, metavar="ID", help="Only this dataset (repeatable).")
@click.option(
    "--level",
    type=LEVEL_CHOICE,
    default="metadata",
    show_default=True,
    help="listing: no data read; metadata: footers and trailers; full: every byte.",
)
@click.option(
    "--sample",
    type=click.FloatRange(0, 100, min_open=True),
    metavar="PCT",
    help="Also read this percent of the data fully: never-read files first, then the oldest reads.",
)
@click.option("--budget", callback=_size, metavar="SIZE", help="Like --sample, as a size: 50GB, 500MiB.")
@click.option(
    "--jobs",
    type=click.IntRange(1, 256),
    metavar="N",
    help="Concurrent exports (default per store); also the worker processes that parse files (default: the cores).",
)
@click.option("--rescan", is_flag=True, help="Verify every export again, even unchanged ones.")
@click.option(
    "--executor",
    default="local",
    show_default=True,
    callback=_executor,
    metavar="local|dask://HOST:PORT",
    help="Where export checks run: threads here, or the workers of a Dask cluster (pip install 'verifier[dask]'); "
    "the catalog is written here either way. An unreachable scheduler: exit 4, nothing run.",
)
@click.option(
    "--json",
    "json_path",
    metavar="[PATH]",
    is_flag=False,
    flag_value="-",
    help="The JSON summary on stdout (like every other command's --json), or written to PATH.",
)
@click.option(
    "--metrics", "metrics_path", metavar="PATH", help="Write Prometheus text format (node_exporter textfile)."
)
@click.pass_obj
def run(
    ctx: Context,
    destinations: tuple[str, ...],
    datasets: tuple[str, ...],
    level: str,
    sample: float | None,
    budget: int | None,
    jobs: int | None,
    rescan: bool,
    executor: str,
    json_path: str | None,
    metrics_path: str | None,
) -> int:
    """The nightly job: scan, verify what is new or changed, record, summarise."""
    from verifier.cli.progress import progress_for
    from verifier.report import summary_dict
    from verifier.runner import RunOptions
    from verifier.runner import run as do_run

    config = ctx.config()
    opts = RunOptions(
        level=level,
        destinations=list(destinations),
        datasets=list(datasets),
        sample=sample,
        budget=budget,
        jobs=jobs,
        rescan=rescan,
        executor=executor,
    )
    if not config.destinations:
        fail(f"{config.path}: no [[destinations]] configured; nothing to verify")
    for name in destinations:
        config.destination(name)
    with progress_for(json_path == "-") as progress:
        summary = do_run(config, opts, progress=progress)
    data = summary_dict(summary)
    if json_path == "-":
        click.echo(out.dumps(data))
    else:
        if json_path:
            Path(json_path).write_text(out.dumps(data) + "\n")
        out.print_summary(summary)
    if metrics_path:
        from verifier.metrics import write_textfile

        write_textfile(config, Path(metrics_path), summary)
    _notify(config, summary)
    return summary.exit_code


def _notify(config: Any, summary: Any) -> None:
    from verifier.notify import after_run
    from verifier.triage import relativizer

    after_run(config.notify, config.catalog_path, summary, relativizer({d.name: d.url for d in summary.destinations}))


@click.command()
@config_option
@click.option("--dataset", metavar="ID", help="Only this dataset.")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_obj
def status(ctx: Context, dataset: str | None, as_json: bool) -> None:
    """One line per dataset: destination, latest export, last verified, status, open findings, next expected."""
    from verifier import queries

    rows = queries.status(ctx.catalog(), dataset)
    if as_json:
        click.echo(out.dumps(rows))
        return
    view = [
        {
            "dataset": r["dataset_id"],
            "destination": r["destination"],
            "latest export": r["latest_export"],
            "last verified": r["last_verified"],
            "status": r["status"],
            "open findings": f"{r['open_errors']}E {r['open_warnings']}W",
            "next expected": r["next_expected"],
            "full-read": f"{r['full_read_pct'] or 0:.0f}%",
            "oldest full read": r["oldest_full_read"],
            "all read in": _coverage(r["full_coverage_in_runs"]),
            **({"dataflow": _flow_cell(r["dataflow"])} if any(x["dataflow"] for x in rows) else {}),
        }
        for r in rows
    ]
    if not view:
        click.echo("no datasets in the catalog yet; run `verifier run` first")
        return
    out.table(view)


def _flow_cell(flow: dict[str, Any] | None) -> str:
    """The dataflow's health in one cell: state, last run, failures, end time."""
    if not flow:
        return "-"
    parts = [str(flow["state"]), f"last run {flow['last_run_status'] or 'none'}"]
    if flow["failed_runs_7d"]:
        parts.append(f"{flow['failed_runs_7d']} failed in 7d")
    if flow["end_time"] is not None:
        parts.append(f"ends {flow['end_time']:%Y-%m-%d}")
    return ", ".join(parts)


@click.command()
@config_option
@click.argument("dataset")
@click.option("--destination", metavar="NAME", help="Only this destination.")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_obj
def exports(ctx: Context, dataset: str, destination: str | None, as_json: bool) -> int:
    """The export history of one dataset."""
    from verifier import queries

    rows = queries.exports(ctx.catalog(), dataset, destination)
    if as_json:
        click.echo(out.dumps(rows))
        return 0
    if not rows:
        fail(f"no exports of dataset {dataset!r} in the catalog{_did_you_mean(ctx, dataset)}", NOT_RUN)
    out.table(
        rows,
        [
            "destination",
            "export_time",
            "kind",
            "status",
            "level",
            "file_count",
            "total_bytes",
            "record_count",
            "verified_at",
            "findings",
        ],
        title=f"exports of {dataset}",
    )
    return 0


@click.command()
@config_option
@click.option("--run", "run_id", type=int, metavar="ID", help="Findings of this run.")
@click.option("--last", is_flag=True, help="Findings of the last run (the default).")
@click.option("--severity", type=click.Choice(["info", "warning", "error"]), help="At least this severity.")
@click.option("--dataset", metavar="ID", help="Only this dataset.")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_obj
def findings(
    ctx: Context, run_id: int | None, last: bool, severity: str | None, dataset: str | None, as_json: bool
) -> None:
    """What a run found (the last one unless --run)."""
    from verifier import queries

    cat = ctx.catalog()
    if run_id is None:
        run_id = queries.last_run_id(cat)
        if run_id is None:
            fail("no runs in the catalog yet; run `verifier run` first")
    elif not queries.runs(cat, run_id):
        newest = queries.last_run_id(cat)
        hint = f"; the last run is {newest}" if newest else "; run `verifier run` first"
        fail(f"no run {run_id} in the catalog{hint}")
    rows = queries.findings(cat, run_id, severity, dataset)
    if as_json:
        click.echo(out.dumps(rows))
        return
    if not rows:
        click.echo(f"run {run_id}: no findings")
        return
    click.echo(f"findings of run {run_id}: {len(rows)}")
    config = ctx.config()
    out.print_findings(
        [out.finding_from_row(r) for r in rows], {d.name: d.url or "" for d in config.destinations}, run_id, limit=10**9
    )


@click.command()
@config_option
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON output (the same as --format json).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    callback=_sql_timeout,
    help="Stop the query after this long: at most 15 s, half the 30 s a run waits for the catalog.",
)
@click.option("--max-rows", type=click.IntRange(1, 1_000_000), default=10_000, show_default=True, metavar="N")
@click.pass_obj
def sql(ctx: Context, query: str, fmt: str, as_json: bool, timeout: float, max_rows: int) -> None:
    """Read-only SQL over the catalog, bounded like POST /api/sql (no other file, 256 MB, one thread).

    \b
    Views (the questions people ask; columns in docs/sql.md):
      open_findings   what is broken now, with since when
      latest_exports  per dataset: latest export, latest intact export, latest restorable point
      dataset_health  what `verifier status` shows
      file_coverage   per file: last full read, never read
      export_history  per export: every verification with its outcome
      flow_health     per AEP dataflow: state, latest run, failed runs in 7 days
    Tables: runs, destinations, exports, files, checksums, verifications, findings,
    file_references, accepts, flows, flow_runs, notified, catalog_identity, schema_migrations.
    """
    from verifier.catalog import sandbox

    limits = sandbox.Limits(timeout_s=timeout, max_rows=max_rows, max_bytes=CLI_SQL_BYTES)
    try:
        ans = sandbox.query(ctx.config().catalog_path, query, limits)
    except (sandbox.SqlError, sandbox.SqlTimeout) as exc:
        fail(f"query failed: {exc}")
    cols, rows = ans.columns, ans.typed_rows()
    if as_json or fmt == "json":
        click.echo(out.dumps([dict(zip(cols, r, strict=True)) for r in rows]))
    elif fmt == "csv":
        sys.stdout.write(out.csv_text(cols, [tuple(r) for r in rows]))
    else:
        out.table([dict(zip(cols, r, strict=True)) for r in rows], cols)
    if ans.truncated:
        click.echo(
            f"verifier: answer truncated (at most {max_rows} rows, {CLI_SQL_BYTES >> 20} MiB, 64 KiB a value)", err=True
        )


@click.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=7, show_default=True, help="Generator seed.")
def demo(directory: Path | None, seed: int) -> int:
    """Generate realistic sample exports (a few broken), verify them, show status, a query and a restore plan."""
    from verifier.demo import run_demo

    out.print_demo(run_demo(directory or Path("demo"), seed=seed))
    return 0


@click.command()
@config_option
@click.option(
    "--destination", "destinations", multiple=True, metavar="NAME", help="Only this destination (repeatable)."
)
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_obj
def doctor(ctx: Context, destinations: tuple[str, ...], as_json: bool) -> int:
    """Check the config works, without recording a run: secrets, credential expiry, each store
    listable and one file readable, clock skew, the AEP token. Exit 0 (fine), 3 (something could
    not be reached or read) or 4 (bad config)."""
    from verifier.doctor import exit_code, run_doctor

    checks = run_doctor(ctx.config(), list(destinations) or None)
    if as_json:
        click.echo(out.dumps([c.as_dict() for c in checks]))
    else:
        out.table([c.as_dict() for c in checks], ["target", "check", "outcome", "detail"], title="verifier doctor")
    return exit_code(checks)


def _did_you_mean(ctx: Context, dataset: str) -> str:
    from verifier import queries

    found = queries.similar_datasets(ctx.catalog(), dataset)
    if len(found) == 1:
        return f"; did you mean {found[0]}?"
    return f"; datasets like it: {', '.join(found)}" if found else "; `verifier status` lists every dataset"
