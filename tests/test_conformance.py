"""The conformance suite of `verifier.testing` on every built-in backend's real server.

Each backend is fixtures only (tests/servers.py starts the servers: moto for S3, Azurite for
Azure Blob, ADLS Gen2 and, over HTTPS with a SAS, the Data Landing Zone, fake-gcs-server for GCS,
OpenSSH for SFTP); then a few tests of what only one store does.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from fixtures.generate import generate_dataset
from tests.helpers import NOW, START, do_run, sql
from tests.servers import Store
from verifier import config as cfgmod
from verifier.testing import Conformance, StoreFixtures


class LocalFixtures(StoreFixtures):
    @pytest.fixture
    def store(self, local_store: Store) -> Store:
        return local_store


class S3Fixtures(StoreFixtures):
    @pytest.fixture
    def store(self, s3_store: Store) -> Store:
        return s3_store


class AzureBlobFixtures(StoreFixtures):
    @pytest.fixture
    def store(self, azure_blob_store: Store) -> Store:
        return azure_blob_store


class AdlsGen2Fixtures(StoreFixtures):
    @pytest.fixture
    def store(self, adls_gen2_store: Store) -> Store:
        return adls_gen2_store


class GCSFixtures(StoreFixtures):
    @pytest.fixture
    def store(self, gcs_store: Store) -> Store:
        return gcs_store


class SFTPFixtures(StoreFixtures):
    @pytest.fixture
    def store(self, sftp_store: Store) -> Store:
        return sftp_store


class DLZFixtures(StoreFixtures):
    @pytest.fixture
    def store(self, dlz_store: Store) -> Store:
        return dlz_store


class TestLocal(Conformance, LocalFixtures):
    pass


class TestS3(Conformance, S3Fixtures):
    pass


class TestAzureBlob(Conformance, AzureBlobFixtures):
    pass


class TestAdlsGen2(Conformance, AdlsGen2Fixtures):
    pass


class TestGCS(Conformance, GCSFixtures):
    pass


class TestSFTP(Conformance, SFTPFixtures):
    pass


class TestDLZ(Conformance, DLZFixtures):
    pass


def _found(summary: Any) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in summary.findings:
        out.setdefault(f.dataset_id or "", set()).add(f.code)
    return out


def test_azure_content_md5_that_lies_is_a_checksum_mismatch(azure_blob_store: Any, tmp_path: Path) -> None:
    """Azure keeps Content-MD5 as the uploader claims it: a full read must catch a false claim."""
    from azure.storage.blob import BlobServiceClient, ContentSettings

    exports = generate_dataset(tmp_path / "gen", start=START, count=2, seed=31, rows_full=60, rows_incremental=20)
    azure_blob_store.upload(tmp_path / "gen", prefix="pq")
    victim = exports[1].files[0]
    rel = "pq/" + victim.relative_to(tmp_path / "gen").as_posix()
    container, _, blob = azure_blob_store.path(rel).partition("/")
    client = BlobServiceClient.from_connection_string(azure_blob_store.az.connection_string())
    wrong = hashlib.md5(b"not these bytes").digest()
    client.get_blob_client(container, blob).set_http_headers(ContentSettings(content_md5=bytearray(wrong)))
    text = f'[catalog]\npath = "{tmp_path / "c.duckdb"}"\n[defaults]\nstale_after = "3650d"\n'
    (tmp_path / "v.toml").write_text(text + azure_blob_store.toml_snippet("pq", prefix="pq"))
    config = cfgmod.load(tmp_path / "v.toml")
    assert _found(do_run(config, "metadata", now=NOW)) == {}  # a claim is only checked against bytes read
    summary = do_run(config, "full", now=NOW)
    assert [(f.code, f.uri) for f in summary.findings] == [("file.checksum_mismatch", f"az://{container}/{blob}")]
    assert "as claimed by the uploader" in summary.findings[0].message
    assert wrong.hex() in summary.findings[0].message


def test_dlz_exports_gone_past_retention_are_info_younger_ones_errors(dlz_store: Any, tmp_path: Path) -> None:
    """The Data Landing Zone deletes files after 7 days: that is expected, not a lost backup."""
    exports = generate_dataset(tmp_path / "gen", start=START, count=3, seed=41, rows_full=40, rows_incremental=10)
    dlz_store.upload(tmp_path / "gen", prefix="pq")
    text = f'[catalog]\npath = "{tmp_path / "c.duckdb"}"\n[defaults]\nstale_after = "3650d"\n'
    (tmp_path / "v.toml").write_text(text + dlz_store.toml_snippet("dlz", prefix="pq"))
    config = cfgmod.load(tmp_path / "v.toml")
    assert _found(do_run(config, "metadata", now=NOW)) == {}
    for e in exports[:2]:  # the full export and the first incremental disappear
        dlz_store.remove("pq/" + e.path.relative_to(tmp_path / "gen").as_posix())
    eight_days_after_the_first = exports[0].export_time + timedelta(days=8)  # the second is 7 days old
    summary = do_run(config, "listing", now=eight_days_after_the_first)
    got = sorted((f.code, str(f.sev), f.export_time) for f in summary.findings)
    assert got == [
        ("export.vanished", "error", exports[1].export_time),
        ("export.vanished", "info", exports[0].export_time),
        # the second was lost inside the retention: the third cannot be restored from here
        ("restore.chain_broken", "error", exports[1].export_time),
    ]
    assert summary.exit_code == 2


def test_encrypted_destination_on_s3(s3_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exports encrypted with the destination's PGP key, on a remote store: checked without the key at
    metadata level, decrypted and checked as plain exports at full level; key and passphrase never leak."""
    from fixtures.generate import write_manifest
    from tests.pgpkeys import PASSPHRASE, shared_keys

    keys = shared_keys()
    root = tmp_path / "enc"
    wanted: dict[str, str | None] = {}
    for sub, fmt, seed, defect in (("pq", "parquet", 41, "truncated"), ("js", "json", 42, "other_recipient")):
        exports = generate_dataset(
            root / sub, fmt=fmt, start=START, count=2, seed=seed, rows_full=90, rows_incremental=30
        )
        for e in exports:
            for f in e.files:  # encrypted in place under AEP's own names, as a dataflow with a key writes them
                tmp = f.with_name(f.name + ".gpg")
                key = keys.other if defect == "other_recipient" and e is exports[-1] else None
                keys.encrypt(f, tmp, key).replace(f)
            if defect == "truncated" and e is exports[-1]:
                e.files[0].write_bytes(e.files[0].read_bytes()[:-40])
            write_manifest(e)  # the sizes of what was uploaded
        wanted[exports[0].dataset_id] = "pgp.corrupt" if defect == "truncated" else "pgp.wrong_recipient"
    s3_store.upload(root)
    monkeypatch.setenv("VERIFIER_TEST_PGP_KEY", keys.dest.private)
    monkeypatch.setenv("VERIFIER_TEST_PGP_PASS", PASSPHRASE)
    text = f'[catalog]\npath = "{tmp_path / "catalog.duckdb"}"\n[defaults]\nstale_after = "3650d"\n'
    for sub, fmt in (("pq", "parquet"), ("js", "json")):
        text += s3_store.toml_snippet(sub, prefix=sub, format=fmt, encryption="pgp", pgp_recipient=keys.dest.subkey)
        text += 'pgp_private_key = "${VERIFIER_TEST_PGP_KEY}"\npgp_passphrase = "${VERIFIER_TEST_PGP_PASS}"\n'
    (tmp_path / "verifier.toml").write_text(text)
    config = cfgmod.load(tmp_path / "verifier.toml")
    want = {ds: {code} for ds, code in wanted.items() if code}
    meta = do_run(config, "metadata", now=NOW)
    assert _found(meta) == want, [f.message for f in meta.findings]

    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "verifier",
            "-vv",
            "run",
            "--level",
            "full",
            "--config",
            str(config.path),
            "--json",
            "-",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2, r.stderr[-3000:]
    found: dict[str, set[str]] = {}
    for f in json.loads(r.stdout)["findings"]:
        found.setdefault(f["dataset_id"] or "", set()).add(f["code"])
    assert found == want
    # the good exports were decrypted: their records were counted from the plaintext
    counted = sql(config, "SELECT count(*) FROM exports WHERE status = 'ok' AND record_count > 0")
    assert counted == [(2,)]
    catalog_text = " ".join(
        str(v)
        for t in ("runs", "destinations", "exports", "files", "findings")
        for row in sql(config, f"SELECT * FROM {t}")
        for v in row
    )
    for secret in (keys.dest.private, PASSPHRASE, *s3_store.secrets.values()):
        assert secret not in r.stdout and secret not in r.stderr and secret not in catalog_text
