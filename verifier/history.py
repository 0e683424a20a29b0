"""What the catalog remembers against what the store shows now.

Unchanged exports are carried forward with their open findings; exports recorded earlier and
gone now are vanished; and the checks across a dataset's whole history (schema drift, gaps,
staleness, broken restore chains) see every export, the ones verified tonight and the ones
recorded before.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from verifier.backends.base import Backend
from verifier.catalog import ExportOutcome, ExportRow, VerificationRow
from verifier.checks.dataset import ExportState, chain_breaks, schedule_gaps, schema_drift, staleness
from verifier.config import Destination
from verifier.findings import Finding, Severity
from verifier.layout import ScanResult

Key = tuple[str, datetime]  # (dataset_id, export_time)


def carry_forward(
    p: ExportRow, open_findings: list[Finding], kind: str, level: str, run_id: int, now: datetime
) -> ExportOutcome:
    """An unchanged, already verified export: no bytes read, its open findings recorded again."""
    p.run_id, p.last_seen_at, p.kind = run_id, now, kind
    carried = [
        Finding(
            code=f.code,
            message=f.message,
            destination=f.destination,
            dataset_id=f.dataset_id,
            export_time=f.export_time,
            uri=f.uri,
            found_at=f.found_at,
            extra={"first_run_id": f.extra.get("first_run_id")},
        )
        for f in open_findings
        if f.code != "file.changed"  # an event, reported by the run that saw it; the new bytes are the reference
    ]
    return ExportOutcome(
        export=p,
        findings=carried,
        verification=VerificationRow(
            level=p.level or level, status=p.status, files_checked=0, bytes_read=0, duration_s=0.0, skipped=True
        ),
    )


def vanished_exports(
    prev: dict[Key, ExportRow],
    present: set[Key],
    datasets: Iterable[str] | None,
    backend: Backend,
    level: str,
    run_id: int,
    now: datetime,
    unlisted: set[str] | None = None,
) -> list[ExportOutcome]:
    """Exports recorded earlier and gone now: reported once, when they go.

    Past the store's retention (the Data Landing Zone's 7 days) that is expected: severity info.
    Datasets whose folder could not be listed tonight (`unlisted`) are unknown, not gone.
    """
    wanted = set(datasets) if datasets else None
    out = []
    for key, p in sorted(prev.items()):
        if key in present or p.status == "vanished" or (wanted is not None and key[0] not in wanted):
            continue
        if unlisted and key[0] in unlisted:
            continue
        sev = Severity.ERROR
        why = "restore it from another copy; every later point in time of this dataset depends on it"
        if backend.retention is not None and now - p.export_time > backend.retention:
            sev = Severity.INFO
            why = f"expected: the store keeps files {backend.retention.days} days"
        f = Finding(
            "export.vanished",
            f"{p.uri}: recorded with {p.file_count} file(s) on {p.first_seen_at:%Y-%m-%d} but gone now; {why}",
            destination=backend.dest.name,
            dataset_id=p.dataset_id,
            export_time=p.export_time,
            uri=p.uri,
            severity=sev,
            found_at=now,
            extra={"severity_fixed": sev == Severity.INFO},
        )
        p.status, p.run_id = "vanished", run_id
        for fr in p.files.values():
            fr.status = "vanished"
        out.append(
            ExportOutcome(
                export=p,
                findings=[f],
                verification=VerificationRow(
                    level=level, status="vanished", files_checked=0, bytes_read=0, duration_s=0.0
                ),
            )
        )
    return out


def dataset_findings(
    dest: Destination,
    sr: ScanResult,
    prev: dict[Key, ExportRow],
    outcomes: list[ExportOutcome],
    now: datetime,
    backend: Backend,
) -> dict[str, list[Finding]]:
    """Schema drift, schedule gaps, staleness and broken restore chains, per dataset listed tonight."""
    by_ds: dict[str, dict[datetime, ExportState]] = {}
    for key, p in prev.items():
        by_ds.setdefault(key[0], {})[key[1]] = ExportState(
            p.export_time, p.uri, p.status, p.data_schema(), False, False
        )
    for out in outcomes:
        e = out.export
        checked = out.verification is not None and not out.verification.skipped
        by_ds.setdefault(e.dataset_id, {})[e.export_time] = ExportState(
            e.export_time, e.uri, e.status, e.data_schema(), (e.dataset_id, e.export_time) not in prev, checked
        )
    cutoff = now - backend.retention if backend.retention is not None else None
    found: dict[str, list[Finding]] = {}
    for ds_id, states in sorted(by_ds.items()):
        if ds_id not in sr.datasets:
            continue
        exports = list(states.values())
        ds_uri = backend.uri(sr.datasets[ds_id].path)
        fs = schema_drift(exports, dest.format == "json") + schedule_gaps(exports, dest.schedule, ds_uri)
        fs += staleness(exports, dest.stale_after, now, ds_uri)
        fs += chain_breaks(exports, dest.export_mode, cutoff, ds_uri)
        if fs:
            found[ds_id] = fs  # scoped to the dataset by the run's Verdicts
    return found
