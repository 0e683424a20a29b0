"""`verifier catalog ...`: the catalog as a whole (its export for other tools)."""

from __future__ import annotations

import click

from verifier.cli import render as out
from verifier.cli.context import Context, config_option


@click.group()
def catalog() -> None:
    """The catalog as a whole: export it for a warehouse or another DuckDB."""


@catalog.command("export")
@config_option
@click.argument("target", metavar="DIR|URL")
@click.option("--since", type=click.IntRange(min=0), metavar="RUN_ID", help="Only what runs after RUN_ID added.")
@click.option(
    "--destination",
    metavar="NAME",
    help="Write with this configured destination's store options and secrets (else fsspec and the environment).",
)
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_obj
def export(ctx: Context, target: str, since: int | None, destination: str | None, as_json: bool) -> None:
    """Every table and view as Parquet, one folder each (per-export tables partitioned by
    destination), to a local folder or a store URL (s3://, az://, gs://, sftp://, ...).

    With --since, the history tables (runs, verifications, findings) get the rows of later runs
    and exports/files/checksums/file_references the exports those runs recorded (and references
    accepted since), in new files beside the earlier ones; the other tables (destinations,
    accepts, flows, flow_runs, notified, catalog_identity, schema_migrations) and the views are
    written whole. Column meanings: docs/sql.md.
    """
    from verifier.catalog.export import export_catalog
    from verifier.catalog.export import target as resolve

    config = ctx.config()
    fs = None
    if destination is not None:
        from verifier.backends import make_backend

        fs = make_backend(config.destination(destination)).fs
    fs, root = resolve(target, fs)
    written = export_catalog(config.catalog_path, fs, root, since)
    rows = [w.__dict__ for w in written]
    if as_json:
        click.echo(out.dumps(rows))
        return
    out.table(rows, ["table", "rows", "files", "mode"], title=f"catalog exported to {root}")
