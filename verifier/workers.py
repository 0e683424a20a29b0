"""The isolated check path: every check that feeds file bytes to native code runs in a worker process.

pyarrow and the decompressors are C++/C: a decoder bug on hostile bytes is a process crash
(SIGABRT, SIGSEGV), a hang or a runaway allocation, not an exception. So those checks run in a
pebble ``ProcessPool``: a worker that dies, runs past the per-file time limit or goes past the
memory limit is replaced by pebble, and the file gets ``file.check_crashed``; the run goes on.

- One pool per process, started on first use and reused by every run after it (``shared_pool``),
  sized by ``--jobs``; it is made again only when a run asks for another size.
- Workers are forked from a ``forkserver`` that has imported the checks once: no fsspec/s3fs event
  loop or lock of this process is ever inherited, and each worker builds its own backend from the
  ``Destination`` (``worker_backend``). Secrets travel in the pickled task, never in a task name,
  a log line or a message: ``Destination``'s repr hides them and only redacted text comes back.
- The memory limit is kept by a watchdog thread in the worker that polls its resident size and
  ends the process with ``EXIT_MEMORY`` when it is over; the parent names the limit.

``CheckPool.check_file(fn, dest, entry, uri, level)`` runs any module-level ``fn(backend, entry,
uri, dest, level) -> FileCheck`` (the format checks, and PGP decryption) this way.
``submit_check`` starts a data file's check and returns at once (an export's files are checked
concurrently): the reads of a remote store are made first, on the calling thread
(``checks.reads``), so that workers parse bytes instead of waiting on the network.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import psutil
from pebble import ProcessExpired, ProcessPool

from verifier.checks import gpg, limits, reads
from verifier.checks.files import FileCheck, check_file
from verifier.findings import Finding
from verifier.model import Entry, FileResult

if TYPE_CHECKING:
    from verifier.backends.base import Backend
    from verifier.settings import Destination

log = logging.getLogger("verifier.workers")
T = TypeVar("T")
FileCheckFn = Callable[["Backend", Entry, str, "Destination", str], FileCheck]
#: check_file's shape: a FileCheckFn that also takes what the caller read for it (`reads.Prepared`)
PreparedCheckFn = Callable[["Backend", Entry, str, "Destination", str, "reads.Prepared | None"], FileCheck]

#: a worker's exit status when its watchdog ended it for going past the memory limit
EXIT_MEMORY = 86
#: tests only: "ACTION:NAME[,ACTION:NAME...]" makes the worker do ACTION (sigkill, sigsegv, hang,
#: memory, pyarrow-metadata) before checking a file whose name contains NAME; read in the parent per task
TEST_HOOK_ENV = "VERIFIER_WORKER_TEST_HOOK"
CRASHED = "file.check_crashed"


@dataclass(frozen=True)
class Crash:
    """Why a worker did not return: said so that the message can name it."""

    what: str  # "was killed by signal SIGSEGV", "ran past the 60 s time limit", ...
    hint: str  # what to do about it


class CheckPool:
    """A pebble ProcessPool of `jobs` workers, started lazily; survives the death of any worker."""

    def __init__(self, jobs: int) -> None:
        self.jobs = max(1, jobs)
        self._pool: ProcessPool | None = None
        self._keyrings: str | None = None  # where the workers keep their PGP keyrings (verifier.checks.gpg)
        self._lock = threading.Lock()

    def _started(self) -> tuple[ProcessPool, str | None]:
        with self._lock:
            if self._pool is None:
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(["verifier.workers"])
                self._keyrings = gpg.new_root()
                self._pool = ProcessPool(max_workers=self.jobs, context=ctx)
            return self._pool, self._keyrings

    def warm(self) -> None:
        """Start the workers now, on a thread of their own, so that the first check does not wait
        for the fork server to import the checks (a second or more)."""

        def start() -> None:
            try:
                self._started()[0].schedule(_noop)
            except Exception:  # the first real check starts the pool, and reports, if this could not
                log.debug("could not start the worker pool ahead of the checks", exc_info=True)

        threading.Thread(target=start, name="verifier-pool-start", daemon=True).start()

    def run(self, fn: Callable[..., T], *args: Any, timeout: float, memory: int) -> T | Crash:
        """fn(*args) in a worker; a Crash if the worker died or went past a limit. Other exceptions
        raised by fn come back raised here (the caller's ``except`` handles them as in-process)."""
        pool, fut = self._schedule(fn, args, timeout, memory)
        return self._collect(pool, fut, timeout, memory)

    def _schedule(self, fn: Callable[..., T], args: tuple[Any, ...], timeout: float, memory: int) -> tuple[Any, Any]:
        hook = os.environ.get(TEST_HOOK_ENV)
        # the config's [limits] were applied to this process; a worker is another one
        configured = limits.current()
        pool, keyrings = self._started()
        return pool, pool.schedule(_in_worker, (fn, args, memory, configured, hook, keyrings), timeout=timeout)

    def _collect(self, pool: ProcessPool, fut: Any, timeout: float, memory: int) -> Any:
        try:
            return fut.result()
        except FutureTimeout:
            return _time_limit(timeout)
        except ProcessExpired as exc:
            with self._lock:  # (a closed pool's keyrings went with it)
                keyrings = self._keyrings if self._pool is pool else None
            gpg.remove_worker_keyrings(keyrings, exc.pid)  # it died before it could remove them
            return _expired(exc.exitcode, memory)
        except MemoryError:
            return _expired(EXIT_MEMORY, memory)
        except BrokenProcessPool:
            self._close(pool)  # no worker would start: the next file gets a new pool
            return Crash("could not start a worker process", "check the system's process and memory limits, re-run")

    def submit(self, fn: PreparedCheckFn, backend: Backend, entry: Entry, uri: str, level: str) -> PendingCheck:
        """check_file's work for one file, started: the store reads a remote file needs are made
        here, on the caller's thread (`reads.prepare`), the parsing in a worker. Many may be in flight;
        each result() gives what check_file would (a crash: one ``file.check_crashed``)."""
        timeout = limits.check_seconds(entry.size)
        prepared = reads.prepare(backend, entry, backend.dest, level)
        if prepared is not None and prepared.stalled:
            return Ready(crashed(entry, uri, level, _time_limit(timeout)))
        memory = limits.WORKER_MEMORY_BYTES
        try:
            pool, fut = self._schedule(
                _file_task, (fn, backend.dest, entry, uri, level, prepared), timeout=timeout, memory=memory
            )
        except BaseException:
            if prepared is not None:
                prepared.close()
            raise
        return _Pending(self, pool, fut, entry, uri, level, timeout, memory, prepared)

    def check_file(self, fn: FileCheckFn, dest: Destination, entry: Entry, uri: str, level: str) -> FileCheck:
        """fn(backend, entry, uri, dest, level) in a worker with this file's limits; a crash is a
        FileCheck with one ``file.check_crashed`` and nothing measured."""
        got = self.run(
            _file_task,
            fn,
            dest,
            entry,
            uri,
            level,
            timeout=limits.check_seconds(entry.size),
            memory=limits.WORKER_MEMORY_BYTES,
        )
        if isinstance(got, Crash):
            return crashed(entry, uri, level, got)
        return got

    def close(self) -> None:
        self._close(None)

    def _close(self, which: ProcessPool | None) -> None:
        """Stop the pool (`which`: only if it is still that one, not a pool started since)."""
        with self._lock:
            if which is not None and self._pool is not which:
                return
            pool, self._pool = self._pool, None
            keyrings, self._keyrings = self._keyrings, None
        if pool is not None:
            pool.stop()
            pool.join(timeout=10)
        gpg.remove_root(keyrings)  # what a worker killed before its own cleanup left


class PendingCheck(Protocol):
    def result(self) -> FileCheck: ...

    def discard(self) -> None: ...


@dataclass
class Ready:
    """A check already done (in this process, or refused before it started)."""

    check: FileCheck

    def result(self) -> FileCheck:
        return self.check

    def discard(self) -> None:
        pass


class _Pending:
    """A check scheduled in the pool; result() waits for it, once, and removes its spool file."""

    def __init__(
        self,
        owner: CheckPool,
        pool: ProcessPool,
        fut: Any,
        entry: Entry,
        uri: str,
        level: str,
        timeout: float,
        memory: int,
        prepared: reads.Prepared | None,
    ) -> None:
        self._owner, self._pool, self._fut = owner, pool, fut
        self._entry, self._uri, self._level = entry, uri, level
        self._timeout, self._memory, self._prepared = timeout, memory, prepared
        self._done: FileCheck | None = None

    def result(self) -> FileCheck:
        if self._done is None:
            try:
                got = self._owner._collect(self._pool, self._fut, self._timeout, self._memory)
            finally:
                self.discard()
            self._done = crashed(self._entry, self._uri, self._level, got) if isinstance(got, Crash) else got
        return self._done

    def discard(self) -> None:
        """Not wanted after all (the export's check failed): cancel it if it has not started."""
        if self._done is None:
            self._fut.cancel()
        if self._prepared is not None:
            self._prepared.close()
            self._prepared = None


def crashed(entry: Entry, uri: str, level: str, crash: Crash) -> FileCheck:
    f = Finding(
        CRASHED,
        f"{uri}: the checker {crash.what} while reading this file; the file was not verified and the "
        f"run went on — {crash.hint}",
        uri=uri,
    )
    result = FileResult(entry=entry, uri=uri, role="data", status="failed", verified_level=level)
    return FileCheck(result, [f])


def _time_limit(timeout: float) -> Crash:
    return Crash(
        f"ran past the {timeout:.0f} s time limit and was stopped",
        f"if the store is only slow, raise {limits.key('CHECK_SECONDS')} in the config (default 300 s, plus a "
        "second per MiB of the file); otherwise check the file with another reader",
    )


def _expired(code: int | None, memory: int) -> Crash:
    if code == EXIT_MEMORY:
        return Crash(
            f"went past the {limits.human(memory)} memory limit and was stopped",
            f"if the file is valid but large, raise {limits.key('WORKER_MEMORY_BYTES')} in the config; otherwise "
            "check it with another reader",
        )
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = " (the system's out-of-memory killer, or an operator)" if -code == signal.SIGKILL else ""
        return Crash(
            f"was killed by {name}{why}",
            "the reader's native code failed on these bytes: keep a copy of the file, try it with another "
            "reader, re-export this dataset run if it is damaged, and report the crash",
        )
    return Crash(f"exited unexpectedly (status {code})", "re-run; report it if it persists")


# -- the worker side -----------------------------------------------------------------------------
_BACKENDS: dict[tuple[str, str], Backend] = {}
_BACKENDS_LOCK = threading.Lock()


def _fingerprint(dest: Destination) -> str:
    """Same destination, same settings, same secrets -> same backend; only a hash is kept as a key."""
    blob = json.dumps(
        [dest.type, dest.url, dest.format, dest.compression, dest.options, dest.secrets], sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def worker_backend(dest: Destination) -> Backend:
    """One backend per destination per worker process, built on first use and kept for later tasks."""
    from verifier.backends import make_backend

    key = (dest.name, _fingerprint(dest))
    with _BACKENDS_LOCK:
        backend = _BACKENDS.get(key)
        if backend is None:
            backend = _BACKENDS[key] = make_backend(dest)
        return backend


def _file_task(
    fn: Callable[..., FileCheck],
    dest: Destination,
    entry: Entry,
    uri: str,
    level: str,
    prepared: reads.Prepared | None = None,
) -> FileCheck:
    if prepared is None:
        return fn(worker_backend(dest), entry, uri, dest, level)
    # what the caller read may be all the check needs: the store's client is made only if it reads more
    return fn(cast("Backend", _OnFirstUse(dest)), entry, uri, dest, level, prepared)


class _OnFirstUse:
    """Stands for `worker_backend(dest)`, made when first used (importing a store's client costs seconds)."""

    def __init__(self, dest: Destination) -> None:
        self._dest = dest

    def __getattr__(self, name: str) -> Any:
        return getattr(worker_backend(self._dest), name)


def _noop() -> None:
    pass


_memory_limit = 0


def _in_worker(
    fn: Callable[..., T],
    args: tuple[Any, ...],
    memory: int,
    configured: dict[str, int],
    hook: str | None,
    keyrings: str | None,
) -> T:
    global _memory_limit
    _memory_limit = memory
    limits.configure(configured)
    gpg.use_root(keyrings)
    _start_watchdog()
    if hook:
        _test_hook(hook, args)
    return fn(*args)


def _watch() -> None:
    me = psutil.Process()
    while True:
        if _memory_limit and me.memory_info().rss > _memory_limit:
            os._exit(EXIT_MEMORY)  # no cleanup: the parent replaces this worker and names the limit
        time.sleep(limits.WATCHDOG_SECONDS)


_watchdog: threading.Thread | None = None


def _start_watchdog() -> None:
    global _watchdog
    if _watchdog is None:
        _watchdog = threading.Thread(target=_watch, name="verifier-memory-watchdog", daemon=True)
        _watchdog.start()


def _test_hook(hook: str, args: tuple[Any, ...]) -> None:
    """Tests provoke real crashes in a real worker with this; it does nothing unless the env var is set."""
    entries = [a for a in args if isinstance(a, Entry)]
    for action, _, name in (h.partition(":") for h in hook.split(",")):
        if entries and name and name in entries[0].name:
            _provoke(action, args)


def _provoke(action: str, args: tuple[Any, ...]) -> None:
    if action == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "sigsegv":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif action == "hang":
        time.sleep(3600)
    elif action == "memory":
        hog = []
        while True:
            hog.append(b"\x01" * (16 * limits.MiB))  # written, so resident (calloc'd zeros would not be)
            time.sleep(0.001)
    elif action == "pyarrow-metadata":
        _walk_column_metadata(args)


def _walk_column_metadata(args: tuple[Any, ...]) -> None:
    """What the footer check did before it knew modular encryption: touch every column chunk's metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    dest, entry = args[1], args[2]
    raw = worker_backend(dest).read_range(entry.path, 0, entry.size)
    md = pq.ParquetFile(pa.BufferReader(raw)).metadata
    for rg in range(md.num_row_groups):
        for col in range(md.num_columns):
            md.row_group(rg).column(col).statistics  # noqa: B018 - the read is the point


# -- one pool per process ------------------------------------------------------------------------
_SHARED: CheckPool | None = None
_SHARED_LOCK = threading.Lock()


def shared_pool(jobs: int) -> CheckPool | None:
    """This process's pool of `jobs` workers: made on first use, kept for later runs (workers start
    lazily and stay warm), made again only if a run asks for another size.

    None in a daemonic process (a Dask worker started with the default ``distributed.worker.daemon``),
    which may not have children: there the checks run in the process itself, as before, and Dask's
    nanny restarts a worker that crashes; the warning says how to get isolation back.
    """
    global _SHARED
    if multiprocessing.current_process().daemon:
        _warn_daemonic()
        return None
    with _SHARED_LOCK:
        if _SHARED is not None and _SHARED.jobs != max(1, jobs):
            _SHARED.close()
            _SHARED = None
        if _SHARED is None:
            _SHARED = CheckPool(jobs)
        return _SHARED


@functools.cache
def _warn_daemonic() -> None:
    log.warning(
        "this is a daemonic process (a Dask worker?): file checks run without isolation, so a reader crash "
        "takes the worker down; start Dask workers with DASK_DISTRIBUTED__WORKER__DAEMON=False"
    )


@atexit.register
def _close_shared() -> None:
    if _SHARED is not None:
        _SHARED.close()


def isolated_check(pool: CheckPool | None, backend: Backend, entry: Entry, uri: str, level: str) -> FileCheck:
    """check_file for one data file: in `pool` when its level parses bytes, in this process otherwise."""
    return submit_check(pool, backend, entry, uri, level).result()


def submit_check(pool: CheckPool | None, backend: Backend, entry: Entry, uri: str, level: str) -> PendingCheck:
    """isolated_check, started: in `pool` when its level parses bytes (its result comes later), in this
    process otherwise (done now)."""
    if pool is None or level == "listing":  # names and sizes only: no native code, no need to pay for a worker
        return Ready(check_file(backend, entry, uri, backend.dest, level))
    return pool.submit(check_file, backend, entry, uri, level)
