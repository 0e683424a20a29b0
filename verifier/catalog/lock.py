"""One run at a time: an advisory lock file beside the catalog, held for a whole run.

DuckDB's own file lock is held only while a connection is open; verifier opens the
catalog briefly for each batch of writes so that readers can get in between. The run lock
is what keeps a second *run* out for the whole duration of the first.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import stat
from pathlib import Path
from types import TracebackType

from verifier.errors import CatalogError, CatalogLocked


class RunLock:
    def __init__(self, catalog_path: Path) -> None:
        self.path = catalog_path.with_name(catalog_path.name + ".runlock")
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise CatalogLocked(
                f"catalog is locked: {self.path.with_suffix('')} is in use by a run ({holder}); "
                "wait for it to finish, or stop it, then run again"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        self._fd = fd
        return self

    def _open(self) -> int:
        # O_NOFOLLOW: a link planted at the lock path would make us truncate and write its target
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except IsADirectoryError:
            raise CatalogError(
                f"{self.path} is a directory, where verifier keeps its run lock file; remove it"
            ) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise CatalogError(
                    f"{self.path} is a symbolic link, where verifier keeps its run lock file; verifier will not "
                    "follow it (that would overwrite its target): remove it"
                ) from None
            raise CatalogError(f"cannot open the run lock file {self.path}: {exc.strerror}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise CatalogError(f"{self.path} is not a regular file, where verifier keeps its run lock file; remove it")
        return fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
