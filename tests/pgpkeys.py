"""OpenPGP keys made for the tests with GnuPG (python-gnupg), and files encrypted to them.

Keys are generated once per session in a temporary GnuPG home (ECC keys: seconds faster than
RSA on a busy machine; the framing and the decryption path are the same). None is committed.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gnupg

PASSPHRASE = "correct horse battery staple"


@dataclass
class Key:
    fingerprint: str  # the primary key's
    subkey: str  # the encryption subkey's fingerprint: what a message names
    private: str  # ASCII-armoured secret key (protected by PASSPHRASE when `protected`)
    protected: bool


class Keys:
    """A throwaway GnuPG home with the destination's key and another one."""

    def __init__(self) -> None:
        self.home = tempfile.mkdtemp(prefix="verifier-test-gpg-")
        self.gpg = gnupg.GPG(gnupghome=self.home)
        self.dest = self._make("dest@example.com", PASSPHRASE)
        self.other = self._make("other@example.com", "")

    def _make(self, email: str, passphrase: str) -> Key:
        spec: dict[str, Any] = {
            "key_type": "EDDSA",
            "key_curve": "ed25519",
            "subkey_type": "ECDH",
            "subkey_curve": "cv25519",
            "name_email": email,
            "expire_date": 0,
        }
        if passphrase:
            spec["passphrase"] = passphrase
        else:
            spec["no_protection"] = True
        made = self.gpg.gen_key(self.gpg.gen_key_input(**spec))
        assert made.fingerprint, made.stderr
        listed = next(k for k in self.gpg.list_keys() if k["fingerprint"] == made.fingerprint)
        # python-gnupg wants a passphrase for any secret export; an unprotected key ignores it
        private = self.gpg.export_keys(
            made.fingerprint,
            secret=True,
            passphrase=passphrase or "unused",
            armor=True,
            expect_passphrase=bool(passphrase),
        )
        assert "PRIVATE KEY" in private
        return Key(made.fingerprint, listed["subkeys"][0][2], private, bool(passphrase))

    def encrypt(self, src: Path, dst: Path, key: Key | None = None) -> Path:
        """`src` encrypted to `key` (the destination's by default) as a binary message, uncompressed."""
        with open(src, "rb") as f:
            res = self.gpg.encrypt_file(
                f,
                (key or self.dest).fingerprint,
                armor=False,
                always_trust=True,
                output=str(dst),
                extra_args=["--compress-algo", "none"],
            )
        assert res.ok, res.stderr
        return dst

    def close(self) -> None:
        subprocess.run(["gpgconf", "--homedir", self.home, "--kill", "all"], capture_output=True, check=False)
        shutil.rmtree(self.home, ignore_errors=True)


@functools.cache
def shared_keys() -> Keys:
    """One set of keys for the whole test session (making them takes seconds on a busy machine)."""
    keys = Keys()
    atexit.register(keys.close)
    return keys
