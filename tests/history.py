"""A catalog with history, shared by the view, export and docs tests: three nights over two
datasets, with a finding fixed and then back, an error open since the first night and an export
that vanished.

    night 1  A@18th's manifest gets a size wrong (error); B@19th is truncated (error)
    night 2  the manifest is put right (fixed); B@18th is deleted (export.vanished)
    night 3  the manifest is wrong again (the same finding, a new first_run_id); a full read of A
             only (B's open findings stay those of night 2)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from fixtures.defects import inject
from fixtures.generate import ExportInfo, generate_dataset
from tests.helpers import NOW, START, do_run, local_config
from verifier import config as cfgmod
from verifier.runner import RunSummary

A, B = "5f2c1e0b8a7d4c3e9f1a2b3c", "64b0d5a1c2e3f4a5b6c7d8e9"


@dataclass
class History:
    config: cfgmod.Config
    folder: Path
    a: list[ExportInfo]
    b: list[ExportInfo]
    runs: list[RunSummary]


def build(tmp: Path) -> History:
    folder = tmp / "exports"
    a = generate_dataset(folder, A, start=START, count=3, seed=11)
    b = generate_dataset(folder, B, start=START, count=3, seed=12)
    config = local_config(tmp, folder)
    assert a[1].manifest is not None
    good = a[1].manifest.read_bytes()
    inject(a[1], "manifest_size_mismatch")
    inject(b[2], "parquet_truncated")
    runs = [do_run(config, now=NOW)]
    a[1].manifest.write_bytes(good)
    inject(b[1], "delete_export")
    runs.append(do_run(config, now=NOW + timedelta(hours=1)))
    inject(a[1], "manifest_size_mismatch")
    runs.append(do_run(config, "full", now=NOW + timedelta(hours=2), datasets=[A]))
    return History(config, folder, a, b, runs)
