"""Read-side questions over the catalog, shared by the CLI and the HTTP API."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from verifier.catalog import Catalog
from verifier.catalog.db import connect, from_db
from verifier.catalog.records import SampledRunRow, sampled_runs
from verifier.catalog.views import STREAK_CTES
from verifier.sampling import RunLedger, SampledRun, runs_to_full_coverage


def _rows(cur: Any) -> list[dict[str, Any]]:
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def _utc(v: Any) -> Any:
    return from_db(v) if isinstance(v, datetime) else v


def status(catalog: Catalog, dataset: str | None = None, now: datetime | None = None) -> list[dict[str, Any]]:
    """One row per (destination, dataset): the `dataset_health` view, and whether the next export
    is overdue by the caller's clock (a quarter of the cadence late)."""
    now = now or datetime.now(UTC)
    with connect(catalog.path, read_only=True) as con:
        rows = _rows(
            con.execute(
                "SELECT * FROM dataset_health WHERE (? IS NULL OR dataset_id = ?) ORDER BY dataset_id, destination",
                [dataset, dataset],
            )
        )
        flows = _flows_by_dataset(con)
        runs = sampled_runs(con)
    ledger = _ledger(runs)
    out = []
    for r in rows:
        r = {k: _utc(v) for k, v in r.items()}
        r["dataflow"] = flows.get((r["destination"], r["dataset_id"]))
        # the view's one scan of the files also says what the never-read ones have waited
        key = (r["destination"], r["dataset_id"])
        r.update(_outlook(runs, ledger, *key, r["newest_unread_seen_run"]) if r["unread_files"] else _NOTHING_WAITS)
        cadence = timedelta(hours=r["cadence_h"]) if r["cadence_h"] else None
        due = r["next_expected"]
        r["overdue"] = bool(due and cadence and now > due + cadence / 4)
        out.append(r)
    return out


def _flows_by_dataset(con: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """(destination, dataset) -> its AEP dataflow's health (`flow_health`), beside the storage's."""
    import json

    rows = _rows(
        con.execute("SELECT h.*, f.dataset_ids FROM flow_health h JOIN flows f USING (flow_id) ORDER BY h.flow_id")
    )
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        info = {
            "flow_id": r["flow_id"],
            "name": r["name"],
            "state": r["state"],
            "end_time": _utc(r["end_time"]),
            "last_run_id": r["last_run_id"],
            "last_run_status": r["last_run_status"],
            "last_run_started_at": _utc(r["last_run_started_at"]),
            "failed_runs_7d": r["failed_runs_7d"],
        }
        for ds in json.loads(r["dataset_ids"] or "[]"):
            out.setdefault((r["destination"], ds), info)
    return out


def open_findings(catalog: Catalog, dataset: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """What is broken now (the `open_findings` view), worst first, with since when."""
    with connect(catalog.path, read_only=True) as con:
        rows = _rows(
            con.execute(
                f"""
            SELECT * FROM open_findings WHERE (? IS NULL OR dataset_id = ?)
            ORDER BY CASE severity WHEN 'error' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
                     destination, dataset_id, export_time, uri, code
            {"LIMIT " + str(int(limit)) if limit else ""}""",
                [dataset, dataset],
            )
        )
    return [{k: _utc(v) for k, v in r.items()} for r in rows]


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
    # first_run_id: the first run of the finding's streak, as the view open_findings says (its SQL)
    order_by = """ORDER BY run_id, CASE severity WHEN 'error' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
                     destination, dataset_id, export_time, uri, code"""
    with connect(catalog.path, read_only=True) as con:
        rows = _rows(
            con.execute(
                f"""
            WITH open AS (
                SELECT * FROM findings WHERE (? IS NULL OR run_id = ?) AND (? IS NULL OR dataset_id = ?)
                  AND CASE severity WHEN 'error' THEN 2 WHEN 'warning' THEN 1 ELSE 0 END >= ?
                {order_by} {"LIMIT " + str(int(limit)) if limit else ""}
            ), {STREAK_CTES}
            SELECT run_id, destination, dataset_id, export_time, uri, code, severity, message, found_at,
                   opened_in AS first_run_id
            FROM opened {order_by}""",
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


_NOTHING_WAITS = {"full_coverage_in_runs": 0, "full_coverage_by": None}


def _ledger(runs: list[SampledRunRow]) -> RunLedger:
    return RunLedger(SampledRun(r.run_id, frozenset(r.destinations), frozenset(r.datasets)) for r in runs)


def _outlook(
    runs: list[SampledRunRow], ledger: RunLedger, dest: str, dataset: str, newest_seen: int | None
) -> dict[str, Any]:
    """For a dataset with never-read files, the newest of which was first seen in run `newest_seen`
    (None: one was never counted as seen). The file that has waited the fewest sampled runs decides
    (runs_to_full_coverage), and that is the one first seen last: one number per dataset, not a row
    per never-read file (millions, in a big catalog)."""
    least = ledger.waited(dest, dataset, newest_seen, inclusive=True)  # None: waited none
    mine = [r for r in runs if dest in r.destinations and (not r.datasets or dataset in r.datasets)]
    left = runs_to_full_coverage([least], mine[-1].percent if mine else None)
    return {"full_coverage_in_runs": left, "full_coverage_by": _when(mine, left)}


def _when(runs: list[SampledRunRow], left: int | None) -> datetime | None:
    """The last sampled run's start plus `left` times the median spacing of the recent ones."""
    starts = [r.started_at for r in runs[-8:] if r.started_at is not None]
    if left is None or len(starts) < 2:
        return None
    gaps = sorted(b - a for a, b in itertools.pairwise(starts))
    return starts[-1] + gaps[len(gaps) // 2] * left


def similar_datasets(catalog: Catalog, text: str, limit: int = 5) -> list[str]:
    """Dataset ids that start with (or else contain) `text`: for "did you mean" hints."""
    if not catalog.path.exists():
        return []
    with connect(catalog.path, read_only=True) as con:
        ids = [r[0] for r in con.execute("SELECT DISTINCT dataset_id FROM exports ORDER BY 1").fetchall()]
    starts = [i for i in ids if i.startswith(text)]
    return (starts or [i for i in ids if text.lower() in i.lower()])[:limit]
