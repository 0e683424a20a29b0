"""Check one export folder: manifest reconciliation, history, every file at its level."""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime

from verifier import redact, references
from verifier.backends.base import Backend
from verifier.catalog.records import ExportOutcome, ExportRow, FileRow, VerificationRow
from verifier.checks.formats import is_data_name
from verifier.checks.manifest import MAX_MANIFEST_BYTES, Manifest, is_manifest_name, parse_manifest, reconcile
from verifier.errors import StoreError
from verifier.findings import Finding, Severity
from verifier.layout import ExportListing
from verifier.levels import LEVELS
from verifier.model import Entry
from verifier.workers import CheckPool, PendingCheck, submit_check

log = logging.getLogger("verifier.run")

# Findings an export still being written produces; young exports with these are "pending".
_INCOMPLETE_CODES = {
    "manifest.missing",
    "manifest.file_missing",
    "manifest.unlisted_file",
    "manifest.size_mismatch",
    "file.empty",
    "parquet.corrupt",
    "json.corrupt",
    "export.empty",
    "file.unreadable",
}


def level_at_least(have: str | None, want: str) -> bool:
    return have in LEVELS and LEVELS.index(have) >= LEVELS.index(want)  # type: ignore[arg-type]


@dataclass
class ExportPlan:
    listing: ExportListing
    kind: str
    level: str
    prev: ExportRow | None
    full_names: set[str] = field(default_factory=set)  # files to read fully (sampling, changed files)


def _unchanged(prev: FileRow | None, e: Entry) -> bool:
    if prev is None or prev.size != e.size:
        return False
    if prev.etag or e.etag:
        return prev.etag == e.etag
    if prev.modified_at and e.modified_at:
        return abs((prev.modified_at - e.modified_at).total_seconds()) < 1e-3
    return True


def _history(prev: FileRow | None, e: Entry, uri: str) -> Finding | None:
    """file.changed when what the store says now differs from what an earlier run recorded."""
    if prev is None:
        return None
    diffs = []
    if prev.size != e.size:
        diffs.append(f"size {prev.size} -> {e.size}")
    if prev.etag and e.etag and prev.etag != e.etag:
        diffs.append(f"etag {prev.etag} -> {e.etag}")
    for old in prev.checksums:
        new = e.checksum(old.algo)
        if new is not None and new.source == old.source and new.value != old.value:
            diffs.append(f"{old.algo} {old.value} -> {new.value}")
    if not diffs:
        return None
    seen = prev.first_seen_at.strftime("%Y-%m-%d") if prev.first_seen_at else "an earlier run"
    return Finding(
        "file.changed",
        f"{uri}: changed since it was first recorded ({seen}): {', '.join(diffs)}; "
        "a backup must not change after it is written — find out who rewrote it",
        uri=uri,
    )


def _native_checksums(
    backend: Backend,
    e: Entry,
    unchanged_prev: FileRow | None,
    uri: str,
) -> tuple[Entry, Finding | None]:
    """Every native checksum the store offers for a data file, asked once per version of the file.

    An unchanged file keeps what earlier runs fetched (S3's checksum-mode HEAD costs a request);
    a new or changed one is asked again. A refusal is reported, the checks go on.
    """
    if unchanged_prev is not None:
        merged = {(c.algo, c.source): c for c in (*unchanged_prev.checksums, *e.checksums)}
        return replace(e, checksums=tuple(merged.values())), None
    try:
        return backend.enrich(e), None
    except StoreError as exc:
        return e, Finding(
            "file.unreadable",
            f"{uri}: the store refused to describe the file ({exc}); its native "
            "checksums are not recorded — check read permissions on it",
            uri=uri,
        )


def check_export_safely(
    backend: Backend, plan: ExportPlan, *, now: datetime, run_id: int, pool: CheckPool | None = None
) -> ExportOutcome:
    """check_export never raises on bad data; a bug must not lose the other exports either."""
    try:
        return check_export(backend, plan, now=now, run_id=run_id, pool=pool)
    except Exception as exc:
        log.exception("internal error while checking %s", plan.listing.uri)
        return internal_error(backend, plan, now, run_id, exc)


def internal_error(backend: Backend, plan: ExportPlan, now: datetime, run_id: int, exc: Exception) -> ExportOutcome:
    """The outcome of an export whose check failed inside verifier (or whose task was lost): unverified."""
    lst = plan.listing
    f = Finding(
        "file.unreadable",
        f"{lst.uri}: verifier failed while checking this export "
        f"({type(exc).__name__}: {redact.scrub(str(exc))}); it was not verified — please report this",
        uri=lst.uri,
    )
    return unverified(plan, backend, f, now=now, run_id=run_id)


def check_export(
    backend: Backend, plan: ExportPlan, *, now: datetime, run_id: int, pool: CheckPool | None = None
) -> ExportOutcome:
    """Every file of the export at the plan's level; the byte-parsing checks run in `pool` (None: here)."""
    t0 = time.monotonic()
    dest = backend.dest
    lst = plan.listing
    prev = plan.prev
    findings: list[Finding] = []
    bytes_read = 0
    files: dict[str, FileRow] = {}
    manifests: list[Manifest] = []
    data: dict[str, Entry] = {}
    flow_run_id: str | None = None

    if lst.error is not None:
        f = Finding(
            "backend.unreachable",
            f"{lst.uri}: the export folder could not be listed: {lst.error}; it was not verified",
            uri=lst.uri,
        )
        return unverified(plan, backend, f, now=now, run_id=run_id)

    manifest_entries: list[Entry] = []
    for e in lst.entries:
        uri = backend.uri(e.path)
        if e.is_dir:
            findings.append(
                Finding(
                    "layout.unexpected_entry",
                    f"{uri}: a folder inside an export folder, where only data files and a manifest are expected",
                    uri=uri,
                )
            )
            continue
        role = "manifest" if is_manifest_name(e.name) else "data" if is_data_name(e.name) else "other"
        p = prev.files.get(e.name) if prev else None
        row = FileRow(
            destination=dest.name,
            dataset_id=lst.dataset_id,
            export_time=lst.export_time,
            uri=uri,
            name=e.name,
            role=role,
            size=e.size,
            modified_at=e.modified_at,
            etag=e.etag,
            first_seen_at=p.first_seen_at if p and p.first_seen_at else now,
            first_seen_run=p.first_seen_run if p else run_id,
            checksums=list(e.checksums),
        )
        files[e.name] = row
        if role == "manifest":
            manifest_entries.append(e)
        elif role == "data":
            data[e.name] = e
        else:
            findings.append(
                Finding(
                    "layout.unexpected_entry",
                    f"{uri}: not a data file ({dest.format}) or a "
                    "manifest; AEP does not write such files — remove it or find who did",
                    uri=uri,
                )
            )

    for me in sorted(manifest_entries, key=lambda x: x.name):
        uri = backend.uri(me.path)
        if me.size > MAX_MANIFEST_BYTES:
            findings.append(
                Finding(
                    "manifest.invalid",
                    f"{uri}: {me.size} bytes, more than the {MAX_MANIFEST_BYTES} a manifest may have; not read",
                    uri=uri,
                )
            )
            continue
        try:
            raw = backend.read_range(me.path, 0, me.size) if me.size else b""
        except StoreError as exc:
            findings.append(
                Finding(
                    "file.unreadable",
                    f"{uri}: the store did not return the manifest: {exc}; check permissions and retry",
                    uri=uri,
                )
            )
            continue
        bytes_read += len(raw)
        m, fs = parse_manifest(raw, uri)
        findings.extend(fs)
        files[me.name].status = "failed" if fs else "ok"
        files[me.name].verified_level = plan.level
        files[me.name].verified_at = now
        if m is not None:
            manifests.append(m)
            flow_run_id = flow_run_id or m.flow_run_id
    if flow_run_id is None and manifest_entries:
        # manifest-<destinationId>-<flowRunId>.json: a flow run id is a UUID, the last five groups
        stem = manifest_entries[0].name[len("manifest-") : -len(".json")]
        parts = stem.split("-")
        flow_run_id = "-".join(parts[-5:]) if len(parts) >= 10 else None

    if dest.manifest and not manifest_entries:
        findings.append(
            Finding(
                "manifest.missing",
                f"{lst.uri}: no manifest-*.json, and the destination expects "
                "one; the export may be incomplete — enable 'Include manifest file' or set "
                "manifest = false",
                uri=lst.uri,
            )
        )
    if manifests:
        findings.extend(reconcile(manifests, data, lst.export_time, lst.uri))
    elif manifest_entries and data:
        pass  # every manifest invalid: already reported, nothing to reconcile against
    if not data:
        findings.append(
            Finding(
                "export.empty",
                f"{lst.uri}: no data files; if the dataflow had no new data this "
                "is expected, otherwise the export failed",
                uri=lst.uri,
            )
        )

    files_checked = 0
    # the checks of this export's files run concurrently in the pool (a window of them in flight,
    # so a remote store's reads and the workers overlap); their outcomes are taken in name order,
    # so the findings and rows are the same as one file after another
    window: deque[_InFlight] = deque()
    in_flight = 2 * pool.jobs if pool is not None else 1
    try:
        for name, e in sorted(data.items()):
            row = files[name]
            p = prev.files.get(name) if prev else None
            unchanged = _unchanged(p, e)
            e, problem = _native_checksums(backend, e, p if unchanged else None, row.uri)
            row.checksums = list(e.checksums)
            before = [problem] if problem else []
            changed = _history(p, e, row.uri)
            if changed:
                before.append(changed)
            level = plan.level
            if name in plan.full_names or (p is not None and _was_read(p) and not unchanged and changed is None):
                level = "full"  # sampled, or rewritten behind our back with the same size: read it to know
            pending = submit_check(pool, backend, e, row.uri, level)
            window.append(_InFlight(row, p, unchanged, changed is not None, level, before, pending))
            while len(window) >= in_flight:
                bytes_read += _settle(window.popleft(), findings, run_id, now)
                files_checked += 1
        while window:
            bytes_read += _settle(window.popleft(), findings, run_id, now)
            files_checked += 1
    finally:
        for w in window:  # only when something above raised: nobody will read these
            w.pending.discard()

    if prev is not None:
        for name, p in sorted(prev.files.items()):
            if name not in files and p.status != "vanished":
                findings.append(
                    Finding(
                        "file.vanished",
                        f"{p.uri}: recorded on {p.first_seen_at:%Y-%m-%d} but gone now; restore it from another copy",
                        uri=p.uri,
                    )
                )

    # settle time counts from the scheduled time only: a file rewritten in an old export is not "being written"
    young = now - lst.export_time < dest.settle_time
    status = _status(findings)
    if young and status != "ok" and all(f.code in _INCOMPLETE_CODES or f.sev < Severity.ERROR for f in findings):
        status, findings = "pending", []  # still being written: judged once it settles
    return _outcome(plan, backend, status, flow_run_id, findings, files, bytes_read, t0, now, run_id, files_checked)


@dataclass
class _InFlight:
    """One data file whose check is under way, with what was known of it before."""

    row: FileRow
    prev: FileRow | None
    unchanged: bool
    listing_changed: bool
    level: str
    findings: list[Finding]  # found before the check: a refused HEAD, file.changed
    pending: PendingCheck


def _settle(w: _InFlight, findings: list[Finding], run_id: int, now: datetime) -> int:
    """The file's check outcome into its row and `findings`; returns the bytes it read."""
    fc = w.pending.result()
    row, p, level = w.row, w.prev, w.level
    findings.extend(w.findings)
    findings.extend(fc.findings)
    r = fc.result
    row.status, row.verified_level, row.verified_at = r.status, r.verified_level, now
    row.schema_hash = r.schema_hash
    row.schema_json = json.dumps(r.schema, sort_keys=True) if r.schema is not None else None
    row.record_count = r.record_count
    read_whole = level == "full" and bool(r.computed) and not _has(fc.findings, "file.unreadable")
    if read_whole:
        row.md5, row.crc32c, row.full_read_at = r.computed.get("md5"), r.computed.get("crc32c"), now
        row.full_read_run = run_id
    elif p is not None and w.unchanged:
        _keep_last_read(p, row)
    verdict = references.judge(
        p,
        row,
        unchanged=w.unchanged,
        read_whole=read_whole,
        trusted=not _has(fc.findings, "file.checksum_mismatch"),
        listing_changed=w.listing_changed,
        run_id=run_id,
        now=now,
    )
    if verdict is not None:
        findings.append(verdict)
    return fc.result.bytes_read


def _has(findings: list[Finding], code: str) -> bool:
    return any(f.code == code for f in findings)


def _was_read(p: FileRow) -> bool:
    return bool(p.md5 or p.reference)


def _keep_last_read(p: FileRow, row: FileRow) -> None:
    """Not read in full tonight: what the last full read of this same version knew stands."""
    row.md5, row.crc32c, row.full_read_at, row.full_read_run = p.md5, p.crc32c, p.full_read_at, p.full_read_run
    if row.record_count is None:
        row.record_count = p.record_count
    if row.schema_json is None:
        row.schema_hash, row.schema_json = p.schema_hash, p.schema_json


def _status(findings: list[Finding]) -> str:
    worst = max((f.sev for f in findings), default=Severity.INFO)
    return {Severity.ERROR: "failed", Severity.WARNING: "warning"}.get(worst, "ok")


def unverified(plan: ExportPlan, backend: Backend, finding: Finding, *, now: datetime, run_id: int) -> ExportOutcome:
    """An export that could not be checked: status unverified, what the catalog knew of its files kept."""
    prev = plan.prev
    files = dict(prev.files) if prev else {}
    flow = prev.flow_run_id if prev else None
    return _outcome(plan, backend, "unverified", flow, [finding], files, 0, time.monotonic(), now, run_id, 0)


def _outcome(
    plan: ExportPlan,
    backend: Backend,
    status: str,
    flow_run_id: str | None,
    findings: list[Finding],
    files: dict[str, FileRow],
    bytes_read: int,
    t0: float,
    now: datetime,
    run_id: int,
    files_checked: int | None,
) -> ExportOutcome:
    lst, prev = plan.listing, plan.prev
    data = [f for f in files.values() if f.role == "data"]
    counts = [f.record_count for f in data]
    verified = status not in ("unverified",)
    export = ExportRow(
        destination=backend.dest.name,
        dataset_id=lst.dataset_id,
        export_time=lst.export_time,
        uri=lst.uri,
        kind=plan.kind,
        status=status,
        flow_run_id=flow_run_id,
        file_count=len(data),
        total_bytes=sum(f.size for f in data),
        record_count=sum(c for c in counts if c is not None) if data and None not in counts else None,
        level=plan.level if verified else (prev.level if prev else None),
        first_seen_at=prev.first_seen_at if prev and prev.first_seen_at else now,
        verified_at=now if verified else (prev.verified_at if prev else None),
        run_id=run_id,
        listing_hash=lst.listing_hash() if verified else None,
        last_seen_at=now,
        newest_modified_at=lst.newest_modified,
        export_time_raw=lst.raw,
        files=files,
    )
    ver = VerificationRow(
        level=plan.level,
        status=status,
        files_checked=files_checked or 0,
        bytes_read=bytes_read,
        duration_s=round(time.monotonic() - t0, 4),
    )
    return ExportOutcome(export=export, findings=findings, verification=ver)
