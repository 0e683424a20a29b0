"""A rich progress bar on a terminal; nothing otherwise."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from verifier.runner import Progress


class RichProgress(Progress):
    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=True,
            console=Console(stderr=True),
        )
        self.tasks: dict[str, int] = {}

    def destination_started(self, name: str) -> None:
        self.tasks[name] = self.bar.add_task(f"{name}: listing", total=None)

    def exports_planned(self, name: str, total: int) -> None:
        self.bar.update(self.tasks[name], description=f"{name}: verifying", total=total)  # type: ignore[arg-type]

    def export_done(self, name: str, outcome: object) -> None:
        self.bar.advance(self.tasks[name])  # type: ignore[arg-type]


@contextlib.contextmanager
def progress_for(quiet: bool) -> Iterator[Progress]:
    if quiet or not sys.stderr.isatty():
        yield Progress()
        return
    p = RichProgress()
    with p.bar:
        yield p
