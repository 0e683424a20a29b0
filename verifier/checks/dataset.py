"""Checks across a dataset's exports: schema drift, schedule gaps, staleness."""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from verifier.findings import Finding
from verifier.timeutil import format_duration, iso

CADENCES = [timedelta(hours=h) for h in (3, 6, 8, 9, 12, 24)]


@dataclass
class ExportState:
    export_time: datetime
    uri: str
    status: str
    schema: dict[str, str] | None
    new_this_run: bool  # first seen in this run: gaps and drift are reported once, when it appears
    checked_this_run: bool


def infer_cadence(times: list[datetime]) -> timedelta | None:
    """The standard cadence closest to the median spacing of at least three exports."""
    ts = sorted(set(times))
    if len(ts) < 3:
        return None
    median = statistics.median((b - a).total_seconds() for a, b in itertools.pairwise(ts))
    return min(CADENCES, key=lambda c: abs(c.total_seconds() - median))


def schema_drift(exports: list[ExportState], json_format: bool) -> list[Finding]:
    """Drift between consecutive exports: reported when the export that shows it is checked, and
    again every run while it is the dataset's latest export (a warning must not vanish because a
    night was missed; it goes when a newer export arrives)."""
    out: list[Finding] = []
    prev: ExportState | None = None
    usable = sorted(
        (x for x in exports if x.schema is not None and x.status not in ("vanished", "pending")),
        key=lambda x: x.export_time,
    )
    latest = usable[-1] if usable else None
    for e in usable:
        if prev is not None and (e.checked_this_run or e is latest) and prev.schema is not None and e.schema:
            a, b = prev.schema, e.schema
            retyped = sorted(c for c in set(a) & set(b) if a[c] != b[c] and "null" not in (a[c], b[c]))
            added = [] if json_format else sorted(set(b) - set(a))
            removed = [] if json_format else sorted(set(a) - set(b))
            if added or removed or retyped:
                parts = []
                if added:
                    parts.append("added " + ", ".join(added[:10]) + (" …" if len(added) > 10 else ""))
                if removed:
                    parts.append("removed " + ", ".join(removed[:10]) + (" …" if len(removed) > 10 else ""))
                if retyped:
                    parts.append("retyped " + ", ".join(f"{c} ({a[c]} -> {b[c]})" for c in retyped[:10]))
                out.append(
                    Finding(
                        "dataset.schema_drift",
                        f"{e.uri}: schema changed since the export of "
                        f"{iso(prev.export_time)}: {'; '.join(parts)}. A restore across this point needs the "
                        "union of both schemas",
                        export_time=e.export_time,
                        uri=e.uri,
                    )
                )
        prev = e
    return out


def schedule_gaps(exports: list[ExportState], cadence: timedelta | None, dataset_uri: str) -> list[Finding]:
    present = [e for e in exports if e.status != "vanished"]
    times = sorted({e.export_time for e in present})
    cad = cadence or infer_cadence(times)
    if cad is None:
        return []
    new = {e.export_time for e in present if e.new_this_run}
    out: list[Finding] = []
    for a, b in itertools.pairwise(times):
        if b not in new:
            continue
        missing = round((b - a) / cad) - 1
        if missing >= 1:
            out.append(
                Finding(
                    "dataset.schedule_gap",
                    f"{dataset_uri}: {missing} expected export(s) missing between "
                    f"{iso(a)} and {iso(b)} (cadence {format_duration(cad)}); check the dataflow's run history in AEP",
                    export_time=b,
                    uri=dataset_uri,
                )
            )
    return out


def staleness(
    exports: list[ExportState],
    stale_after: timedelta,
    now: datetime,
    dataset_uri: str,
) -> list[Finding]:
    present = [e.export_time for e in exports if e.status != "vanished"]
    if not present:
        return []
    latest = max(present)
    if now - latest > stale_after:
        return [
            Finding(
                "dataset.stale",
                f"{dataset_uri}: the latest export is from {iso(latest)}, "
                f"{(now - latest).total_seconds() / 3600:.1f}h ago, more than stale_after ({format_duration(stale_after)}); "
                "check that the dataflow is still enabled and running",
                uri=dataset_uri,
            )
        ]
    return []


def chain_breaks(
    exports: list[ExportState], export_mode: str, retention_cutoff: datetime | None, dataset_uri: str
) -> list[Finding]:
    """restore.chain_broken: exports after a failed or vanished link cannot be restored.

    Only for "first full, then incremental" chains. Reported when it is news: the broken link
    was judged in this run, or exports that depend on it arrived in this run. Links that
    vanished past the store's retention (the Data Landing Zone's 7 days) are expected, not news.
    """
    if export_mode != "first_full_then_incremental":
        return []
    ordered = sorted(exports, key=lambda e: e.export_time)
    for i, link in enumerate(ordered):
        if link.status not in ("failed", "vanished"):
            continue
        if link.status == "vanished" and retention_cutoff is not None and link.export_time < retention_cutoff:
            continue
        later = [e for e in ordered[i + 1 :] if e.status != "vanished"]
        if not later:
            return []
        if not (link.checked_this_run or any(e.new_this_run for e in later)):
            return []
        return [
            Finding(
                "restore.chain_broken",
                f"{dataset_uri}: the export of {iso(link.export_time)} is {link.status}, so "
                f"the {len(later)} later export(s) up to {iso(later[-1].export_time)} cannot be restored; restore "
                "that export from another copy, or start a new chain with a full export",
                export_time=link.export_time,
                uri=link.uri,
            )
        ]
    return []
