"""The nightly job: scan every destination, verify what is new or changed, record, summarise."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from verifier import credentials, executors, history, redact, sampling, workers
from verifier.backends import make_backend
from verifier.backends.base import Backend
from verifier.catalog import Catalog, ExportOutcome, ExportRow, RunLock
from verifier.checks import limits
from verifier.config import Config, Destination
from verifier.errors import CatalogError, StoreError, VerifierError
from verifier.exitcodes import INCOMPLETE_CODES
from verifier.exportcheck import ExportPlan, check_export_safely, internal_error, level_at_least
from verifier.findings import Finding, Severity
from verifier.layout import ExportListing, ScanResult, scan
from verifier.timeutil import utcnow
from verifier.verdicts import Scope, Verdicts

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
    limits.configure(config.limits)
    catalog = catalog or Catalog(config.catalog_path)
    dests = [config.destination(n) for n in opts.destinations] if opts.destinations else config.destinations
    # a cluster is connected before anything is locked or recorded: a dead scheduler means nothing was run
    shared = executors.for_run(opts.executor, cancel=opts.cancel)
    with shared or contextlib.nullcontext():
        return _run(config, opts, dests, catalog, now, progress, shared)


# one destination after its listing: what it is, its backend, tonight's listing (None: unreachable),
# what the catalog knew of its exports, and its line of the summary
Scanned = tuple[Destination, Backend, ScanResult | None, dict[tuple[str, datetime], ExportRow], DestinationResult]


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
        catalog.pin()
        catalog.abandon_stale_runs()
        started = utcnow()
        now = now or started
        run_id = catalog.start_run(opts.level, _run_args(opts, dests))
        verdicts = Verdicts(catalog, run_id, now, config.severity, flush_every=FLUSH_EVERY, flush_seconds=FLUSH_SECONDS)
        t0 = time.monotonic()
        # sampling spans every destination: plan it once, from the catalog's verdicts and tonight's listings
        scanned: list[Scanned] = []
        for dest in dests:
            if _cancelled(opts):
                break
            scanned.append(_scan_destination(catalog, verdicts, dest, opts, now, progress))
        sampled = _plan_full_reads(catalog, scanned, opts)
        results: list[DestinationResult] = []
        held: list[Finding] = []  # schedule gaps of destinations with flows: the AEP step may explain them
        for dest, backend, listing, prev, res in scanned:
            if listing is not None and not _cancelled(opts):
                held += _verify_destination(
                    catalog, verdicts, run_id, dest, backend, listing, prev, res, opts, sampled, now, progress, shared
                )
            _tally(res, verdicts)
            results.append(res)
            backend.close()
        if config.aep is not None and not _cancelled(opts):
            verdicts.report(Scope(""), _aep_step(config, scanned, now, opts, held))  # each names its destination
        else:
            verdicts.report(Scope(""), held)
        if held or config.aep is not None:
            for res in results:
                _tally(res, verdicts)  # with the findings of the AEP step and the gaps held for it
        return _finish(catalog, verdicts, run_id, opts, started, t0, results)
    except CatalogError:  # deleted, replaced or damaged mid-run: say so, never leave the run `running`
        with contextlib.suppress(VerifierError):
            catalog.fail_running_runs()
        raise
    finally:
        lock.release()


def _run_args(opts: RunOptions, dests: list[Destination]) -> dict[str, object]:
    """What the run was asked to do, as the `runs` row keeps it."""
    return {
        "destinations": [d.name for d in dests],
        "datasets": opts.datasets,
        "sample": opts.sample,
        "budget": opts.budget,
        "jobs": opts.jobs,
        "rescan": opts.rescan,
        "executor": opts.executor,
    }


def _scan_destination(
    catalog: Catalog, verdicts: Verdicts, dest: Destination, opts: RunOptions, now: datetime, progress: Progress
) -> Scanned:
    """List one destination and load what the catalog knows of it; one that cannot be listed is
    `backend.unreachable` and has no listing."""
    backend = make_backend(dest)
    res = DestinationResult(name=dest.name, type=dest.type, url=_safe_url(backend))
    progress.destination_started(dest.name)
    verdicts.report(Scope(dest.name), credentials.findings(dest, now))
    try:
        sr = scan(backend, datasets=opts.datasets, jobs=_jobs(opts, backend))
    except (StoreError, OSError, VerifierError) as exc:
        res.reachable = False
        res.message = redact.scrub(str(exc))
        f = Finding(
            "backend.unreachable",
            f"{res.url}: could not be listed: {res.message}; the "
            "destination was not verified — check the endpoint, credentials and network",
            uri=res.url,
        )
        verdicts.report(Scope(dest.name), [f])
        catalog.upsert_destination(dest, res.url, None, res.message)
        return dest, backend, None, {}, res
    # files of every export only when sampling weighs them all; else those checked or gone (below)
    prev = catalog.load_exports(dest.name, files=opts.sample is not None or opts.budget is not None)
    return dest, backend, sr, prev, res


def _plan_full_reads(catalog: Catalog, scanned: list[Scanned], opts: RunOptions) -> set[sampling.FileKey]:
    sample_ledger = sampling.RunLedger(
        sampling.SampledRun(r.run_id, frozenset(r.destinations), frozenset(r.datasets)) for r in catalog.sampled_runs()
    )
    return sampling.plan_full_reads(
        [(d.name, listing, prev) for d, _b, listing, prev, _r in scanned],
        percent=opts.sample,
        budget=opts.budget,
        ledger=sample_ledger,
    )


def _finish(
    catalog: Catalog,
    verdicts: Verdicts,
    run_id: int,
    opts: RunOptions,
    started: datetime,
    t0: float,
    results: list[DestinationResult],
) -> RunSummary:
    """The run's status and exit code, its `runs` row completed, and its summary."""
    findings = verdicts.findings
    cancelled = _cancelled(opts)
    incomplete = cancelled or any(not r.reachable for r in results) or any(f.code in INCOMPLETE_CODES for f in findings)
    code = verdicts.exit_code(incomplete)
    finished = utcnow()
    status = "cancelled" if cancelled else "incomplete" if incomplete else "completed"
    catalog.finish_run(run_id, status=status, exit_code=code, stats=_run_stats(verdicts, results, t0))
    catalog.mark_streaks(run_id, findings)  # "new" means what open_findings says: a new streak
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


def _run_stats(verdicts: Verdicts, results: list[DestinationResult], t0: float) -> dict[str, object]:
    return {
        "exports_checked": sum(r.exports_checked for r in results),
        "exports_skipped": sum(r.exports_skipped for r in results),
        "files_checked": sum(r.files_checked for r in results),
        "bytes_read": sum(r.bytes_read for r in results),
        "errors": verdicts.count(Severity.ERROR),
        "warnings": verdicts.count(Severity.WARNING),
        "infos": verdicts.count(Severity.INFO),
        "duration_s": round(time.monotonic() - t0, 3),
    }


def _aep_step(
    config: Config,
    scanned: list[
        tuple[Destination, Backend, ScanResult | None, dict[tuple[str, datetime], ExportRow], DestinationResult]
    ],
    now: datetime,
    opts: RunOptions,
    gaps: list[Finding],
) -> list[Finding]:
    """Reconcile with Flow Service the destinations with `flows` that could be listed tonight;
    `gaps` (their held schedule gaps) come back unless the reconciliation explains them."""
    from verifier.aep.sync import run_step

    assert config.aep is not None
    dests = [(d, b.retention) for d, b, listing, _p, _r in scanned if listing is not None and d.flows]
    if not dests:
        return gaps
    return run_step(config.aep, config.catalog_path, dests, now, opts.datasets, gaps)


def _safe_url(backend: Backend) -> str:
    try:
        return backend.display_url()
    except Exception:  # noqa: BLE001 - a URL we cannot print must not stop the run
        return f"<{backend.dest.type} destination {backend.dest.name}>"


def _cancelled(opts: RunOptions) -> bool:
    return opts.cancel is not None and opts.cancel.is_set()


def _jobs(opts: RunOptions, backend: Backend) -> int:
    return max(1, opts.jobs or backend.default_jobs)


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
    catalog: Catalog,
    verdicts: Verdicts,
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
    """Verify one listed destination; returns the schedule gaps held for the AEP step (with `flows`)."""
    verdicts.report(Scope(dest.name), sr.findings)
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
                uri=ex.uri,
            )
            verdicts.report(Scope(dest.name, ex.dataset_id, ex.export_time), [f])
            continue
        seen.add(ex.key)
        unique.append(ex)
    res.exports_seen = len(unique)
    progress.exports_planned(dest.name, len(unique))

    outcomes: list[ExportOutcome] = []
    to_check: list[ExportPlan] = []
    sampled_here: dict[tuple[str, datetime], set[str]] = {}  # one pass over the sample, not one per export
    for d, ds, t, name in sampled:
        if d == dest.name:
            sampled_here.setdefault((ds, t), set()).add(name)
    for ex in unique:
        p = prev.get(ex.key)
        full_names = sampled_here.get((ex.dataset_id, ex.export_time), set())
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
            outcomes.append(history.carry_forward(p, carried.get(ex.key, []), plan.kind, opts.level, run_id, now))
        else:
            to_check.append(plan)

    if shared is None and any(plan.level != "listing" or plan.full_names for plan in to_check):
        pool_ahead = _pool(opts)
        if pool_ahead is not None:
            pool_ahead.warm()  # the workers start while the catalog is read and written below
    # what the catalog knows of the files of the exports checked again or gone; carried ones need none
    present = {ex.key for ex in unique}
    catalog.load_files(
        dest.name,
        prev,
        [plan.listing.key for plan in to_check if plan.prev is not None]
        + [k for k, p in prev.items() if k not in present and p.status != "vanished"],
    )
    outcomes_all: list[ExportOutcome] = []

    def done(out: ExportOutcome, store: bool = True) -> None:
        v = out.verification
        if v is not None:
            if v.skipped:
                res.exports_skipped += 1
            else:
                res.exports_checked += 1
            res.files_checked += v.files_checked
            res.bytes_read += v.bytes_read
        outcomes_all.append(out)
        if store:
            verdicts.outcome(out)
        progress.export_done(dest.name, out)

    for out in outcomes:
        done(out, store=False)
    verdicts.outcomes(outcomes)  # the unchanged exports in one batch: no file rows, one transaction
    pool: executors.Executor = shared if shared is not None else executors.LocalExecutor(_jobs(opts, backend))
    with pool:
        futures = [_submit(pool, opts, backend, plan, now, run_id) for plan in to_check]
        for plan, fut in zip(to_check, futures, strict=True):
            try:
                checked = fut.result()
            except Exception as exc:  # noqa: BLE001 - a lost task (a worker died) must not lose the others
                log.error("the executor lost the check of %s: %s", plan.listing.uri, redact.scrub(str(exc)))
                checked = internal_error(backend, plan, now, run_id, exc)
            if checked is not None:  # None: not started, the run was cancelled; the catalog keeps what it knew
                done(checked)
    verdicts.flush()
    if _cancelled(opts):
        return []  # vanished and dataset checks need the whole listing verified: skipped

    # exports recorded earlier and gone now
    vanished_out = history.vanished_exports(
        prev, present, opts.datasets, backend, opts.level, run_id, now, unlisted=sr.unlisted
    )
    for out in vanished_out:
        verdicts.outcome(out)
    verdicts.flush()
    by_dataset = history.dataset_findings(dest, sr, prev, outcomes_all + vanished_out, now, backend)
    held: list[Finding] = []
    for ds_id, fs in by_dataset.items():
        if dest.flows:  # the flow's schedule, not inference, says what is expected (docs/aep.md)
            gaps = [f for f in fs if f.code == "dataset.schedule_gap"]
            for g in gaps:
                g.destination, g.dataset_id = dest.name, ds_id
            held += gaps
            fs = [f for f in fs if f.code != "dataset.schedule_gap"]
        verdicts.report(Scope(dest.name, ds_id), fs)
    catalog.upsert_destination(dest, res.url, now)
    return held


def _tally(res: DestinationResult, verdicts: Verdicts) -> None:
    res.errors = verdicts.count(Severity.ERROR, res.name)
    res.warnings = verdicts.count(Severity.WARNING, res.name)
    res.infos = verdicts.count(Severity.INFO, res.name)


def _submit(
    pool: executors.Executor, opts: RunOptions, backend: Backend, plan: ExportPlan, now: datetime, run_id: int
) -> executors.FutureLike[ExportOutcome | None]:
    if pool.remote:  # the worker builds its own backend from the Destination (secrets travel, never the key)
        key = executors.task_key(backend.dest, plan)
        return pool.submit(executors.check_remote, backend.dest, plan, now, run_id, limits.current(), key=key)
    return pool.submit(_check_unless_cancelled, opts, backend, plan, now, run_id)


def _check_unless_cancelled(
    opts: RunOptions, backend: Backend, plan: ExportPlan, now: datetime, run_id: int
) -> ExportOutcome | None:
    if _cancelled(opts):
        return None
    return check_export_safely(backend, plan, now=now, run_id=run_id, pool=_pool(opts))


def _pool(opts: RunOptions) -> workers.CheckPool | None:
    """One pool of worker processes for the whole process, sized by --jobs (default: the cores)."""
    return workers.shared_pool(opts.jobs or os.cpu_count() or 1)
