"""`restore --decrypt` of an encrypted export: verified plaintext, byte for byte; without it the
ciphertext, checked against the catalog as any file."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from fixtures.generate import generate_dataset, write_manifest
from tests.pgpkeys import PASSPHRASE, shared_keys
from tests.test_restore import NOW, START, Cli, files_under, write_config
from verifier import config as cfgmod
from verifier.runner import RunOptions, run


@pytest.fixture
def store(local_store: Any) -> Any:
    return local_store


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(capsys, monkeypatch)


def encrypted_chain(
    tmp: Path, store: Any, monkeypatch: pytest.MonkeyPatch, *, key: bool = True, jobs: int | None = None
) -> tuple[Path, Path, str]:
    """Two exports of two Parquet files each, encrypted as `part-….parquet.gpg`; returns the config,
    a copy of the plaintext tree and the dataset id. A full run has recorded the ciphertexts."""
    keys = shared_keys()
    gen = tmp / "gen"
    exports = generate_dataset(
        gen, start=START, count=2, files_per_export=2, seed=17, rows_full=80, rows_incremental=20
    )
    plain = tmp / "plain"
    shutil.copytree(gen, plain)
    for e in exports:
        for i, f in enumerate(e.files):
            e.files[i] = keys.encrypt(f, f.with_name(f.name + ".gpg"))
            f.unlink()
        write_manifest(e)
    store.upload(gen, prefix="enc")
    snippet = store.toml_snippet(
        "enc", prefix="enc", encryption="pgp", pgp_recipient=keys.dest.subkey, stale_after="3650d"
    )
    if key:
        monkeypatch.setenv("VERIFIER_TEST_PGP_KEY", keys.dest.private)
        monkeypatch.setenv("VERIFIER_TEST_PGP_PASS", PASSPHRASE)
        snippet += "" if "[destinations.secrets]" in snippet else "[destinations.secrets]\n"
        snippet += 'pgp_private_key = "${VERIFIER_TEST_PGP_KEY}"\npgp_passphrase = "${VERIFIER_TEST_PGP_PASS}"\n'
    path = write_config(tmp, [snippet])
    summary = run(cfgmod.load(path), RunOptions(level="full", jobs=jobs), now=NOW)
    assert summary.exit_code == 0, [f.message for f in summary.findings]
    return path, plain, exports[0].dataset_id


def test_restore_decrypt_writes_the_plaintext_byte_for_byte(
    tmp_path: Path, store: Any, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, plain, dataset = encrypted_chain(tmp_path, store, monkeypatch)
    to = tmp_path / "out"
    code, out = cli(
        config, "restore", dataset, "--as-of", "2026-11-20T00:00:00Z", "--to", str(to), "--decrypt", "--json"
    )
    assert code == 0, out
    assert [f["action"] for f in out["files"]] == ["restored"] * 4
    assert all("decrypted (integrity checked) and decoded" in f["verified_by"] for f in out["files"])
    data_files = [rel for rel in files_under(plain) if "/part-" in rel]
    assert files_under(to) == data_files and len(data_files) == 4  # plain names: .gpg dropped
    for rel in files_under(to):
        assert (to / rel).read_bytes() == (plain / rel).read_bytes(), rel
    # a rerun finds the plaintext in place and verifies it by decoding: nothing fetched
    code, again = cli(
        config, "restore", dataset, "--as-of", "2026-11-20T00:00:00Z", "--to", str(to), "--decrypt", "--json"
    )
    assert code == 0 and [f["action"] for f in again["files"]] == ["skipped"] * 4


def test_restore_without_decrypt_is_the_ciphertext_and_a_flipped_byte_is_refused(
    tmp_path: Path, store: Any, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _plain, dataset = encrypted_chain(tmp_path, store, monkeypatch)
    to = tmp_path / "out"
    code, out = cli(config, "restore", dataset, "--as-of", "2026-11-20T00:00:00Z", "--to", str(to), "--json")
    assert code == 0, out
    gen = tmp_path / "gen"
    for rel in files_under(to):
        assert rel.endswith(".parquet.gpg") and (to / rel).read_bytes() == (gen / rel).read_bytes()
    # the store's copy of one ciphertext changes after the catalog recorded it
    victim = files_under(to)[0]
    data = bytearray((gen / victim).read_bytes())
    data[len(data) // 2] ^= 1
    store.write_bytes(f"enc/{victim}", bytes(data))
    again = tmp_path / "again"
    code, out = cli(
        config, "restore", dataset, "--as-of", "2026-11-20T00:00:00Z", "--to", str(again), "--decrypt", "--json"
    )
    assert code == 2
    bad = [f for f in out["files"] if f["action"] != "restored"]
    assert [(f["action"], f["name"]) for f in bad] == [("mismatch", Path(victim).name)]
    assert "md5 of the bytes" in bad[0]["message"]
    assert not (again / victim.removesuffix(".gpg")).exists()


def test_restore_decrypt_needs_the_private_key(
    tmp_path: Path, store: Any, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _plain, dataset = encrypted_chain(tmp_path, store, monkeypatch, key=False)
    to = tmp_path / "out"
    code, _ = cli(config, "restore", dataset, "--as-of", "2026-11-20T00:00:00Z", "--to", str(to), "--decrypt")
    assert code == 4
    assert not to.exists()
