"""One run's AEP step for one destination: fetch, record, reconcile, link."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from verifier import redact
from verifier.aep.client import AepError, AepUnavailable, FlowServiceClient
from verifier.aep.fetch import fetch_flow
from verifier.aep.reconcile import Reconciliation, reconcile
from verifier.aep.settings import AepSettings
from verifier.catalog import flows as store
from verifier.findings import Finding
from verifier.settings import Destination

log = logging.getLogger("verifier.aep")
FIRST_FETCH = timedelta(days=30)  # how far back the first run of a flow reads its runs
OVERLAP = timedelta(days=2)  # runs re-read on each fetch: a processing run ends later


def reconcile_destination(
    client: FlowServiceClient, catalog_path: Path, dest: Destination, retention: timedelta | None, now: datetime
) -> Reconciliation:
    """Findings for every flow of `dest`. Adobe failing is `aep.unreachable`, never an exception."""
    total = Reconciliation()
    exports = store.load_export_facts(catalog_path, dest.name)
    for flow_id in dest.flows:
        last = store.last_run_start(catalog_path, flow_id)
        since = last - OVERLAP if last else now - FIRST_FETCH
        try:
            snap = fetch_flow(client, flow_id, since)
        except (AepError, AepUnavailable) as exc:
            total.findings.append(
                Finding(
                    "aep.unreachable",
                    f"dataflow {flow_id}: {redact.scrub(str(exc))}; its exports were checked in storage only",
                    destination=dest.name,
                    found_at=now,
                )
            )
            continue
        runs = store.load_runs(catalog_path, flow_id)
        merged = {r.id: r for r in runs} | {r.id: r for r in snap.runs}
        result = reconcile(dest, snap, sorted(merged.values(), key=_start), exports, now, retention)
        store.save_flow(catalog_path, dest.name, snap, result.scheduled, now)
        store.link_exports(catalog_path, dest.name, result.links)
        log.info(
            "AEP %s: flow %s, %d run(s) fetched, %d finding(s)",
            dest.name,
            flow_id,
            len(snap.runs),
            len(result.findings),
        )
        total.findings += result.findings
        total.links.update(result.links)
        total.reconciled |= result.reconciled
    return total


def _start(r: object) -> datetime:
    t = getattr(r, "started_at", None)
    return t if isinstance(t, datetime) else datetime.min.replace(tzinfo=UTC)


def run_step(
    settings: AepSettings,
    catalog_path: Path,
    dests: list[tuple[Destination, timedelta | None]],
    now: datetime,
    datasets: list[str],
    gaps: list[Finding] | None = None,
) -> list[Finding]:
    """The AEP step of `verifier run`: every destination with `flows`, one client (one token).

    `gaps` are storage's `dataset.schedule_gap` findings of these destinations, held back by the
    runner: a dataset whose flow was reconciled against its schedule has its empty slots said by
    the findings here (export.missing, flow.run_failed, flow.disabled), so its gaps are dropped
    (one cause, one finding); the others' gaps (Flow Service unreachable, a dataset in no listed
    flow, a flow without a schedule) are returned as they were.
    """
    findings: list[Finding] = []
    explained: set[tuple[str, str]] = set()
    with FlowServiceClient(settings) as client:
        for dest, retention in dests:
            try:
                result = reconcile_destination(client, catalog_path, dest, retention, now)
            except Exception as exc:
                log.exception("AEP reconciliation of %s failed", dest.name)
                result = Reconciliation()
                result.findings.append(
                    Finding(
                        "aep.unreachable",
                        f"verifier failed while reconciling {dest.name} with Flow Service ({type(exc).__name__}: "
                        f"{redact.scrub(str(exc))[:300]}); storage was checked — please report this",
                        destination=dest.name,
                        found_at=now,
                    )
                )
            wanted = set(datasets)
            findings += [f for f in result.findings if not wanted or f.dataset_id is None or f.dataset_id in wanted]
            explained |= {(dest.name, ds) for ds in result.reconciled}
    return findings + [g for g in gaps or [] if (g.destination, g.dataset_id or "") not in explained]
