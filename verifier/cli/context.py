"""What every command shares: the lazily loaded config and catalog, `--config` after a
command's name, and the one way to stop with a message and an exit status."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from verifier import redact
from verifier.exitcodes import NOT_RUN, help_text

RUN_EPILOG = "\b\nExit status:\n" + help_text()


class Context:
    def __init__(self, config_path: str | None, verbose: int = 0, quiet: int = 0, log_format: str = "text") -> None:
        self.config_path = config_path
        self.verbose = verbose
        self.quiet = quiet
        self.log_format = log_format

    def configure_logging(self) -> None:
        from verifier.cli.logsetup import configure

        configure(self.verbose, self.quiet, self.log_format)

    def config(self) -> Any:
        from verifier import config as cfg

        return cfg.load(cfg.find_config(self.config_path))

    def catalog(self) -> Any:
        from verifier.catalog import Catalog

        return Catalog(self.config().catalog_path)


def fail(message: str, code: int = NOT_RUN) -> NoReturn:
    click.echo(f"verifier: {redact.scrub(message)}", err=True)
    sys.exit(code)


def config_option(f: Any) -> Any:
    """Every command takes --config, -v, -q and --log-format too, after its name."""

    def store(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        if value:
            ctx.find_object(Context).config_path = value  # type: ignore[union-attr]

    def louder(attr: str) -> Any:
        def cb(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
            obj = ctx.find_object(Context)
            if obj is not None and value:
                setattr(obj, attr, getattr(obj, attr) + value if isinstance(value, int) else value)
                obj.configure_logging()

        return cb

    f = click.option(
        "--log-format",
        "log_format_sub",
        type=click.Choice(["text", "json"]),
        expose_value=False,
        callback=louder("log_format"),
        help="Log lines as text or JSON.",
    )(f)
    f = click.option(
        "-q", "--quiet", "quiet_sub", count=True, expose_value=False, callback=louder("quiet"), help="Fewer log lines."
    )(f)
    f = click.option(
        "-v",
        "--verbose",
        "verbose_sub",
        count=True,
        expose_value=False,
        callback=louder("verbose"),
        help="More log lines.",
    )(f)
    return click.option(
        "--config",
        "config_path_sub",
        metavar="PATH",
        expose_value=False,
        callback=store,
        is_eager=True,
        help="Config file (TOML).",
    )(f)
