"""The sample-export generator: deterministic, good exports really are good, each defect breaks one thing.

``_findings`` below is a small, strict, independent reference checker (not verifier's): a good
export must give nothing, each defect exactly its one documented code.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import struct
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest

from fixtures import (
    DEFECT_CODES,
    DEFECTS,
    ExportInfo,
    describe_tree,
    generate_dataset,
    generate_tree,
    inject,
    read_manifest,
)

START = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
FILE_RE = re.compile(
    r"part-\d{5}-tid--?\d+-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}-\d+-1-c000\."
)
MANIFEST_RE = re.compile(r"manifest-[0-9a-f-]{36}-[0-9a-f-]{36}\.json")
LIMIT = 4 * 1024 * 1024  # the reference checker's bound on decompressed bytes and on one line


# ---------------------------------------------------------------------------------------------
# reference checker


def _folder_time(name: str) -> datetime | None:
    m = re.fullmatch(r"exportTime=(\d{12}|\d{14})", name)
    if not m:
        return None
    try:
        return datetime.strptime(m.group(1), "%Y%m%d%H%M%S" if len(m.group(1)) == 14 else "%Y%m%d%H%M").replace(
            tzinfo=UTC
        )
    except ValueError:
        return None


def _manifest_ok(data: object) -> bool:
    if not isinstance(data, dict) or not isinstance(data.get("exportResults"), list):
        return False
    for e in data["exportResults"]:
        if not isinstance(e, dict):
            return False
        name, size = e.get("name"), e.get("size")
        if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", ".."):
            return False
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            return False
    return isinstance(data.get("scheduledTime"), str)


def _json_ok(path: Path) -> bool:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    buf, total = b"", 0
    with path.open("rb") as fh:
        while not d.eof:
            chunk = d.unconsumed_tail or fh.read(65536)
            if not chunk:
                return False  # stream ends before the gzip trailer
            try:
                out = d.decompress(chunk, 65536)
            except zlib.error:
                return False
            total += len(out)
            if total > LIMIT:
                return False
            buf += out
            *lines, buf = buf.split(b"\n")
            for line in lines:
                try:
                    if not isinstance(json.loads(line.decode("utf-8")), dict):
                        return False
                except ValueError:
                    return False
            if len(buf) > LIMIT:
                return False
    return buf == b""


def _file_code(path: Path, fmt: str) -> str | None:
    size = path.stat().st_size
    if size == 0:
        return "file.empty"
    with path.open("rb") as fh:
        head = fh.read(4)
    if fmt == "json":
        return "file.unexpected_format" if head[:2] != b"\x1f\x8b" else (None if _json_ok(path) else "json.corrupt")
    if head[:2] == b"\x1f\x8b":
        return "file.unexpected_format"
    if head != b"PAR1":
        return "parquet.corrupt"
    try:
        with path.open("rb") as fh:
            fh.seek(-8, 2)
            (flen,) = struct.unpack("<I", fh.read(4))
        if flen + 12 > size:
            return "parquet.corrupt"
        pq.read_table(path)
    except (OSError, ValueError, pa.ArrowException):
        return "parquet.corrupt"
    return None


def _findings(export: ExportInfo) -> list[str]:
    out: list[str] = []
    for entry in export.dataset_path.iterdir():
        if not entry.is_dir() or not entry.name.startswith("exportTime="):
            out.append("layout.unexpected_entry")
    when = _folder_time(export.path.name)
    if when is None:
        return [*out, "layout.bad_export_time"]
    entries = sorted(export.path.iterdir())
    manifests = [p for p in entries if MANIFEST_RE.fullmatch(p.name)]
    data_files = [p for p in entries if FILE_RE.match(p.name)]
    out += ["layout.unexpected_entry" for p in entries if p not in manifests and p not in data_files]
    if export.manifest_enabled and not manifests:
        out.append("manifest.missing")
    for m in manifests:
        try:
            data = json.loads(m.read_text())
        except ValueError:
            data = None
        if not _manifest_ok(data):
            out.append("manifest.invalid")
            continue
        listed = {e["name"]: e["size"] for e in data["exportResults"]}
        present = {p.name: p.stat().st_size for p in data_files}
        out += ["manifest.file_missing" for n in listed if n not in present]
        out += ["manifest.size_mismatch" for n, s in listed.items() if n in present and present[n] != s]
        out += ["manifest.unlisted_file" for n in present if n not in listed]
        if data["scheduledTime"] != when.strftime("%Y-%m-%dT%H:%M:%SZ"):
            out.append("manifest.time_mismatch")
    if not data_files:
        out.append("export.empty")
    for p in data_files:
        code = _file_code(p, export.fmt)
        if code:
            out.append(code)
    return sorted(out)


def _schema(export: ExportInfo) -> object:
    if export.fmt == "json":
        return pajson.read_json(gzip.open(export.files[0])).schema
    return pq.read_schema(export.files[0])


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


# ---------------------------------------------------------------------------------------------
# good exports


FORMATS = [("parquet", "gzip"), ("parquet", "none"), ("json", "gzip")]


def _dataset(root: Path, fmt: str = "parquet", compression: str = "gzip", **kw: object) -> list[ExportInfo]:
    args: dict[str, object] = {"start": START, "count": 3, "rows_full": 120, "rows_incremental": 40, "seed": 7}
    args.update(kw)
    return generate_dataset(root, fmt=fmt, compression=compression, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt,compression", FORMATS)
def test_same_seed_same_bytes(tmp_path: Path, fmt: str, compression: str) -> None:
    a = _dataset(tmp_path / "a", fmt, compression)
    b = _dataset(tmp_path / "b", fmt, compression)
    assert [e.dataset_id for e in a] == [e.dataset_id for e in b]
    assert _snapshot(tmp_path / "a") == _snapshot(tmp_path / "b")
    c = _dataset(tmp_path / "c", fmt, compression, seed=8)
    assert a[0].dataset_id != c[0].dataset_id


def test_tree_is_deterministic(tmp_path: Path) -> None:
    now = datetime(2024, 5, 10, 9, 30, tzinfo=UTC)
    generate_tree(tmp_path / "a", now=now, seed=3, size="tiny")
    generate_tree(tmp_path / "b", now=now, seed=3, size="tiny")
    assert _snapshot(tmp_path / "a") == _snapshot(tmp_path / "b")


@pytest.mark.parametrize("fmt,compression", FORMATS)
def test_good_exports_are_good(tmp_path: Path, fmt: str, compression: str) -> None:
    exports = _dataset(tmp_path, fmt, compression, files_per_export=3)
    assert [e.kind for e in exports] == ["full", "incremental", "incremental"]
    assert [e.record_count for e in exports] == [120, 40, 40]
    assert [e.export_time for e in exports] == [START + timedelta(days=i) for i in range(3)]
    assert re.fullmatch(r"[0-9a-f]{24}", exports[0].dataset_id)
    for e in exports:
        assert e.path == tmp_path / e.dataset_id / f"exportTime={e.export_time:%Y%m%d%H%M}"
        assert _findings(e) == []
        assert len(e.files) == 3
        ext = {"json": ".json.gz", "gzip": ".gz.parquet", "none": ".parquet"}[fmt if fmt == "json" else compression]
        for p in e.files:
            assert FILE_RE.match(p.name) and p.name.endswith("-1-c000" + ext)
            assert p.name.endswith(".gz.parquet") == (fmt == "parquet" and compression == "gzip")
            age = p.stat().st_mtime - e.export_time.timestamp()
            assert 60 < age < 15 * 60
        rows = 0
        for p in e.files:
            if fmt == "json":
                raw = gzip.decompress(p.read_bytes())
                assert raw.endswith(b"\n")
                objs = [json.loads(line) for line in raw.decode().splitlines()]
                assert all(isinstance(o, dict) for o in objs)
                o = objs[0]
                assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", o["timestamp"])
                assert isinstance(o["identityMap"], dict) and o["identityMap"]["ECID"][0]["primary"] is True
                assert "webPageDetails" in o["web"]
                n = len(objs)
            else:
                meta = pq.read_metadata(p)
                codec = meta.row_group(0).column(0).compression
                assert codec == ("GZIP" if compression == "gzip" else "UNCOMPRESSED")
                table = pq.read_table(p)
                n = table.num_rows
                names = set(table.schema.names)
                assert {"_id", "timestamp", "identityMap", "web", "commerce", "productListItems", "_acme"} <= names
                assert str(table.schema.field("timestamp").type) == "timestamp[us, tz=UTC]"
                assert str(table.schema.field("productListItems").type).startswith("list<element: struct<SKU")
            assert n == e.file_rows[p.name]
            rows += n
        assert rows == e.record_count
        if fmt == "parquet":
            ts = pq.read_table(e.files[0], columns=["timestamp"]).column(0).to_pylist()
            lo = e.export_time - (timedelta(days=30) if e.kind == "full" else timedelta(days=1))
            assert all(lo <= t < e.export_time for t in ts)


def test_manifest_matches_files(tmp_path: Path) -> None:
    e = _dataset(tmp_path, destination_id="11111111-2222-4333-8444-555555555555")[1]
    assert e.manifest is not None
    text = e.manifest.read_text()
    assert "\n" not in text.strip()
    assert e.manifest.name == f"manifest-11111111-2222-4333-8444-555555555555-{e.flow_run_id}.json"
    data = json.loads(text)
    assert data["flowRunId"] == e.flow_run_id
    assert data["scheduledTime"] == e.export_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [(r["name"], r["size"]) for r in data["exportResults"]] == [(p.name, p.stat().st_size) for p in e.files]
    assert data["exportResults"][0]["sinkPath"] == f"/aep-exports/{e.dataset_id}/{e.path.name}/"
    assert e.manifest.stat().st_mtime >= max(p.stat().st_mtime for p in e.files)


def test_options(tmp_path: Path) -> None:
    e = _dataset(tmp_path / "a", digits=14, manifest=False, cadence=timedelta(hours=6), dataset_id="myds")
    assert [x.path.name for x in e] == [
        "exportTime=20240501060000",
        "exportTime=20240501120000",
        "exportTime=20240501180000",
    ]
    assert all(x.manifest is None and _findings(x) == [] for x in e)
    assert not list((tmp_path / "a").rglob("manifest-*"))
    drift = _dataset(tmp_path / "b", extra_columns={1: "marketingChannel"})
    assert ["marketingChannel" in pq.read_schema(x.files[0]).names for x in drift] == [False, True, True]
    drift = _dataset(tmp_path / "c", "json", extra_columns={2: "marketingChannel"})
    assert ["marketingChannel" in _schema(x).names for x in drift] == [False, False, True]  # type: ignore[attr-defined]


def test_tree(tmp_path: Path) -> None:
    now = datetime(2024, 5, 10, 9, 30, tzinfo=UTC)
    exports = generate_tree(tmp_path, now=now, size="small")
    total = sum(p.stat().st_size for e in exports for p in e.files)
    assert 1_000_000 < total < 10_000_000
    assert {e.fmt for e in exports} == {"parquet", "json"}
    assert {e.compression for e in exports if e.fmt == "parquet"} == {"gzip", "none"}
    dests = describe_tree(exports)
    assert [d["name"] for d in dests] == ["parquet-gzip", "parquet-plain", "json-gzip", "no-manifest"]
    assert [d["schedule"] for d in dests] == ["24h", "12h", "6h", "24h"]
    for e in exports:
        assert _findings(e) == []
        assert e.folder.name in {d["name"] for d in dests}
    for d in dests:
        newest = max(e.export_time for e in exports if e.folder.name == d["name"])
        assert now - timedelta(hours=27) <= newest <= now - timedelta(hours=3)


def test_tree_target_bytes(tmp_path: Path) -> None:
    exports = generate_tree(tmp_path, now=START, target_bytes=4_000_000)
    total = sum(p.stat().st_size for e in exports for p in e.files)
    assert 2_500_000 < total < 6_000_000
    assert all(_findings(e) == [] for e in exports[:3])


# ---------------------------------------------------------------------------------------------
# defects

ON_JSON = {"manifest_absolute_name", "manifest_size_mismatch", "file_empty", "unexpected_format"}
CASES = [(d, "json" if d.startswith("json_") else "parquet") for d in DEFECTS if DEFECT_CODES[d] is not None]
CASES += [(d, "json") for d in sorted(ON_JSON)] + [("schema_drift", "json"), ("export_empty", "json")]
SMALL = {"json_gzip_bomb": {"size": 6 * 1024 * 1024}, "json_long_line": {"size": 5 * 1024 * 1024}}


@pytest.mark.parametrize("defect,fmt", CASES, ids=[f"{d}-{f}" for d, f in CASES])
def test_each_defect_gives_exactly_its_finding(tmp_path: Path, defect: str, fmt: str) -> None:
    exports = _dataset(tmp_path, fmt)
    target = exports[-1]
    before = [_schema(e) for e in exports]
    note = inject(target, defect, **SMALL.get(defect, {}))
    assert note.startswith(defect + ": ") and "\n" not in note
    if defect == "schema_drift":
        after = [_schema(e) for e in exports]
        assert after[:2] == before[:2] and after[2] != before[2]
        assert _findings(target) == []
        return
    assert _findings(target) == [DEFECT_CODES[defect]], note
    assert all(_findings(e) == [] for e in exports[:-1] if defect != "stray_dataset_file")


def test_parquet_corrupt_page_needs_the_data(tmp_path: Path) -> None:
    for compression in ("gzip", "none"):
        e = _dataset(tmp_path / compression, compression=compression)[0]
        inject(e, "parquet_corrupt_page")
        path = e.files[-1]
        assert path.read_bytes()[:4] == b"PAR1" == path.read_bytes()[-4:]
        assert pq.read_metadata(path).num_rows == e.file_rows[path.name]
        with pytest.raises(Exception):  # noqa: B017 - whatever pyarrow raises
            pq.read_table(path)


def test_bad_footer_keeps_magic_and_length(tmp_path: Path) -> None:
    e = _dataset(tmp_path)[0]
    before = e.files[-1].read_bytes()
    inject(e, "parquet_bad_footer")
    after = e.files[-1].read_bytes()
    assert len(after) == len(before) and after[:4] == b"PAR1" and after[-8:] == before[-8:]
    with pytest.raises(Exception):  # noqa: B017
        pq.read_metadata(e.files[-1])


def test_gzip_bomb_is_fast_and_small(tmp_path: Path) -> None:
    e = _dataset(tmp_path, "json")[0]
    t0 = time.monotonic()
    inject(e, "json_gzip_bomb")  # the default: 2 GiB
    assert time.monotonic() - t0 < 10
    path = e.files[-1]
    raw = path.read_bytes()
    assert len(raw) < 5 * 1024 * 1024
    assert raw[:3] == b"\x1f\x8b\x08" and struct.unpack("<I", raw[-4:])[0] == 2**31
    assert read_manifest(e)["exportResults"][-1]["size"] == len(raw)
    small = _dataset(tmp_path / "small", "json")[0]
    inject(small, "json_gzip_bomb", size=3_000_001, byte=b"z")
    assert gzip.decompress(small.files[-1].read_bytes()) == b"z" * 3_000_001


def test_long_line(tmp_path: Path) -> None:
    e = _dataset(tmp_path, "json")[0]
    inject(e, "json_long_line", size=1_000_000)
    data = gzip.decompress(e.files[-1].read_bytes())
    assert len(data) == 1_000_000 and b"\n" not in data and isinstance(json.loads(data), str)


def test_flip_byte_keeps_size_and_mtime(tmp_path: Path) -> None:
    e = _dataset(tmp_path)[0]
    path = e.files[-1]
    st, digest = path.stat(), hashlib.sha256(path.read_bytes()).digest()
    inject(e, "flip_byte")
    st2 = path.stat()
    assert (st2.st_size, st2.st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert hashlib.sha256(path.read_bytes()).digest() != digest


def test_delete_export_leaves_a_gap(tmp_path: Path) -> None:
    exports = _dataset(tmp_path)
    inject(exports[1], "delete_export")
    left = sorted(p.name for p in (tmp_path / exports[0].dataset_id).iterdir())
    assert left == [exports[0].path.name, exports[2].path.name]


def test_record_count_follows_structural_defects(tmp_path: Path) -> None:
    e = _dataset(tmp_path, files_per_export=3)[0]
    first = e.file_rows[e.files[0].name]
    inject(e, "manifest_file_missing", index=0)
    assert e.record_count == 120 - first and len(e.files) == 2
    inject(e, "manifest_unlisted_file", rows=7)
    assert e.record_count == 127 - first and len(e.files) == 3


def test_unknown_or_misapplied_defect(tmp_path: Path) -> None:
    e = _dataset(tmp_path)[0]
    with pytest.raises(ValueError, match="unknown defect"):
        inject(e, "nope")
    with pytest.raises(ValueError, match="json"):
        inject(e, "json_bad_line")
    assert _findings(e) == []


def test_no_rows_means_an_empty_export(tmp_path: Path) -> None:
    exports = _dataset(tmp_path, "json", rows_incremental=0, files_per_export=3)
    assert exports[1].files == [] and exports[1].record_count == 0
    assert read_manifest(exports[1])["exportResults"] == []
    assert _findings(exports[1]) == ["export.empty"]
    few = _dataset(tmp_path / "few", rows_incremental=2, files_per_export=3)
    assert [len(e.files) for e in few] == [3, 2, 2] and all(_findings(e) == [] for e in few)
