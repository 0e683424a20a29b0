"""`verifier catalog export`: every table and view of the catalog as Parquet, for a warehouse.

One folder per table or view under the target, written through fsspec (a local folder, or any
store fsspec reaches). Tables kept per export are partitioned by destination
(`files/destination=prod-s3/...`), so a loader can take one destination. With `since`, only what
runs after that one added or changed is written, in new files beside the earlier ones:

- history (runs, verifications, findings): the rows of the later runs — append them;
- state (exports, files, checksums, file_references): the exports those runs recorded, with
  their files, checksums and references (and the references `verifier accept` rewrote since
  that run started) — replace by (destination, dataset_id, export_time);
- everything else is small or rewritten in place without a run id, so it is written whole,
  replacing what was there: destinations, flows and flow_runs (upserted from Adobe: a
  processing run later succeeds), accepts, notified (rewritten whole by every run),
  catalog_identity, schema_migrations, and the views.

TABLES names every base table of the catalog (tests/test_catalog_export.py compares it with
the catalog's own list): a new table is exported only once it is added here. Nothing secret is
in them: URLs are stored stripped of credentials, messages scrubbed (Adobe's run errors too,
catalog/flows.py), and `accepts` holds who (user@host), when and the reason typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from fsspec.spec import AbstractFileSystem
from pyarrow.fs import FSSpecHandler, PyFileSystem

from verifier import redact
from verifier.catalog.db import connect
from verifier.catalog.views import NAMES as VIEW_NAMES
from verifier.errors import StoreError

_EXPORT_KEY = "(destination, dataset_id, export_time)"
_CHANGED_EXPORTS = f"{_EXPORT_KEY} IN (SELECT {_EXPORT_KEY} FROM exports WHERE run_id > $since)"
# an accept rewrites a file's reference outside any run (its export is re-verified by the next)
_ACCEPTED_SINCE = (
    f"{_EXPORT_KEY} IN (SELECT {_EXPORT_KEY} FROM accepts WHERE accepted_at >= "
    "coalesce((SELECT started_at FROM runs WHERE run_id = $since), TIMESTAMP '-infinity'))"
)
# table -> (rows after run $since, "" = always written whole; partitioned by destination)
TABLES: dict[str, tuple[str, bool]] = {
    "runs": ("run_id > $since", False),
    "destinations": ("", False),
    "exports": ("run_id > $since", True),
    "files": (_CHANGED_EXPORTS, True),
    "checksums": (_CHANGED_EXPORTS, True),
    "file_references": (f"{_CHANGED_EXPORTS} OR {_ACCEPTED_SINCE}", True),
    "verifications": ("run_id > $since", True),
    "findings": ("run_id > $since", False),  # run-wide findings have no destination
    "accepts": ("", False),
    "flows": ("", False),
    "flow_runs": ("", False),
    "notified": ("", False),
    "catalog_identity": ("", False),
    "schema_migrations": ("", False),
}
BATCH_ROWS = 100_000


@dataclass
class Written:
    table: str
    rows: int
    files: int
    mode: str  # "append" | "replace"


def target(url: str, fs: AbstractFileSystem | None = None) -> tuple[AbstractFileSystem, str]:
    """Where `url` (a folder or a store URL) points: the filesystem and the path in it. `fs` is a
    configured destination's filesystem (its options and secrets); without it, fsspec builds one
    from the URL and the environment (AWS_*, GOOGLE_APPLICATION_CREDENTIALS, ...)."""
    import fsspec

    if fs is not None:
        return fs, fs._strip_protocol(url)
    try:
        got, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise StoreError(f"cannot write to {redact.scrub(url)}: {exc}") from None
    return got, path


def export_catalog(catalog_path: Path, fs: AbstractFileSystem, root: str, since: int | None = None) -> list[Written]:
    """Write every table and view under `root` of `fs`; return what was written, per table.
    A store that refuses or fails is a StoreError, its message scrubbed of secrets."""
    try:
        return _export(catalog_path, fs, root.rstrip("/"), since)
    except (OSError, pa.ArrowException) as exc:
        raise StoreError(f"cannot write the export to {redact.scrub(root)}: {redact.scrub(str(exc))}") from None


def _export(catalog_path: Path, fs: AbstractFileSystem, root: str, since: int | None) -> list[Written]:
    afs = PyFileSystem(FSSpecHandler(fs))
    fs.makedirs(root, exist_ok=True)
    out: list[Written] = []
    with connect(catalog_path, read_only=True) as con:
        row = con.execute("SELECT coalesce(max(run_id), 0) FROM runs").fetchone()
        upto = int(row[0]) if row else 0
        first = (since or 0) + 1
        for table, (where, partitioned) in TABLES.items():
            incremental = since is not None and bool(where)
            query = f"SELECT * FROM {table}" + (f" WHERE {where}" if incremental else "")
            stem = f"runs-{first}-{upto}" if incremental else f"snapshot-{upto}"
            out.append(
                _write(
                    con,
                    query,
                    {"since": since} if incremental else {},
                    afs,
                    fs,
                    f"{root}/{table}",
                    stem,
                    partitioned,
                    replace=not incremental,
                    table=table,
                )
            )
        for view in VIEW_NAMES:
            out.append(
                _write(
                    con,
                    f"SELECT * FROM {view}",
                    {},
                    afs,
                    fs,
                    f"{root}/{view}",
                    f"snapshot-{upto}",
                    False,
                    replace=True,
                    table=view,
                )
            )
    return out


def _write(
    con: Any,
    query: str,
    params: dict[str, Any],
    afs: PyFileSystem,
    fs: AbstractFileSystem,
    base: str,
    stem: str,
    partitioned: bool,
    *,
    replace: bool,
    table: str,
) -> Written:
    if replace and fs.exists(base):
        fs.rm(base, recursive=True)  # a snapshot replaces the previous one, never mixes with it
    fs.makedirs(base, exist_ok=True)
    cur = con.execute(query, params) if params else con.execute(query)
    # DuckDB 2 renamed fetch_record_batch (1.x) to to_arrow_reader; pyproject allows both
    stream = getattr(cur, "to_arrow_reader", None) or cur.fetch_record_batch
    reader: pa.RecordBatchReader = stream(BATCH_ROWS)
    files: list[str] = []
    pads.write_dataset(
        reader,
        base,
        filesystem=afs,
        format="parquet",
        partitioning=["destination"] if partitioned else None,
        partitioning_flavor="hive" if partitioned else None,
        basename_template=f"{stem}-{{i}}.parquet",
        existing_data_behavior="overwrite_or_ignore",
        file_visitor=lambda f: files.append(f.path),
        max_rows_per_group=BATCH_ROWS,
    )
    rows = sum(pq.ParquetFile(p, filesystem=afs).metadata.num_rows for p in files)
    if not files and replace:
        # an empty table is still a table: one file with its columns, so readers see it
        pq.write_table(reader.schema.empty_table(), f"{base}/{stem}-0.parquet", filesystem=afs)
        files.append(f"{base}/{stem}-0.parquet")
    return Written(table, rows, len(files), "replace" if replace else "append")
