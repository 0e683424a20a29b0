"""Catalog tables `flows` and `flow_runs` (migration 5), and the export <-> run links."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from verifier import redact
from verifier.aep.fetch import FlowSnapshot
from verifier.aep.model import FlowRun
from verifier.catalog.db import connect, from_db, to_db


@dataclass
class ExportFact:
    """What reconciliation needs of one recorded export folder."""

    dataset_id: str
    export_time: datetime
    uri: str
    status: str
    level: str | None
    record_count: int | None
    flow_run_id: str | None


def last_run_start(path: Path, flow_id: str) -> datetime | None:
    with connect(path) as con:
        row = con.execute("SELECT max(started_at) FROM flow_runs WHERE flow_id = ?", [flow_id]).fetchone()
    return from_db(row[0]) if row and row[0] else None


def save_flow(path: Path, destination: str, snap: FlowSnapshot, scheduled: dict[str, datetime], now: datetime) -> None:
    """The flow as fetched now, and its runs (upserted: a processing run later succeeds or fails)."""
    f, s, t = snap.flow, snap.flow.schedule, snap.target
    with connect(path) as con:
        con.execute("BEGIN TRANSACTION")
        con.execute("DELETE FROM flows WHERE flow_id = ?", [f.id])
        con.execute(
            "INSERT INTO flows VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                f.id,
                destination,
                f.name,
                f.state,
                f.flow_spec_id,
                json.dumps(sorted(snap.datasets)),
                t.format if t else None,
                t.compression if t else None,
                snap.template,
                to_db(s.start),
                s.interval,
                s.unit,
                to_db(s.end),
                s.export_mode,
                to_db(now),
            ],
        )
        for r in snap.runs:
            con.execute("DELETE FROM flow_runs WHERE flow_run_id = ?", [r.id])
            con.execute(
                "INSERT INTO flow_runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    r.id,
                    f.id,
                    r.status,
                    to_db(r.started_at),
                    to_db(r.completed_at),
                    to_db(scheduled.get(r.id)),
                    r.records,
                    r.bytes,
                    r.files,
                    # Adobe's text as it came: scrubbed, so no secret it echoes reaches the catalog
                    redact.scrub(json.dumps([{"code": c, "message": m} for c, m in r.errors])),
                    json.dumps(sorted(r.dataset_ids)),
                    to_db(now),
                ],
            )
        con.execute("COMMIT")


def load_runs(path: Path, flow_id: str) -> list[FlowRun]:
    with connect(path) as con:
        rows = con.execute(
            "SELECT flow_run_id, status, started_at, completed_at, record_count, bytes, file_count, errors, "
            "dataset_ids FROM flow_runs WHERE flow_id = ? ORDER BY started_at",
            [flow_id],
        ).fetchall()
    return [
        FlowRun(
            id=r[0],
            flow_id=flow_id,
            status=r[1],
            started_at=from_db(r[2]),
            completed_at=from_db(r[3]),
            records=r[4],
            bytes=r[5],
            files=r[6],
            errors=[(e["code"], e["message"]) for e in json.loads(r[7] or "[]")],
            dataset_ids=set(json.loads(r[8] or "[]")),
        )
        for r in rows
    ]


def load_export_facts(path: Path, destination: str) -> list[ExportFact]:
    with connect(path) as con:
        rows = con.execute(
            "SELECT dataset_id, export_time, uri, status, level, record_count, flow_run_id FROM exports "
            "WHERE destination = ?",
            [destination],
        ).fetchall()
    return [ExportFact(r[0], from_db(r[1]) or r[1], r[2] or "", r[3], r[4], r[5], r[6]) for r in rows]


def link_exports(path: Path, destination: str, links: dict[tuple[str, datetime], str]) -> None:
    """exports.flow_run_id for folders linked by inference (a manifest's own link is kept)."""
    if not links:
        return
    with connect(path) as con:
        con.execute("BEGIN TRANSACTION")
        for (ds, t), run_id in links.items():
            con.execute(
                "UPDATE exports SET flow_run_id = ? WHERE destination = ? AND dataset_id = ? AND export_time = ? "
                "AND flow_run_id IS NULL",
                [run_id, destination, ds, to_db(t)],
            )
        con.execute("COMMIT")
