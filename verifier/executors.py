"""Where export checks run: threads of this process (``local``) or a Dask cluster (``dask://HOST:PORT``).

The runner hands every export that needs checking to an executor and writes the outcomes to the
catalog itself, in the order it submitted them, exactly as before. An executor only decides where
``check_export`` runs:

- ``LocalExecutor`` is a ThreadPoolExecutor in this process, sharing the runner's backend.
- ``DaskExecutor`` sends each export to a ``distributed`` worker. What travels is the
  ``Destination`` (url, options and resolved secrets: workers open the store themselves), the
  ``ExportPlan`` (the listing and what the catalog knew), the run's ``now`` and ``run_id``; what
  comes back is the ``ExportOutcome`` (rows and findings, a few KB). Each worker process builds
  one backend per destination and reuses it. Task keys name the destination, dataset and export
  folder, never a secret, and ``Destination``'s repr hides its secrets, so Dask's logs and
  dashboard show none.

``distributed`` is an optional dependency, imported only when a ``dask://`` executor is asked for.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar

from verifier.errors import ConfigError

if TYPE_CHECKING:
    from verifier.catalog.records import ExportOutcome
    from verifier.config import Destination
    from verifier.exportcheck import ExportPlan

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

LOCAL = "local"
INSTALL_HINT = "pip install 'verifier[dask]'  (distributed)"
CONNECT_TIMEOUT_S = float(os.environ.get("VERIFIER_DASK_CONNECT_TIMEOUT", "10"))
_SCHEMES = ("dask://", "tcp://", "tls://")


class ExecutorUnavailable(ConfigError):
    """The executor named by --executor cannot be used: malformed, not installed, or not reachable.
    Nothing was run (exit 4): the run never started, so the catalog has no run to record."""


class FutureLike(Protocol[T_co]):
    def result(self) -> T_co: ...


class Executor(Protocol):
    #: tasks run in other processes: they get the Destination (and build their own backend), not ours
    remote: bool

    def submit(self, fn: Callable[..., T], /, *args: Any, key: str | None = None) -> FutureLike[T]: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None: ...


def parse_spec(spec: str | None) -> str | None:
    """``local`` (or empty) -> None; ``dask://HOST:PORT`` -> the scheduler address ``tcp://HOST:PORT``
    (``tcp://`` and ``tls://`` addresses are taken as they are). Raises ValueError otherwise."""
    s = (spec or LOCAL).strip()
    if s == LOCAL:
        return None
    if not s.startswith(_SCHEMES):
        raise ValueError(f"{spec!r}: use 'local' or 'dask://HOST:PORT' (the Dask scheduler's address)")
    scheme, _, rest = s.partition("://")
    host, sep, port = rest.rstrip("/").rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in rest.rstrip("/"):
        raise ValueError(f"{spec!r}: expected {scheme}://HOST:PORT, e.g. dask://10.0.0.5:8786")
    return f"{'tcp' if scheme == 'dask' else scheme}://{host}:{port}"


class LocalExecutor:
    """Threads of this process: the default."""

    remote = False

    def __init__(self, jobs: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="verifier-check")

    def submit(self, fn: Callable[..., T], /, *args: Any, key: str | None = None) -> FutureLike[T]:
        return self._pool.submit(fn, *args)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._pool.shutdown(wait=True, cancel_futures=et is not None)


class _DaskFuture:
    """A distributed future whose result() gives up (None) once the run is cancelled and the task
    has not finished: the catalog keeps what it knew about that export, as with local threads."""

    def __init__(self, fut: Any, cancel: threading.Event | None) -> None:
        self._fut, self._cancel = fut, cancel

    def result(self) -> Any:
        while self._cancel is not None and not self._fut.done():
            if self._cancel.wait(0.2):
                if self._fut.done():
                    break
                self._fut.cancel()
                return None
        return self._fut.result()


class DaskExecutor:
    """A ``distributed.Client`` connected to a running scheduler. Re-entrant: the runner enters it
    once for the whole run (so a dead address fails before anything is recorded) and again per
    destination; the client is closed when the outermost ``with`` ends."""

    remote = True

    def __init__(self, address: str, *, cancel: threading.Event | None = None, timeout: float | None = None) -> None:
        self.address, self._cancel = address, cancel
        self._timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
        self._client: Any = None
        self._depth = 0

    def connect(self) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise ExecutorUnavailable(f"--executor {self.address}: Dask is not installed: {INSTALL_HINT}") from None
        try:
            self._client = Client(self.address, timeout=self._timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ExecutorUnavailable(
                f"--executor: no Dask scheduler answered at {self.address} within {self._timeout:.0f}s "
                f"({type(exc).__name__}); start one (dask scheduler) or fix the address — nothing was run"
            ) from None

    def submit(self, fn: Callable[..., T], /, *args: Any, key: str | None = None) -> FutureLike[T]:
        if self._client is None:
            raise RuntimeError("DaskExecutor.submit outside its with block")
        fut = self._client.submit(fn, *args, key=key or f"verifier-{uuid.uuid4().hex}", pure=False, retries=0)
        return _DaskFuture(fut, self._cancel)

    def __enter__(self) -> Self:
        if self._client is None:
            self.connect()
        self._depth += 1
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._depth -= 1
        if self._depth == 0 and self._client is not None:
            client, self._client = self._client, None
            client.close()


def for_run(spec: str | None, *, cancel: threading.Event | None = None) -> DaskExecutor | None:
    """The run-wide executor: None for local threads (made per destination, sized by its store),
    a not yet connected DaskExecutor for a cluster. Raises ExecutorUnavailable for a bad spec."""
    try:
        address = parse_spec(spec)
    except ValueError as exc:
        raise ExecutorUnavailable(f"--executor {exc}") from None
    return None if address is None else DaskExecutor(address, cancel=cancel)


def task_key(dest: Destination, plan: ExportPlan) -> str:
    """Unique, readable in the dashboard, and free of secrets: only names the user chose or the store shows."""
    lst = plan.listing
    return f"verifier-check-{dest.name}/{lst.dataset_id}/exportTime={lst.raw}-{uuid.uuid4().hex[:8]}"


# -- the worker side -----------------------------------------------------------------------------
def check_remote(
    dest: Destination, plan: ExportPlan, now: datetime, run_id: int, configured: dict[str, int] | None = None
) -> ExportOutcome:
    """The task a Dask worker runs: check one export against its own backend, the byte-parsing checks
    in this worker process's own pool (sized by its threads); never raises for bad data. `configured`:
    the run's limits (`limits.current()`), applied here first."""
    from verifier.checks import limits
    from verifier.exportcheck import check_export_safely
    from verifier.workers import shared_pool, worker_backend

    if configured:
        limits.configure(configured)

    pool = shared_pool(_worker_threads())
    return check_export_safely(worker_backend(dest), plan, now=now, run_id=run_id, pool=pool)


def _worker_threads() -> int:
    """The Dask worker's thread count: as many exports are checked at once in it, so as many processes."""
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return os.cpu_count() or 1
