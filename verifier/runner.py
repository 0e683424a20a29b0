"""The nightly job: scan every destination, verify what is new or changed, record, summarise."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from verifier import executors, redact
from verifier.backends import make_backend
from verifier.backends.base import Backend
from verifier.catalog import Catalog, ExportOutcome, ExportRow, RunLock, VerificationRow
from verifier.checks.dataset import ExportState, chain_breaks, schedule_gaps, schema_drift, staleness
from verifier.config import Config, Destination
from verifier.errors import StoreError, VerifierError
from verifier.exitcodes import exit_code_for
from verifier.exportcheck import ExportPlan, check_export, level_at_least
from verifier.findings import Finding, Severity
from verifier.layout import ExportListing, ScanResult, scan
from verifier.sampling import Candidate, choose
from verifier.timeutil import utcnow

log = logging.getLogger("verifier.run")
# Outcomes are written in batches (each export still in its own transaction) so that the
# catalog is opened briefly and readers get in between. Tunable for tests and slow disks.
FLUSH_EVERY = int(os.environ.get("VERIFIER_FLUSH_EVERY", "50"))
FLUSH_SECONDS = float(os.environ.get("VERIFIER_FLUSH_SECONDS", "2.0"))


@dataclass
class RunOptions:
    level: str = "metadata"
    destinations: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    sample: float | None = None
    budget: int | None = None
    jobs: int | None = None
    rescan: bool = False
    # where export checks run: "local" (threads of this process) or "dask://HOST:PORT" (see executors.py)
    executor: str = executors.LOCAL
    # set by `verifier serve` on shutdown: exports not yet started are abandoned (nothing of them is
    # written), those in progress finish and are recorded, and the run ends as "cancelled"
    cancel: threading.Event | None = None


@dataclass
class DestinationResult:
    name: str
    type: str
    url: str
    reachable: bool = True
    exports_seen: int = 0
    exports_checked: int = 0
    exports_skipped: int = 0
    files_checked: int = 0
    bytes_read: int = 0
    errors: int = 0
    warnings: int = 0
    infos: int = 0
    message: str | None = None


@dataclass
class RunSummary:
    run_id: int
    level: str
    started_at: datetime
    finished_at: datetime
    exit_code: int
    status: str
    findings: list[Finding]
    destinations: list[DestinationResult]

    def count(self, sev: Severity) -> int:
        return sum(1 for f in self.findings if f.sev == sev)

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


class Progress:
    """Hooks the CLI uses to draw a progress bar; no-ops by default."""

    def destination_started(self, name: str) -> None: ...
    def exports_planned(self, name: str, total: int) -> None: ...
    def export_done(self, name: str, outcome: ExportOutcome) -> None: ...


def run(
    config: Config,
    opts: RunOptions,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
    catalog: Catalog | None = None,
) -> RunSummary:
    """Run once. Raises CatalogLocked/CatalogError/ConfigError before anything is checked."""
    progress = progress or Progress()
    catalog = catalog or Catalog(config.catalog_path)
    dests = [config.destination(n) for n in opts.destinations] if opts.destinations else config.destinations
    # a cluster is connected before anything is locked or recorded: a dead scheduler means nothing was run
    shared = executors.for_run(opts.executor, cancel=opts.cancel)
    with shared or contextlib.nullcontext():
        return _run(config, opts, dests, catalog, now, progress, shared)


def _run(
    config: Config,
    opts: RunOptions,
    dests: list[Destination],
    catalog: Catalog,
    now: datetime | None,
    progress: Progress,
    shared: executors.DaskExecutor | None,
) -> RunSummary:
    lock = RunLock(config.catalog_path).acquire()
    try:
        catalog.create()
        catalog.abandon_stale_runs()
        started = utcnow()
        now = now or started
        run_id = catalog.start_run(
            opts.level,
            {
                "destinations": [d.name for d in dests],
                "datasets": opts.datasets,
                "sample": opts.sample,
                "budget": opts.budget,
                "jobs": opts.jobs,
                "rescan": opts.rescan,
                "executor": opts.executor,
            },
        )
        findings: list[Finding] = []
        results: list[DestinationResult] = []
        t0 = time.monotonic()
        # sampling spans every destination: plan it once, from the catalog's ledger and tonight's listings
        scanned: list[
            tuple[Destination, Backend, ScanResult | None, dict[tuple[str, datetime], ExportRow], DestinationResult]
        ] = []
        for dest in dests:
            if _cancelled(opts):
                break
            backend = make_backend(dest)
            res = DestinationResult(name=dest.name, type=dest.type, url=_safe_url(backend))
            progress.destination_started(dest.name)
            try:
                sr = scan(backend, datasets=opts.datasets, jobs=_jobs(opts, backend))
            except (StoreError, OSError, VerifierError) as exc:
                res.reachable = False
                res.message = redact.scrub(str(exc))
                f = Finding(
                    "backend.unreachable",
                    f"{res.url}: could not be listed: {res.message}; the "
                    "destination was not verified — check the endpoint, credentials and network",
                    destination=dest.name,
                    uri=res.url,
                    found_at=now,
                )
                findings.append(f)
                catalog.add_findings(run_id, [_sev(config, f)])
                catalog.upsert_destination(dest, res.url, None, res.message)
                scanned.append((dest, backend, None, {}, res))
                continue
            prev = catalog.load_exports(dest.name)
            scanned.append((dest, backend, sr, prev, res))

        sampled = _plan_sampling(scanned, opts)
        for dest, backend, listing, prev, res in scanned:
            if listing is not None and not _cancelled(opts):
                findings.extend(
                    _verify_destination(
                        config, catalog, run_id, dest, backend, listing, prev, res, opts, sampled, now, progress, shared
                    )
                )
            results.append(res)
            backend.close()
        for f in findings:
            _sev(config, f)
        cancelled = _cancelled(opts)
        incomplete = (
            cancelled or any(not r.reachable for r in results) or any(f.code == "backend.unreachable" for f in findings)
        )
        code = exit_code_for(findings, incomplete)
        finished = utcnow()
        status = "cancelled" if cancelled else "incomplete" if incomplete else "completed"
        catalog.finish_run(
            run_id,
            status=status,
            exit_code=code,
            stats={
                "exports_checked": sum(r.exports_checked for r in results),
                "exports_skipped": sum(r.exports_skipped for r in results),
                "files_checked": sum(r.files_checked for r in results),
                "bytes_read": sum(r.bytes_read for r in results),
                "errors": sum(1 for f in findings if f.sev == Severity.ERROR),
                "warnings": sum(1 for f in findings if f.sev == Severity.WARNING),
                "infos": sum(1 for f in findings if f.sev == Severity.INFO),
                "duration_s": round(time.monotonic() - t0, 3),
            },
        )
        return RunSummary(
            run_id=run_id,
            level=opts.level,
            started_at=started,
            finished_at=finished,
            exit_code=code,
            status=status,
            findings=findings,
            destinations=results,
        )
    finally:
        lock.release()


def _safe_url(backend: Backend) -> str:
    try:
        return backend.display_url()
    except Exception:  # noqa: BLE001 - a URL we cannot print must not stop the run
        return f"<{backend.dest.type} destination {backend.dest.name}>"


def _cancelled(opts: RunOptions) -> bool:
    return opts.cancel is not None and opts.cancel.is_set()


def _jobs(opts: RunOptions, backend: Backend) -> int:
    return max(1, opts.jobs or backend.default_jobs)


def _sev(config: Config, f: Finding) -> Finding:
    if f.code in config.severity and not f.extra.get("severity_fixed"):
        f.severity = config.severity[f.code]
    return f


def _plan_sampling(scanned: list, opts: RunOptions) -> set[tuple[str, str, datetime, str]]:  # type: ignore[type-arg]
    if opts.sample is None and opts.budget is None:
        return set()
    from verifier.checks.formats import is_data_name

    candidates = []
    for dest, _backend, sr, prev, _res in scanned:
        if sr is None:
            continue
        for ds in sr.datasets.values():
            for ex in ds.exports:
                p = prev.get(ex.key)
                for e in ex.entries:
                    if e.is_dir or not is_data_name(e.name) or e.size == 0:
                        continue
                    pf = p.files.get(e.name) if p else None
                    same = pf is not None and pf.size == e.size and (pf.etag or None) == (e.etag or None)
                    candidates.append(
                        Candidate(
                            (dest.name, ex.dataset_id, ex.export_time, e.name),
                            e.size,
                            pf.full_read_at if same and pf else None,
                        )
                    )
    return choose(candidates, percent=opts.sample, budget=opts.budget)


def _kinds(
    dest: Destination,
    sr: ScanResult,
    prev: dict[tuple[str, datetime], ExportRow],
) -> dict[tuple[str, datetime], str]:
    earliest: dict[str, datetime] = {}
    for d, t in list(prev) + [ex.key for ds in sr.datasets.values() for ex in ds.exports]:
        earliest[d] = min(earliest.get(d, t), t)
    out = {}
    for ds in sr.datasets.values():
        for ex in ds.exports:
            full = dest.export_mode == "full" or ex.export_time == earliest[ex.dataset_id]
            out[ex.key] = "full" if full else "incremental"
    return out


def _verify_destination(
    config: Config,
    catalog: Catalog,
    run_id: int,
    dest: Destination,
    backend: Backend,
    sr: ScanResult,
    prev: dict[tuple[str, datetime], ExportRow],
    res: DestinationResult,
    opts: RunOptions,
    sampled: set[tuple[str, str, datetime, str]],
    now: datetime,
    progress: Progress,
    shared: executors.DaskExecutor | None = None,
) -> list[Finding]:
    findings: list[Finding] = []
    for f in sr.findings:
        f.destination, f.found_at = dest.name, now
        findings.append(_sev(config, f))
    catalog.add_findings(run_id, findings)
    carried = catalog.load_open_findings(dest.name)
    kinds = _kinds(dest, sr, prev)
    listings: list[ExportListing] = [ex for ds in sr.datasets.values() for ex in ds.exports]
    # 12- and 14-digit folders can name the same instant: verify the first, report the other as a stray
    seen: set[tuple[str, datetime]] = set()
    unique: list[ExportListing] = []
    for ex in listings:
        if ex.key in seen:
            f = Finding(
                "layout.unexpected_entry",
                f"{ex.uri}: a second folder for the same export time; only one is verified — remove the duplicate",
                destination=dest.name,
                dataset_id=ex.dataset_id,
                export_time=ex.export_time,
                uri=ex.uri,
                found_at=now,
            )
            findings.append(_sev(config, f))
            catalog.add_findings(run_id, [f])
            continue
        seen.add(ex.key)
        unique.append(ex)
    res.exports_seen = len(unique)
    progress.exports_planned(dest.name, len(unique))

    outcomes: list[ExportOutcome] = []
    to_check: list[ExportPlan] = []
    for ex in unique:
        p = prev.get(ex.key)
        full_names = {k[3] for k in sampled if k[:3] == (dest.name, ex.dataset_id, ex.export_time)}
        plan = ExportPlan(listing=ex, kind=kinds[ex.key], level=opts.level, prev=p, full_names=full_names)
        if (
            p is not None
            and not opts.rescan
            and ex.error is None
            and not full_names
            and p.status not in ("pending", "unverified", "vanished")
            and level_at_least(p.level, opts.level)
            and p.listing_hash == ex.listing_hash()
        ):
            outcomes.append(_carry(p, carried.get(ex.key, []), plan, run_id, now))
        else:
            to_check.append(plan)

    buffer: list[ExportOutcome] = []
    last_flush = time.monotonic()

    def flush() -> None:
        nonlocal last_flush
        catalog.write_outcomes(run_id, buffer)
        buffer.clear()
        last_flush = time.monotonic()

    def done(out: ExportOutcome) -> None:
        for f in out.findings:
            _sev(config, f)
        findings.extend(out.findings)
        v = out.verification
        if v is not None:
            if v.skipped:
                res.exports_skipped += 1
            else:
                res.exports_checked += 1
            res.files_checked += v.files_checked
            res.bytes_read += v.bytes_read
        outcomes_all.append(out)
        buffer.append(out)
        progress.export_done(dest.name, out)
        if len(buffer) >= FLUSH_EVERY or time.monotonic() - last_flush > FLUSH_SECONDS:
            flush()

    outcomes_all: list[ExportOutcome] = []
    for out in outcomes:
        done(out)
    pool: executors.Executor = shared if shared is not None else executors.LocalExecutor(_jobs(opts, backend))
    with pool:
        futures = [_submit(pool, opts, backend, plan, now, run_id) for plan in to_check]
        for plan, fut in zip(to_check, futures, strict=True):
            try:
                checked = fut.result()
            except Exception as exc:  # noqa: BLE001 - a lost task (a worker died) must not lose the others
                log.error("the executor lost the check of %s: %s", plan.listing.uri, redact.scrub(str(exc)))
                checked = _internal_error(backend, plan, now, run_id, exc)
            if checked is not None:  # None: not started, the run was cancelled; the catalog keeps what it knew
                done(checked)
    flush()
    if _cancelled(opts):
        _tally(res, findings)  # vanished and dataset checks need the whole listing verified: skipped
        return findings

    # exports recorded earlier and gone now
    present = {ex.key for ex in unique}
    vanished_out: list[ExportOutcome] = []
    wanted = set(opts.datasets) if opts.datasets else None
    for key, p in sorted(prev.items()):
        if key in present or p.status == "vanished" or (wanted is not None and key[0] not in wanted):
            continue
        sev = Severity.ERROR
        why = "restore it from another copy; every later point in time of this dataset depends on it"
        if backend.retention is not None and now - p.export_time > backend.retention:
            sev = Severity.INFO
            why = f"expected: the store keeps files {backend.retention.days} days"
        f = Finding(
            "export.vanished",
            f"{p.uri}: recorded with {p.file_count} file(s) on {p.first_seen_at:%Y-%m-%d} but gone now; {why}",
            destination=dest.name,
            dataset_id=p.dataset_id,
            export_time=p.export_time,
            uri=p.uri,
            severity=sev,
            found_at=now,
            extra={"severity_fixed": sev == Severity.INFO},
        )
        p.status, p.run_id, p.last_seen_at = "vanished", run_id, p.last_seen_at
        for fr in p.files.values():
            fr.status = "vanished"
        vanished_out.append(
            ExportOutcome(
                export=p,
                findings=[_sev(config, f)],
                verification=VerificationRow(
                    level=opts.level, status="vanished", files_checked=0, bytes_read=0, duration_s=0.0
                ),
            )
        )
    for out in vanished_out:
        findings.extend(out.findings)
    catalog.write_outcomes(run_id, vanished_out)

    ds_findings = _dataset_checks(dest, sr, prev, outcomes_all + vanished_out, now, backend)
    for f in ds_findings:
        f.destination, f.found_at = dest.name, now
        _sev(config, f)
    catalog.add_findings(run_id, ds_findings)
    findings.extend(ds_findings)
    catalog.upsert_destination(dest, res.url, now)
    _tally(res, findings)
    return findings


def _tally(res: DestinationResult, findings: list[Finding]) -> None:
    for f in findings:
        if f.code == "backend.unreachable":
            continue
        if f.sev == Severity.ERROR:
            res.errors += 1
        elif f.sev == Severity.WARNING:
            res.warnings += 1
        else:
            res.infos += 1


def _submit(
    pool: executors.Executor, opts: RunOptions, backend: Backend, plan: ExportPlan, now: datetime, run_id: int
) -> executors.FutureLike[ExportOutcome | None]:
    if pool.remote:  # the worker builds its own backend from the Destination (secrets travel, never the key)
        key = executors.task_key(backend.dest, plan)
        return pool.submit(executors.check_remote, backend.dest, plan, now, run_id, key=key)
    return pool.submit(_check_unless_cancelled, opts, backend, plan, now, run_id)


def _check_unless_cancelled(
    opts: RunOptions, backend: Backend, plan: ExportPlan, now: datetime, run_id: int
) -> ExportOutcome | None:
    return None if _cancelled(opts) else _safe_check(backend, plan, now, run_id)


def _safe_check(backend: Backend, plan: ExportPlan, now: datetime, run_id: int) -> ExportOutcome:
    """check_export never raises on bad data; a bug must not lose the other exports either."""
    try:
        return check_export(backend, plan, now=now, run_id=run_id)
    except Exception as exc:
        log.exception("internal error while checking %s", plan.listing.uri)
        return _internal_error(backend, plan, now, run_id, exc)


def _internal_error(backend: Backend, plan: ExportPlan, now: datetime, run_id: int, exc: Exception) -> ExportOutcome:
    """The outcome of an export whose check failed inside verifier (or whose task was lost): unverified."""
    lst = plan.listing
    f = Finding(
        "file.unreadable",
        f"{lst.uri}: verifier failed while checking this export "
        f"({type(exc).__name__}: {redact.scrub(str(exc))}); it was not verified — please report this",
        destination=backend.dest.name,
        dataset_id=lst.dataset_id,
        export_time=lst.export_time,
        uri=lst.uri,
        found_at=now,
    )
    p = plan.prev
    row = ExportRow(
        destination=backend.dest.name,
        dataset_id=lst.dataset_id,
        export_time=lst.export_time,
        uri=lst.uri,
        kind=plan.kind,
        status="unverified",
        first_seen_at=p.first_seen_at if p else now,
        run_id=run_id,
        last_seen_at=now,
        export_time_raw=lst.raw,
        files=p.files if p else {},
    )
    return ExportOutcome(
        export=row,
        findings=[f],
        verification=VerificationRow(
            level=plan.level, status="unverified", files_checked=0, bytes_read=0, duration_s=0.0
        ),
    )


def _carry(
    p: ExportRow,
    open_findings: list[Finding],
    plan: ExportPlan,
    run_id: int,
    now: datetime,
) -> ExportOutcome:
    """An unchanged, already verified export: no bytes read, its open findings carried forward."""
    p.run_id, p.last_seen_at, p.kind = run_id, now, plan.kind
    carried = []
    for f in open_findings:
        carried.append(
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
        )
    return ExportOutcome(
        export=p,
        findings=carried,
        verification=VerificationRow(
            level=p.level or plan.level, status=p.status, files_checked=0, bytes_read=0, duration_s=0.0, skipped=True
        ),
    )


def _dataset_checks(
    dest: Destination,
    sr: ScanResult,
    prev: dict[tuple[str, datetime], ExportRow],
    outcomes: list[ExportOutcome],
    now: datetime,
    backend: Backend,
) -> list[Finding]:
    import json

    by_ds: dict[str, dict[datetime, ExportState]] = {}
    for key, p in prev.items():
        by_ds.setdefault(key[0], {})[key[1]] = ExportState(p.export_time, p.uri, p.status, _schema(p), False, False)
    for out in outcomes:
        e = out.export
        checked = out.verification is not None and not out.verification.skipped
        by_ds.setdefault(e.dataset_id, {})[e.export_time] = ExportState(
            e.export_time, e.uri, e.status, _schema(e), (e.dataset_id, e.export_time) not in prev, checked
        )
    out_f: list[Finding] = []
    for ds_id, states in sorted(by_ds.items()):
        if ds_id not in sr.datasets:
            continue
        exports = list(states.values())
        ds_uri = backend.uri(sr.datasets[ds_id].path)
        fs = schema_drift(exports, dest.format == "json") + schedule_gaps(exports, dest.schedule, ds_uri)
        fs += staleness(exports, dest.stale_after, now, ds_uri)
        cutoff = now - backend.retention if backend.retention is not None else None
        fs += chain_breaks(exports, dest.export_mode, cutoff, ds_uri)
        for f in fs:
            f.dataset_id = ds_id
        out_f.extend(fs)
    del json
    return out_f


def _schema(e: ExportRow) -> dict[str, str] | None:
    import json

    merged: dict[str, str] = {}
    any_schema = False
    for f in e.files.values():
        if f.role == "data" and f.schema_json:
            any_schema = True
            for k, v in json.loads(f.schema_json).items():
                merged.setdefault(k, v)
    return merged if any_schema else None


_ = timedelta  # re-exported for type users
