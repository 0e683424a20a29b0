"""A rich progress bar on a terminal; log lines per destination and per dataset otherwise."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections import Counter
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


log = logging.getLogger("verifier.run")


class LogProgress(Progress):
    """For cron and systemd: a line per dataset and per destination, with counts, as each finishes."""

    def __init__(self) -> None:
        self.planned: dict[str, int] = {}
        self.done: Counter[str] = Counter()
        self.datasets: dict[str, dict[str, Counter[str]]] = {}

    def destination_started(self, name: str) -> None:
        log.info("destination %s: listing", name)

    def exports_planned(self, name: str, total: int) -> None:
        self.planned[name] = total
        self.datasets[name] = {}
        log.info("destination %s: %d export(s) found", name, total)
        if total == 0:
            self._finish(name)

    def export_done(self, name: str, outcome: object) -> None:
        export = getattr(outcome, "export", None)
        verification = getattr(outcome, "verification", None)
        c = self.datasets.setdefault(name, {}).setdefault(getattr(export, "dataset_id", "?"), Counter())
        c["exports"] += 1
        c[f"status:{getattr(export, 'status', '?')}"] += 1
        c["unchanged"] += bool(verification is not None and getattr(verification, "skipped", False))
        c["files"] += getattr(verification, "files_checked", 0) or 0
        c["bytes"] += getattr(verification, "bytes_read", 0) or 0
        for f in getattr(outcome, "findings", []):
            c[str(f.sev)] += 1
        self.done[name] += 1
        if self.done[name] == self.planned.get(name, -1):
            self._finish(name)

    def _finish(self, name: str) -> None:
        total: Counter[str] = Counter()
        for ds, c in sorted(self.datasets.get(name, {}).items()):
            total.update(c)
            log.info("destination %s dataset %s: %s", name, ds, _counts(c))
        log.info("destination %s done: %s", name, _counts(total))


def _counts(c: Counter[str]) -> str:
    statuses = ", ".join(f"{k.split(':', 1)[1]} {v}" for k, v in sorted(c.items()) if k.startswith("status:"))
    return (
        f"{c['exports']} export(s) ({statuses or 'none'}; {c['unchanged']} unchanged), {c['files']} file(s) read, "
        f"{c['bytes'] / 1e6:.1f} MB; {c['error']} error(s), {c['warning']} warning(s), {c['info']} info"
    )


@contextlib.contextmanager
def progress_for(quiet: bool) -> Iterator[Progress]:
    if not sys.stderr.isatty():
        yield LogProgress()
        return
    if quiet:
        yield Progress()
        return
    p = RichProgress()
    with p.bar:
        yield p
