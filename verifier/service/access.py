"""How the service process shares the one catalog file between its scheduled runs and its readers.

DuckDB refuses, inside one process, a second connection to a file opened with a different
configuration (read-write for the runner, read-only for `queries`, read-only and sandboxed for user
SQL) while the first is open. Connections are short-lived, so the service takes turns: a `ModeGate`
lets any number of connections of one kind be open together and makes the other kinds wait. The
runner gets a `GatedCatalog`, which holds the gate for each of its (short) writes only, so reads
get in between them during a run.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import duckdb

from verifier.catalog import Catalog
from verifier.catalog.db import connect
from verifier.errors import CatalogLocked
from verifier.timeutil import iso

T = TypeVar("T")
GATE_WAIT_S = 60.0

WRITE, READ, SANDBOX = "write", "read", "sandbox"


class ModeGate:
    """A lock shared by holders of one mode, exclusive between modes; fair, so no mode starves."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._mode: str | None = None
        self._holders = 0
        self._waiting: Counter[str] = Counter()
        self._local = threading.local()

    @contextlib.contextmanager
    def hold(self, mode: str, timeout: float = GATE_WAIT_S) -> Iterator[None]:
        if getattr(self._local, "mode", None) == mode:  # re-entered by the thread holding it: let it through
            yield
            return
        with self._cond:
            self._waiting[mode] += 1
            try:
                ok = self._cond.wait_for(lambda: self._may_enter(mode), timeout=timeout)
            finally:
                self._waiting[mode] -= 1
            if not ok:
                raise CatalogLocked("the catalog is busy; try again in a moment")
            self._mode = mode
            self._holders += 1
        self._local.mode = mode
        try:
            yield
        finally:
            self._local.mode = None
            with self._cond:
                self._holders -= 1
                if self._holders == 0:
                    self._mode = None
                self._cond.notify_all()

    def _may_enter(self, mode: str) -> bool:
        if self._holders == 0:
            return True
        others_waiting = any(n for m, n in self._waiting.items() if m != mode)
        return self._mode == mode and not others_waiting


class GatedCatalog(Catalog):
    """A Catalog whose every method holds the gate in write mode for its own duration."""

    def __init__(self, path: Path, gate: ModeGate, on_start: Callable[[int], None] | None = None) -> None:
        super().__init__(path)
        self._gate = gate
        self._on_start = on_start

    def __getattribute__(self, name: str) -> Any:
        attr = super().__getattribute__(name)
        if name.startswith("_") or not callable(attr) or name not in _CATALOG_METHODS:
            return attr
        gate: ModeGate = super().__getattribute__("_gate")

        def gated(*args: Any, **kwargs: Any) -> Any:
            with gate.hold(WRITE):
                return attr(*args, **kwargs)

        return gated

    def start_run(self, level: str, args: dict[str, Any]) -> int:
        run_id = Catalog.start_run(self, level, args)  # already gated: reached through __getattribute__
        if self._on_start is not None:
            self._on_start(run_id)
        return run_id


_CATALOG_METHODS = {n for n in vars(Catalog) if not n.startswith("_") and callable(getattr(Catalog, n))}


class CatalogReader:
    """Read access for the HTTP side: `queries` functions and user SQL, each holding the gate."""

    def __init__(self, path: Path, gate: ModeGate) -> None:
        self.catalog = Catalog(path)
        self.gate = gate

    @property
    def exists(self) -> bool:
        return self.catalog.path.exists()

    def read(self, fn: Callable[..., T], *args: Any, empty: Any, **kwargs: Any) -> T:
        """`fn(catalog, ...)` from `verifier.queries`; `empty` while there is no catalog file yet."""
        if not self.exists:
            return empty  # type: ignore[no-any-return]
        with self.gate.hold(READ):
            return fn(self.catalog, *args, **kwargs)

    def sql(self, query: str, max_rows: int, timeout_s: float) -> SqlResult:
        """User SQL on a read-only, sandboxed connection, interrupted after `timeout_s`."""
        if not self.exists:
            raise SqlError("there is no catalog yet: no run has happened")
        with self.gate.hold(SANDBOX), connect(self.catalog.path, read_only=True, sandbox=True) as con:
            timed_out = threading.Event()

            def interrupt() -> None:
                timed_out.set()
                con.interrupt()

            timer = threading.Timer(timeout_s, interrupt)
            timer.daemon = True
            timer.start()
            try:
                cur = con.execute(query)
                if cur.description is None:
                    return SqlResult([], [], False)
                columns = [str(d[0]) for d in cur.description]
                rows = cur.fetchmany(max_rows + 1)
            except duckdb.Error as exc:
                if timed_out.is_set():
                    raise SqlTimeout(f"the query ran longer than {timeout_s:g}s and was stopped") from None
                raise SqlError(str(exc)) from None
            finally:
                timer.cancel()
        truncated = len(rows) > max_rows
        cells_cut = False
        out: list[list[Any]] = []
        for r in rows[:max_rows]:
            row = []
            for v in r:
                j, cut = json_cell(v)
                cells_cut = cells_cut or cut
                row.append(j)
            out.append(row)
        return SqlResult(columns, out, truncated or cells_cut)


@dataclass
class SqlResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


class SqlError(ValueError):
    """The query is not valid, not read-only, or touches what the sandbox forbids."""


class SqlTimeout(Exception):
    pass


MAX_CELL_CHARS = 64 * 1024


def json_cell(v: Any) -> tuple[Any, bool]:
    """Any DuckDB value as JSON (with a flag when a long value was cut): NaN and infinities become
    null, which JSON cannot carry; unknown types become their text."""
    if v is None or isinstance(v, bool | int):
        return v, False
    if isinstance(v, float):
        return (v if math.isfinite(v) else None), False
    if isinstance(v, str):
        return (v[:MAX_CELL_CHARS], True) if len(v) > MAX_CELL_CHARS else (v, False)
    if isinstance(v, datetime):
        return (iso(v) if v.tzinfo else v.isoformat()), False
    if isinstance(v, date | time):
        return v.isoformat(), False
    if isinstance(v, timedelta):
        return v.total_seconds(), False
    if isinstance(v, Decimal):
        f = float(v)
        return (f if math.isfinite(f) else None), False
    if isinstance(v, bytes | bytearray | memoryview):
        h = bytes(v).hex()
        return (h[:MAX_CELL_CHARS], True) if len(h) > MAX_CELL_CHARS else (h, False)
    if isinstance(v, UUID):
        return str(v), False
    if isinstance(v, dict):
        cut = False
        d = {}
        for k, x in v.items():
            d[str(k)], c = json_cell(x)
            cut = cut or c
        return d, cut
    if isinstance(v, list | tuple):
        cut = False
        items = []
        for x in v:
            j, c = json_cell(x)
            items.append(j)
            cut = cut or c
        return items, cut
    return json_cell(str(v))
