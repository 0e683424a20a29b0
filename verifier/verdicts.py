"""The one consumer of a run's findings: scope, severity, storage, counts and the exit status.

Checks create findings and hand them up; nothing else touches them until they reach the run's ``Verdicts``
(restic's checker streams typed errors to ``cmd_check`` the same way). It, and only it:

- gives each finding its scope (destination, dataset, export; the uri is set where it was found)
  and the time it was found, filling what the check could not know;
- applies the config's severity overrides, once;
- stores it in the catalog: loose findings as they come, an export's with its rows
  (``write_outcomes``, in batches, each export in one transaction);
- counts it for the run and its destination, and derives the run's exit status.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from verifier.catalog import Catalog, ExportOutcome
from verifier.exitcodes import exit_code_for
from verifier.findings import Finding, Severity


@dataclass(frozen=True)
class Scope:
    """Where findings were made: a destination, one of its datasets, one of its exports."""

    destination: str
    dataset_id: str | None = None
    export_time: datetime | None = None


class Verdicts:
    def __init__(
        self,
        catalog: Catalog,
        run_id: int,
        now: datetime,
        severity: Mapping[str, Severity],
        *,
        flush_every: int,
        flush_seconds: float,
    ) -> None:
        self._catalog, self._run_id, self._now, self._severity = catalog, run_id, now, severity
        self._flush_every, self._flush_seconds = flush_every, flush_seconds
        self._buffer: list[ExportOutcome] = []
        self._last_flush = time.monotonic()
        self.findings: list[Finding] = []

    def report(self, scope: Scope, findings: Iterable[Finding]) -> list[Finding]:
        """Findings outside any export's outcome (listing, duplicates, datasets): stored now."""
        taken = [self._take(scope, f) for f in findings]
        if taken:
            self._catalog.add_findings(self._run_id, taken)
        return taken

    def outcome(self, out: ExportOutcome) -> None:
        """An export's outcome: its findings taken, the whole stored with the next batch."""
        e = out.export
        scope = Scope(e.destination, e.dataset_id, e.export_time)
        out.findings = [self._take(scope, f) for f in out.findings]
        self._buffer.append(out)
        if len(self._buffer) >= self._flush_every or time.monotonic() - self._last_flush > self._flush_seconds:
            self.flush()

    def outcomes(self, outs: Iterable[ExportOutcome]) -> None:
        """Many outcomes at once (the exports carried forward unchanged): stored as one batch,
        in one transaction, after whatever is waiting."""
        for out in outs:
            e = out.export
            scope = Scope(e.destination, e.dataset_id, e.export_time)
            out.findings = [self._take(scope, f) for f in out.findings]
            self._buffer.append(out)
        self.flush()

    def flush(self) -> None:
        self._catalog.write_outcomes(self._run_id, self._buffer)
        self._buffer.clear()
        self._last_flush = time.monotonic()

    def of(self, destination: str) -> list[Finding]:
        return [f for f in self.findings if f.destination == destination]

    def count(self, sev: Severity, destination: str | None = None) -> int:
        """Findings of severity `sev` (of one destination: without its own backend.unreachable,
        which is said by its reachable flag)."""
        fs = self.findings if destination is None else self.of(destination)
        skip = "" if destination is None else "backend.unreachable"
        return sum(1 for f in fs if f.sev == sev and f.code != skip)

    def exit_code(self, incomplete: bool) -> int:
        return exit_code_for(self.findings, incomplete)

    def _take(self, scope: Scope, f: Finding) -> Finding:
        f.destination = f.destination or scope.destination
        f.dataset_id = f.dataset_id or scope.dataset_id
        f.export_time = f.export_time or scope.export_time
        f.found_at = f.found_at or self._now
        if f.code in self._severity and not f.extra.get("severity_fixed"):
            f.severity = self._severity[f.code]
        self.findings.append(f)
        return f
