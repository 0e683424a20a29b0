"""`verifier demo`: sample exports (a few broken), three nights of runs, status, a query, findings, a restore plan."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from verifier.runner import RunSummary

DEMO_DEFECTS = [
    # (dataset index, export index, defect)
    (0, 2, "parquet_truncated"),
    (1, 1, "manifest_file_missing"),
    (2, 3, "json_bad_line"),
    (3, 4, "schema_drift"),  # a warning: the newest export added a column and retyped one
]
# A manifest that is wrong on the first night, put right for the second and wrong again on the
# third (the run shown), so the history has a finding fixed and then back (docs/sql.md).
FLAPPING = (1, 3, "manifest_size_mismatch")
DEMO_QUERY = (
    "SELECT dataset_id, count(*) AS exports, sum(record_count) AS records, "
    "round(sum(total_bytes) / 1e6, 2) AS mb, count(*) FILTER (WHERE status = 'failed') AS failed "
    "FROM exports GROUP BY dataset_id ORDER BY dataset_id"
)


def _config_text(exports: Path, catalog: Path) -> str:
    return f"""# written by `verifier demo`
[catalog]
path = "{catalog}"

[defaults]
schedule = "24h"
stale_after = "48h"
settle_time = "2h"

[[destinations]]
name = "demo-parquet"
type = "local"
url = "{exports / "parquet"}"
format = "parquet"
compression = "gzip"

[[destinations]]
name = "demo-parquet-plain"
type = "local"
url = "{exports / "parquet-plain"}"
format = "parquet"
compression = "none"

[[destinations]]
name = "demo-json"
type = "local"
url = "{exports / "json"}"
format = "json"
"""


def generate(directory: Path, seed: int, now: datetime) -> tuple[Path, Any]:
    """Write three destinations of sample exports under DIR/exports and a config; return the config
    path and the export of FLAPPING."""
    from verifier_fixtures.defects import inject
    from verifier_fixtures.generate import generate_dataset

    exports = directory / "exports"
    if exports.exists():
        shutil.rmtree(exports)
    start = (now - timedelta(days=5)).replace(hour=2, minute=0, second=0, microsecond=0)
    datasets = []
    profiles = [
        ("parquet", "parquet", "gzip"),
        ("parquet", "parquet", "gzip"),
        ("json", "json", "gzip"),
        ("parquet-plain", "parquet", "none"),
    ]
    for i, (sub, fmt, comp) in enumerate(profiles):
        datasets.append(
            generate_dataset(
                exports / sub, fmt=fmt, compression=comp, start=start, count=5, files_per_export=2, seed=seed + i
            )
        )
    for ds_i, ex_i, defect in DEMO_DEFECTS:
        inject(datasets[ds_i][ex_i], defect)
    flapping = datasets[FLAPPING[0]][FLAPPING[1]]
    catalog = directory / "verifier.duckdb"
    for p in (catalog, catalog.with_name(catalog.name + ".wal")):
        p.unlink(missing_ok=True)
    cfg = directory / "verifier.toml"
    cfg.write_text(_config_text(exports.resolve(), catalog.resolve()))
    return cfg, flapping


def _earlier_nights(config: Any, flapping: Any) -> None:
    """Two quick nights before the one shown: FLAPPING broken on the first, put right on the second."""
    from verifier_fixtures.defects import inject

    from verifier.runner import RunOptions, run

    good = flapping.manifest.read_bytes()
    inject(flapping, FLAPPING[2])
    broken = flapping.manifest.read_bytes()
    run(config, RunOptions(level="metadata"))
    flapping.manifest.write_bytes(good)
    run(config, RunOptions(level="metadata"))
    flapping.manifest.write_bytes(broken)


@dataclass
class Demo:
    """What `verifier demo` did and found, for the CLI to print."""

    config_path: Path
    summary: RunSummary
    status: list[dict[str, Any]]
    query: str
    columns: list[str]
    rows: list[tuple[Any, ...]]
    warnings: list[dict[str, Any]]
    plan_dataset: str | None = None
    plan_text: str | None = None


def run_demo(directory: Path, seed: int = 7) -> Demo:
    """Generate sample exports under `directory`, verify them fully, and gather what the demo shows."""
    from verifier import config as cfgmod
    from verifier import queries
    from verifier.catalog import Catalog
    from verifier.restore import plan as restore_plan
    from verifier.runner import RunOptions, run

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    cfg_path, flapping = generate(directory, seed, now)
    config = cfgmod.load(cfg_path)
    _earlier_nights(config, flapping)
    summary = run(config, RunOptions(level="full"))
    catalog = Catalog(config.catalog_path)
    rows = queries.status(catalog)
    cols, data = catalog.query(DEMO_QUERY)
    demo = Demo(cfg_path, summary, rows, DEMO_QUERY, cols, data, queries.findings(catalog, summary.run_id, "warning"))
    healthy = [r for r in rows if r["status"] in ("ok", "warning")]
    if healthy:
        demo.plan_dataset = healthy[0]["dataset_id"]
        demo.plan_text = restore_plan.describe(restore_plan.plan(config, demo.plan_dataset, now))
    return demo
