"""The catalog schema as numbered forward migrations, each applied in a transaction.

Times are stored as naive UTC TIMESTAMPs so SQL over them needs no time-zone care.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "initial schema",
        [
            "CREATE SEQUENCE IF NOT EXISTS run_id_seq START 1",
            "CREATE SEQUENCE IF NOT EXISTS finding_id_seq START 1",
            """CREATE TABLE runs (
            run_id BIGINT PRIMARY KEY, started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP,
            level VARCHAR NOT NULL, status VARCHAR NOT NULL, exit_code INTEGER,
            exports_checked INTEGER DEFAULT 0, files_checked INTEGER DEFAULT 0, bytes_read BIGINT DEFAULT 0,
            errors INTEGER DEFAULT 0, warnings INTEGER DEFAULT 0, infos INTEGER DEFAULT 0,
            exports_skipped INTEGER DEFAULT 0, duration_s DOUBLE, pid INTEGER, hostname VARCHAR, args VARCHAR)""",
            """CREATE TABLE destinations (
            name VARCHAR PRIMARY KEY, type VARCHAR NOT NULL, url VARCHAR, format VARCHAR, compression VARCHAR,
            manifest_expected BOOLEAN, export_mode VARCHAR, schedule VARCHAR, last_scanned_at TIMESTAMP,
            last_error VARCHAR)""",
            """CREATE TABLE exports (
            destination VARCHAR NOT NULL, dataset_id VARCHAR NOT NULL, export_time TIMESTAMP NOT NULL,
            uri VARCHAR, kind VARCHAR, flow_run_id VARCHAR, file_count INTEGER, total_bytes BIGINT,
            record_count BIGINT, status VARCHAR NOT NULL, level VARCHAR, first_seen_at TIMESTAMP,
            verified_at TIMESTAMP, run_id BIGINT, listing_hash VARCHAR, last_seen_at TIMESTAMP,
            newest_modified_at TIMESTAMP, export_time_raw VARCHAR)""",
            """CREATE TABLE files (
            destination VARCHAR NOT NULL, dataset_id VARCHAR NOT NULL, export_time TIMESTAMP NOT NULL,
            uri VARCHAR, name VARCHAR NOT NULL, role VARCHAR, size BIGINT, modified_at TIMESTAMP, etag VARCHAR,
            checksum_algo VARCHAR, checksum VARCHAR, checksum_source VARCHAR, record_count BIGINT,
            schema_hash VARCHAR, status VARCHAR, verified_level VARCHAR, verified_at TIMESTAMP,
            full_read_at TIMESTAMP, md5 VARCHAR, crc32c VARCHAR, schema_json VARCHAR, first_seen_at TIMESTAMP)""",
            """CREATE TABLE checksums (
            destination VARCHAR NOT NULL, dataset_id VARCHAR NOT NULL, export_time TIMESTAMP NOT NULL,
            name VARCHAR NOT NULL, algo VARCHAR NOT NULL, value VARCHAR NOT NULL, source VARCHAR NOT NULL,
            recorded_at TIMESTAMP)""",
            """CREATE TABLE verifications (
            run_id BIGINT NOT NULL, destination VARCHAR NOT NULL, dataset_id VARCHAR NOT NULL,
            export_time TIMESTAMP NOT NULL, level VARCHAR, status VARCHAR, files_checked INTEGER,
            bytes_read BIGINT, duration_s DOUBLE, skipped BOOLEAN DEFAULT FALSE)""",
            """CREATE TABLE findings (
            finding_id BIGINT DEFAULT nextval('finding_id_seq'), run_id BIGINT NOT NULL,
            destination VARCHAR, dataset_id VARCHAR, export_time TIMESTAMP, uri VARCHAR, code VARCHAR NOT NULL,
            severity VARCHAR NOT NULL, message VARCHAR, found_at TIMESTAMP, first_run_id BIGINT)""",
            "CREATE INDEX files_export ON files (destination, dataset_id, export_time)",
            "CREATE INDEX findings_run ON findings (run_id)",
        ],
    ),
    (
        2,
        "file references and accepts; run ids of full reads for sampling coverage",
        [
            # One reference per file version, written by its first full read (or by `verifier accept`)
            # and never by a read that disagrees with it: what every later read is compared against.
            """CREATE TABLE file_references (
            destination VARCHAR NOT NULL, dataset_id VARCHAR NOT NULL, export_time TIMESTAMP NOT NULL,
            name VARCHAR NOT NULL, size BIGINT, etag VARCHAR, modified_at TIMESTAMP, md5 VARCHAR, crc32c VARCHAR,
            record_count BIGINT, schema_hash VARCHAR, source VARCHAR NOT NULL, recorded_at TIMESTAMP,
            run_id BIGINT)""",
            """CREATE TABLE accepts (
            accepted_at TIMESTAMP NOT NULL, accepted_by VARCHAR NOT NULL, reason VARCHAR NOT NULL,
            destination VARCHAR NOT NULL, dataset_id VARCHAR NOT NULL, export_time TIMESTAMP NOT NULL,
            name VARCHAR NOT NULL, uri VARCHAR, old_md5 VARCHAR, new_md5 VARCHAR, old_crc32c VARCHAR,
            new_crc32c VARCHAR)""",
            # existing catalogs: the last full read is the best reference there is
            """INSERT INTO file_references SELECT destination, dataset_id, export_time, name, size, etag,
            modified_at, md5, crc32c, record_count, schema_hash, 'full_read', full_read_at, NULL
            FROM files WHERE md5 IS NOT NULL""",
            # sampling counts runs, not days: which run last read the file in full, and first saw it
            "ALTER TABLE files ADD COLUMN full_read_run BIGINT",
            "ALTER TABLE files ADD COLUMN first_seen_run BIGINT",
            # files known before this version count as seen, and those read as read, in the latest run:
            # the coverage guarantee starts from the upgrade
            """UPDATE files SET first_seen_run = (SELECT coalesce(max(run_id), 0) FROM runs),
            full_read_run = CASE WHEN full_read_at IS NULL THEN NULL ELSE (SELECT coalesce(max(run_id), 0) FROM runs) END""",
        ],
    ),
    # The views (open_findings, latest_exports, file_coverage, dataset_health, export_history) live
    # in views.py: db.migrate re-creates them around every migration, so this one has no statement.
    (4, "views", []),
    (
        5,
        "AEP dataflows and their runs",
        [
            """CREATE TABLE flows (
            flow_id VARCHAR PRIMARY KEY, destination VARCHAR NOT NULL, name VARCHAR, state VARCHAR,
            flow_spec_id VARCHAR, dataset_ids VARCHAR, format VARCHAR, compression VARCHAR,
            folder_template VARCHAR, schedule_start TIMESTAMP, schedule_interval INTEGER, schedule_unit VARCHAR,
            end_time TIMESTAMP, export_mode VARCHAR, fetched_at TIMESTAMP)""",
            """CREATE TABLE flow_runs (
            flow_run_id VARCHAR PRIMARY KEY, flow_id VARCHAR NOT NULL, status VARCHAR, started_at TIMESTAMP,
            completed_at TIMESTAMP, scheduled_time TIMESTAMP, record_count BIGINT, bytes BIGINT, file_count BIGINT,
            errors VARCHAR, dataset_ids VARCHAR, fetched_at TIMESTAMP)""",
            "CREATE INDEX flow_runs_flow ON flow_runs (flow_id, started_at)",
            # its view, flow_health, is in views.py (re-created around every migration)
        ],
    ),
    (
        3,
        "catalog identity",
        [
            # one row, written once: a run remembers it and stops if the file it writes to changes
            "CREATE TABLE catalog_identity (catalog_id VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL)",
            "INSERT INTO catalog_identity SELECT uuid()::VARCHAR, get_current_timestamp() AT TIME ZONE 'UTC'",
        ],
    ),
    (
        6,
        "notification ledger",
        [
            """CREATE TABLE notified (
            destination VARCHAR, dataset_id VARCHAR, export_time VARCHAR, uri VARCHAR, code VARCHAR,
            run_id BIGINT, notified_at TIMESTAMP)""",
        ],
    ),
    # Faster views for `status` at millions of rows (issue 13), same answers: open_findings groups
    # verifications and findings each on its own, latest_exports looks for the latest restorable
    # point only in chains with a broken link, dataset_health infers a cadence only where no
    # schedule is set, counts open findings without asking since when and scans the files once
    # (two new columns: unread_files, newest_unread_seen_run, for `status`'s coverage outlook).
    # Views are re-created around every migration (views.py).
    (8, "views for status at scale", []),
]

# Numbers reserved for work developed side by side (apply order is by number; the runner in
# db.py applies every number not yet recorded): 2 file references and accepts, 3 catalog
# identity, 4 views, 5 flows and flow runs, 6 notifications, 7 PGP, 8 status views at scale.
LATEST = max(v for v, _, _ in MIGRATIONS)
