"""Living with it: log lines under cron, -q / -v / --log-format, -V, findings that read root cause
first with paths relative to the destination, and a clear refusal for a run that does not exist."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.generate import generate_dataset
from tests.helpers import START, write_config
from verifier import __version__

VERIFIER = [sys.executable, "-m", "verifier"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VERIFIER, *args], capture_output=True, text=True, timeout=120, env=dict(os.environ))


@pytest.fixture
def broken(tmp_path: Path) -> str:
    folder = tmp_path / "exports"
    generate_dataset(folder, dataset_id="ds1", start=START, count=3, seed=5, rows_full=40, rows_incremental=10)
    cfg = write_config(tmp_path, [{"name": "local", "type": "local", "url": str(folder), "stale_after": "3650d"}])
    assert cli("run", "--config", str(cfg), "-q").returncode == 0
    victim = sorted(folder.glob("ds1/exportTime=*/*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[:100])
    return str(cfg)


def test_a_run_outside_a_terminal_logs_a_line_per_destination_and_dataset(broken: str) -> None:
    r = cli("run", "--config", broken)
    assert r.returncode == 2
    lines = [line.split(" ", 1)[1] for line in r.stderr.splitlines()]
    assert "INFO verifier.run: destination local: listing" in lines
    assert "INFO verifier.run: destination local: 3 export(s) found" in lines
    assert any(
        line.startswith("INFO verifier.run: destination local dataset ds1: 3 export(s) (failed 1, ok 2;")
        for line in lines
    ), r.stderr
    assert any(line.startswith("INFO verifier.run: destination local done: 3 export(s)") for line in lines)

    quiet = cli("run", "--config", broken, "-q")
    assert quiet.returncode == 2 and "INFO" not in quiet.stderr

    js = cli("--log-format", "json", "run", "--config", broken)
    docs = [json.loads(line) for line in js.stderr.splitlines()]
    assert {"time", "level", "logger", "message"} <= set(docs[0])
    assert any(d["message"] == "destination local: listing" and d["level"] == "info" for d in docs)


def test_findings_show_the_cause_first_relative_paths_and_what_is_new(broken: str) -> None:
    assert cli("run", "--config", broken, "-q").returncode == 2
    r = cli("findings", "--config", broken)
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0] == "findings of run 2: 4"
    assert lines[1].startswith("ERROR   file.changed  ds1/exportTime=202611170600/part-") and lines[1].endswith("[new]")
    assert "file://" not in r.stdout
    below = [line.strip().split(":")[0].split("  ")[0] for line in lines[3:]]
    assert below == ["↳ manifest.size_mismatch", "↳ parquet.corrupt", "↳ restore.chain_broken"]
    assert lines[3] == (
        "    ↳ manifest.size_mismatch: 100 bytes present, 8480 listed in the manifest; the file is truncated or was replaced"
    )


def test_a_run_that_does_not_exist_is_refused_and_version(broken: str) -> None:
    r = cli("findings", "--run", "99", "--config", broken)
    assert r.returncode == 4
    assert r.stderr.strip() == "verifier: no run 99 in the catalog; the last run is 1"
    v = cli("-V")
    assert v.returncode == 0 and v.stdout.strip() == f"verifier, version {__version__}"


def test_run_json_is_a_flag_like_everywhere_and_a_prefix_gets_a_suggestion(broken: str, tmp_path: Path) -> None:
    r = cli("run", "--config", broken, "--json", "-q")
    assert r.returncode == 2
    assert json.loads(r.stdout)["exit_code"] == 2
    out = tmp_path / "summary.json"
    assert cli("run", "--config", broken, "--json", str(out), "-q").returncode == 2
    assert json.loads(out.read_text())["exit_code"] == 2
    miss = cli("exports", "ds", "--config", broken)
    assert miss.returncode == 4
    assert miss.stderr.strip() == "verifier: no exports of dataset 'ds' in the catalog; did you mean ds1?"
