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
    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path

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
    """Every command takes --config too, after its name."""

    def store(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        if value:
            ctx.find_object(Context).config_path = value  # type: ignore[union-attr]

    return click.option(
        "--config",
        "config_path_sub",
        metavar="PATH",
        expose_value=False,
        callback=store,
        is_eager=True,
        help="Config file (TOML).",
    )(f)
