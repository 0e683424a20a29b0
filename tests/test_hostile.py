"""Hostile input is bounded: a gzip bomb, an endless line, a lying footer, a traversing manifest.

Each ends as a finding, the run goes on, and the process stays well under 1 GiB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from fixtures import xdm
from fixtures.defects import inject
from fixtures.edits import sync_size
from fixtures.generate import generate_dataset
from tests.helpers import START, write_config


def _iso(e: object) -> str:
    return e.export_time.strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[attr-defined,no-any-return]


def test_hostile_exports_are_findings_in_bounded_memory(tmp_path: Path) -> None:
    js = generate_dataset(tmp_path / "js", fmt="json", start=START, count=3, seed=51, rows_full=60, rows_incremental=20)
    inject(js[0], "json_gzip_bomb")  # 2 GiB of one byte, no newline, ~2 MB on disk
    inject(js[1], "json_long_line", size=300_000_000)
    inject(js[2], "manifest_path_traversal")
    pq = generate_dataset(tmp_path / "pq", start=START, count=2, seed=52, rows_full=60, rows_incremental=20)
    inject(pq[0], "parquet_footer_length_absurd")
    inject(pq[1], "manifest_absolute_name")
    common = {"type": "local", "export_mode": "full", "stale_after": "3650d"}
    cfg = write_config(
        tmp_path,
        [
            {"name": "js", "url": str(tmp_path / "js"), "format": "json", **common},
            {"name": "pq", "url": str(tmp_path / "pq"), **common},
        ],
    )
    out = tmp_path / "summary.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "verifier", "run", "--level", "full", "--config", str(cfg), "--json", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS, not the largest child's so far
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 2
    assert usage.ru_maxrss < 1024 * 1024, f"peak RSS {usage.ru_maxrss / 1024:.0f} MiB"
    summary = json.loads(out.read_text())
    got = sorted((f["destination"], f["export_time"], f["code"]) for f in summary["findings"])
    assert got == sorted(
        [
            ("js", _iso(js[0]), "json.corrupt"),
            ("js", _iso(js[1]), "json.corrupt"),
            ("js", _iso(js[2]), "manifest.invalid"),
            ("pq", _iso(pq[0]), "parquet.corrupt"),
            ("pq", _iso(pq[1]), "manifest.invalid"),
        ]
    )
    messages = " ".join(f["message"] for f in summary["findings"])
    assert "etc/passwd" in messages  # named in the finding, never opened
    # the bomb is one endless line too; neither line can be a JSON object, so both are damage, not a limit
    assert messages.count("exceeds 64 MiB without a newline, and it is not a JSON object") == 2


def _replace(export: object, write: Callable[[Path], int]) -> None:
    """Put other bytes in the export's last data file, keeping the manifest's size right."""
    path = export.files[-1]  # type: ignore[attr-defined]
    st = path.stat()
    size = write(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    sync_size(export, path.name, size)  # type: ignore[arg-type]


def test_valid_files_beyond_the_limits_are_warnings_in_bounded_memory(tmp_path: Path) -> None:
    """Well-formed but beyond a limit at the defaults: file.too_large (a warning, exit 1), not damage,
    and as bounded as the hostile files above."""
    js = generate_dataset(tmp_path / "js", fmt="json", start=START, count=2, seed=53, rows_full=60, rows_incremental=20)
    # one JSON object 300 MB long: past the 64 MiB line limit
    _replace(js[0], lambda p: xdm.write_gzip_stream(p, 300_000_000, fill=b"x", head=b'{"x": "', tail=b'"}\n'))
    # 2 GiB of valid lines of 64 KiB, a few MB compressed: past the 200x expansion limit
    line = b'{"a": "' + b"a" * (65536 - 10) + b'"}\n'
    _replace(js[1], lambda p: xdm.write_gzip_stream(p, 2 * 1024**3, fill=line))
    common = {"type": "local", "export_mode": "full", "stale_after": "3650d", "format": "json"}
    cfg = write_config(tmp_path, [{"name": "js", "url": str(tmp_path / "js"), **common}])
    out = tmp_path / "summary.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "verifier", "run", "--level", "full", "--config", str(cfg), "--json", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1  # warnings only
    assert usage.ru_maxrss < 1024 * 1024, f"peak RSS {usage.ru_maxrss / 1024:.0f} MiB"
    findings = json.loads(out.read_text())["findings"]
    got = sorted((f["export_time"], f["code"], f["severity"]) for f in findings)
    assert got == sorted([(_iso(js[0]), "file.too_large", "warning"), (_iso(js[1]), "file.too_large", "warning")])
    messages = " ".join(f["message"] for f in findings)
    assert "raise [limits] max_line_bytes" in messages and "raise [limits] max_expansion_ratio" in messages
