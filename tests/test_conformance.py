"""One conformance suite, every backend: the same planted defects give the same findings.

Each test runs against the real server of every store (tests/servers.py): the local folder,
moto (S3), Azurite (Azure Blob, ADLS Gen2, and over HTTPS with a SAS for the Data Landing
Zone), fake-gcs-server (GCS) and OpenSSH (SFTP). A backend adds fixtures, never tests.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from fixtures.defects import inject
from fixtures.generate import generate_dataset
from tests.helpers import NOW, START, do_run, sql
from tests.servers import Store
from verifier import config as cfgmod

PARQUET_DEFECTS = {  # dataset seed -> (defect on the newest export, finding expected)
    1: (None, None),
    2: ("parquet_truncated", "parquet.corrupt"),
    3: ("manifest_file_missing", "manifest.file_missing"),
    4: ("parquet_corrupt_page", "parquet.corrupt"),
    5: ("manifest_unlisted_file", "manifest.unlisted_file"),
    6: ("bad_export_time", "layout.bad_export_time"),
}
# what each store offers, as uploaded by Store.upload (single-part, no client-side MD5 set)
NATIVE: dict[str, set[tuple[str, str]]] = {
    "local": set(),
    "sftp": set(),
    "s3": {("md5", "service"), ("crc32", "service")},  # botocore sends a CRC32 with every upload
    "gcs": {("md5", "service"), ("crc32c", "service")},
    # Azure stores a Content-MD5 for single-shot uploads; it is the uploader's claim (client)
    "azure_blob": {("md5", "client")},
    "adls_gen2": {("md5", "client")},
    "dlz": {("md5", "client")},
}
JSON_DEFECTS = {11: (None, None), 12: ("json_bad_line", "json.corrupt"), 13: ("json_truncated", "json.corrupt")}


@dataclass
class Planted:
    root: Path
    expected: dict[str, str | None]  # dataset id -> the one finding code it must yield (None: good)
    corrupt_page: str  # the dataset whose damage only a full read finds

    def want(self, *, skip: str | None = None) -> dict[str, set[str]]:
        return {ds: {code} for ds, code in self.expected.items() if code and ds != skip}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    """A local tree with one defect per dataset, and the finding each dataset must yield."""
    root = tmp_path_factory.mktemp("planted")
    expected: dict[str, str | None] = {}
    corrupt_page = ""
    for sub, fmt, defects in (("pq", "parquet", PARQUET_DEFECTS), ("js", "json", JSON_DEFECTS)):
        for seed, (defect, code) in defects.items():
            exports = generate_dataset(
                root / sub, fmt=fmt, start=START, count=3, seed=seed, rows_full=90, rows_incremental=30
            )
            if defect:
                inject(exports[-1], defect)
            expected[exports[0].dataset_id] = code
            if defect == "parquet_corrupt_page":
                corrupt_page = exports[0].dataset_id
    return Planted(root, expected, corrupt_page)


def _config(store: Store, tmp_path: Path) -> cfgmod.Config:
    text = f'[catalog]\npath = "{tmp_path / "catalog.duckdb"}"\n[defaults]\nstale_after = "3650d"\n'
    text += store.toml_snippet("pq", prefix="pq", format="parquet")
    text += store.toml_snippet("js", prefix="js", format="json")
    p = tmp_path / "verifier.toml"
    p.write_text(text)
    return cfgmod.load(p)


def _found(summary: Any) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in summary.findings:
        out.setdefault(f.dataset_id or "", set()).add(f.code)
    return out


def test_same_defects_same_findings_on_every_backend(any_store: Store, planted: Planted, tmp_path: Path) -> None:
    root = planted.root
    any_store.upload(root)
    config = _config(any_store, tmp_path)
    # through the real command line, with debug logging on, so every log line can be searched for secrets
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
    summary = json.loads(r.stdout)
    found: dict[str, set[str]] = {}
    for f in summary["findings"]:
        found.setdefault(f["dataset_id"] or "", set()).add(f["code"])
    want = planted.want()
    assert found == want
    assert all(d["reachable"] for d in summary["destinations"])
    # every good file was read, hashed, and its MD5 matches the bytes planted
    local_md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in root.rglob("part-*")}
    rows = sql(config, "SELECT name, md5, status FROM files WHERE role = 'data' AND status = 'ok'")
    assert rows and all(md5 == local_md5[name] for name, md5, _ in rows)
    # records counted at full level for every good export
    assert sql(config, "SELECT count(*) FROM exports WHERE status = 'ok' AND record_count IS NULL") == [(0,)]

    # native checksums recorded with their provenance, and consistent with the bytes
    native = sql(config, "SELECT DISTINCT algo, source FROM checksums WHERE source <> 'computed'")
    assert {tuple(r) for r in native} == NATIVE[any_store.type]

    # nothing secret anywhere: catalog, JSON report, log lines, finding messages
    catalog_text = " ".join(
        str(v)
        for t in ("runs", "destinations", "exports", "files", "findings", "checksums")
        for row in sql(config, f"SELECT * FROM {t}")
        for v in row
    )
    assert "DEBUG" in r.stderr  # the logs were really on
    for secret in any_store.secrets.values():
        assert secret not in r.stdout
        assert secret not in r.stderr
        assert secret not in catalog_text

    # a second night over the unchanged store reads no content
    again = do_run(config, "full", now=NOW)
    assert sum(d.bytes_read for d in again.destinations) == 0
    assert sum(d.exports_skipped for d in again.destinations) == sum(d.exports_seen for d in again.destinations)
    assert _found(again) == want


def test_metadata_level_finds_all_but_what_needs_every_page(any_store: Store, planted: Planted, tmp_path: Path) -> None:
    root = planted.root
    any_store.upload(root)
    config = _config(any_store, tmp_path)
    summary = do_run(config, "metadata", now=NOW)
    # a corrupt page only shows when every page is decoded; the rest (these files are small enough for the
    # 64 KiB gzip head to cover the JSON damage) is found by footers, heads and trailers
    assert _found(summary) == planted.want(skip=planted.corrupt_page)
    assert sql(config, "SELECT DISTINCT verified_level FROM files WHERE role = 'data'") == [("metadata",)]
    assert sql(config, "SELECT count(*) FROM files WHERE md5 IS NOT NULL") == [(0,)]


def test_a_dead_destination_is_incomplete_and_the_others_are_still_verified(
    any_store: Store, planted: Planted, tmp_path: Path
) -> None:
    dead = any_store.dead_dest()
    if dead is None:
        pytest.skip("a local folder cannot be unreachable")
    root = planted.root
    good = cfgmod.Destination(name="local", type="local", url=str(root / "pq"), stale_after=timedelta(days=3650))
    config = cfgmod.Config(path=None, catalog_path=tmp_path / "c.duckdb", destinations=[dead, good])
    import time

    t0 = time.monotonic()
    summary = do_run(config, "metadata", now=NOW)
    assert time.monotonic() - t0 < 60
    assert [d.reachable for d in summary.destinations] == [False, True]
    assert summary.destinations[1].exports_checked > 0
    unreachable = [f for f in summary.findings if f.code == "backend.unreachable"]
    assert len(unreachable) == 1 and unreachable[0].destination == dead.name
    # the local destination has broken exports too, so errors win: 2; without them the run would be 3
    assert summary.exit_code == 2
    only_dead = cfgmod.Config(path=None, catalog_path=tmp_path / "d.duckdb", destinations=[dead])
    assert do_run(only_dead, "metadata", now=NOW).exit_code == 3


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
