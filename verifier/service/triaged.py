"""What the dashboard shows of findings and exports, shaped for people: findings root cause first
with their consequences under them (`verifier.triage`, as the CLI prints them), paths relative to
the destination, and the exports that come after a broken link marked as unrestorable."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from verifier.findings import Finding, Severity
from verifier.triage import Relativizer, flatten, relativizer, short_message, triage


def _finding(row: dict[str, Any]) -> Finding | None:
    """A catalog row as a `Finding`; None for a row this version cannot read (an unknown code
    written by a newer version): it is still counted and listed, only not grouped."""
    try:
        return Finding(
            code=row["code"],
            message=row.get("message") or "",
            destination=row.get("destination") or "",
            dataset_id=row.get("dataset_id"),
            export_time=row.get("export_time"),
            uri=row.get("uri"),
            severity=Severity.parse(row.get("severity") or "info"),
            extra={"row": row},
        )
    except (ValueError, KeyError):
        return None


def shown_findings(rows: list[dict[str, Any]], urls: dict[str, str]) -> list[dict[str, Any]]:
    """`rows` (catalog findings) in triage order, each with `consequence` (it hangs under the row
    before it), `where` (the file relative to its destination) and `text` (the message without
    the full URI). The full URI stays in the row, for the tooltip and the API."""
    rel = relativizer(urls)
    findings = [f for f in map(_finding, rows) if f is not None]
    unread = [r for r in rows if _finding(r) is None]
    out = []
    for f, consequence in flatten(triage(findings)):
        row = f.extra["row"]
        assert isinstance(row, dict)
        where = rel(f) if f.uri else ""
        out.append(
            {**row, "consequence": consequence, "where": where, "text": _unrepeated(short_message(f, rel), f, where)}
        )
    out.extend({**r, "consequence": False, "where": r.get("uri") or "", "text": r.get("message") or ""} for r in unread)
    return out


def _unrepeated(text: str, f: Finding, where: str) -> str:
    """The message without the dataset id it starts with when the path shown above it starts with
    that id already (`restore.chain_broken`: `ds1/exportTime=…` over `ds1: the export of …`)."""
    ds = f.dataset_id
    if ds and where.startswith(ds + "/") and text.startswith(ds + ": "):
        return text[len(ds) + 2 :]
    return text


def mark_shown_status(exports: list[dict[str, Any]], health: dict[str, Any] | None, warned: set[datetime]) -> None:
    """`shown_status` of each export of one destination, for the table and the chart: an intact
    export after the latest restorable point (`health`: the destination's `dataset_health` row) is
    "unrestorable", an earlier link of its chain being broken, so it never looks ok; an "ok" export
    with an open warning (`warned`: their export times, e.g. a schema drift found at the dataset
    level) is "warning", not drawn in the ok colour. Without a health row no chain is judged."""
    latest: datetime | None = health.get("latest_restorable") if health else None
    for e in exports:
        e["shown_status"] = "warning" if e["status"] == "ok" and e["export_time"] in warned else e["status"]
        if health is None or e["status"] not in ("ok", "warning"):
            continue
        if latest is None or (e["export_time"] is not None and e["export_time"] > latest):
            e["shown_status"] = "unrestorable"


def shown_plan(plan: dict[str, Any], urls: dict[str, str]) -> dict[str, Any]:
    """A restore plan (`restore-plan --json`'s shape) for the page: each link's `problem` with
    paths relative to the destination (`where`: its folder, relative), and `unrestorable`
    for an intact link after a broken one (it cannot be restored, so it never looks ok). Export
    times as the tables show them. The full URIs stay in the links, for the tooltip and the API."""
    rel = Relativizer(urls)
    dest = plan.get("destination") or ""
    links, broken_before = [], False
    for lk in plan.get("links", []):
        links.append(
            {
                **lk,
                "when": (lk.get("export_time") or "—").replace("T", " ")[:16],
                "where": rel.text(lk.get("uri") or "", dest),
                "problem": rel.text(lk["problem"], dest) if lk.get("problem") else None,
                "unrestorable": broken_before and bool(lk.get("intact")),
            }
        )
        broken_before = broken_before or not lk.get("intact")
    considered = [
        {**d, "reason": rel.text(d.get("reason") or "", d.get("name") or "")} for d in plan.get("destinations", [])
    ]
    return {**plan, "links": links, "destinations": considered}
