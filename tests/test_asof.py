"""`--as-of now` and `--as-of latest-intact`, as the demo and the docs print them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fixtures.generate import generate_dataset
from tests.helpers import START, write_config

VERIFIER = [sys.executable, "-m", "verifier"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VERIFIER, *args], capture_output=True, text=True, timeout=120, env=dict(os.environ))


def test_now_and_latest_intact(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    exports = generate_dataset(
        folder, dataset_id="ds1", start=START, count=4, seed=3, rows_full=30, rows_incremental=10
    )
    cfg = str(write_config(tmp_path, [{"name": "local", "type": "local", "url": str(folder), "stale_after": "3650d"}]))
    # the third export (an incremental) is broken: the fourth cannot be restored either
    victim = sorted((folder / "ds1").glob(f"exportTime={exports[2].export_time:%Y%m%d%H%M}/*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[:64])
    assert _cli("run", "--config", cfg).returncode == 2

    now = _cli("restore-plan", "ds1", "--as-of", "now", "--json", "--config", cfg)
    assert now.returncode == 2, now.stderr
    assert json.loads(now.stdout)["intact"] is False

    best = _cli("restore-plan", "ds1", "--as-of", "latest-intact", "--json", "--config", cfg)
    assert best.returncode == 0, best.stderr
    plan = json.loads(best.stdout)
    assert plan["intact"] is True
    assert [link["export_time"] for link in plan["links"]] == [
        f"{e.export_time:%Y-%m-%dT%H:%M:%SZ}" for e in exports[:2]
    ]

    bad = _cli("restore-plan", "ds1", "--as-of", "yesterday-ish", "--config", cfg)
    assert bad.returncode == 4 and "now or latest-intact" in bad.stderr

    victim0 = sorted((folder / "ds1").glob(f"exportTime={exports[0].export_time:%Y%m%d%H%M}/*.parquet"))[0]
    victim0.write_bytes(victim0.read_bytes()[:64])
    assert _cli("run", "--config", cfg).returncode == 2
    none = _cli("restore-plan", "ds1", "--as-of", "latest-intact", "--config", cfg)
    assert none.returncode == 4
    assert (
        "dataset 'ds1' has no intact restore point in the catalog: all 4 export(s) are on broken chains" in none.stderr
    )
