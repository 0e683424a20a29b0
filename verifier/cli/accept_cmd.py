"""`verifier accept`: an operator makes a file's current bytes its new reference."""

from __future__ import annotations

from datetime import datetime

import click

from verifier.cli import render as out
from verifier.cli.context import Context, config_option, fail


def _export(_ctx: click.Context, _p: click.Parameter, value: str | None) -> tuple[str, str, datetime] | None:
    """DEST/DATASET/EXPORT_TIME, the time as in the folder name (YYYYMMDDHHMM) or ISO 8601."""
    from verifier.timeutil import parse_time

    if value is None:
        return None
    parts = value.split("/")
    if len(parts) != 3 or not all(parts):
        raise click.BadParameter("use DEST/DATASET/EXPORT_TIME, e.g. prod/6631f0a2c3b/202611170600")
    try:
        return parts[0], parts[1], parse_time(parts[2])
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@config_option
@click.argument("uri", required=False)
@click.option("--export", "export", callback=_export, metavar="DEST/DATASET/EXPORT_TIME", help="Every file of it.")
@click.option("--reason", required=True, metavar="TEXT", help="Why these bytes are right (kept in the catalog).")
@click.option("--json", "as_json", is_flag=True, help="Print what was accepted as JSON.")
@click.pass_obj
def accept(ctx: Context, uri: str | None, export: tuple[str, str, datetime] | None, reason: str, as_json: bool) -> None:
    """Accept the bytes of a file's last full read as its new reference.

    \b
    After a file.checksum_mismatch you have checked: the catalog records who (user@host), when
    and why (table `accepts`), and the next run verifies the export again against the new
    reference. Give the file's URI as `verifier findings` shows it, or --export for all its files.
    Exit 0 when accepted, 4 when nothing was (unknown file, never read in full, catalog locked).
    """
    from verifier.catalog.references import accept as do_accept

    if (uri is None) == (export is None):
        fail("give either a file's URI or --export DEST/DATASET/EXPORT_TIME")
    done = do_accept(ctx.config().catalog_path, reason=reason, uri=uri, export=export)
    if as_json:
        click.echo(out.dumps([a.__dict__ for a in done]))
        return
    for a in done:
        click.echo(f"accepted {a.uri or a.name}: reference MD5 {a.old_md5 or '-'} -> {a.new_md5}")
