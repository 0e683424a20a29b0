"""Read-side questions over the catalog, shared by the CLI and the HTTP API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from verifier.catalog import Catalog
from verifier.catalog.db import connect, from_db
from verifier.checks.dataset import infer_cadence


def _rows(cur: Any) -> list[dict[str, Any]]:
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def _utc(v: Any) -> Any:
    return from_db(v) if isinstance(v, datetime) else v


def status(catalog: Catalog, dataset: str | None = None, now: datetime | None = None) -> list[dict[str, Any]]:
    """One row per (destination, dataset): latest export, last verified, health, open findings, next expected."""
    now = now or datetime.now(UTC)
    with connect(catalog.path, read_only=True) as con:
        ds_rows = _rows(
            con.execute(
                """
            SELECT e.destination, e.dataset_id, max(e.export_time) FILTER (WHERE e.status <> 'vanished') AS latest_export,
                   max(e.verified_at) AS last_verified, count(*) FILTER (WHERE e.status <> 'vanished') AS exports,
                   count(*) FILTER (WHERE e.status = 'failed') AS failed,
                   count(*) FILTER (WHERE e.status = 'warning') AS warned,
                   count(*) FILTER (WHERE e.status = 'vanished') AS vanished,
                   arg_max(e.status, e.export_time) FILTER (WHERE e.status <> 'vanished') AS latest_status,
                   max(e.run_id) AS last_run, any_value(d.schedule) AS schedule, any_value(d.type) AS type
            FROM exports e LEFT JOIN destinations d ON d.name = e.destination
            WHERE (? IS NULL OR e.dataset_id = ?)
            GROUP BY ALL ORDER BY e.dataset_id, e.destination""",
                [dataset, dataset],
            )
        )
        times: dict[tuple[str, str], list[datetime]] = {}
        for d, ds, t in con.execute(
            "SELECT destination, dataset_id, export_time FROM exports WHERE status <> 'vanished' ORDER BY 3"
        ).fetchall():
            times.setdefault((d, ds), []).append(from_db(t))  # type: ignore[arg-type]
        open_f: dict[tuple[str, str], dict[str, int]] = {}
        stale: set[tuple[str, str]] = set()
        for d, ds, sev, code, n in con.execute("""
                WITH last AS (SELECT destination, dataset_id, max(run_id) AS run_id FROM verifications GROUP BY ALL)
                SELECT f.destination, f.dataset_id, f.severity, f.code, count(*) FROM findings f
                JOIN last USING (destination, dataset_id) WHERE f.run_id = last.run_id GROUP BY ALL""").fetchall():
            agg = open_f.setdefault((d, ds), {})
            agg[sev] = agg.get(sev, 0) + n
            if code == "dataset.stale":
                stale.add((d, ds))
        cov: dict[tuple[str, str], tuple[float | None, datetime | None]] = {}
        for d, ds, pct, oldest in con.execute("""
                SELECT destination, dataset_id,
                       100.0 * sum(size) FILTER (WHERE full_read_at IS NOT NULL) / nullif(sum(size), 0),
                       min(full_read_at) FROM files WHERE role = 'data' AND status <> 'vanished' GROUP BY ALL""").fetchall():
            cov[(d, ds)] = (round(pct or 0.0, 1), from_db(oldest))
    out = []
    for r in ds_rows:
        key = (r["destination"], r["dataset_id"])
        ts = times.get(key, [])
        sched = r.pop("schedule")
        cadence = None
        if sched and sched != "auto":
            cadence = timedelta(hours=int(sched.rstrip("h")))
        else:
            cadence = infer_cadence(ts)
        latest = _utc(r["latest_export"])
        next_expected = latest + cadence if latest and cadence else None
        if r["failed"] or r["vanished"]:
            health = "failing"
        elif key in stale:
            health = "stale"
        elif r["latest_status"] == "pending":
            health = "pending"
        elif r["warned"] or open_f.get(key, {}).get("warning"):
            health = "warning"
        else:
            health = "ok"
        f = open_f.get(key, {})
        pct, oldest = cov.get(key, (None, None))
        out.append(
            {
                "destination": r["destination"],
                "type": r.pop("type"),
                "dataset_id": r["dataset_id"],
                "latest_export": latest,
                "last_verified": _utc(r["last_verified"]),
                "status": health,
                "exports": r["exports"],
                "failed_exports": r["failed"],
                "vanished_exports": r["vanished"],
                "open_errors": f.get("error", 0),
                "open_warnings": f.get("warning", 0),
                "open_infos": f.get("info", 0),
                "next_expected": next_expected,
                "overdue": bool(next_expected and now > next_expected + (cadence or timedelta()) / 4),
                "cadence_h": cadence.total_seconds() / 3600 if cadence else None,
                "full_read_pct": pct,
                "oldest_full_read": oldest,
            }
        )
    return out


def exports(catalog: Catalog, dataset: str, destination: str | None = None) -> list[dict[str, Any]]:
    with connect(catalog.path, read_only=True) as con:
        rows = _rows(
            con.execute(
                """
            SELECT destination, dataset_id, export_time, kind, status, level, file_count, total_bytes, record_count,
                   flow_run_id, first_seen_at, verified_at, run_id, uri,
                   (SELECT count(*) FROM findings f WHERE f.destination = e.destination AND f.dataset_id = e.dataset_id
                      AND f.export_time = e.export_time AND f.run_id = e.run_id) AS findings
            FROM exports e WHERE dataset_id = ? AND (? IS NULL OR destination = ?)
            ORDER BY export_time, destination""",
                [dataset, destination, destination],
            )
        )
    return [{k: _utc(v) for k, v in r.items()} for r in rows]


def last_run_id(catalog: Catalog) -> int | None:
    with connect(catalog.path, read_only=True) as con:
        row = con.execute("SELECT max(run_id) FROM runs").fetchone()
    return int(row[0]) if row and row[0] is not None else None


def findings(
    catalog: Catalog,
    run_id: int | None = None,
    severity: str | None = None,
    dataset: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    order = {"info": 0, "warning": 1, "error": 2}
    min_rank = order.get(severity or "info", 0)
    with connect(catalog.path, read_only=True) as con:
        rows = _rows(
            con.execute(
                f"""
            SELECT run_id, destination, dataset_id, export_time, uri, code, severity, message, found_at, first_run_id
            FROM findings WHERE (? IS NULL OR run_id = ?) AND (? IS NULL OR dataset_id = ?)
              AND CASE severity WHEN 'error' THEN 2 WHEN 'warning' THEN 1 ELSE 0 END >= ?
            ORDER BY run_id, CASE severity WHEN 'error' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
                     destination, dataset_id, export_time, uri, code
            {"LIMIT " + str(int(limit)) if limit else ""}""",
                [run_id, run_id, dataset, dataset, min_rank],
            )
        )
    return [{k: _utc(v) for k, v in r.items()} for r in rows]


def runs(catalog: Catalog, run_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    with connect(catalog.path, read_only=True) as con:
        rows = _rows(
            con.execute(
                """
            SELECT run_id, started_at, finished_at, level, status, exit_code, exports_checked, exports_skipped,
                   files_checked, bytes_read, errors, warnings, infos, duration_s
            FROM runs WHERE (? IS NULL OR run_id = ?) ORDER BY run_id DESC LIMIT ?""",
                [run_id, run_id, limit],
            )
        )
    return [{k: _utc(v) for k, v in r.items()} for r in rows]
