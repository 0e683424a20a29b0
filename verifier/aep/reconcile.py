"""Storage against Flow Service: what should be there, by the flow's schedule and runs.

Pure functions over fetched flows, runs and the catalog's export rows, so every rule is tested
without a server. The run <-> folder link (`link_export`) is an inference, documented in
AEP-FLOW-SERVICE.md §4: a folder carries its *scheduled* time; the run that wrote it is the
first run of its flow started at or after that time and before the next slot. A manifest's
`flowRunId` names the run directly and always wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from verifier import redact
from verifier.aep.fetch import FlowSnapshot
from verifier.aep.model import FlowRun, Schedule
from verifier.catalog.flows import ExportFact
from verifier.findings import Finding
from verifier.settings import Destination
from verifier.timeutil import iso

LOOKBACK = timedelta(days=7)  # runs and slots older than this are history, not tonight's news
ENDING_WITHIN = timedelta(days=14)
DEFAULT_TEMPLATE = "%DATASET_ID%/%EXPORT_TIME%"
_DEFAULT_WINDOW = timedelta(hours=24)  # a run's slot when the schedule is unknown
_MODES = {"FIRST_FULL_THEN_INCREMENTAL": "first_full_then_incremental", "DAILY_FULL_EXPORT": "full"}


@dataclass
class Reconciliation:
    findings: list[Finding] = field(default_factory=list)
    links: dict[tuple[str, datetime], str] = field(default_factory=dict)  # (dataset, time) -> run id
    scheduled: dict[str, datetime] = field(default_factory=dict)  # run id -> the slot it served
    # datasets whose expected exports came from a known schedule: storage's own gap inference
    # (dataset.schedule_gap) is not raised for them, the findings here say why a slot is empty
    reconciled: set[str] = field(default_factory=set)


def slot_of(started: datetime | None, schedule: Schedule) -> datetime | None:
    """The scheduled time a run served: the last slot of the schedule at or before its start."""
    step, start = schedule.step, schedule.start
    if started is None or start is None or started < start:
        return None
    if step is None:
        return start
    return start + ((started - start) // step) * step


def link_export(
    export_time: datetime, manifest_run: str | None, runs: Iterable[FlowRun], step: timedelta | None
) -> FlowRun | None:
    """The run that wrote the folder `export_time`: the run its manifest's `flowRunId` names, else
    the first run started at or after the folder's time and before the next slot."""
    runs = list(runs)
    named = next((r for r in runs if manifest_run and r.id == manifest_run), None)
    if named is not None:
        return named
    window = step or _DEFAULT_WINDOW
    fits = [r for r in runs if r.started_at is not None and export_time <= r.started_at < export_time + window]
    return min(fits, key=lambda r: r.started_at or export_time) if fits else None


def reconcile(
    dest: Destination,
    snap: FlowSnapshot,
    runs: list[FlowRun],
    exports: list[ExportFact],
    now: datetime,
    retention: timedelta | None,
) -> Reconciliation:
    out = Reconciliation()
    out.findings += flow_findings(dest, snap, now)
    sched = snap.flow.schedule
    for r in runs:
        slot = slot_of(r.started_at, sched)
        if slot is not None:
            out.scheduled[r.id] = slot
    recent = [r for r in runs if r.started_at is not None and r.started_at >= now - LOOKBACK]
    out.findings += [_run_failed(dest, snap, r, out.scheduled.get(r.id)) for r in recent if r.status == "failed"]
    by_ds: dict[str, list[ExportFact]] = {}
    for e in exports:
        by_ds.setdefault(e.dataset_id, []).append(e)
    for ds in sorted(snap.datasets):
        _dataset(out, dest, snap, ds, [r for r in recent if ds in covered(r, snap)], by_ds.get(ds, []), now, retention)
    if sched.start is not None:
        out.reconciled.update(snap.datasets)
    for f in out.findings:
        f.destination, f.found_at = dest.name, now
    return out


def covered(run: FlowRun, snap: FlowSnapshot) -> set[str]:
    """The datasets a run exported: those it names, else (it names none of them) all of the flow's."""
    named = run.dataset_ids & set(snap.datasets)
    return named or set(snap.datasets)


def _dataset(
    out: Reconciliation,
    dest: Destination,
    snap: FlowSnapshot,
    ds: str,
    runs: list[FlowRun],
    facts: list[ExportFact],
    now: datetime,
    retention: timedelta | None,
) -> None:
    settled = [
        r for r in runs if r.status == "success" and (r.completed_at or r.started_at or now) <= now - dest.settle_time
    ]
    flow = snap.flow
    if not facts and settled:
        last = max(settled, key=lambda r: r.started_at or now)
        out.findings.append(
            Finding(
                "dataset.not_exported",
                f"dataset {ds} ({snap.datasets[ds] or 'no name'}) is in dataflow {flow.id} ({flow.name}), whose "
                f"run {last.id} succeeded at {iso(last.started_at)}, but {dest.name} holds no export of it: check "
                "the dataflow's target folder and that the dataset has data",
                dataset_id=ds,
            )
        )
        return
    known = {e.export_time: e for e in facts}
    if flow.state != "disabled":  # disabled: flow.disabled is the one finding for the slots it skips
        _slots_without_run(out, dest, snap, ds, runs, known, now, retention)
    step = flow.schedule.step
    reported: set[datetime] = set()
    for r in settled:
        slot = out.scheduled.get(r.id)
        if slot is None or slot in known or slot in reported:
            continue  # present, or recorded and gone (export.vanished says so), or said already
        if retention is not None and now - slot > retention:
            continue  # the store deletes after its retention (DLZ: 7 days): absence is expected
        reported.add(slot)
        out.findings.append(
            Finding(
                "export.missing",
                f"dataflow {flow.id} run {r.id} succeeded for {iso(slot)}, but the folder of dataset {ds} for that "
                f"time is not in {dest.name}: check the dataflow's target path, or whether something deleted it",
                dataset_id=ds,
                export_time=slot,
            )
        )
    for e in facts:
        if e.status == "vanished" or e.export_time < now - LOOKBACK or e.export_time > now - dest.settle_time:
            continue
        run = link_export(e.export_time, e.flow_run_id, runs, step)
        if run is None:
            if flow.schedule.start is None or e.export_time >= flow.schedule.start:
                out.findings.append(
                    Finding(
                        "export.no_run",
                        f"{e.uri}: no run of dataflow {flow.id} accounts for this folder (none started between its "
                        "time and the next slot); was it written by hand or by another dataflow?",
                        dataset_id=ds,
                        export_time=e.export_time,
                        uri=e.uri,
                    )
                )
            continue
        if e.flow_run_id != run.id:
            out.links[(ds, e.export_time)] = run.id
        _record_counts(out, e, run, snap, ds)


def _slots_without_run(
    out: Reconciliation,
    dest: Destination,
    snap: FlowSnapshot,
    ds: str,
    runs: list[FlowRun],
    known: dict[datetime, ExportFact],
    now: datetime,
    retention: timedelta | None,
) -> None:
    """`export.missing` for scheduled slots with neither a folder nor any run of the dataset.

    Slots are the schedule's (`startTime` + k × interval, before `endTime`) inside the reconcile
    window (the last 7 days, no older than the store's retention) and past `settle_time`. A slot
    whose run failed is `flow.run_failed`'s, one whose run succeeded is the other `export.missing`,
    one whose run is still going is not due: only a slot Flow Service has no run for is said here.
    A stretch of such slots is one finding, at its first slot (one cause: the flow did not run).
    """
    since = now - LOOKBACK
    if retention is not None:
        since = max(since, now - retention)
    slots = snap.flow.schedule.slots(since, now - dest.settle_time)
    served = {out.scheduled[r.id] for r in runs if r.id in out.scheduled}
    stretches: list[list[datetime]] = [[]]
    for t in slots:
        if t in known or t in served:
            if stretches[-1]:
                stretches.append([])
        else:
            stretches[-1].append(t)
    flow = snap.flow
    for stretch in (s for s in stretches if s):
        first, last = stretch[0], stretch[-1]
        more = f" and {len(stretch) - 1} later scheduled time(s) up to {iso(last)}" if len(stretch) > 1 else ""
        out.findings.append(
            Finding(
                "export.missing",
                f"dataflow {flow.id} ({flow.name}) is scheduled to export dataset {ds} at {iso(first)}{more}, "
                f"but Flow Service recorded no run for that scheduled time and {dest.name} holds no folder for "
                "it: check the dataflow's runs in Experience Platform (Monitoring > Dataflows); a schedule "
                "change or an outage at Adobe can skip a run",
                dataset_id=ds,
                export_time=first,
            )
        )


def _record_counts(out: Reconciliation, e: ExportFact, run: FlowRun, snap: FlowSnapshot, ds: str) -> None:
    """Only at full level (records are counted then) and only when the run's count is this dataset's."""
    if e.level != "full" or e.record_count is None or run.records is None or covered(run, snap) != {ds}:
        return
    if e.record_count != run.records:
        out.findings.append(
            Finding(
                "export.record_count_mismatch",
                f"{e.uri}: {e.record_count} records counted in the files, but dataflow run {run.id} reports "
                f"{run.records}: part of the export may be missing; compare in Adobe's dataflow monitoring",
                dataset_id=ds,
                export_time=e.export_time,
                uri=e.uri,
            )
        )


def _run_failed(dest: Destination, snap: FlowSnapshot, r: FlowRun, slot: datetime | None) -> Finding:
    named = covered(r, snap)
    errors = "; ".join(f"{c}: {m}" if c else m for c, m in r.errors[:5]) or "Adobe gave no error message"
    return Finding(
        "flow.run_failed",
        f"dataflow {snap.flow.id} ({snap.flow.name}) run {r.id} started {iso(r.started_at)} failed: "
        f"{redact.scrub(errors)[:500]}; see the run in Adobe's dataflow monitoring, fix the cause and re-run",
        dataset_id=next(iter(named)) if len(named) == 1 else None,
        export_time=slot,
    )


def flow_findings(dest: Destination, snap: FlowSnapshot, now: datetime) -> list[Finding]:
    """disabled, ending / ended, and settings that differ from the destination's config."""
    flow = snap.flow
    out = []
    if flow.state == "disabled":
        out.append(
            Finding(
                "flow.disabled",
                f"dataflow {flow.id} ({flow.name}) is disabled: no exports are being written; enable it in "
                "Experience Platform (Destinations > Browse) if that is not intended",
            )
        )
    end = flow.schedule.end
    if end is not None and end <= now:
        out.append(
            Finding(
                "flow.ended",
                f"dataflow {flow.id} ({flow.name}) reached its end time {iso(end)}: exports have stopped; set a "
                "later endTime on the dataflow's schedule",
            )
        )
    elif end is not None and end - now <= ENDING_WITHIN:
        out.append(
            Finding(
                "flow.ending",
                f"dataflow {flow.id} ({flow.name}) ends at {iso(end)}, within {ENDING_WITHIN.days} days, and "
                "exports will then stop silently; set a later endTime on the dataflow's schedule",
            )
        )
    diffs = settings_differences(dest, snap)
    if diffs:
        out.append(
            Finding(
                "flow.settings_mismatch",
                f"dataflow {flow.id} ({flow.name}) differs from destination {dest.name}: {'; '.join(diffs)}; "
                "change the config or the dataflow so they agree",
            )
        )
    return out


def settings_differences(dest: Destination, snap: FlowSnapshot) -> list[str]:
    t, s = snap.target, snap.flow.schedule
    diffs = []
    if t is not None and t.format and t.format != dest.format:
        diffs.append(f"format {t.format} in the dataflow, {dest.format} in the config")
    if t is not None and t.compression and t.compression != dest.compression:
        diffs.append(f"compression {t.compression} in the dataflow, {dest.compression} in the config")
    if t is not None and t.manifest is not None and t.manifest != dest.manifest:
        diffs.append(f"manifest {str(t.manifest).lower()} in the dataflow, {str(dest.manifest).lower()} in the config")
    if s.step is not None and dest.schedule is not None and s.step != dest.schedule:
        diffs.append(f"every {_hours(s.step)} in the dataflow, every {_hours(dest.schedule)} in the config")
    mode = _MODES.get(s.export_mode or "")
    if mode and mode != dest.export_mode:
        diffs.append(f"export mode {s.export_mode} in the dataflow, {dest.export_mode} in the config")
    template = (snap.template or DEFAULT_TEMPLATE).strip().strip("/")
    configured = dest.folder_template
    if template != configured:
        diffs.append(f"folder template {template or '/'!r} in the dataflow, {configured!r} in the config")
    return diffs


def _hours(step: timedelta) -> str:
    return f"{int(step.total_seconds() // 3600)}h"
