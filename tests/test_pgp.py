"""Exports encrypted with the destination's OpenPGP key: framing and recipient without the key,
decryption (GnuPG) and the plaintext checks with it, at every level, local and remote."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.pgpkeys import PASSPHRASE, Keys, shared_keys
from tests.test_checks_files import RemoteLike
from verifier.backends.local import LocalBackend
from verifier.checks import gpg
from verifier.checks.files import FileCheck, check_file
from verifier.config import Destination
from verifier.model import Entry

ROWS = 3000


@pytest.fixture(scope="module")
def keys() -> Keys:
    return shared_keys()


def make_dest(
    tmp: Path, keys: Keys, fmt: str = "parquet", *, key: bool, passphrase: str | None = PASSPHRASE
) -> Destination:
    secrets = {}
    if key:
        secrets["pgp_private_key"] = keys.dest.private
        if passphrase is not None:
            secrets["pgp_passphrase"] = passphrase
    return Destination(
        name="enc",
        type="local",
        url=str(tmp),
        format=fmt,
        compression="gzip",
        encryption="pgp",
        pgp_recipients=(keys.dest.subkey,),
        pgp_secrets=secrets,
    )


def parquet_plain(tmp: Path) -> Path:
    p = tmp / "plain.parquet"
    t = pa.table({"_id": [f"id-{i}" for i in range(ROWS)], "n": list(range(ROWS))})
    pq.write_table(t, p, compression="gzip", row_group_size=1000)
    return p


def json_plain(tmp: Path) -> Path:
    p = tmp / "plain.json.gz"
    with gzip.open(p, "wt") as f:
        for i in range(ROWS):
            f.write(f'{{"_id": "id-{i}", "n": {i}}}\n')
    return p


def check(dest: Destination, path: Path, level: str, remote: bool = False) -> FileCheck:
    backend = (RemoteLike if remote else LocalBackend)(dest)
    e = Entry(path=str(path), name=path.name, is_dir=False, size=path.stat().st_size)
    return check_file(backend, e, "file://" + str(path), dest, level)


def codes(fc: FileCheck) -> list[str]:
    return [f.code for f in fc.findings]


@pytest.fixture(scope="module")
def good(keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("good")
    return {
        "parquet": keys.encrypt(parquet_plain(tmp), tmp / "part-00000-c000.gz.parquet.gpg"),
        "json": keys.encrypt(json_plain(tmp), tmp / "part-00000-c000.json.gz"),  # AEP's plain name
    }


@pytest.mark.parametrize("fmt", ["parquet", "json"])
@pytest.mark.parametrize("key", [False, True])
def test_good_encrypted_exports_have_no_finding_at_any_level(
    keys: Keys, good: dict[str, Path], tmp_path: Path, fmt: str, key: bool
) -> None:
    dest = make_dest(tmp_path, keys, fmt, key=key)
    for level in ("listing", "metadata", "full"):
        fc = check(dest, good[fmt], level)
        assert codes(fc) == [], (level, [f.message for f in fc.findings])
        assert fc.result.status == "ok"
    # the plaintext was read only with the key: rows and schema as for a plain export
    assert fc.result.record_count == (ROWS if key else None)
    assert fc.result.schema == (
        ({"_id": "string", "n": "int64"} if fmt == "parquet" else {"_id": "string", "n": "number"}) if key else None
    )
    assert fc.result.computed["md5"]  # the ciphertext is hashed as any file


def test_remote_store_decrypts_from_one_stream(keys: Keys, good: dict[str, Path], tmp_path: Path) -> None:
    fc = check(make_dest(tmp_path, keys, key=True), good["parquet"], "full", remote=True)
    assert codes(fc) == []
    assert fc.result.record_count == ROWS
    assert fc.result.bytes_read == good["parquet"].stat().st_size


def test_another_recipient_is_wrong_recipient_with_and_without_the_key(keys: Keys, tmp_path: Path) -> None:
    other = keys.encrypt(parquet_plain(tmp_path), tmp_path / "part-00000.parquet.gpg", keys.other)
    for key in (False, True):
        dest = make_dest(tmp_path, keys, key=key)
        for level in ("metadata", "full"):
            fc = check(dest, other, level)
            assert codes(fc) == ["pgp.wrong_recipient"], (key, level)
    assert keys.other.subkey[-16:] in fc.findings[0].message


def test_truncated_file_is_corrupt(keys: Keys, good: dict[str, Path], tmp_path: Path) -> None:
    cut = tmp_path / "part-00000.parquet.gpg"
    cut.write_bytes(good["parquet"].read_bytes()[:-100])
    for key in (False, True):
        for level in ("metadata", "full"):
            fc = check(make_dest(tmp_path, keys, key=key), cut, level)
            assert codes(fc) == ["pgp.corrupt"], (key, level)
            assert "truncated" in fc.findings[0].message


def test_garbage_after_the_message_is_corrupt(keys: Keys, good: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "part-00000.parquet.gpg"
    bad.write_bytes(good["parquet"].read_bytes() + b"trailing junk")
    fc = check(make_dest(tmp_path, keys, key=False), bad, "full")
    assert codes(fc) == ["pgp.corrupt"]
    assert "garbage" in fc.findings[0].message


def test_flipped_ciphertext_byte_fails_the_integrity_check(keys: Keys, good: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(good["parquet"].read_bytes())
    data[len(data) // 2] ^= 0x01
    bad = tmp_path / "part-00000.parquet.gpg"
    bad.write_bytes(bytes(data))
    assert codes(check(make_dest(tmp_path, keys, key=False), bad, "full")) == []  # framing is intact
    fc = check(make_dest(tmp_path, keys, key=True), bad, "full")
    assert codes(fc) == ["pgp.corrupt"]
    assert "integrity check (MDC) failed" in fc.findings[0].message


def test_corrupt_parquet_page_inside_good_encryption(keys: Keys, tmp_path: Path) -> None:
    plain = parquet_plain(tmp_path)
    data = bytearray(plain.read_bytes())
    pos = pq.read_metadata(plain).row_group(0).column(1).data_page_offset
    data[pos : pos + 8] = b"\xff" * 8
    plain.write_bytes(bytes(data))
    enc = keys.encrypt(plain, tmp_path / "part-00000.parquet.gpg")
    assert codes(check(make_dest(tmp_path, keys, key=False), enc, "full")) == []
    fc = check(make_dest(tmp_path, keys, key=True), enc, "full")
    assert codes(fc) == ["parquet.corrupt"]


def test_rfc9580_message_gnupg_cannot_decrypt_is_unsupported_not_corrupt(tmp_path: Path) -> None:
    """Sequoia encrypts to its own keys with a v6 session-key packet and a SEIPD v2 (AEAD) data
    packet (RFC 9580); gpg 2.2 imports the v4 key but cannot read the message. That is no verdict
    on the bytes: without the key the file checks as any, with it it is pgp.unsupported, a warning,
    and not counted as fully verified."""
    from pysequoia import CipherSuite, Profile, Tsk, encrypt

    from verifier.checks import pgp

    tsk = Tsk.generate("aep <aep@example.com>", profile=Profile.RFC4880, cipher_suite=CipherSuite.Cv25519)
    enc = tmp_path / "part-00000-c000.gz.parquet.gpg"
    enc.write_bytes(encrypt(parquet_plain(tmp_path).read_bytes(), recipients=[tsk.extract_certificate()], armor=False))
    data = enc.read_bytes()
    walker = pgp.Walker(len(data))
    walker.feed(data)
    walker.finish()
    assert (walker.data_tag, walker.data_version, walker.sessions[0][:1]) == (pgp.SEIPD, 2, b"\x06")
    subkey = pgp.recipient_ids(walker.sessions)[0]

    def dest(key: bool) -> Destination:
        return Destination(
            name="enc",
            type="local",
            url=str(tmp_path),
            format="parquet",
            compression="gzip",
            encryption="pgp",
            pgp_recipients=(subkey,),
            pgp_secrets={"pgp_private_key": str(tsk)} if key else {},
        )

    for level in ("metadata", "full"):
        assert codes(check(dest(False), enc, level)) == [], level
    assert codes(check(dest(True), enc, "metadata")) == []
    fc = check(dest(True), enc, "full")
    assert codes(fc) == ["pgp.unsupported"]
    assert "SEIPD v2" in fc.findings[0].message and "GnuPG 2." in fc.findings[0].message
    assert fc.result.status == "ok" and fc.result.verified_level == "metadata"  # a warning; not fully verified
    assert fc.result.record_count is None and fc.result.computed["md5"]  # the ciphertext was hashed


def test_ascii_armoured_message_is_named_as_such(keys: Keys, tmp_path: Path) -> None:
    """Adobe writes binary messages; an armoured one (gpg --armor) is recognised and said to be
    armoured, with and without the key, at every level that reads bytes."""
    plain = parquet_plain(tmp_path)
    armoured = tmp_path / "part-00000.parquet.gpg"
    with open(plain, "rb") as f:
        res = keys.gpg.encrypt_file(f, keys.dest.fingerprint, armor=True, always_trust=True, output=str(armoured))
    assert res.ok and armoured.read_bytes().startswith(b"-----BEGIN PGP MESSAGE-----")
    for key in (False, True):
        for level in ("metadata", "full"):
            fc = check(make_dest(tmp_path, keys, key=key), armoured, level)
            assert codes(fc) == ["file.unexpected_format"], (key, level)
            assert "ASCII-armoured OpenPGP message" in fc.findings[0].message


def test_unencrypted_file_on_an_encrypted_destination(keys: Keys, tmp_path: Path) -> None:
    plain = parquet_plain(tmp_path)
    for key in (False, True):  # with the key too: what gpg is not given is no decryption failure
        for level in ("metadata", "full"):
            fc = check(make_dest(tmp_path, keys, key=key), plain, level)
            assert codes(fc) == ["file.unexpected_format"], (key, level)
            assert "not an OpenPGP message" in fc.findings[0].message
            assert fc.result.computed.get("md5") if level == "full" else True  # every byte hashed all the same


def test_wrong_passphrase_is_reported_even_after_the_right_one_and_no_keyring_or_secret_is_left(
    keys: Keys, good: dict[str, Path], tmp_path: Path
) -> None:
    """Keyrings are kept per key *and* passphrase: gpg-agent caches a key the right passphrase
    unlocked, and a wrong passphrase must not decrypt through that cache."""
    gpg.close_keyrings()
    before = own_keyring_roots()  # a worker pool's root, if a test started one
    right = make_dest(tmp_path, keys, key=True)
    wrong = make_dest(tmp_path, keys, key=True, passphrase="wrong-passphrase-7731")
    assert codes(check(right, good["parquet"], "full")) == []
    for _ in range(2):  # the second time from the kept keyring
        fc = check(wrong, good["parquet"], "full")
        assert codes(fc) == ["file.unreadable"]
        assert "pgp_passphrase" in fc.findings[0].message
        assert keys.dest.private not in fc.findings[0].message and "7731" not in fc.findings[0].message
    assert codes(check(right, good["parquet"], "full")) == []
    # kept on the memory file system, in this process's private root: one keyring per passphrase
    assert gpg._keyring_parent() == "/dev/shm"
    [root] = set(own_keyring_roots()) - set(before)
    assert os.stat(root).st_mode & 0o777 == 0o700
    homes = sorted(os.listdir(root))
    assert len(homes) == 2 and all(h.startswith(f"w{os.getpid()}-") for h in homes)
    assert gpg_agents(root)
    gpg.close_keyrings()  # what happens at exit
    assert own_keyring_roots() == before and gpg_agents(root) == []


def test_concurrent_decryptions_in_one_process_never_share_a_keyring(
    keys: Keys, good: dict[str, Path], tmp_path: Path
) -> None:
    """Threads decrypting at once (restore's downloads, checks without a worker pool) each get a
    keyring: gpg processes unlocking one key through one agent at once fail at random."""
    gpg.close_keyrings()
    dest = make_dest(tmp_path, keys, key=True)
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda _: codes(check(dest, good["parquet"], "full")), range(8)))
    assert got == [[]] * 8
    gpg.close_keyrings()


def test_an_empty_root_a_killed_run_left_is_swept_and_nothing_else(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)  # a pid nobody has now (reused at once only on a pid wrap)
    empty = tempfile.mkdtemp(prefix=f"verifier-gpg-{dead}-", dir="/dev/shm")
    full = tempfile.mkdtemp(prefix=f"verifier-gpg-{dead}-", dir="/dev/shm")
    Path(full, "w1-keyring").mkdir()
    try:
        made = gpg.new_root()
        assert made is not None and os.path.isdir(made)
        assert not os.path.exists(empty)  # swept
        assert os.path.isdir(full)  # not empty: never touched by the sweep
        gpg.remove_root(made)
    finally:
        shutil.rmtree(full, ignore_errors=True)
        shutil.rmtree(empty, ignore_errors=True)


def own_keyring_roots(pid: int | None = None) -> list[str]:
    """The keyring roots process `pid` (default: this one) made and has not removed."""
    prefix = f"verifier-gpg-{pid or os.getpid()}-"
    return sorted(os.path.join("/dev/shm", d) for d in os.listdir("/dev/shm") if d.startswith(prefix))


def gpg_agents(root: str) -> list[int]:
    """gpg-agents still running for a keyring under `root`."""
    found = []
    for p in psutil.process_iter(["name", "cmdline"]):
        if p.info["name"] == "gpg-agent" and any(root in arg for arg in p.info["cmdline"] or ()):
            found.append(p.pid)
    return found


def test_framing_walk_is_independent_of_block_boundaries_and_never_raises(good: dict[str, Path]) -> None:
    """Headers straddling blocks parse the same; damaged bytes are findings, never exceptions."""
    import random

    from verifier.checks import Outcome, pgp

    data = good["parquet"].read_bytes()
    wanted = ("0" * 24 + "FEEDFACEFEEDFACE",)  # another key: the recipient finding, and nothing else
    for size in (1, 2, 3, 5, 7, 4096):
        out = Outcome()
        pgp.walk(iter([data[i : i + size] for i in range(0, len(data), size)]), len(data), wanted, out)
        assert [c for c, _ in out.problems] == ["pgp.wrong_recipient"], size
    rng = random.Random(12)
    for n in range(400):
        bad = bytearray(data[: rng.randrange(1, len(data))] if n % 2 else data)
        for _ in range(3):
            bad[rng.randrange(0, min(len(bad), 300))] = rng.randrange(256)
        blob = bytes(bad)
        out = Outcome()
        pgp.walk(iter([blob[i : i + 7] for i in range(0, len(blob), 7)]), len(blob), wanted, out)
        pgp.inspect(lambda s, e, b=blob: b[s:e], len(blob), wanted, Outcome())
        assert {c for c, _ in out.problems} <= {"pgp.corrupt", "pgp.wrong_recipient", "file.unexpected_format"}
