"""The store reads of a file check, done by the caller's threads before the check goes to a worker.

A worker process parses bytes; waiting on a remote store there would leave a core idle for
every request. So for a remote store the run's own threads (many requests in flight) do the
reads a check will make, and the worker gets the bytes:

- at ``metadata`` level, the ranges the format check reads first (Parquet: the magic and the
  tail; gzip NDJSON: the head and the trailer; a small object whole, in one request), kept in
  memory; any other range the check asks for (a footer larger than the tail guess) is read
  from the store by the worker;
- at ``full`` level, every byte, streamed once through the hashers into a spool file on
  local disk, which the worker then decodes.

Nothing here parses the bytes. When a read fails, nothing is handed over and the worker reads
the store itself, so what a failing store yields is reported exactly as before. Local stores
and OpenPGP files are left to the worker.
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from verifier.checks import ReadRange, limits, ndjson, parquet
from verifier.checks.hashing import MultiHasher
from verifier.errors import StoreError
from verifier.model import Entry

if TYPE_CHECKING:
    from verifier.backends.base import Backend
    from verifier.settings import Destination

Ranges = dict[tuple[int, int], bytes]


@dataclass(frozen=True)
class Spooled:
    """Every byte of a remote object, in a local file, with what its stream hashed to."""

    path: str
    nbytes: int
    digests: dict[str, str]


class Hashed:
    """A MultiHasher's results from a read done elsewhere: the worker's hashing is a no-op."""

    def __init__(self, spooled: Spooled) -> None:
        self.nbytes = spooled.nbytes
        self._digests = dict(spooled.digests)

    def update(self, data: bytes) -> None:
        pass

    def hexdigests(self) -> dict[str, str]:
        return dict(self._digests)


@dataclass
class Prepared:
    """What the caller read for one file check (pickled to the worker with the task)."""

    ranges: Ranges = field(default_factory=dict)
    spooled: Spooled | None = None
    #: the read stalled past the check's time limit: report that, do not check
    stalled: bool = False

    def close(self) -> None:
        """Remove the spool file, once the worker is done with it (or never got it)."""
        if self.spooled is not None:
            _release(self.spooled.path)


def first_ranges(entry: Entry, dest: Destination) -> list[tuple[int, int]]:
    """The ranges the metadata check of this file reads before it knows anything (see inspect)."""
    if entry.size <= 0 or dest.encryption == "pgp":
        return []
    if dest.format == "json":
        return ndjson.first_ranges(entry.size)
    return parquet.first_ranges(entry.size)


def prepare(backend: Backend, entry: Entry, dest: Destination, level: str) -> Prepared | None:
    """The store reads of this check, for a remote store; None when the worker should read itself."""
    if level == "listing" or entry.size <= 0 or dest.encryption == "pgp" or backend.local_path(entry.path):
        return None
    if level == "metadata":
        ranges = first_ranges(entry, dest)
        if ranges and entry.size <= limits.WHOLE_OBJECT_BYTES:
            ranges = [(0, entry.size)]  # one request; the check's ranges are cut from it
        got: Ranges = {}
        try:
            for start, end in ranges:
                got[(start, end)] = backend.read_range(entry.path, start, end)
        except StoreError:
            return None  # the worker reads again and reports it as it always has
        return Prepared(ranges=got)
    return _spool(backend, entry)


def cached_reader(ranges: Ranges, fallback: ReadRange) -> ReadRange:
    """Serve what lies inside the ranges read beforehand (as the store returned them: a short read
    stays short); read anything else from the store."""

    def read(start: int, end: int) -> bytes:
        for (s, e), data in ranges.items():
            if s <= start and end <= e:
                return data[start - s : end - s]
        return fallback(start, end)

    return read


# -- full level: spooling ---------------------------------------------------------------------
_reserved = 0
_reserved_lock = threading.Lock()
_sizes: dict[str, int] = {}


def _reserve(size: int) -> bool:
    """Room on the spool disk for `size` more bytes, beyond what other spools in flight hold."""
    global _reserved
    spool_dir = limits.SPOOL_DIR or tempfile.gettempdir()
    try:
        free = shutil.disk_usage(spool_dir).free
    except OSError:
        return False
    with _reserved_lock:
        if free - limits.SPOOL_HEADROOM_BYTES - _reserved < size:
            return False
        _reserved += size
        return True


def _release(path: str) -> None:
    global _reserved
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    with _reserved_lock:
        _reserved -= _sizes.pop(path, 0)


class _Stalled(Exception):
    pass


def _spool(backend: Backend, entry: Entry) -> Prepared | None:
    """Stream the object once through the hashers into a spool file. None: no room, or the store
    failed (the worker then reads it the way it would have, spooling or not, and reports that)."""
    if not _reserve(entry.size):
        return None
    fd, path = tempfile.mkstemp(dir=limits.SPOOL_DIR, prefix="verifier-", suffix=".spool")
    with _reserved_lock:
        _sizes[path] = entry.size
    hasher = MultiHasher(entry)
    deadline = time.monotonic() + limits.check_seconds(entry.size)
    try:
        with os.fdopen(fd, "wb") as out:
            for block in _blocks_until(backend, entry.path, deadline):
                hasher.update(block)
                out.write(block)
    except _Stalled:
        _release(path)
        return Prepared(stalled=True)
    except Exception:  # noqa: BLE001 - whatever the store did, the worker's own read reports it
        _release(path)
        return None
    return Prepared(spooled=Spooled(path, hasher.nbytes, hasher.hexdigests()))


def _blocks_until(backend: Backend, path: str, deadline: float) -> Iterator[bytes]:
    """The object's blocks, read on a helper thread so that a store that stops answering is
    given up on at `deadline` (the helper is left to its read; it ends when the read does)."""
    q: queue.Queue[tuple[int, object]] = queue.Queue(maxsize=max(1, limits.READ_AHEAD_BLOCKS))
    stop = threading.Event()
    block = limits.READ_BLOCK_BYTES

    def pump() -> None:
        try:
            with backend.open(path, block_size=block) as f:
                while not stop.is_set():
                    try:
                        data = f.read(block)
                    except Exception as exc:  # noqa: BLE001 - every client error becomes a StoreError
                        raise backend.classify(exc) from None
                    if not data:
                        break
                    _put(q, (0, bytes(data)), stop)
            _put(q, (1, None), stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            _put(q, (2, exc), stop)

    threading.Thread(target=pump, name="verifier-spool", daemon=True).start()
    try:
        while True:
            try:
                kind, item = q.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise _Stalled from None
            if kind == 1:
                return
            if kind == 2:
                assert isinstance(item, BaseException)
                raise item
            assert isinstance(item, bytes)
            yield item
    finally:
        stop.set()


def _put(q: queue.Queue[tuple[int, object]], item: tuple[int, object], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue
