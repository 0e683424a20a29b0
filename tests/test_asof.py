"""`--as-of now` and `--as-of latest-intact`, as the demo and the docs print them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, timedelta
from pathlib import Path

import pytest

from fixtures.defects import inject
from fixtures.generate import generate_dataset
from tests.helpers import NOW, START, do_run, local_config, sql, write_config
from verifier.restore import asof

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


# `latest-intact` is computed by walking restore plans (restore/asof.py), `latest_exports.latest_restorable`
# in SQL (catalog/views.py). They are two definitions on purpose (the plan also refuses unsafe names,
# files flagged inside an intact export, and with --allow-unverified accepts unverified links, which
# the view cannot know): this keeps them in agreement on what both can see.
@pytest.mark.parametrize("mode", ["first_full_then_incremental", "full"])
def test_latest_intact_agrees_with_the_view(tmp_path: Path, mode: str) -> None:
    folder = tmp_path / "exports"
    a, b, c = (
        generate_dataset(folder, ds, start=START, count=4, seed=s, rows_full=30, rows_incremental=10)
        for ds, s in (("dsa", 1), ("dsb", 2), ("dsc", 3))
    )
    inject(a[1], "manifest_size_mismatch")  # a broken link
    inject(a[3], "unexpected_entry")  # a warning
    inject(b[3], "parquet_truncated")
    inject(c[1], "unexpected_entry")
    config = local_config(tmp_path, folder, export_mode=mode, stale_after="3650d")
    do_run(config, now=NOW + timedelta(days=1))
    inject(b[2], "delete_export")  # vanishes
    do_run(config, now=NOW + timedelta(days=1, hours=1))
    statuses = sql(config, "SELECT dataset_id, list(status ORDER BY export_time) FROM exports GROUP BY 1 ORDER BY 1")
    assert statuses == [
        ("dsa", ["ok", "failed", "ok", "warning"]),
        ("dsb", ["ok", "ok", "vanished", "failed"]),
        ("dsc", ["ok", "warning", "ok", "ok"]),
    ]
    incremental = mode != "full"
    expected = {
        "dsa": a[0] if incremental else a[3],  # the export before the broken link; else the newest intact
        "dsb": b[1],
        "dsc": c[3],
    }
    for ds, e in expected.items():
        (view,) = sql(config, "SELECT max(latest_restorable) FROM latest_exports WHERE dataset_id = ?", [ds])[0]
        assert asof.latest_intact(config, ds) == view.replace(tzinfo=UTC) == e.export_time, ds
        assert asof.latest_intact(config, ds, destination="local") == e.export_time, ds
