"""The machine summary of a run (`run --json`)."""

from __future__ import annotations

from typing import Any

from verifier.exitcodes import EXIT_CODES
from verifier.findings import Severity
from verifier.runner import RunSummary
from verifier.timeutil import iso


def summary_dict(s: RunSummary) -> dict[str, Any]:
    by_code: dict[str, int] = {}
    for f in s.findings:
        by_code[f.code] = by_code.get(f.code, 0) + 1
    return {
        "run_id": s.run_id,
        "level": s.level,
        "status": s.status,
        "exit_code": s.exit_code,
        "exit_meaning": EXIT_CODES[s.exit_code],
        "started_at": iso(s.started_at),
        "finished_at": iso(s.finished_at),
        "duration_s": round(s.duration_s, 3),
        "counts": {str(sev): s.count(sev) for sev in Severity},
        "by_code": dict(sorted(by_code.items())),
        "destinations": [
            {
                "name": d.name,
                "type": d.type,
                "url": d.url,
                "reachable": d.reachable,
                "message": d.message,
                "exports_seen": d.exports_seen,
                "exports_checked": d.exports_checked,
                "exports_unchanged": d.exports_skipped,
                "files_checked": d.files_checked,
                "bytes_read": d.bytes_read,
                "errors": d.errors,
                "warnings": d.warnings,
                "infos": d.infos,
            }
            for d in s.destinations
        ],
        "findings": [
            f.as_dict()
            for f in sorted(s.findings, key=lambda f: (-int(f.sev), f.destination, f.dataset_id or "", f.code))
        ],
    }


def run_log_line(s: RunSummary, limit: int = 5) -> str:
    """One log line for a finished run: verdict, counts, and the new findings by code."""
    new = [f for f in s.findings if f.extra.get("first_run_id", s.run_id) == s.run_id]
    by_code: dict[str, int] = {}
    for f in new:
        by_code[f.code] = by_code.get(f.code, 0) + 1
    shown = ", ".join(f"{c} x{n}" for c, n in sorted(by_code.items(), key=lambda kv: (-kv[1], kv[0]))[:limit])
    more = f", +{len(by_code) - limit} more codes" if len(by_code) > limit else ""
    return (
        f"run {s.run_id} {s.status}: exit {s.exit_code} ({EXIT_CODES[s.exit_code].split(':')[0]}); "
        f"{s.count(Severity.ERROR)} errors, {s.count(Severity.WARNING)} warnings, {s.count(Severity.INFO)} infos; "
        f"{len(new)} new" + (f" ({shown}{more})" if new else "") + f"; {s.duration_s:.1f} s"
    )
