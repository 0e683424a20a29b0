"""`verifier serve`: the schedule, the HTTP API and the dashboard in one process."""

from __future__ import annotations

import ipaddress
import logging

import click

from verifier.cli.context import Context, config_option, fail
from verifier.exitcodes import NOT_RUN


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: may resolve anywhere, so treat it as exposed


@click.command()
@config_option
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to bind. Not loopback: a token is required."
)
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="Port to bind.")
@click.option(
    "--allowed-host",
    "allowed",
    multiple=True,
    metavar="NAME",
    help="Also answer to this Host name (a proxy's or DNS name; repeatable). Others get 421.",
)
@click.pass_obj
def serve(ctx: Context, host: str, port: int, allowed: tuple[str, ...]) -> None:
    """Run the [service] schedule and serve the HTTP API and dashboard (one process owns the catalog).

    \b
    API: /healthz, /metrics, /api/runs, /api/datasets, /api/findings, /api/restore-plan, /api/sql;
    OpenAPI at /openapi.json; dashboard at /. With [service.secrets] token set, every path but
    /healthz needs "Authorization: Bearer <token>" (in a browser: open /?token=<token> once).
    A token is required when --host is not a loopback address. SIGTERM stops scheduling and lets
    the run in progress finish the exports it is checking.
    """
    try:
        import uvicorn

        from verifier.service.app import create_app
    except ImportError as exc:
        fail(
            f"`verifier serve` needs FastAPI, uvicorn and Jinja2 ({exc.name} is missing): reinstall verifier (pip install -e .)"
        )

    config = ctx.config()
    exposed = not is_loopback(host)
    if exposed and not config.service.token:
        fail(
            f"refusing to serve on {host} without a token: anyone who can reach it could read the catalog; "
            'set [service.secrets] token = "${VERIFIER_TOKEN}" in the config, or bind to 127.0.0.1',
            NOT_RUN,
        )
    from verifier.service.origin import allowed_hosts

    app = create_app(config, exposed=exposed, hosts=allowed_hosts(host, allowed))
    for name in ("verifier", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.INFO)
    schedule = config.service.schedule or "none (runs on demand only: POST /api/runs)"
    click.echo(f"verifier: serving http://{host}:{port}/ ; schedule: {schedule}", err=True)
    # log_config=None: uvicorn's records go through verifier's handler, which scrubs secrets
    # (a ?token= in an access-log line included)
    uvicorn.run(app, host=host, port=port, log_config=None, server_header=False, timeout_graceful_shutdown=10)
