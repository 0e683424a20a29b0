"""A restore plan for scripts (the stable JSON of `restore-plan --json` and the HTTP API) and
for people (plain text)."""

from __future__ import annotations

from typing import Any

from verifier.model import Checksum
from verifier.restore.model import Link, Plan
from verifier.timeutil import iso


def checksum_dict(c: Checksum | None) -> dict[str, str] | None:
    return None if c is None else {"algo": c.algo, "value": c.value, "source": c.source}


def link_dict(lk: Link) -> dict[str, Any]:
    return {
        "export_time": iso(lk.export_time),
        "export_time_raw": lk.export_time_raw,
        "uri": lk.uri,
        "kind": lk.kind,
        "status": lk.status,
        "level": lk.level,
        "verified_at": iso(lk.verified_at),
        "intact": lk.problem is None,
        "problem": lk.problem,
        "file_count": lk.file_count,
        "total_bytes": lk.total_bytes,
        "record_count": lk.record_count,
        "files": [
            {
                "name": f.name,
                "uri": f.uri,
                "size": f.size,
                "checksum": checksum_dict(f.checksum),
                "record_count": f.record_count,
                "status": f.status,
                "problem": f.problem,
            }
            for f in lk.files
        ],
    }


def to_dict(p: Plan) -> dict[str, Any]:
    """The stable JSON shape of `restore-plan --json` (and of the HTTP API)."""
    shown = p.shown
    return {
        "dataset_id": p.dataset_id,
        "as_of": iso(p.as_of),
        "intact": p.intact,
        "exit_code": p.exit_code,
        "destination": shown.destination if shown else None,
        "export_mode": shown.export_mode if shown else None,
        "allow_unverified": p.allow_unverified,
        "message": p.message,
        "links": [link_dict(lk) for lk in p.links],
        "totals": {
            "exports": len(p.links),
            "files": p.file_count,
            "bytes": p.total_bytes,
            "records": p.total_records,
        },
        "destinations": [
            {
                "name": a.destination,
                "type": a.type,
                "export_mode": a.export_mode,
                "configured": a.configured,
                "exports_recorded": a.recorded,
                "used": a.used,
                "intact": a.intact,
                "reason": a.reason,
                "broken_links": [
                    {"export_time": iso(lk.export_time), "status": lk.status, "problem": lk.problem}
                    for lk in a.broken_links
                ],
            }
            for a in p.attempts
        ],
        "findings": [f.as_dict() for f in p.findings],
    }


def describe(p: Plan) -> str:
    """The plan as plain text, for people (the demo, and the CLI off a terminal)."""
    lines = [p.message]
    shown = p.shown
    if shown is not None:
        state = "intact" if p.intact else "BROKEN"
        lines.append(f"chain on {shown.destination} ({shown.export_mode}), {state}:")
    for lk in p.links:
        recs = "?" if lk.record_count is None else lk.record_count
        mark = "ok " if lk.problem is None else "XX "
        lines.append(
            f"  {mark}{iso(lk.export_time)}  {lk.kind or '-':11} {lk.status:10} {lk.file_count} file(s) "
            f"{lk.total_bytes} bytes {recs} records  {lk.uri}"
        )
        if lk.problem:
            lines.append(f"       ^ {lk.problem}")
        for f in lk.files:
            c = f.checksum
            cs = f"{c.algo}:{c.value} ({c.source})" if c else "no checksum recorded"
            frecs = "?" if f.record_count is None else f.record_count
            lines.append(f"       {f.name}  {f.size} bytes  {frecs} records  {cs}  [{f.status}]")
    if p.links:
        recs = "unknown" if p.total_records is None else p.total_records
        lines.append(f"total: {len(p.links)} export(s), {p.file_count} file(s), {p.total_bytes} bytes, {recs} records")
    if len(p.attempts) > 1 or (p.attempts and not p.intact):
        lines.append("destinations:")
        lines.extend(f"  {a.destination}: {a.reason}" for a in p.attempts)
    for fd in p.findings:
        lines.append(f"{fd.sev!s:7} {fd.code}  {fd.message}")
    return "\n".join(lines)
