"""`verifier demo`: sample exports (a few broken), a run, status, a query, findings, a restore plan."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from verifier.cli import render as out

DEMO_DEFECTS = [
    # (dataset index, export index, defect)
    (0, 2, "parquet_truncated"),
    (1, 1, "manifest_file_missing"),
    (2, 3, "json_bad_line"),
    (3, 4, "schema_drift"),  # a warning: the newest export added a column and retyped one
]


def _config_text(exports: Path, catalog: Path) -> str:
    return f"""# written by `verifier demo`
[catalog]
path = "{catalog}"

[defaults]
schedule = "24h"
stale_after = "48h"
settle_time = "2h"

[[destinations]]
name = "demo-parquet"
type = "local"
url = "{exports / "parquet"}"
format = "parquet"
compression = "gzip"

[[destinations]]
name = "demo-parquet-plain"
type = "local"
url = "{exports / "parquet-plain"}"
format = "parquet"
compression = "none"

[[destinations]]
name = "demo-json"
type = "local"
url = "{exports / "json"}"
format = "json"
"""


def generate(directory: Path, seed: int, now: datetime) -> Path:
    """Write three destinations of sample exports under DIR/exports and a config; return the config path."""
    from verifier_fixtures.defects import inject
    from verifier_fixtures.generate import generate_dataset

    exports = directory / "exports"
    if exports.exists():
        shutil.rmtree(exports)
    start = (now - timedelta(days=5)).replace(hour=2, minute=0, second=0, microsecond=0)
    datasets = []
    profiles = [
        ("parquet", "parquet", "gzip"),
        ("parquet", "parquet", "gzip"),
        ("json", "json", "gzip"),
        ("parquet-plain", "parquet", "none"),
    ]
    for i, (sub, fmt, comp) in enumerate(profiles):
        datasets.append(
            generate_dataset(
                exports / sub, fmt=fmt, compression=comp, start=start, count=5, files_per_export=2, seed=seed + i
            )
        )
    for ds_i, ex_i, defect in DEMO_DEFECTS:
        inject(datasets[ds_i][ex_i], defect)
    catalog = directory / "verifier.duckdb"
    for p in (catalog, catalog.with_name(catalog.name + ".wal")):
        p.unlink(missing_ok=True)
    cfg = directory / "verifier.toml"
    cfg.write_text(_config_text(exports.resolve(), catalog.resolve()))
    return cfg


def run_demo(directory: Path, seed: int = 7) -> int:
    from verifier import config as cfgmod
    from verifier import queries
    from verifier.cli.commands import _print_summary
    from verifier.runner import RunOptions, run

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    cfg_path = generate(directory, seed, now)
    click.echo(f"== sample exports written under {directory / 'exports'}; config {cfg_path}")
    config = cfgmod.load(cfg_path)
    summary = run(config, RunOptions(level="full"))
    click.echo("\n== verifier run --level full")
    _print_summary(summary)
    from verifier.catalog import Catalog

    catalog = Catalog(config.catalog_path)
    click.echo("\n== verifier status")
    rows = queries.status(catalog)
    out.table(
        [
            {
                "dataset": r["dataset_id"],
                "destination": r["destination"],
                "latest export": r["latest_export"],
                "status": r["status"],
                "errors": r["open_errors"],
                "warnings": r["open_warnings"],
                "next expected": r["next_expected"],
            }
            for r in rows
        ]
    )
    query = (
        "SELECT dataset_id, count(*) AS exports, sum(record_count) AS records, "
        "round(sum(total_bytes) / 1e6, 2) AS mb, count(*) FILTER (WHERE status = 'failed') AS failed "
        "FROM exports GROUP BY dataset_id ORDER BY dataset_id"
    )
    click.echo(f'\n== verifier sql "{query}"')
    cols, data = catalog.query(query)
    out.table([dict(zip(cols, r, strict=True)) for r in data], cols)
    click.echo("\n== verifier findings --last --severity warning")
    out.table(queries.findings(catalog, summary.run_id, "warning"), ["severity", "code", "dataset_id", "message"])
    from verifier.restore import plan as restore_plan

    healthy = [r for r in rows if r["status"] in ("ok", "warning")]
    if healthy:
        ds = healthy[0]["dataset_id"]
        click.echo(f"\n== verifier restore-plan {ds} --as-of now")
        p = restore_plan.plan(config, ds, now)
        click.echo(restore_plan.describe(p))
    click.echo(
        f'\nTry: verifier --config {cfg_path} status   |   verifier --config {cfg_path} sql "SELECT * FROM findings"'
    )
    click.echo(f"(the run exited {summary.exit_code}: the demo plants broken exports on purpose)")
    return 0
