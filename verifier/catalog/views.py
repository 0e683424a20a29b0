"""The catalog's views: the questions people ask of backup history, defined once, in SQL.

`status`, the HTTP API and the dashboard read these views (through `verifier.queries`); users
read them with `verifier sql` or any DuckDB client; `verifier catalog export` writes them out.
Their columns are documented in docs/sql.md.

How they are kept in step with the tables: views are NOT frozen into the migration that first
created them. Around every migration applied, `drop()` removes every view and `create()` makes
each one again from the definitions below, in this order (a view may read the views above it),
in the migration's own transaction (db.migrate). So:

- a later migration that changes a table (adds a column, rebuilds it) needs nothing else: the
  views are re-created from their current definitions right after it, in the same transaction;
- a new view is one more `View(...)` entry below, with `since` = the migration that creates the
  tables it reads (and a migration of that number, which may have no statement of its own);
- changing a view's definition means giving the change a migration number, so that catalogs
  created earlier get it when they next open read-write.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from verifier.checks.dataset import CADENCES

_CADENCES_H = ", ".join(str(int(c.total_seconds() // 3600)) for c in CADENCES)


@dataclass(frozen=True)
class View:
    name: str
    since: int  # the migration after which the tables it reads exist
    sql: str


# The last run that looked at each scope: a finding of that run is what is broken now. Findings
# are carried into every run while unfixed, so "open" is "recorded by the latest run of its scope":
# per dataset for dataset and export findings, per destination for destination-wide ones
# (an unreachable store), over all runs for run-wide ones (Adobe's API unreachable).
# Since when: from the first run of its unbroken streak, i.e. after the last verification of its
# export that did not record it. first_run_id alone is not enough: a re-read at a deeper level
# records a finding anew, with that run as its first.
# The CTEs that say which findings are open (`open`), shared with dataset_health, which counts
# them without asking since when.
_OPEN_NOW = """
last_dataset AS (  -- each table grouped on its own: no union of millions of rows to group again
    SELECT destination, dataset_id, max(run_id) AS run_id FROM (
        SELECT destination, dataset_id, max(run_id) AS run_id FROM verifications GROUP BY ALL
        UNION ALL SELECT destination, dataset_id, max(run_id) AS run_id FROM findings GROUP BY ALL
    ) GROUP BY ALL
),
last_destination AS (SELECT destination, max(run_id) AS run_id FROM last_dataset GROUP BY ALL),
open AS (
    SELECT f.* FROM findings f
    LEFT JOIN last_dataset ld ON ld.destination = f.destination AND ld.dataset_id = f.dataset_id
    LEFT JOIN last_destination lt ON lt.destination = f.destination
    WHERE f.run_id = CASE
        WHEN f.destination IS NULL THEN (SELECT max(run_id) FROM last_dataset)
        WHEN f.dataset_id IS NULL THEN lt.run_id
        ELSE ld.run_id END
)"""

# The streak of each finding in a CTE named `open` (rows of `findings`): `opened` is those rows with
# `opened_in`, the first run of the streak. Shared with every reader that marks findings new or
# open since (queries.findings, Catalog.mark_streaks) so that all say what this view says.
STREAK_CTES = """clean AS (
    SELECT o.finding_id, max(v.run_id) AS run_id
    FROM open o JOIN verifications v
      ON v.destination = o.destination AND v.dataset_id = o.dataset_id AND v.export_time = o.export_time
     AND v.run_id < o.run_id
    WHERE NOT EXISTS (
        SELECT 1 FROM findings x WHERE x.run_id = v.run_id AND x.destination = o.destination
           AND x.dataset_id = o.dataset_id AND x.export_time = o.export_time AND x.code = o.code)
    GROUP BY o.finding_id
),
streak AS (
    SELECT o.finding_id, min(x.run_id) AS run_id
    FROM open o LEFT JOIN clean c ON c.finding_id = o.finding_id
    JOIN findings x
      ON x.destination = o.destination AND x.dataset_id = o.dataset_id AND x.export_time = o.export_time
     AND x.code = o.code AND x.run_id > coalesce(c.run_id, 0) AND x.run_id <= o.run_id
    GROUP BY o.finding_id
),
opened AS (
    SELECT o.*, least(coalesce(o.first_run_id, o.run_id), coalesce(s.run_id, o.run_id)) AS opened_in
    FROM open o LEFT JOIN streak s ON s.finding_id = o.finding_id
)"""

_OPEN_FINDINGS = f"""
WITH {_OPEN_NOW},
{STREAK_CTES}
SELECT o.destination, o.dataset_id, o.export_time, o.uri, o.code, o.severity, o.message,
       o.opened_in AS first_run_id, coalesce(first.started_at, o.found_at) AS since,
       o.run_id AS last_run_id, o.found_at, o.finding_id
FROM opened o
LEFT JOIN runs first ON first.run_id = o.opened_in
"""

# "intact" is what a restore accepts (restore/plan.py INTACT_STATUSES). With incremental exports
# the state as of T needs every export from the first up to T, so the latest restorable point is
# the export just before the first one that is not intact; with full snapshots it is simply the
# latest intact export.
_LATEST_EXPORTS = """
WITH e AS (
    SELECT e.*, e.status IN ('ok', 'warning') AS intact,
           coalesce(d.export_mode, 'first_full_then_incremental') AS export_mode
    FROM exports e LEFT JOIN destinations d ON d.name = e.destination
),
per AS (
    SELECT destination, dataset_id, any_value(export_mode) AS export_mode,
           min(export_time) AS first_export,
           max(export_time) AS last_export,
           max(export_time) FILTER (WHERE status <> 'vanished') AS latest_export,
           arg_max(status, export_time) FILTER (WHERE status <> 'vanished') AS latest_status,
           max(export_time) FILTER (WHERE intact) AS latest_intact_export,
           min(export_time) FILTER (WHERE NOT intact) AS first_broken_export
    FROM e GROUP BY destination, dataset_id
),
-- only incremental chains with a broken link need a second look at their exports
before_broken AS (
    SELECT p.destination, p.dataset_id, max(x.export_time) AS export_time
    FROM per p JOIN exports x
      ON x.destination = p.destination AND x.dataset_id = p.dataset_id AND x.export_time < p.first_broken_export
    WHERE p.export_mode <> 'full' AND p.first_broken_export IS NOT NULL
    GROUP BY p.destination, p.dataset_id
)
SELECT p.destination, p.dataset_id, p.export_mode, p.first_export, p.latest_export, p.latest_status,
       p.latest_intact_export,
       CASE WHEN p.export_mode = 'full' THEN p.latest_intact_export
            WHEN p.first_broken_export IS NULL THEN p.last_export
            ELSE b.export_time
       END AS latest_restorable,
       p.first_broken_export
FROM per p LEFT JOIN before_broken b ON b.destination = p.destination AND b.dataset_id = p.dataset_id
"""

# What `verifier status` shows. The cadence is the configured schedule, else (schedule "auto")
# the standard cadence nearest the median spacing of at least three exports, as the dataset
# checks infer it (checks/dataset.py infer_cadence).
_DATASET_HEALTH = f"""
WITH ex AS (
    SELECT destination, dataset_id,
           max(verified_at) AS last_verified,
           count(*) FILTER (WHERE status <> 'vanished') AS exports,
           count(*) FILTER (WHERE status = 'failed') AS failed_exports,
           count(*) FILTER (WHERE status = 'warning') AS warned_exports,
           count(*) FILTER (WHERE status = 'vanished') AS vanished_exports
    FROM exports GROUP BY ALL
),
gaps AS (  -- only where the cadence is inferred: no schedule, or "auto"
    SELECT destination, dataset_id, count(*) + 1 AS n,
           median(epoch(export_time) - epoch(prev)) / 3600 AS median_h
    FROM (SELECT destination, dataset_id, export_time,
                 lag(export_time) OVER (PARTITION BY destination, dataset_id ORDER BY export_time) AS prev
          FROM (SELECT DISTINCT e.destination, e.dataset_id, e.export_time
                FROM exports e LEFT JOIN destinations d ON d.name = e.destination
                WHERE e.status <> 'vanished' AND (d.schedule IS NULL OR d.schedule = 'auto')))
    WHERE prev IS NOT NULL GROUP BY ALL
),
cadence AS (
    SELECT l.destination, l.dataset_id,
           CASE WHEN d.schedule IS NOT NULL AND d.schedule <> 'auto'
                    THEN CAST(rtrim(d.schedule, 'h') AS DOUBLE)
                WHEN g.n >= 3
                    THEN (SELECT arg_min(c, [abs(c - g.median_h), c]) FROM unnest([{_CADENCES_H}]) AS t(c))
           END AS cadence_h
    FROM ex l  -- the same (destination, dataset) pairs as latest_exports, without computing it twice
    LEFT JOIN destinations d ON d.name = l.destination
    LEFT JOIN gaps g USING (destination, dataset_id)
),
open AS (  -- the rows of open_findings, counted: what is open, without since when
    WITH {_OPEN_NOW}
    SELECT destination, dataset_id,
           count(*) FILTER (WHERE severity = 'error') AS open_errors,
           count(*) FILTER (WHERE severity = 'warning') AS open_warnings,
           count(*) FILTER (WHERE severity = 'info') AS open_infos,
           bool_or(code = 'dataset.stale') AS stale
    FROM open WHERE dataset_id IS NOT NULL GROUP BY ALL
),
coverage AS (  -- the one scan of every file: bytes read, and the never-read files `status` counts runs for
    SELECT destination, dataset_id,
           round(100.0 * coalesce(sum(size) FILTER (WHERE full_read_at IS NOT NULL), 0)
                 / nullif(sum(size), 0), 1) AS full_read_pct,
           min(full_read_at) AS oldest_full_read,
           count(*) FILTER (WHERE size > 0 AND full_read_run IS NULL) AS unread_files,
           CASE WHEN NOT bool_or(first_seen_run IS NULL) FILTER (WHERE size > 0 AND full_read_run IS NULL)
                THEN max(first_seen_run) FILTER (WHERE size > 0 AND full_read_run IS NULL) END
               AS newest_unread_seen_run
    FROM files WHERE role = 'data' AND status <> 'vanished' GROUP BY ALL
)
SELECT l.destination, d.type, l.dataset_id, l.latest_export, ex.last_verified,
       CASE WHEN ex.failed_exports > 0 OR ex.vanished_exports > 0 THEN 'failing'
            WHEN coalesce(o.stale, false) THEN 'stale'
            WHEN l.latest_status = 'pending' THEN 'pending'
            WHEN ex.warned_exports > 0 OR coalesce(o.open_warnings, 0) > 0 THEN 'warning'
            ELSE 'ok' END AS status,
       ex.exports, ex.failed_exports, ex.vanished_exports,
       coalesce(o.open_errors, 0) AS open_errors, coalesce(o.open_warnings, 0) AS open_warnings,
       coalesce(o.open_infos, 0) AS open_infos,
       c.cadence_h, l.latest_export + to_microseconds(CAST(c.cadence_h * 3600e6 AS BIGINT)) AS next_expected,
       cv.full_read_pct, cv.oldest_full_read,
       l.latest_intact_export, l.latest_restorable,
       coalesce(cv.unread_files, 0) AS unread_files, cv.newest_unread_seen_run
FROM latest_exports l
JOIN ex USING (destination, dataset_id)
LEFT JOIN destinations d ON d.name = l.destination
LEFT JOIN cadence c USING (destination, dataset_id)
LEFT JOIN open o USING (destination, dataset_id)
LEFT JOIN coverage cv USING (destination, dataset_id)
"""

_FILE_COVERAGE = """
SELECT destination, dataset_id, export_time, name, role, size, status, verified_level, verified_at,
       full_read_at AS last_full_read_at, full_read_at IS NULL AS never_read, md5, uri
FROM files
"""

# One row per verification of an export, with what that run found on it.
_EXPORT_HISTORY = """
SELECT v.destination, v.dataset_id, v.export_time, v.run_id, r.started_at AS run_started_at,
       v.level, v.status, v.skipped, v.files_checked, v.bytes_read, v.duration_s,
       count(f.code) FILTER (WHERE f.severity = 'error') AS errors,
       count(f.code) FILTER (WHERE f.severity = 'warning') AS warnings,
       coalesce(list_sort(list_distinct(list(f.code))), []) AS codes
FROM verifications v
LEFT JOIN runs r ON r.run_id = v.run_id
LEFT JOIN findings f ON f.run_id = v.run_id AND f.destination = v.destination
    AND f.dataset_id = v.dataset_id AND f.export_time = v.export_time
GROUP BY ALL
"""

# Per AEP dataflow (migration 5, issue 11): its state and its latest run, and failed runs in the
# 7 days before the flows were last fetched.
_FLOW_HEALTH = """
SELECT f.destination, f.flow_id, f.name, f.state, f.end_time, f.fetched_at,
       r.flow_run_id AS last_run_id, r.status AS last_run_status, r.started_at AS last_run_started_at,
       (SELECT count(*) FROM flow_runs x WHERE x.flow_id = f.flow_id AND lower(x.status) = 'failed'
          AND x.started_at >= f.fetched_at - INTERVAL 7 DAY) AS failed_runs_7d
FROM flows f
LEFT JOIN (SELECT *, row_number() OVER (PARTITION BY flow_id ORDER BY started_at DESC) AS n
           FROM flow_runs) r ON r.flow_id = f.flow_id AND r.n = 1
"""

VIEWS: list[View] = [
    View("open_findings", 4, _OPEN_FINDINGS),
    View("latest_exports", 4, _LATEST_EXPORTS),
    View("file_coverage", 4, _FILE_COVERAGE),
    View("dataset_health", 4, _DATASET_HEALTH),
    View("export_history", 4, _EXPORT_HISTORY),
    View("flow_health", 5, _FLOW_HEALTH),
]
NAMES = [v.name for v in VIEWS]


def drop(con: duckdb.DuckDBPyConnection) -> None:
    """Before a migration's statements: nothing then depends on the tables it changes."""
    for v in reversed(VIEWS):
        con.execute(f"DROP VIEW IF EXISTS {v.name}")


def create(con: duckdb.DuckDBPyConnection, applied: set[int]) -> None:
    """After them, in the same transaction: every view whose tables exist, in order."""
    for v in VIEWS:
        if v.since in applied:
            con.execute(f"CREATE VIEW {v.name} AS {v.sql}")
