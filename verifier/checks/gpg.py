"""Decrypting an OpenPGP export with the destination's private key, as a stream, through GnuPG.

GnuPG (the `gpg` binary, driven by python-gnupg) decrypts in its own process and streams: the
ciphertext goes to its stdin block by block (hashed and framing-walked on the way, so the store
is read once) and the plaintext to a spool file that the Parquet or NDJSON checks then read.
Memory stays flat whatever the file size. pysequoia was measured first: its `decrypt_file`
holds the whole message in memory (1.2 GB peak RSS for a 1 GB file), so it does not qualify.

gpg needs a keyring, and making one (a new home, the key imported, a gpg-agent started and the
key unlocked) costs a second or more. So each process keeps its keyrings for every later file,
per private key and passphrase (looked up by a SHA-256 of both, kept in memory only), one per
decryption running at the same time (a pool worker has one: it checks one file at a time), on a
memory file system (/dev/shm) only: each in a private (0700) directory under a private root.
A pool's workers keep theirs under a root their pool made (`new_root`); a worker removes its own
keyrings and their gpg-agents when it exits (normal exit, or pebble's SIGTERM at pool shutdown),
and the pool removes the whole root when it closes and when a worker dies without cleaning up
(`remove_root`, `remove_worker_keyrings`); any other process removes its keyrings at exit
(`close_keyrings`). Where there is no memory file system, each decryption gets a fresh keyring in
the temp directory, removed when the check ends, as no key may stay on a disk. Neither key nor
passphrase is ever an argument, a file name, a log line or a catalog value (the passphrase goes
to gpg's stdin).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import itertools
import json
import multiprocessing.util
import os
import shutil
import stat
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psutil

from verifier import redact
from verifier.checks import Outcome, pgp
from verifier.settings import Destination

UNREADABLE = "file.unreadable"
_SHM = "/dev/shm"


class GpgUnavailable(Exception):
    """The gpg binary is missing or unusable; the message says how to install it."""


def _keyring_parent() -> str | None:
    """A memory-backed directory when the machine has one: the key never touches a disk."""
    return _SHM if os.path.isdir(_SHM) and os.access(_SHM, os.W_OK | os.X_OK) else None


@contextmanager
def keyring(dest: Destination) -> Iterator[Any]:
    """A gnupg.GPG over a keyring holding the destination's private key, for this decryption
    alone: one this process keeps on a memory file system, else a fresh one in the temp
    directory, removed on exit."""
    key = dest.pgp_secrets["pgp_private_key"]
    passphrase = dest.pgp_secrets.get("pgp_passphrase")
    if _keyring_parent() is None:
        home = tempfile.mkdtemp(prefix="verifier-gpg-")
        try:
            yield _imported(home, key)
        finally:
            _remove_home(home)
        return
    with _kept(key, passphrase) as gpg:
        yield gpg


def _imported(home: str, key: str) -> Any:
    import gnupg

    try:
        gpg = gnupg.GPG(gnupghome=home)
    except (OSError, ValueError) as exc:
        raise GpgUnavailable(f"GnuPG (gpg) cannot be run ({exc}); install it: apt-get install gnupg") from None
    imported = gpg.import_keys(key)
    if not imported.sec_imported:
        raise GpgUnavailable("secrets.pgp_private_key could not be imported into gpg: not a usable private key")
    return gpg


def _remove_home(home: str) -> None:
    """A keyring, its gpg-agent and the agent's cached passphrase: gone."""
    subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True, check=False, timeout=30)
    shutil.rmtree(home, ignore_errors=True)


# -- this process's kept keyrings --------------------------------------------------------------
_LOCK = threading.Lock()
_idle: dict[str, list[tuple[str, Any]]] = {}  # sha256(key, passphrase) -> [(home, gnupg.GPG)] not in use
_kept_homes: set[str] = set()  # every keyring this process keeps, in use or idle
_ROOTS_LOCK = threading.Lock()
_roots: set[str] = set()  # roots this process made (its own, its pools'): removed at its exit
_own: str | None = None  # where this process keeps its own keyrings
_pool_root: str | None = None  # in a pool worker: the root its pool made
_cleanup_registered = False


@contextmanager
def _kept(key: str, passphrase: str | None) -> Iterator[Any]:
    """A keyring of this process's for `key` and `passphrase`, for one decryption at a time
    (concurrent gpg processes asking one agent to unlock a key with a loopback passphrase fail at
    random: so threads decrypting at once each get their own), made when none is idle. Kept per
    passphrase too: the agent caches an unlocked key, and a wrong passphrase must not use it."""
    global _cleanup_registered
    ident = hashlib.sha256(json.dumps([key, passphrase]).encode()).hexdigest()
    got = None
    with _LOCK:
        idle = _idle.setdefault(ident, [])
        while idle and got is None:
            got = idle.pop()
            if not os.path.isdir(got[0]):  # removed under us (a temp cleaner?): make another, never fail the file
                _kept_homes.discard(got[0])
                _remove_home(got[0])
                got = None
        if not _cleanup_registered:  # a pool worker does not run atexit; multiprocessing's finalizers it does
            multiprocessing.util.Finalize(None, _at_exit, exitpriority=100)
            _cleanup_registered = True
        root = _pool_root if _pool_root is not None and _private_dir(_pool_root) else _own_root()
        if got is None:
            home = tempfile.mkdtemp(prefix=f"w{os.getpid()}-", dir=root)
            _kept_homes.add(home)
    if got is None:
        try:
            got = (home, _imported(home, key))
        except BaseException:
            with _LOCK:
                _kept_homes.discard(home)
            _remove_home(home)
            raise
    try:
        yield got[1]
    finally:
        with _LOCK:
            if got[0] in _kept_homes:  # not closed meanwhile
                _idle.setdefault(ident, []).append(got)


def _own_root() -> str:
    global _own
    if _own is None or not _private_dir(_own):
        _own = new_root()
    if _own is None:
        raise GpgUnavailable(f"no private directory for a keyring could be made in {_SHM}")
    return _own


def _private_dir(path: str) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and st.st_mode & 0o077 == 0


def new_root() -> str | None:
    """A private (0700) directory on the memory file system for keyrings, this process's to
    remove (`remove_root`, or at exit); None where there is no memory file system."""
    parent = _keyring_parent()
    if parent is None:
        return None
    _sweep(parent)
    root = tempfile.mkdtemp(prefix=f"verifier-gpg-{os.getpid()}-", dir=parent)
    with _ROOTS_LOCK:
        _roots.add(root)
    return root


def _sweep(parent: str) -> None:
    """Empty roots of processes that are gone: a run killed with SIGKILL cannot remove its root (its
    workers, left alone, still remove their keyrings). Only empty ones: rmdir removes nothing else."""
    for entry in os.scandir(parent):
        pid = entry.name.split("-")[2] if entry.name.startswith("verifier-gpg-") else ""
        if pid.isdigit() and not psutil.pid_exists(int(pid)) and _private_dir(entry.path):
            with contextlib.suppress(OSError):
                os.rmdir(entry.path)


def use_root(root: str | None) -> None:
    """In a pool worker: keep keyrings under the root the pool made, which the pool removes."""
    global _pool_root
    _pool_root = root


def remove_worker_keyrings(root: str | None, pid: int | None) -> None:
    """The keyrings a worker that died without cleaning up (killed, crashed) left under `root`."""
    if root is None or pid is None or not _private_dir(root):
        return
    for entry in os.scandir(root):
        if entry.name.startswith(f"w{pid}-") and entry.is_dir(follow_symlinks=False):
            _remove_home(entry.path)


def remove_root(root: str | None) -> None:
    """A keyring root with every keyring and gpg-agent under it."""
    if root is None:
        return
    with _ROOTS_LOCK:
        _roots.discard(root)
    if _private_dir(root):
        for entry in os.scandir(root):
            if entry.is_dir(follow_symlinks=False):
                _remove_home(entry.path)
    shutil.rmtree(root, ignore_errors=True)


def close_keyrings() -> None:
    """This process's own keyrings and its own root: removed, their gpg-agents stopped (a pool's
    root is its pool's to remove)."""
    global _own
    with _LOCK:
        homes = list(_kept_homes)
        _kept_homes.clear()
        _idle.clear()
        own, _own = _own, None
    for home in homes:
        _remove_home(home)
    remove_root(own)


def _at_exit() -> None:
    """Everything this process made: its keyrings, and the roots of pools it never closed."""
    close_keyrings()
    with _ROOTS_LOCK:
        roots = list(_roots)
    for root in roots:
        remove_root(root)


def _forget_after_fork() -> None:
    """A forked child owns none of its parent's keyrings: it must neither use nor remove them."""
    global _LOCK, _ROOTS_LOCK, _cleanup_registered, _own, _pool_root
    _LOCK, _ROOTS_LOCK = threading.Lock(), threading.Lock()
    _idle.clear()
    _kept_homes.clear()
    _roots.clear()
    _own = _pool_root = None
    _cleanup_registered = False


os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(_at_exit)


class _Feed:
    """A file-like object python-gnupg copies to gpg's stdin: each block is walked as it passes.

    python-gnupg copies on its own thread and may stop early (gpg gave up); `drain` then reads
    the rest, so every byte is hashed and walked exactly once, in order (hence the lock).
    """

    def __init__(self, blocks: Iterator[bytes], walker: pgp.Walker) -> None:
        self._blocks, self._walker = blocks, walker
        self._lock = threading.Lock()
        self.error: pgp.Corrupt | None = None

    def read(self, n: int = -1) -> bytes:
        with self._lock:
            block = next(self._blocks, b"")
            if block and self.error is None:
                try:
                    self._walker.feed(block)
                except pgp.Corrupt as exc:
                    self.error = exc
            return block

    def close(self) -> None:
        pass

    def drain(self) -> None:
        while self.read():
            pass


def decrypt(blocks: Iterator[bytes], size: int, dest: Destination, plain: str, out: Outcome) -> bool:
    """Decrypt the message in `blocks` into the file `plain`; True when it decrypted and the
    integrity check (MDC or AEAD) passed. Otherwise a finding says why and `plain` is not to be used."""
    first = next(blocks, b"")
    if first and not pgp.looks_encrypted(first, out):  # armoured, or no OpenPGP at all: said so, not corrupt
        for _ in blocks:  # every byte is hashed all the same
            pass
        return False
    blocks = itertools.chain([first], blocks)
    walker = pgp.Walker(size)
    feed = _Feed(blocks, walker)
    passphrase = dest.pgp_secrets.get("pgp_passphrase")
    # without a passphrase, loopback makes gpg fail at once instead of waiting for a pinentry
    extra = ["--pinentry-mode", "loopback"] if passphrase is None else []
    try:
        with keyring(dest) as gpg:
            version = ".".join(str(n) for n in gpg.version or ()) or "?"
            result = gpg.decrypt_file(feed, passphrase=passphrase, output=plain, extra_args=extra)
    finally:
        feed.drain()
    if feed.error is None:
        try:
            walker.finish()
        except pgp.Corrupt as exc:
            feed.error = exc
    if feed.error is not None:
        out.add(pgp.CORRUPT, str(feed.error))
        return False
    pgp.check_recipients(walker, dest.pgp_recipients, out)
    pgp.check_protection(walker, out)
    if out.failed:
        return False
    return _verdict(result, walker, version, out)


def _rfc9580(walker: pgp.Walker) -> str | None:
    """What makes the message RFC 9580's (GnuPG implements LibrePGP, not these), if anything."""
    if walker.data_tag == pgp.SEIPD and walker.data_version == 2:
        return "a SEIPD v2 (AEAD) data packet"
    if any(body[:1] == b"\x06" for body in walker.sessions):
        return "a v6 session-key packet"
    return None


def _verdict(result: Any, walker: pgp.Walker, version: str, out: Outcome) -> bool:
    status = [line.split()[1:] for line in str(result.stderr).splitlines() if line.startswith("[GNUPG:] ")]
    keywords = {s[0] for s in status if s}
    if "DECRYPTION_OKAY" in keywords and ("GOODMDC" in keywords or walker.data_version == 2 or walker.data_tag == 20):
        return True
    said = [line[5:] for line in str(result.stderr).splitlines() if line.startswith("gpg: ")][-2:]
    newer = _rfc9580(walker)
    if newer is not None:  # gpg did not understand it: that says nothing about the bytes
        out.add(
            pgp.UNSUPPORTED,
            f"not decrypted: an RFC 9580 OpenPGP message ({newer}), which GnuPG {version} cannot decrypt "
            f"({redact.scrub('; '.join(said)) or 'no data'}); its framing and recipient were checked and its "
            "bytes hashed, its content was not: not fully verified — a message is written so when the key it is "
            "encrypted to asks for it (an RFC 9580 key, or one advertising SEIPD v2, as Sequoia makes them); "
            "give the dataflow a key made with GnuPG to have its files decrypted and checked",
        )
        return False
    if "NO_SECKEY" in keywords and "DECRYPTION_KEY" not in keywords:
        to = ", ".join(pgp.recipient_ids(walker.sessions)) or "an unnamed key"
        out.add(
            pgp.WRONG_RECIPIENT,
            f"secrets.pgp_private_key cannot open it: it is encrypted to {to}; configure the private key "
            "of the dataflow's encryption key",
        )
    elif keywords & {"BAD_PASSPHRASE", "MISSING_PASSPHRASE"} or "Bad passphrase" in str(result.stderr):
        out.add(
            UNREADABLE,
            "the private key is protected and secrets.pgp_passphrase is missing or wrong; not decrypted — "
            "fix the passphrase and re-run at level full",
        )
    elif "BADMDC" in keywords:
        out.add(
            pgp.CORRUPT,
            f"the integrity check (MDC) failed on decryption: the ciphertext was altered or damaged — {pgp.REEXPORT}",
        )
    else:
        why = redact.scrub("; ".join(said)) or str(result.status)
        out.add(pgp.CORRUPT, f"decryption failed ({why}): the integrity check did not pass — {pgp.REEXPORT}")
    return False
