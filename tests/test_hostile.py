"""Hostile input is bounded: a gzip bomb, an endless line, a lying footer, a traversing manifest.

Each ends as a finding, the run goes on, and the process stays well under 1 GiB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fixtures.defects import inject
from fixtures.generate import generate_dataset
from tests.helpers import START, write_config


def test_hostile_exports_are_findings_in_bounded_memory(tmp_path: Path) -> None:
    js = generate_dataset(tmp_path / "js", fmt="json", start=START, count=3, seed=51, rows_full=60, rows_incremental=20)
    inject(js[0], "json_gzip_bomb")  # 2 GiB of one byte, no newline, ~2 MB on disk
    inject(js[1], "json_long_line", size=300_000_000)
    inject(js[2], "manifest_path_traversal")
    pq = generate_dataset(tmp_path / "pq", start=START, count=2, seed=52, rows_full=60, rows_incremental=20)
    inject(pq[0], "parquet_footer_length_absurd")
    inject(pq[1], "manifest_absolute_name")
    cfg = write_config(
        tmp_path,
        [
            {
                "name": "js",
                "type": "local",
                "url": str(tmp_path / "js"),
                "format": "json",
                "export_mode": "full",
                "stale_after": "3650d",
            },
            {"name": "pq", "type": "local", "url": str(tmp_path / "pq"), "export_mode": "full", "stale_after": "3650d"},
        ],
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    r = subprocess.run(
        [sys.executable, "-m", "verifier", "run", "--level", "full", "--config", str(cfg), "--json", "-"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert r.returncode == 2, r.stderr
    summary = json.loads(r.stdout)
    got = sorted((f["destination"], f["export_time"], f["code"]) for f in summary["findings"])
    iso = [e.export_time.strftime("%Y-%m-%dT%H:%M:%SZ") for e in js]
    assert got == sorted(
        [
            ("js", iso[0], "json.corrupt"),
            ("js", iso[1], "json.corrupt"),
            ("js", iso[2], "manifest.invalid"),
            ("pq", pq[0].export_time.strftime("%Y-%m-%dT%H:%M:%SZ"), "parquet.corrupt"),
            ("pq", pq[1].export_time.strftime("%Y-%m-%dT%H:%M:%SZ"), "manifest.invalid"),
        ]
    )
    messages = " ".join(f["message"] for f in summary["findings"])
    assert "etc/passwd" in messages  # named in the finding, never opened
