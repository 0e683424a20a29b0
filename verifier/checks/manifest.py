"""Manifests: parse one strictly, and reconcile it with the files present."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from verifier.findings import Finding
from verifier.model import Entry
from verifier.timeutil import iso

MAX_MANIFEST_BYTES = 16 * 2**20
MANIFEST_NAME = re.compile(r"^manifest-.*\.json$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_manifest_name(name: str) -> bool:
    return bool(MANIFEST_NAME.match(name))


@dataclass
class Manifest:
    uri: str
    flow_run_id: str | None
    scheduled_time: datetime | None
    files: dict[str, int] = field(default_factory=dict)  # name -> size


def plain_name_problem(name: object) -> str | None:
    """Why `name` is not a plain file name, or None. Manifests are hostile input."""
    if not isinstance(name, str) or not name:
        return "a name that is not a non-empty string"
    if "/" in name or "\\" in name:
        return f"{name[:200]!r} is a path, not a plain file name"
    if name in (".", ".."):
        return f"{name!r} is not a file name"
    if _CONTROL.search(name):
        return f"{name[:200]!r} contains control characters"
    if len(name.encode("utf-8", "surrogatepass")) > 1024:
        return "a name longer than 1024 bytes"
    return None


def parse_manifest(data: bytes, uri: str) -> tuple[Manifest | None, list[Finding]]:
    """A Manifest, or None with one manifest.invalid finding saying exactly what is wrong."""

    def invalid(why: str) -> tuple[None, list[Finding]]:
        return None, [
            Finding(
                "manifest.invalid",
                f"{uri}: {why}; the export cannot be reconciled with its "
                "manifest — re-run the dataflow or remove the stray manifest",
                uri=uri,
            )
        ]

    if len(data) > MAX_MANIFEST_BYTES:
        return invalid(f"manifest is {len(data)} bytes, more than the {MAX_MANIFEST_BYTES} accepted")
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return invalid(f"not UTF-8 (byte {exc.start})")
    except (json.JSONDecodeError, RecursionError) as exc:
        return invalid(
            f"not JSON ({getattr(exc, 'msg', 'too deeply nested')} at "
            f"line {getattr(exc, 'lineno', '?')} column {getattr(exc, 'colno', '?')})"
        )
    if not isinstance(doc, dict):
        return invalid(f"the top level is a JSON {type(doc).__name__}, not an object")
    results = doc.get("exportResults")
    if not isinstance(results, list):
        return invalid("no exportResults list")
    flow = doc.get("flowRunId")
    if flow is not None and not isinstance(flow, str):
        return invalid("flowRunId is not a string")
    sched: datetime | None = None
    raw_sched = doc.get("scheduledTime")
    if raw_sched is not None:
        try:
            sched = datetime.fromisoformat(str(raw_sched).replace("Z", "+00:00"))
        except ValueError:
            return invalid(f"scheduledTime {str(raw_sched)[:64]!r} is not an ISO 8601 time")
        if sched.tzinfo is None:
            return invalid(f"scheduledTime {raw_sched!r} has no time zone")
    files: dict[str, int] = {}
    for i, item in enumerate(results):
        if not isinstance(item, dict):
            return invalid(f"exportResults[{i}] is not an object")
        name = item.get("name")
        problem = plain_name_problem(name)
        if problem:
            return invalid(f"exportResults[{i}].name: {problem}")
        assert isinstance(name, str)
        size = item.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            return invalid(f"exportResults[{i}].size is not a non-negative integer")
        if name in files and files[name] != size:
            return invalid(f"{name!r} is listed twice with different sizes")
        files[name] = size
    return Manifest(uri=uri, flow_run_id=flow, scheduled_time=sched, files=files), []


def reconcile(
    manifests: list[Manifest],
    data: dict[str, Entry],
    export_time: datetime,
    folder_uri: str,
) -> list[Finding]:
    """Files listed but missing, sizes that differ, data files not listed, time mismatches."""
    findings: list[Finding] = []
    listed: dict[str, int] = {}
    for m in manifests:
        listed.update(m.files)
        if m.scheduled_time is not None and m.scheduled_time != export_time:
            findings.append(
                Finding(
                    "manifest.time_mismatch",
                    f"{m.uri}: scheduledTime {iso(m.scheduled_time)} does not match the "
                    f"folder's export time {iso(export_time)}; the manifest may belong to another run",
                    uri=m.uri,
                )
            )
    for name, size in sorted(listed.items()):
        entry = data.get(name)
        if entry is None:
            findings.append(
                Finding(
                    "manifest.file_missing",
                    f"{folder_uri}/{name}: listed in the manifest ({size} bytes) but not "
                    "present; the export is incomplete — restore it from another copy or re-export",
                    uri=f"{folder_uri}/{name}",
                )
            )
        elif entry.size != size:
            findings.append(
                Finding(
                    "manifest.size_mismatch",
                    f"{folder_uri}/{name}: {entry.size} bytes present, {size} listed in "
                    "the manifest; the file is truncated or was replaced",
                    uri=f"{folder_uri}/{name}",
                )
            )
    for name in sorted(set(data) - set(listed)):
        findings.append(
            Finding(
                "manifest.unlisted_file",
                f"{folder_uri}/{name}: a data file the manifest does not list; it was "
                "added after the export or belongs to another run",
                uri=f"{folder_uri}/{name}",
            )
        )
    return findings
