"""What a restore did with each file, and its output: the stable JSON of `restore --json` and the
plain text for people."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from verifier.exitcodes import ERRORS, INCOMPLETE, OK
from verifier.restore.model import Link, Plan, PlanFile
from verifier.timeutil import iso

# actions a file can end in
RESTORED, SKIPPED, WOULD_FETCH, WOULD_SKIP = "restored", "skipped", "would_fetch", "would_skip"
REFUSED, MISMATCH, UNREADABLE = "refused", "mismatch", "unreadable"
ACTIONS = (RESTORED, SKIPPED, WOULD_FETCH, WOULD_SKIP, REFUSED, MISMATCH, UNREADABLE)


@dataclass
class FileResult:
    export_time: datetime
    name: str
    uri: str
    target: str  # relative to DIR
    size: int
    action: str  # restored | skipped | would_fetch | would_skip | refused | mismatch | unreadable
    verified_by: str | None = None
    message: str | None = None
    bytes_fetched: int = 0

    @property
    def ok(self) -> bool:
        return self.action in (RESTORED, SKIPPED, WOULD_FETCH, WOULD_SKIP)


@dataclass
class RestoreResult:
    plan: Plan
    to: Path
    dry_run: bool
    files: list[FileResult] = field(default_factory=list)
    load: Any = None  # verifier.restore.load.LoadResult
    load_error: str | None = None

    def count(self, action: str) -> int:
        return sum(1 for f in self.files if f.action == action)

    @property
    def bytes_fetched(self) -> int:
        return sum(f.bytes_fetched for f in self.files)

    @property
    def complete(self) -> bool:
        """Every planned file is in place, verified (or would be, in a dry run)."""
        return self.plan.intact and all(f.ok for f in self.files)

    @property
    def exit_code(self) -> int:
        if not self.plan.intact or any(f.action in (REFUSED, MISMATCH) for f in self.files) or self.load_error:
            return ERRORS
        if any(f.action == UNREADABLE for f in self.files):
            return INCOMPLETE
        return OK


def file_result(p: Plan, lk: Link, f: PlanFile, action: str, **kw: Any) -> FileResult:
    """What became of file `f` of link `lk`; its target is named as the plan names it."""
    target = "/".join((p.dataset_id, lk.folder, f.name))
    return FileResult(lk.export_time, f.name, f.uri, target, f.size, action, **kw)


def file_dict(r: FileResult) -> dict[str, Any]:
    return {
        "export_time": iso(r.export_time),
        "name": r.name,
        "uri": r.uri,
        "target": r.target,
        "size": r.size,
        "action": r.action,
        "verified_by": r.verified_by,
        "message": r.message,
        "bytes_fetched": r.bytes_fetched,
    }


def to_dict(r: RestoreResult) -> dict[str, Any]:
    """The stable JSON shape of `restore --json`."""
    from verifier.restore import load as loader
    from verifier.restore.report import to_dict as plan_dict

    return {
        "dataset_id": r.plan.dataset_id,
        "as_of": iso(r.plan.as_of),
        "to": str(r.to),
        "dry_run": r.dry_run,
        "exit_code": r.exit_code,
        "complete": r.complete,
        "summary": {
            "files": len(r.files),
            **{a: r.count(a) for a in ACTIONS},
            "bytes_fetched": r.bytes_fetched,
        },
        "files": [file_dict(f) for f in r.files],
        "into": loader.to_dict(r.load) if r.load is not None else None,
        "load_error": r.load_error,
        "plan": plan_dict(r.plan),
    }


def describe(r: RestoreResult) -> str:
    lines = []
    for f in r.files:
        note = f.verified_by or ""
        if f.message:
            note = f"{note}; {f.message}" if note else f.message
        lines.append(f"{f.action:11} {f.target}  {f.size} bytes  {note}".rstrip())
    lines.append(summary_line(r))
    return "\n".join(lines)


def summary_line(r: RestoreResult) -> str:
    parts = [f"{r.count(a)} {a.replace('_', ' ')}" for a in ACTIONS if r.count(a)]
    verb = "dry run" if r.dry_run else "restore"
    return (
        f"{verb} of {r.plan.dataset_id} as of {iso(r.plan.as_of)} into {r.to}: "
        f"{', '.join(parts) or 'no files'}; {r.bytes_fetched} bytes fetched; exit status {r.exit_code}"
    )
