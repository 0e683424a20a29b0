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
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from verifier.catalog import Catalog, sandbox
from verifier.catalog.sandbox import SqlError, SqlTimeout
from verifier.errors import CatalogLocked

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
        """User SQL, bounded (catalog/sandbox.py); the gate keeps this process's writer out meanwhile."""
        if not self.exists:
            raise SqlError("there is no catalog yet: no run has happened")
        with self.gate.hold(SANDBOX):
            return sandbox.query(self.catalog.path, query, sandbox.Limits(timeout_s=timeout_s, max_rows=max_rows))


SqlResult = sandbox.Answer
__all__ = [
    "CatalogReader",
    "GatedCatalog",
    "ModeGate",
    "SqlError",
    "SqlResult",
    "SqlTimeout",
]
