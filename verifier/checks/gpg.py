"""Decrypting an OpenPGP export with the destination's private key, as a stream, through GnuPG.

GnuPG (the `gpg` binary, driven by python-gnupg) decrypts in its own process and streams: the
ciphertext goes to its stdin block by block (hashed and framing-walked on the way, so the store
is read once) and the plaintext to a spool file that the Parquet or NDJSON checks then read.
Memory stays flat whatever the file size. pysequoia was measured first: its `decrypt_file`
holds the whole message in memory (1.2 GB peak RSS for a 1 GB file), so it does not qualify.

gpg needs a keyring. Each decryption gets a fresh one in a private (0700) directory on a
memory file system (/dev/shm) where there is one, the key imported from the resolved secret,
and the directory, its gpg-agent and the agent's cached passphrase are gone when the check ends:
no key is left on disk, and neither key nor passphrase is ever an argument, a log line or a
catalog value (the passphrase goes to gpg's stdin).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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
    """A gnupg.GPG over a temporary keyring holding the destination's private key; removed on exit."""
    import gnupg

    home = tempfile.mkdtemp(prefix="verifier-gpg-", dir=_keyring_parent())
    try:
        try:
            gpg = gnupg.GPG(gnupghome=home)
        except (OSError, ValueError) as exc:
            raise GpgUnavailable(f"GnuPG (gpg) cannot be run ({exc}); install it: apt-get install gnupg") from None
        imported = gpg.import_keys(dest.pgp_secrets["pgp_private_key"])
        if not imported.sec_imported:
            raise GpgUnavailable("secrets.pgp_private_key could not be imported into gpg: not a usable private key")
        yield gpg
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True, check=False, timeout=30)
        shutil.rmtree(home, ignore_errors=True)


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
    walker = pgp.Walker(size)
    feed = _Feed(blocks, walker)
    passphrase = dest.pgp_secrets.get("pgp_passphrase")
    # without a passphrase, loopback makes gpg fail at once instead of waiting for a pinentry
    extra = ["--pinentry-mode", "loopback"] if passphrase is None else []
    try:
        with keyring(dest) as gpg:
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
    return _verdict(result, walker, out)


def _verdict(result: Any, walker: pgp.Walker, out: Outcome) -> bool:
    status = [line.split()[1:] for line in str(result.stderr).splitlines() if line.startswith("[GNUPG:] ")]
    keywords = {s[0] for s in status if s}
    if "DECRYPTION_OKAY" in keywords and ("GOODMDC" in keywords or walker.data_version == 2 or walker.data_tag == 20):
        return True
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
        said = [line[5:] for line in str(result.stderr).splitlines() if line.startswith("gpg: ")][-2:]
        why = redact.scrub("; ".join(said)) or str(result.status)
        out.add(pgp.CORRUPT, f"decryption failed ({why}): the integrity check did not pass — {pgp.REEXPORT}")
    return False
