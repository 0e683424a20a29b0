"""The `verifier` command: parse arguments, call the library, format, map errors to exit codes."""

from __future__ import annotations

import sys

import click

from verifier import __version__, redact
from verifier.cli import accept_cmd, aep_cmds, catalog_cmd, commands, restore_cmds, serve_cmd
from verifier.cli.context import Context, fail
from verifier.errors import BackendUnavailable, CatalogError, CatalogLocked, ConfigError, VerifierError
from verifier.exitcodes import NOT_RUN


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, "-V", "--version", prog_name="verifier")
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    envvar="VERIFIER_CONFIG",
    help="Config file (TOML). Default: $VERIFIER_CONFIG, else ./verifier.toml.",
)
@click.option("-v", "--verbose", count=True, help="More log lines on stderr (-vv: debug, with libraries).")
@click.option("-q", "--quiet", count=True, help="Fewer log lines (-q: warnings, -qq: errors only).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines as text or as one JSON object per line.",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: int, quiet: int, log_format: str) -> None:
    """Verify AEP / CJA dataset exports in cloud storage and keep their history in a DuckDB catalog.

    Outside a terminal, a run logs a line per destination and per dataset (-q for fewer lines).
    Shell completion: eval "$(_VERIFIER_COMPLETE=bash_source verifier)" (zsh_source, fish_source).
    """
    ctx.obj = Context(config_path, verbose, quiet, log_format)
    ctx.obj.configure_logging()


for _command in (
    commands.run,
    commands.status,
    commands.exports,
    commands.findings,
    commands.sql,
    commands.demo,
    commands.doctor,
    restore_cmds.restore_plan,
    restore_cmds.restore,
    serve_cmd.serve,
    aep_cmds.aep,
    aep_cmds.init,
    catalog_cmd.catalog,
    accept_cmd.accept,
):
    cli.add_command(_command)


def load_commands() -> click.Group:
    """The `verifier` group with every command on it (kept for callers that want the group)."""
    return cli


def _arrow_memory_pool() -> None:
    """jemalloc hands freed memory back; the default pool keeps it (full-level peak RSS 230 -> 140 MB)."""
    try:
        import pyarrow as pa

        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except Exception:  # noqa: BLE001 - a build without jemalloc keeps the default pool
        pass


def main() -> None:
    _arrow_memory_pool()

    no_args = getattr(click.exceptions, "NoArgsIsHelpError", None)
    try:
        rv = cli.main(standalone_mode=False)
    except click.UsageError as exc:
        if no_args is not None and isinstance(exc, no_args):
            click.echo(exc.format_message())
            sys.exit(0)
        # bad arguments are "nothing was run" (4), not click's default 2, which means broken backups
        click.echo(
            exc.format_message() if exc.ctx is None else f"{exc.ctx.get_usage()}\n\n{exc.format_message()}", err=True
        )
        sys.exit(NOT_RUN)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("verifier: aborted", err=True)
        sys.exit(130)
    except (ConfigError, CatalogLocked, CatalogError, BackendUnavailable) as exc:
        fail(str(exc))
    except VerifierError as exc:
        fail(str(exc))
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # noqa: BLE001 - a bug: report it, scrubbed, and never with a secret in it
        import traceback

        text = "".join(traceback.format_exception(exc))
        click.echo(redact.scrub(text), err=True)
        fail(f"internal error ({type(exc).__name__}); this is a bug — please report it with the lines above")
    sys.exit(rv if isinstance(rv, int) else 0)


__all__ = ["cli", "load_commands", "main"]
