"""`restore --decrypt`: the plaintext of a PGP-encrypted export written under DIR, the ciphertext
checked against the catalog on its way to gpg and the plaintext decoded in full (docs/pgp.md)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from verifier.checks import Outcome, gpg, limits
from verifier.checks.formats import plain_name
from verifier.checks.hashing import MultiHasher, iter_blocks
from verifier.config import Destination
from verifier.errors import ConfigError
from verifier.restore.model import PlanFile
from verifier.restore.place import write_all
from verifier.restore.verify import Mismatch, compare, decode


def check_decrypt(dest: Destination, decrypt: bool, into: Path | None) -> None:
    """--decrypt needs an encrypted destination with its private key; --into needs plaintext."""
    if decrypt and (dest.encryption != "pgp" or "pgp_private_key" not in dest.pgp_secrets):
        raise ConfigError(
            f"--decrypt: destination {dest.name!r} has no "
            + ("encryption" if dest.encryption != "pgp" else "secrets.pgp_private_key")
            + " configured (docs/pgp.md)"
        )
    if into is not None and dest.encryption == "pgp" and not decrypt:
        raise ConfigError(f"--into: destination {dest.name!r} is encrypted; add --decrypt to load the plaintext")


def target(name: str, dest: Destination, decrypt: bool) -> str:
    """The name written under DIR: the plaintext drops a .gpg / .pgp suffix."""
    return plain_name(name, dest) if decrypt else name


def decrypt_into(fd: int, f: PlanFile, blocks: Iterator[bytes], hasher: MultiHasher, dest: Destination) -> str:
    """The ciphertext is hashed on its way to gpg and checked against the catalog; the plaintext
    (its integrity checked by gpg) is spooled, copied to `fd` and decoded in full. Returns how it
    was verified, or raises Mismatch."""
    with tempfile.TemporaryDirectory(dir=limits.SPOOL_DIR, prefix="verifier-plain-") as tmp:
        plain, out = os.path.join(tmp, "plain"), Outcome()
        try:
            decrypted = gpg.decrypt(blocks, f.size, dest, plain, out)
        except gpg.GpgUnavailable as exc:
            raise Mismatch(f"cannot decrypt: {exc}") from None
        checked = compare(f, hasher)  # the ciphertext first: a mismatch says more than a failed decryption
        if not decrypted:
            raise Mismatch("; ".join(f"{code}: {detail}" for code, detail in out.problems))
        with open(plain, "rb") as src:
            for block in iter_blocks(src, limits.READ_BLOCK_BYTES):
                write_all(fd, block)
    os.fsync(fd)
    how = verify_plaintext(fd, f, dest)
    return ("size and " + ", ".join(f"{c.algo} ({c.source})" for c in checked) + "; " if checked else "") + how


def verify_plaintext(fd: int, f: PlanFile, dest: Destination) -> str:
    """A plaintext under DIR decoded in full (the catalog's checksums are the ciphertext's)."""
    size = os.fstat(fd).st_size
    decode(fd, replace(f, name=plain_name(f.name, dest), size=size), dest, encrypted=False)
    return "decrypted (integrity checked) and decoded"
