"""Opening the DuckDB catalog: short-lived connections, lock waits, migrations."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from verifier.catalog import views
from verifier.catalog.schema import LATEST, MIGRATIONS
from verifier.errors import CatalogError, CatalogLocked
from verifier.writer_waiting import Announcement

LOCK_WAIT_S = 30.0


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


def now_utc() -> datetime:
    """Naive UTC, the catalog's time convention."""
    return datetime.now(UTC).replace(tzinfo=None)


def to_db(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    if dt.tzinfo is UTC:  # the common case, without astimezone's cost
        return dt.replace(tzinfo=None)
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def from_db(dt: datetime | None) -> datetime | None:
    return dt.replace(tzinfo=UTC) if dt is not None and dt.tzinfo is None else dt


@contextlib.contextmanager
def connect(
    path: Path, *, read_only: bool = False, wait_s: float = LOCK_WAIT_S, sandbox: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection held only for the `with` block; waits while another process holds the file.

    `sandbox` also forbids touching any other file (COPY TO, read_csv, ATTACH, INSTALL): for
    user-supplied SQL, which must only ever read the catalog.
    """
    if read_only and not path.exists():
        raise CatalogError(f"no catalog at {path} yet; run `verifier run` first (or check [catalog] path)")
    config: dict[str, str | bool | int | float | list[str]] = (
        {"enable_external_access": False, "lock_configuration": True} if sandbox else {}
    )
    con = _open(path, read_only, config, wait_s)
    try:
        if not read_only:
            migrate(con, path)
        elif _check_version(con, path):
            con.close()  # older than this verifier: migrate it once, then read as asked
            with connect(path, wait_s=wait_s):
                pass
            con = _open(path, read_only, config, wait_s)
        yield con
    finally:
        con.close()


def _open(
    path: Path, read_only: bool, config: dict[str, str | bool | int | float | list[str]], wait_s: float
) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + wait_s
    # a writer kept out says so, and user SQL does not start while it waits (verifier/writer_waiting.py)
    waiting = None if read_only else Announcement(path)
    try:
        return _connect(path, read_only, config, deadline, waiting)
    finally:
        if waiting is not None:
            waiting.withdraw()


def _connect(
    path: Path,
    read_only: bool,
    config: dict[str, str | bool | int | float | list[str]],
    deadline: float,
    waiting: Announcement | None,
) -> duckdb.DuckDBPyConnection:
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=config)
        except duckdb.Error as exc:
            left = deadline - time.monotonic()
            if _is_lock_error(exc) and left > 0:
                if waiting is not None:
                    waiting.announce(left)
                time.sleep(delay + random.random() * delay)
                delay = min(delay * 2, 1.0)
                continue
            if _is_lock_error(exc):
                raise CatalogLocked(
                    f"catalog is locked: {path} is held by another process; try again when it has finished"
                ) from None
            if "corrupt" in str(exc).lower():  # a bad block checksum: the file, not the config, is wrong
                raise damaged(path, exc) from None
            raise CatalogError(
                f"cannot open catalog {path}: {exc}; check the file is a DuckDB database and readable"
            ) from None


def damaged(path: Path, exc: Exception) -> CatalogError:
    return CatalogError(
        f"the catalog {path} is damaged ({exc}); restore it from a backup, or move it aside to start anew"
    )


def _version(con: duckdb.DuckDBPyConnection) -> int:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchone()
    if not exists or not exists[0]:
        return 0
    row = con.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0) if row else 0


def _applied(con: duckdb.DuckDBPyConnection) -> set[int]:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchone()
    if not exists or not exists[0]:
        return set()
    return {int(r[0]) for r in con.execute("SELECT version FROM schema_migrations").fetchall()}


def migrate(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Apply, in order, every migration not yet recorded (not only those above the highest one:
    migrations developed side by side may land out of order)."""
    applied = _applied(con)
    if not applied:
        _refuse_foreign(con, path)
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER, description VARCHAR, applied_at TIMESTAMP)"
    )
    unknown = applied - {v for v, _, _ in MIGRATIONS}
    if unknown:
        raise CatalogError(
            f"catalog {path} has schema version {max(unknown)}, newer than this verifier ({LATEST}); upgrade verifier"
        )
    for version, description, statements in sorted(MIGRATIONS, key=lambda m: m[0]):
        if version in applied:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            views.drop(con)
            for sql in statements:
                con.execute(sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, description, now_utc()])
            applied.add(version)
            views.create(con, applied)  # from their current definitions, over the tables as they are now
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise


def _refuse_foreign(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """A DuckDB file with tables but no verifier history is someone else's: write nothing to it."""
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_name <> 'schema_migrations' ORDER BY 1 LIMIT 3"
    ).fetchall()
    if rows:
        names = ", ".join(str(r[0]) for r in rows)
        raise CatalogError(
            f"{path} is a DuckDB database but not a verifier catalog (it has tables {names}, no schema_migrations); "
            "verifier wrote nothing to it: point [catalog] path at a new file"
        )


def identity(con: duckdb.DuckDBPyConnection) -> str | None:
    """The id written once when the catalog was created (migration 3)."""
    row = con.execute("SELECT min(catalog_id) FROM catalog_identity").fetchone()
    return str(row[0]) if row and row[0] is not None else None


def _check_version(con: duckdb.DuckDBPyConnection, path: Path) -> bool:
    """Refuse what is not a catalog or is newer; True when migrations are missing (an older catalog)."""
    current = _version(con)
    if current == 0:
        raise CatalogError(f"{path} is not a verifier catalog (no schema_migrations table)")
    if current > LATEST:
        raise CatalogError(
            f"catalog {path} has schema version {current}, newer than this verifier ({LATEST}); upgrade verifier"
        )
    return bool({v for v, _, _ in MIGRATIONS} - _applied(con))
