"""`verifier aep flows` and `verifier init`: from credentials to a working config."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from verifier.cli.context import Context, config_option, fail
from verifier.exitcodes import INCOMPLETE

TYPES = click.Choice(["local", "s3", "azure_blob", "adls_gen2", "gcs", "sftp", "dlz"])


def _aep_options(f: Any) -> Any:
    for opt in reversed(
        [
            click.option("--org-id", metavar="ORG", help="IMS org id (…@AdobeOrg). Default: [aep] of the config."),
            click.option("--sandbox", default="prod", show_default=True, help="Sandbox name (x-sandbox-name)."),
            click.option("--platform-url", default="https://platform.adobe.io", show_default=True),
            click.option("--ims-url", default="https://ims-na1.adobelogin.com/ims/token/v3", show_default=True),
        ]
    ):
        f = opt(f)
    return f


def _settings(ctx: Context, org_id: str | None, sandbox: str, platform_url: str, ims_url: str) -> Any:
    """[aep] from the options and $AEP_CLIENT_ID / $AEP_CLIENT_SECRET, else from the config file."""
    from verifier.aep.settings import AepSettings

    if org_id:
        cid, secret = os.environ.get("AEP_CLIENT_ID"), os.environ.get("AEP_CLIENT_SECRET")
        if not cid or not secret:
            fail("set AEP_CLIENT_ID and AEP_CLIENT_SECRET to the OAuth Server-to-Server credential (docs/aep.md)")
        return AepSettings(org_id, cid, secret, sandbox=sandbox, platform_url=platform_url, ims_url=ims_url)
    cfg = ctx.config()
    if cfg.aep is None:
        fail(f"{cfg.path}: no [aep] table; add one (docs/aep.md) or pass --org-id with AEP_CLIENT_ID/AEP_CLIENT_SECRET")
    return cfg.aep


def _flows(settings: Any) -> Any:
    from verifier.aep.client import AepError, AepUnavailable, FlowServiceClient
    from verifier.aep.fetch import list_dataset_flows

    try:
        with FlowServiceClient(settings) as client:
            return list_dataset_flows(client)
    except (AepError, AepUnavailable) as exc:
        fail(str(exc), INCOMPLETE)


@click.group()
def aep() -> None:
    """Adobe Experience Platform: the dataset-export dataflows the credential sees."""


@aep.command("flows")
@config_option
@_aep_options
@click.option("--json", "as_json", is_flag=True, help="JSON: one object per dataflow, and the TOML block.")
@click.pass_obj
def flows(ctx: Context, org_id: str | None, sandbox: str, platform_url: str, ims_url: str, as_json: bool) -> None:
    """List dataset-export dataflows (state, schedule, end time, datasets, target, last run) and print a
    ready [[destinations]] block for them. Exit 3 if Adobe cannot be reached or refuses the credential."""
    from verifier.aep.onboard import destination_blocks, flow_row

    snaps = _flows(_settings(ctx, org_id, sandbox, platform_url, ims_url))
    rows = [flow_row(s) for s in snaps]
    if as_json:
        click.echo(json.dumps({"flows": rows, "destinations_toml": destination_blocks(snaps)}, indent=2))
        return
    for r in rows:
        sched = r["schedule"]
        click.echo(
            f"{r['flow_id']}  {r['name']}  [{r['state']}]  {r['type']}  every {sched['every']}, ends {sched['end'] or '-'}"
        )
        click.echo(f"  target {r['target']['url'] or '-'}  {r['target']['format']}/{r['target']['compression']}")
        for ds, name in sorted(r["datasets"].items()):
            click.echo(f"  dataset {ds}  {name}")
        if r["last_run"]:
            click.echo(f"  last run {r['last_run']['id']}  {r['last_run']['state']}")
    if not rows:
        click.echo("no dataset-export dataflows are visible to this credential in this sandbox")
        return
    click.echo("\n# add to verifier.toml:\n" + destination_blocks(snaps))


@click.command()
@_aep_options
@click.option("--from-aep", is_flag=True, help="Build the config from the dataflows the AEP credential sees.")
@click.option("--type", "kind", type=TYPES, help="Store type (without --from-aep).")
@click.option("--url", help="Store URL (without --from-aep), e.g. s3://bucket/folder.")
@click.option("--name", default="backups", show_default=True, help="Destination name.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "json"]), default="parquet", show_default=True)
@click.option("--compression", type=click.Choice(["gzip", "none"]), default="gzip", show_default=True)
@click.option("--schedule", default="24h", show_default=True, help="3h | 6h | 8h | 12h | 24h | auto.")
@click.option("--catalog", default="verifier.duckdb", show_default=True, help="Catalog file, relative to the config.")
@click.option("--output", "-o", default="verifier.toml", show_default=True, type=click.Path(dir_okay=False))
def init(
    org_id: str | None,
    sandbox: str,
    platform_url: str,
    ims_url: str,
    from_aep: bool,
    kind: str | None,
    url: str | None,
    name: str,
    fmt: str,
    compression: str,
    schedule: str,
    catalog: str,
    output: str,
) -> None:
    """Write a commented verifier.toml: from --type/--url, or from AEP (--from-aep --org-id, with
    AEP_CLIENT_ID and AEP_CLIENT_SECRET set). Never overwrites an existing file."""
    from verifier.aep import onboard

    out = Path(output)
    if out.exists():
        fail(f"{out} exists; verifier init never overwrites: remove it or pass --output")
    if from_aep:
        if not org_id:
            fail("--from-aep needs --org-id (your …@AdobeOrg id) and AEP_CLIENT_ID / AEP_CLIENT_SECRET set")
        settings = _settings(Context(None), org_id, sandbox, platform_url, ims_url)
        snaps = _flows(settings)
        if not snaps:
            fail("no dataset-export dataflows are visible to this credential in this sandbox; nothing to write")
        text = onboard.aep_config(settings, snaps, catalog)
    else:
        if not kind:
            fail("give --type and --url, or --from-aep")
        text = onboard.plain_config(kind, url, name, catalog, fmt, compression, schedule)
    try:
        with out.open("x", encoding="utf-8") as fh:  # "x": a file that appeared meanwhile is not overwritten
            fh.write(text)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}")
    click.echo(f"wrote {out}; check it with `verifier run --level listing`")
