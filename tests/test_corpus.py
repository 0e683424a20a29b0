"""Verdicts on real files nobody here wrote, against what pyarrow and DuckDB make of them.

The corpus (tests/corpus/README.md): apache/parquet-testing `data/` and `bad_data/`,
apache/arrow-testing Parquet fuzzing files, files Apache Spark wrote (AEP's writer), arrow-rs
NDJSON test files, flate2 gzip samples, and files pyarrow and DuckDB write here with every
codec and encoding. Each file is labelled by the two
readers reading it in full, then checked by verifier at metadata and full level. Everything
runs in child processes (tests/corpus/judge.py): pyarrow aborts the process on some of these
files, and a crash must fail a test, not kill the test run.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

CORPUS = Path(__file__).parent / "corpus"
JUDGE = CORPUS / "judge.py"
ROOT = Path(__file__).parent.parent
JUDGES = ("pyarrow", "duckdb", "metadata", "full")
CODEC_MISMATCH = "column chunks are"  # file.unexpected_format for the destination's codec: config, not content

Verdicts = dict[str, dict[str, dict[str, Any]]]  # file -> judge -> result


def committed_files() -> list[Path]:
    """The corpus as committed; arrow-rs NDJSON is plain text, gzipped by `generate`."""
    return sorted(
        p
        for p in CORPUS.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".txt", ".md", ".json") and not p.name.startswith("LICENSE")
    )


def kind(p: Path) -> str:
    return "json" if p.name.endswith(".gz") else "parquet"


def generate(d: Path) -> list[Path]:
    """Files pyarrow and DuckDB write: every codec, both data page versions, every encoding;
    and the arrow-rs NDJSON files in gzip, as AEP delivers JSON."""
    out = []
    for src in sorted((CORPUS / "arrow-rs").glob("*.json")):
        p = d / f"arrow-rs-{src.stem}.json.gz"
        p.write_bytes(gzip.compress(src.read_bytes(), mtime=0))
        out.append(p)
    n = 500
    table = pa.table(
        {
            "i": pa.array(range(n), pa.int64()),
            "f": pa.array([i / 3 for i in range(n)], pa.float64()),
            "s": pa.array([f"value {i % 37}" for i in range(n)]),
            "b": pa.array([i % 2 == 0 for i in range(n)]),
            "t": pa.array([1_700_000_000_000_000 + i for i in range(n)], pa.timestamp("us", "UTC")),
            "web": pa.array([{"URL": f"https://e.com/{i}", "n": i} for i in range(n)]),
            "items": pa.array([[i, i + 1][: i % 3] for i in range(n)], pa.list_(pa.int64())),
        }
    )
    for codec in ("none", "snappy", "gzip", "brotli", "zstd", "lz4"):
        for version in ("1.0", "2.0"):
            p = d / f"pyarrow-{codec}-v{version[0]}.parquet"
            pq.write_table(table, p, compression=codec, data_page_version=version, row_group_size=200)
            out.append(p)
    flat = table.select(["i", "f", "s"])
    encodings = {
        "plain": {"i": "PLAIN", "f": "PLAIN", "s": "PLAIN"},
        "delta": {"i": "DELTA_BINARY_PACKED", "s": "DELTA_LENGTH_BYTE_ARRAY"},
        "delta-byte-array": {"s": "DELTA_BYTE_ARRAY"},
        "byte-stream-split": {"i": "BYTE_STREAM_SPLIT", "f": "BYTE_STREAM_SPLIT"},
    }
    for name, enc in encodings.items():
        p = d / f"pyarrow-encoding-{name}.parquet"
        pq.write_table(flat, p, use_dictionary=False, column_encoding=enc)
        out.append(p)
    p = d / "pyarrow-zero-rows.parquet"
    pq.write_table(table.slice(0, 0), p)
    out.append(p)
    con = duckdb.connect()
    con.register("t", table)
    for codec in ("uncompressed", "snappy", "gzip", "zstd", "brotli", "lz4"):
        for version in ("V1", "V2"):
            p = d / f"duckdb-{codec}-{version}.parquet"
            con.execute(f"COPY t TO '{p}' (FORMAT parquet, COMPRESSION {codec}, PARQUET_VERSION {version})")
            out.append(p)
    p = d / "duckdb-zero-rows.parquet"
    con.execute(f"COPY (SELECT * FROM t LIMIT 0) TO '{p}' (FORMAT parquet)")
    con.close()
    return [*out, p]


def judge_all(files: list[Path]) -> Verdicts:
    """Every judge on every file, in child processes; a child that dies is replaced and the
    step it died on is recorded as a crash."""
    todo = [[str(p), kind(p), who] for p in files for who in JUDGES]
    out: Verdicts = {}
    while todo:
        child = subprocess.run(
            [sys.executable, str(JUDGE)], input=json.dumps(todo), capture_output=True, text=True, cwd=ROOT, timeout=900
        )
        lines = child.stdout.splitlines()
        for line in lines:
            r = json.loads(line)
            path, _, who = r.pop("step")
            out.setdefault(path, {})[who] = r
        if len(lines) == len(todo):
            break
        path, _, who = todo[len(lines)]
        out.setdefault(path, {})[who] = {"ok": False, "crash": child.returncode, "error": child.stderr[-300:]}
        todo = todo[len(lines) + 1 :]
    return out


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> Verdicts:
    return judge_all(committed_files() + generate(tmp_path_factory.mktemp("written")))


def name(path: str) -> str:
    p = Path(path)
    return str(p.relative_to(CORPUS)) if p.is_relative_to(CORPUS) else "generated/" + p.name


def errors(result: dict[str, Any]) -> list[str]:
    """Error findings about the content (a codec the destination does not expect is config)."""
    return [c for c, sev, msg in result["findings"] if sev == "error" and CODEC_MISMATCH not in msg]


def test_corpus_is_what_the_readme_says(verdicts: Verdicts) -> None:
    names = [name(p) for p in verdicts]
    sources = ("parquet-testing/", "arrow-testing/", "spark/", "flate2/", "generated/arrow-rs-", "generated/")
    count = {src: sum(n.startswith(src) for n in names) for src in sources}
    assert count == {
        "parquet-testing/": 77,
        "arrow-testing/": 60,
        "spark/": 8,
        "flate2/": 2,
        "generated/arrow-rs-": 8,
        "generated/": 38,  # 8 arrow-rs NDJSON in gzip, 17 pyarrow and 13 DuckDB Parquet files
    }


def test_verifier_never_crashes(verdicts: Verdicts) -> None:
    crashed = {
        (name(p), who): r["error"]
        for p, v in verdicts.items()
        for who in ("metadata", "full")
        if not (r := v[who])["ok"]
    }
    assert crashed == {}


def test_what_both_readers_reject_is_an_error(verdicts: Verdicts) -> None:
    rejected = [p for p, v in verdicts.items() if not v["pyarrow"]["ok"] and not v["duckdb"]["ok"]]
    assert len(rejected) >= 70
    missed = [name(p) for p in rejected if not errors(verdicts[p]["full"])]
    assert missed == []


def test_what_both_readers_read_is_never_an_error(verdicts: Verdicts) -> None:
    read = [p for p, v in verdicts.items() if v["pyarrow"]["ok"] and v["duckdb"]["ok"]]
    assert len(read) >= 80
    false_alarms = {
        name(p): errors(verdicts[p][lvl]) for p in read for lvl in ("metadata", "full") if errors(verdicts[p][lvl])
    }
    assert false_alarms == {}
    # and a full read counts what the readers count
    wrong = {
        name(p): (verdicts[p]["full"]["rows"], verdicts[p]["pyarrow"]["rows"])
        for p in read
        if verdicts[p]["full"]["rows"] != verdicts[p]["pyarrow"]["rows"]
    }
    assert wrong == {}


@pytest.mark.parametrize(
    ("path", "codes", "rows"),
    [
        # aborts pyarrow (SIGABRT) as soon as column metadata is read: recognised first
        ("parquet-testing/data/encrypt_columns_plaintext_footer.parquet.encrypted", ["parquet.encrypted"], None),
        ("parquet-testing/data/encrypt_columns_and_footer.parquet.encrypted", ["parquet.encrypted"], None),
        # zero rows, an empty row group whose chunks sit at offset 0: valid
        ("parquet-testing/data/column_chunk_key_value_metadata.parquet", [], 0),
        ("spark/empty.gz.parquet", [], 0),
        ("spark/xdm.gz.parquet", [], 300),
        # the footer says 0 rows, its row groups 6: every reader reads 6
        ("parquet-testing/data/repeated_no_annotation.parquet", ["parquet.tolerated"], 6),
        # a Presto map pyarrow refuses, DuckDB reads
        ("parquet-testing/data/incorrect_map_schema.parquet", ["parquet.tolerated"], 1),
        ("parquet-testing/bad_data/ARROW-RS-GH-6229-LEVELS.parquet", ["parquet.tolerated"], 1),
        # a page CRC that disagrees: damage, though DuckDB (which skips CRCs) reads it
        ("parquet-testing/data/datapage_v1-corrupt-checksum.parquet", ["parquet.corrupt"], None),
        ("parquet-testing/bad_data/PARQUET-1481.parquet", ["parquet.corrupt"], None),
    ],
)
def test_known_files_get_exact_verdicts(verdicts: Verdicts, path: str, codes: list[str], rows: int | None) -> None:
    full = verdicts[str(CORPUS / path)]["full"]
    assert [c for c, _, msg in full["findings"] if CODEC_MISMATCH not in msg] == codes
    assert full["rows"] == rows


def test_a_run_survives_the_file_that_aborts_pyarrow(tmp_path: Path) -> None:
    """End to end, in child processes: the run completes with its JSON summary and exit status,
    and so does the next one."""
    from fixtures.generate import generate_dataset
    from tests.helpers import START, write_config

    folder = tmp_path / "exports"
    generate_dataset(folder, start=START, count=2, seed=5, rows_full=50, rows_incremental=20)
    victim = sorted(folder.glob("*/exportTime=*/*.parquet"))[-1]  # in the last export: no chain after it
    victim.write_bytes(
        (CORPUS / "parquet-testing/data/encrypt_columns_plaintext_footer.parquet.encrypted").read_bytes()
    )
    config = write_config(tmp_path, [{"name": "local", "type": "local", "url": str(folder), "stale_after": "3650d"}])
    for level in ("full", "metadata"):
        r = subprocess.run(
            [sys.executable, "-m", "verifier", "run", "--config", str(config), "--level", level, "--json", "-"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=300,
        )
        assert r.returncode == 2, r.stderr
        summary = json.loads(r.stdout)
        assert summary["exit_code"] == 2
        findings = sorted({f["code"] for f in summary["findings"]})
        assert findings == ["manifest.size_mismatch", "parquet.encrypted"]
