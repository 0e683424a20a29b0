"""The notification ledger: which open findings were already sent (for `[notify] only_new`)."""

from __future__ import annotations

from pathlib import Path

from verifier.catalog.db import connect, from_db, now_utc

FindingKey = tuple[str, str, str, str, str]


def load(path: Path) -> set[FindingKey]:
    with connect(path) as con:
        rows = con.execute("SELECT destination, dataset_id, export_time, uri, code FROM notified").fetchall()
    return {(str(a), str(b), str(c), str(d), str(e)) for a, b, c, d, e in rows}


def open_keys(path: Path) -> set[FindingKey]:
    """What is open now, as the view open_findings says (per dataset, destination or run, whatever
    the last run looked at): a run limited to some datasets leaves the others' findings open."""
    with connect(path) as con:
        rows = con.execute("SELECT destination, dataset_id, export_time, uri, code FROM open_findings").fetchall()
    return {(d or "", ds or "", str(from_db(t) or ""), u or "", str(c)) for d, ds, t, u, c in rows}


def replace(path: Path, run_id: int, keys: set[FindingKey]) -> None:
    """The ledger becomes `keys`, in one transaction."""
    with connect(path) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DELETE FROM notified")
            if keys:
                now = now_utc()
                con.executemany(
                    "INSERT INTO notified VALUES (?, ?, ?, ?, ?, ?, ?)", [[*k, run_id, now] for k in sorted(keys)]
                )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
