"""Prometheus text format for node_exporter's textfile collector (and `serve`'s /metrics)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from verifier import queries
from verifier.catalog import Catalog
from verifier.config import Config
from verifier.runner import RunSummary

_HEALTH = ("ok", "warning", "failing", "stale", "pending")


def registry_for(catalog: Catalog, summary: RunSummary | None = None) -> CollectorRegistry:
    reg = CollectorRegistry()
    labels = ["destination", "dataset_id"]
    last_export = Gauge(
        "verifier_dataset_last_export_timestamp_seconds", "Export time of the latest export", labels, registry=reg
    )
    last_verified = Gauge(
        "verifier_dataset_last_verified_timestamp_seconds", "When the dataset was last verified", labels, registry=reg
    )
    health = Gauge("verifier_dataset_status", "1 for the dataset's current health", [*labels, "status"], registry=reg)
    open_f = Gauge(
        "verifier_dataset_open_findings",
        "Findings open now (view open_findings: recorded by the latest run that looked at the dataset), by severity",
        [*labels, "severity"],
        registry=reg,
    )
    coverage = Gauge("verifier_dataset_full_read_ratio", "Share of data bytes ever read fully", labels, registry=reg)
    for r in queries.status(catalog):
        lv = (r["destination"], r["dataset_id"])
        if r["latest_export"]:
            last_export.labels(*lv).set(r["latest_export"].timestamp())
        if r["last_verified"]:
            last_verified.labels(*lv).set(r["last_verified"].timestamp())
        for h in _HEALTH:
            health.labels(*lv, h).set(1 if r["status"] == h else 0)
        for sev in ("error", "warning", "info"):
            open_f.labels(*lv, sev).set(r[f"open_{sev}s"])
        coverage.labels(*lv).set((r["full_read_pct"] or 0) / 100)
    runs = queries.runs(catalog, summary.run_id if summary else None, limit=1)
    if runs:
        run = runs[0]
        Gauge("verifier_run_id", "Id of the last run", registry=reg).set(run["run_id"])
        Gauge("verifier_run_duration_seconds", "Duration of the last run", registry=reg).set(run["duration_s"] or 0)
        Gauge("verifier_run_bytes_read", "Bytes read by the last run", registry=reg).set(run["bytes_read"] or 0)
        Gauge("verifier_run_exit_status", "Exit status of the last run", registry=reg).set(
            run["exit_code"] if run["exit_code"] is not None else -1
        )
        Gauge("verifier_run_files_checked", "Files checked by the last run", registry=reg).set(
            run["files_checked"] or 0
        )
        if run["finished_at"]:
            Gauge("verifier_run_finished_timestamp_seconds", "When the last run finished", registry=reg).set(
                run["finished_at"].timestamp()
            )
        fc = Gauge("verifier_run_findings", "Findings of the last run by severity", ["severity"], registry=reg)
        fc.labels("error").set(run["errors"] or 0)
        fc.labels("warning").set(run["warnings"] or 0)
        fc.labels("info").set(run["infos"] or 0)
    return reg


def render(catalog: Catalog, summary: RunSummary | None = None) -> bytes:
    return generate_latest(registry_for(catalog, summary))


def write_textfile(config: Config, path: Path, summary: RunSummary) -> None:
    """Atomically, as the textfile collector wants: write a temporary file, then rename."""
    data = render(Catalog(config.catalog_path), summary)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
