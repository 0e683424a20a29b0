"""Writing under a restore's DIR safely: folders opened relative to their parent's file descriptor
without following symlinks, files written to a hidden `.part` name and linked to their final name
(never replacing a file), and the parts a killed restore left behind removed.

Every name here comes from the store by way of the catalog and is treated as hostile.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import time

from verifier.checks.manifest import plain_name_problem

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
NEW_FILE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_HEX12 = re.compile(r"[0-9a-f]{12}")
STALE_PART_S = 60.0


class Refused(Exception):
    """A file that must not be written where the plan says (unsafe name, symlink, existing file)."""


def subdir(parent: int | None, name: str, *, create: bool) -> int | None:
    """Open (creating it if asked) the folder `name` in `parent`, never through a symlink."""
    problem = plain_name_problem(name)
    if problem:
        raise Refused(f"folder name {problem}")
    if parent is None:
        return None
    if create:
        try:
            os.mkdir(name, 0o777, dir_fd=parent)
        except FileExistsError:
            pass
    try:
        return os.open(name, DIR_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        if create:
            raise
        return None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            raise Refused(f"{name!r} is in the way: a symlink or a file, not a folder; move it away") from None
        raise


def existing(folder: int, name: str) -> bool:
    """Whether `name` is a file in `folder`; anything else by that name is Refused."""
    try:
        st = os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(st.st_mode):
        kind = "a symlink" if stat.S_ISLNK(st.st_mode) else "a folder" if stat.S_ISDIR(st.st_mode) else "not a file"
        raise Refused(f"{name} is {kind} under DIR; it was not overwritten — move it away and re-run")
    return True


def temp_name(name: str) -> str:
    """A fresh hidden `.part` name for `name`, short enough for any file system."""
    stem = name
    while len(f".{stem}.part-000000000000".encode("utf-8", "surrogatepass")) > 255:
        stem = stem[: len(stem) // 2]
    return f".{stem}.part-{secrets.token_hex(6)}"


def remove_stale_parts(folder: int, name: str) -> None:
    """Temp files of `name` left by a restore that was killed: once `name` is in place they are
    garbage. A part written to in the last STALE_PART_S may be another restore's, still going."""
    prefix = temp_name(name)[: -len("000000000000")]
    cutoff = time.time() - STALE_PART_S
    for entry in os.listdir(folder):
        if not (entry.startswith(prefix) and _HEX12.fullmatch(entry[len(prefix) :])):
            continue
        with contextlib.suppress(FileNotFoundError):
            st = os.stat(entry, dir_fd=folder, follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and st.st_mtime < cutoff:
                os.unlink(entry, dir_fd=folder)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def place(folder: int, temp: str, name: str) -> None:
    """Give the verified temp file its final name without ever replacing an existing file."""
    try:
        os.link(temp, name, src_dir_fd=folder, dst_dir_fd=folder, follow_symlinks=False)
    except FileExistsError:
        raise Refused(f"{name} appeared under DIR while it was being fetched; it was not overwritten") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.ENOSYS):
            raise
        # a file system without hard links: check, then rename (the window is this process's own)
        if existing(folder, name):
            raise Refused(f"{name} appeared under DIR while it was being fetched; it was not overwritten") from None
        os.replace(temp, name, src_dir_fd=folder, dst_dir_fd=folder)
    else:
        os.unlink(temp, dir_fd=folder)
    os.fsync(folder)
