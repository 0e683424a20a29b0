"""The backend conformance suite: the same tests against every backend's real server.

Stores come from tests/servers.py (`any_store` runs a test once per backend); a backend
adds fixtures there, not tests here.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.servers import DLZStore, SFTPStore, Store
from verifier.backends import make_backend
from verifier.backends.base import Backend
from verifier.errors import StoreError

DATA = bytes(range(256)) * 40 + b"tail"  # 10244 bytes


def _tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    export = src / "ds1" / "exportTime=202601020300"
    export.mkdir(parents=True)
    (export / "part-00000.parquet").write_bytes(DATA)
    (export / "part-00001.parquet").write_bytes(b"PAR1" + b"x" * 96)
    (export / "manifest-1.json").write_bytes(b'{"flowRunId": "f"}')
    (src / "ds2" / "exportTime=202601030300").mkdir(parents=True)
    (src / "ds2" / "exportTime=202601030300" / "a.json.gz").write_bytes(b"\x1f\x8b" + b"z" * 10)
    return src


def _no_secret(store: Store, text: str) -> None:
    for key, value in store.secrets.items():
        if key == "key_filename":  # a path, not a secret value
            continue
        assert value not in text, f"secret {key!r} leaked into: {text}"
        if key in ("sas_token", "sas_url"):
            assert "sig=" not in text


def test_lists_a_planted_tree(any_store: Store, tmp_path: Path) -> None:
    any_store.upload(_tree(tmp_path))
    backend = make_backend(any_store.dest())
    root = backend.root()

    top = backend.list(root)
    assert sorted((e.name, e.is_dir) for e in top) == [("ds1", True), ("ds2", True)]
    exports = backend.list(next(e.path for e in top if e.name == "ds1"))
    assert [(e.name, e.is_dir) for e in exports] == [("exportTime=202601020300", True)]

    files = {e.name: e for e in backend.list(exports[0].path)}
    assert sorted(files) == ["manifest-1.json", "part-00000.parquet", "part-00001.parquet"]
    assert {n: e.size for n, e in files.items()} == {
        "manifest-1.json": 18,
        "part-00000.parquet": len(DATA),
        "part-00001.parquet": 100,
    }
    for e in files.values():
        assert not e.is_dir
        assert e.path.endswith("/" + e.name)
        assert e.modified_at is not None and e.modified_at.tzinfo is not None
        assert abs(time.time() - e.modified_at.timestamp()) < 600
    assert backend.list(backend.root() + "/no-such-folder") == []


def test_native_checksums_with_provenance(any_store: Store) -> None:
    any_store.put_checksummed("d/e/with.bin", DATA)
    backend = make_backend(any_store.dest())
    [entry] = [e for e in backend.list(any_store.path("d/e")) if e.name == "with.bin"]
    entry = backend.enrich(entry)
    got = set(entry.checksums)
    expected = any_store.expected_checksums(DATA)
    assert expected <= got
    for c in got:  # whatever else the store offers is well-formed
        assert c.source in ("service", "client") and c.value == c.value.lower()
        assert all(ch in "0123456789abcdef" for ch in c.value)
    if not expected:
        assert got == set()


@pytest.mark.parametrize("name", ["azure_blob_store", "adls_gen2_store", "dlz_store"])
def test_azure_block_upload_has_no_md5(request: pytest.FixtureRequest, name: str) -> None:
    store = request.getfixturevalue(name)
    store.put_blocks("plain.bin", DATA)
    if True:
        backend = make_backend(store.dest())
        [entry] = [e for e in backend.list(store.root) if e.name == "plain.bin"]
        assert entry.checksum("md5") is None


def test_s3_multipart_etag_is_not_an_md5(s3_store: Store) -> None:
    fs = s3_store.fs
    bucket, _, key = s3_store.path("big.bin").partition("/")
    part = os.urandom(5 * 2**20)
    mpu = fs.call_s3("create_multipart_upload", Bucket=bucket, Key=key)
    parts = []
    for n, body in enumerate((part, b"end"), start=1):
        r = fs.call_s3("upload_part", Bucket=bucket, Key=key, UploadId=mpu["UploadId"], PartNumber=n, Body=body)
        parts.append({"ETag": r["ETag"], "PartNumber": n})
    fs.call_s3(
        "complete_multipart_upload", Bucket=bucket, Key=key, UploadId=mpu["UploadId"], MultipartUpload={"Parts": parts}
    )
    backend = make_backend(s3_store.dest())
    [entry] = [e for e in backend.list(s3_store.root) if e.name == "big.bin"]
    assert entry.etag and entry.etag.endswith("-2")
    assert backend.enrich(entry).checksum("md5") is None


def test_read_range_is_one_ranged_request(any_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    any_store.write_bytes("r/blob.bin", DATA)
    backend = make_backend(any_store.dest())
    fs = backend.fs
    calls: list[tuple[Any, ...]] = []
    real = fs.cat_file

    def spy(path: str, start: int | None = None, end: int | None = None, **kw: Any) -> bytes:
        calls.append((path, start, end))
        return bytes(real(path, start=start, end=end, **kw))

    monkeypatch.setattr(fs, "cat_file", spy)
    if getattr(fs, "async_impl", False):  # object stores: a ranged GET, never a buffered open
        monkeypatch.setattr(fs, "open", lambda *a, **k: pytest.fail("read_range opened the file"))
    path = any_store.path("r/blob.bin")
    assert backend.read_range(path, 1000, 1300) == DATA[1000:1300]
    assert backend.read_range(path, len(DATA) - 8, len(DATA)) == DATA[-8:]
    assert len(calls) == 2


def test_uri_and_display_url_carry_no_secret(any_store: Store) -> None:
    dest = any_store.dest()
    backend = make_backend(dest)
    shown = [
        backend.display_url(),
        backend.uri(backend.root()),
        backend.uri(backend.root() + "/ds/x.parquet"),
        repr(dest),
        repr(backend.dest),
    ]
    for text in shown:
        _no_secret(any_store, text)
    scheme = {
        "local": "file://",
        "s3": "s3://",
        "azure_blob": "az://",
        "adls_gen2": "abfss://",
        "gcs": "gs://",
        "sftp": "sftp://",
        "dlz": "https://",
    }[any_store.type]
    assert backend.uri(backend.root() + "/x").startswith(scheme)
    assert backend.uri(backend.root() + "/x").endswith("/x")
    if any_store.type != "local":
        assert backend.display_url() == backend.uri(backend.root())
    assert any_store.toml_snippet().startswith("[[destinations]]")
    for value in any_store.secrets.values():
        assert value not in any_store.toml_snippet()


def _assert_store_error(store: Store, backend: Backend, *, transient: bool) -> StoreError:
    t0 = time.monotonic()
    with pytest.raises(StoreError) as info:
        backend.list(backend.root())
    elapsed = time.monotonic() - t0
    assert elapsed < 15, f"took {elapsed:.1f}s"
    err = info.value
    assert err.transient is transient, str(err)
    _no_secret(store, str(err))
    for value in backend.dest.secrets.values():
        if len(value) >= 8 and not os.path.exists(value):
            assert value not in str(err)
    return err


def test_denied_credential_is_terminal(any_store: Store) -> None:
    good = make_backend(any_store.dest())
    any_store.write_bytes("x.bin", b"x")
    assert good.list(good.root())  # a cached filesystem must not let the bad one in
    dest = any_store.denied_dest()
    if dest is None:
        pytest.skip(f"{any_store.type} has no credentials")
    err = _assert_store_error(any_store, make_backend(dest), transient=False)
    assert any(w in str(err).lower() for w in ("denied", "refused", "authentication", "credential"))


def test_dead_endpoint_is_transient_and_quick(any_store: Store) -> None:
    dest = any_store.dead_dest()
    if dest is None:
        pytest.skip(f"{any_store.type} has no endpoint")
    err = _assert_store_error(any_store, make_backend(dest), transient=True)
    assert "reach" in str(err)


# -- SFTP host keys ---------------------------------------------------------------------
def _sftp_with_known_hosts(store: SFTPStore, content: str, tmp_path: Path) -> Backend:
    kh = tmp_path / "known_hosts"
    kh.write_text(content)
    return make_backend(store.dest(options={**store.options, "known_hosts": str(kh)}))


def test_sftp_refuses_an_unknown_host_key(sftp_store: SFTPStore, tmp_path: Path) -> None:
    other = "[10.9.9.9]:22 " + sftp_store.sshd.host_pub + "\n"  # known_hosts without this server
    backend = _sftp_with_known_hosts(sftp_store, other, tmp_path)
    err = _assert_store_error(sftp_store, backend, transient=False)
    assert "not in" in str(err) and f"ssh-keyscan -p {sftp_store.sshd.port} 127.0.0.1 >>" in str(err)


def test_sftp_refuses_a_missing_known_hosts_file(sftp_store: SFTPStore, tmp_path: Path) -> None:
    backend = make_backend(sftp_store.dest(options={**sftp_store.options, "known_hosts": str(tmp_path / "absent")}))
    err = _assert_store_error(sftp_store, backend, transient=False)
    assert "ssh-keyscan" in str(err)


def test_sftp_refuses_a_changed_host_key(sftp_store: SFTPStore, tmp_path: Path) -> None:
    import paramiko

    impostor = paramiko.Ed25519Key.from_private_key_file(str(sftp_store.sshd.key_file))  # any other ed25519 key
    line = f"[127.0.0.1]:{sftp_store.sshd.port} {impostor.get_name()} {impostor.get_base64()}\n"
    backend = _sftp_with_known_hosts(sftp_store, line, tmp_path)
    err = _assert_store_error(sftp_store, backend, transient=False)
    assert "differs" in str(err) and "ssh-keygen -R" in str(err)


def test_sftp_accepts_the_known_host_key(sftp_store: SFTPStore) -> None:
    sftp_store.write_bytes("a/b.bin", b"abc")
    backend = make_backend(sftp_store.dest())
    assert [e.name for e in backend.list(sftp_store.path("a"))] == ["b.bin"]


# -- Data Landing Zone -------------------------------------------------------------------
def test_dlz_with_sas_url_alone(dlz_store: DLZStore, tmp_path: Path) -> None:
    dlz_store.upload(_tree(tmp_path))
    dest = dlz_store.sas_url_dest()
    assert dest.url is None
    backend = make_backend(dest)
    assert backend.root() == "dlz-destination"
    assert backend.retention is not None and backend.retention.days == 7
    folder = dlz_store.root.split("/", 1)[1]
    top = {e.name: e for e in backend.list(backend.root())}
    assert top[folder].is_dir
    assert sorted(e.name for e in backend.list(dlz_store.path())) == ["ds1", "ds2"]
    assert backend.read_range(dlz_store.path("ds1/exportTime=202601020300/part-00000.parquet"), 0, 4) == DATA[:4]
    shown = backend.display_url()
    assert shown == dlz_store.container_url and "sig=" not in shown and "?" not in shown
    assert dlz_store.sas_token not in backend.uri(dlz_store.path("ds1"))


def test_dlz_with_url_and_sas_token(dlz_store: DLZStore, tmp_path: Path) -> None:
    dlz_store.upload(_tree(tmp_path), prefix="aep")
    backend = make_backend(dlz_store.dest(prefix="aep"))
    assert sorted(e.name for e in backend.list(backend.root())) == ["ds1", "ds2"]
    assert "sig=" not in backend.display_url() and backend.display_url().endswith("/aep")


def test_dlz_config_errors_do_not_show_the_sas(dlz_store: DLZStore) -> None:
    from verifier.errors import ConfigError

    with pytest.raises(ConfigError, match="no SAS token"):
        dlz_store.dest(url=False, secrets={"sas_url": dlz_store.container_url + "?sv=2024&sp=rl"})
    with pytest.raises(ConfigError) as info:
        dlz_store.dest(url="ftp://nowhere/x", secrets={"sas_url": "ftp://x/dlz-destination?sv=1&sig=SECRETSIG"})
    assert "SECRETSIG" not in str(info.value)
    with pytest.raises(ConfigError, match="another account or container"):
        dlz_store.dest(
            url="https://other.blob.core.windows.net/dlz-destination/x", secrets={"sas_url": dlz_store.sas_url}
        )


def test_concurrent_lists_and_reads(any_store: Store, tmp_path: Path) -> None:
    """The runner lists and reads from a thread pool: one backend must serve many threads."""
    from concurrent.futures import ThreadPoolExecutor

    any_store.upload(_tree(tmp_path))
    backend = make_backend(any_store.dest())
    folder = any_store.path("ds1/exportTime=202601020300")
    path = folder + "/part-00000.parquet"

    def work(i: int) -> tuple[int, bytes]:
        return len(backend.list(folder)), backend.read_range(path, i, i + 100)

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(work, range(0, 2400, 100)))
    assert results == [(3, DATA[i : i + 100]) for i in range(0, 2400, 100)]


def test_object_stores_list_a_destination_in_one_recursive_listing(
    any_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One listing without a delimiter gives every folder exactly what listing that folder gives."""
    from verifier.layout import scan

    src = _tree(tmp_path)
    (src / "stray.txt").write_bytes(b"s")
    (src / "ds1" / "notes").mkdir()
    (src / "ds1" / "notes" / "n.txt").write_bytes(b"n")
    any_store.upload(src)
    backend = make_backend(any_store.dest())
    if not backend.flat_listing:
        pytest.skip(f"{backend.type} is walked folder by folder")
    walked: dict[str, list[Any]] = {}
    queue = [backend.root()]
    while queue:
        folder = queue.pop()
        walked[folder] = sorted(backend.list(folder), key=lambda e: e.path)
        queue += [e.path for e in walked[folder] if e.is_dir]
    assert backend.list_tree(backend.root()) == walked

    monkeypatch.setattr(backend, "list", lambda path: pytest.fail(f"the scan listed {path} on its own"))
    result = scan(backend)
    assert {d: [x.raw for x in ds.exports] for d, ds in result.datasets.items()} == {
        "ds1": ["202601020300"],
        "ds2": ["202601030300"],
    }
    assert sorted(e.name for e in result.datasets["ds1"].exports[0].entries) == [
        "manifest-1.json",
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    assert sorted((f.code, f.uri) for f in result.findings) == [
        ("layout.unexpected_entry", backend.uri(backend.root() + "/ds1/notes")),
        ("layout.unexpected_entry", backend.uri(backend.root() + "/stray.txt")),
    ]
    assert result.entries_listed == 3 + 3 + 1
