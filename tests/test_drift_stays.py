"""A schema-drift warning stays visible while the export that shows it is the latest one, and goes
when a newer export arrives (issue 14: a missed night must not lose it)."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from fixtures.defects import inject
from fixtures.generate import generate_dataset
from tests.helpers import NOW, START, codes, do_run, local_config


def test_drift_is_reported_every_run_until_a_newer_export(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    exports = generate_dataset(
        folder, dataset_id="ds1", start=START, count=4, seed=9, rows_full=30, rows_incremental=10
    )
    inject(exports[2], "schema_drift")
    inject(exports[3], "schema_drift")  # the next export keeps the new schema: no drift between 3 and 4
    parked = tmp_path / exports[3].path.name
    shutil.move(str(exports[3].path), parked)  # it arrives later
    cfg = local_config(tmp_path, folder, stale_after="3650d", schedule="auto")
    for i in range(3):  # found, then still there on two more nights when nothing is re-read
        assert codes(do_run(cfg, now=NOW + timedelta(hours=i))) == ["dataset.schema_drift"], i
    shutil.move(str(parked), exports[3].path)
    assert codes(do_run(cfg, now=NOW + timedelta(hours=4))) == []
