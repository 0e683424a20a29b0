"""A writer waiting for the catalog says so, and user SQL does not start meanwhile.

DuckDB lets any number of read-only processes share the catalog file, and a writer gets in only
when none is left. Each sandboxed query is killed at its time limit (at most half the 30 s a run
waits), but queries that overlap could still keep a run out for ever. So a writer that cannot get
the file at once writes `<catalog>.writer-waiting` (its pid, host, and when it started and stops
waiting) and removes it when it gets the file or gives up; a sandboxed query that is about to
start while the marker is there is refused at once. Queries already running end within their
limit, so a writer waits at most one query's limit and the kill.

A marker is ignored (stale) when its writer's process is gone (on this host) or its wait is over,
and when it is anything but a small plain file of the expected shape: a crashed writer never keeps
queries out for longer than its wait. The marker is opened without following symbolic links, as
the run lock is (`catalog/lock.py`); a link or anything but a plain file where the writer would
write it stops the writer with a CatalogError.

Standard library only (and `verifier.errors`, which is too): the SQL sandbox's child process
(`catalog/sandbox_child.py`) imports it.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import time
from pathlib import Path

from verifier.errors import CatalogError

SUFFIX = ".writer-waiting"
REFUSED = "a run is waiting to write the catalog; try again when it has started"
_MAX_BYTES = 512


def marker_path(catalog: Path) -> Path:
    return catalog.with_name(catalog.name + SUFFIX)


def waiting(catalog: Path, now: float | None = None) -> bool:
    """True while a live writer waits for the catalog (a stale or malformed marker is ignored)."""
    text = _read(marker_path(catalog))
    if text is None:
        return False
    fields = _parse(text)
    if fields is None:
        return False
    pid, host, since, until = fields
    now = time.time() if now is None else now
    if not since - 5 <= now <= until:  # its wait is over (or the clock makes no sense of it)
        return False
    return host != socket.gethostname() or _alive(pid)


class Announcement:
    """One writer's announcement: `announce` while it waits (again after each failed attempt: another
    writer may have removed the marker), `withdraw` when it has the file or gives up."""

    def __init__(self, catalog: Path) -> None:
        self.path = marker_path(catalog)
        self._text: str | None = None

    def announce(self, wait_left_s: float) -> None:
        if self._text is not None and _read(self.path) == self._text:
            return
        now = time.time()
        text = f"pid={os.getpid()} host={socket.gethostname()} since={now:.3f} until={now + wait_left_s:.3f}\n"
        fd = _open_for_writing(self.path)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, text.encode(), 0)
        finally:
            os.close(fd)
        self._text = text

    def withdraw(self) -> None:
        if self._text is None:
            return
        try:
            if _read(self.path) == self._text:  # not another writer's, announced since
                os.unlink(self.path)
        except OSError:
            pass  # gone already, or not ours to remove: it goes stale when our wait ends
        self._text = None


def _open_for_writing(path: Path) -> int:
    # O_NOFOLLOW: a link planted here would make us truncate and write its target;
    # O_NONBLOCK: a FIFO planted here would block the open
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    what = "where verifier marks that a run waits for the catalog"
    try:
        fd = os.open(path, flags, 0o644)
    except IsADirectoryError:
        raise CatalogError(f"{path} is a directory, {what}; remove it") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CatalogError(
                f"{path} is a symbolic link, {what}; verifier will not follow it (that would overwrite its "
                "target): remove it"
            ) from None
        if exc.errno == errno.ENXIO:
            raise CatalogError(f"{path} is not a regular file, {what}; remove it") from None
        raise CatalogError(f"cannot write {path}, {what}: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise CatalogError(f"{path} is not a regular file, {what}; remove it")
    return fd


def _read(path: Path) -> str | None:
    """The marker's text; None when there is none, or it is a link or not a plain file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.pread(fd, _MAX_BYTES, 0).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def _parse(text: str) -> tuple[int, str, float, float] | None:
    try:
        fields = dict(part.split("=", 1) for part in text.split())
        return int(fields["pid"]), fields["host"], float(fields["since"]), float(fields["until"])
    except (KeyError, ValueError):
        return None


def _alive(pid: int) -> bool:
    if pid <= 0:  # 0 and negative pids name process groups: never a writer
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process, alive
        return True
    return True
