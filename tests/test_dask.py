"""`--executor dask://HOST:PORT`: the same findings and catalog rows as local threads, from a real
LocalCluster of worker processes; an unreachable scheduler runs nothing (exit 4)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fixtures import describe_tree, generate_tree, inject
from fixtures.generate import generate_dataset
from tests.helpers import sql, write_config
from verifier import config as cfgmod
from verifier import executors, workers
from verifier.runner import RunOptions, run

distributed = pytest.importorskip("distributed", reason="pip install 'verifier[dask]'")

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
# every defect here is found at full level and touches one export; one per format at least
DEFECTS = [
    ("parquet-gzip", 1, "parquet_corrupt_page"),
    ("parquet-plain", 2, "manifest_size_mismatch"),
    ("json-gzip", 3, "json_bad_line"),
    ("no-manifest", 0, "file_empty"),
    ("parquet-gzip", -1, "manifest_unlisted_file"),
]
# catalog columns that depend on when or by which run something was recorded
VOLATILE = {
    "run_id",
    "first_seen_at",
    "verified_at",
    "last_seen_at",
    "full_read_at",
    "recorded_at",
    "found_at",
    "duration_s",
}


CRASH_ME = "crash-me"  # a data file whose name holds this kills the worker process checking it


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    import dask

    # workers may have children (their pool of check processes) only when not daemonic; the hook
    # is read from the environment the worker processes start with
    os.environ[workers.TEST_HOOK_ENV] = f"sigsegv:{CRASH_ME}"
    try:
        with (
            dask.config.set({"distributed.worker.daemon": False}),
            distributed.LocalCluster(
                n_workers=2,
                processes=True,
                threads_per_worker=1,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                silence_logs=40,
            ) as lc,
        ):
            del os.environ[workers.TEST_HOOK_ENV]
            yield lc.scheduler_address
    finally:
        os.environ.pop(workers.TEST_HOOK_ENV, None)


def _tree(tmp: Path) -> list[dict[str, Any]]:
    exports = generate_tree(tmp / "exports", now=NOW, size="small", seed=3)
    by_profile: dict[str, list[Any]] = {}
    for e in exports:
        by_profile.setdefault(e.folder.name, []).append(e)
    for profile, index, defect in DEFECTS:
        inject(by_profile[profile][index], defect)
    return [
        {
            "name": d["name"],
            "type": "local",
            "url": d["path"],
            "format": d["format"],
            "compression": d["compression"],
            "manifest": d["manifest"],
            "schedule": d["schedule"],
            "stale_after": "3650d",
        }
        for d in describe_tree(exports)
    ]


def _config(folder: Path, dests: list[dict[str, Any]]) -> cfgmod.Config:
    folder.mkdir()
    return cfgmod.load(write_config(folder, dests))


def _rows(config: cfgmod.Config, table: str) -> list[tuple[Any, ...]]:
    cols = [c for (c,) in sql(config, f"SELECT column_name FROM (DESCRIBE {table})") if c not in VOLATILE]
    return sorted(sql(config, f"SELECT {', '.join(cols)} FROM {table}"), key=repr)


def _findings(summary: Any) -> list[tuple[Any, ...]]:
    return sorted(((f.code, f.dataset_id, f.export_time, f.uri) for f in summary.findings), key=repr)


def test_dask_gives_the_same_findings_and_rows_as_local_threads(tmp_path: Path, cluster: str) -> None:
    dests = _tree(tmp_path)
    local_cfg, dask_cfg = _config(tmp_path / "local", dests), _config(tmp_path / "dask", dests)

    local = run(local_cfg, RunOptions(level="full"), now=NOW)
    t0 = time.monotonic()
    remote = run(dask_cfg, RunOptions(level="full", executor=cluster.replace("tcp://", "dask://")), now=NOW)
    elapsed = time.monotonic() - t0

    assert local.exit_code == remote.exit_code == 2
    assert _findings(remote) == _findings(local)
    planted = {code for code, *_ in _findings(local)}
    assert {"parquet.corrupt", "manifest.size_mismatch", "json.corrupt", "file.empty"} <= planted
    assert "manifest.unlisted_file" in planted
    # a guard against a hang, not a benchmark: 2 cores shared with other test runs; each Dask worker
    # also starts its own pool of check processes on its first file
    assert elapsed < 240
    for table in ("exports", "files", "checksums", "verifications"):
        assert _rows(dask_cfg, table) == _rows(local_cfg, table), table
    exported = [tuple(r[:3]) for r in sql(dask_cfg, "SELECT files_checked, exports_checked, status FROM runs")]
    assert exported == [tuple(r[:3]) for r in sql(local_cfg, "SELECT files_checked, exports_checked, status FROM runs")]

    # the unchanged rerun is decided by the client from the catalog: nothing is sent to the workers
    again = run(dask_cfg, RunOptions(level="full", executor=cluster.replace("tcp://", "dask://")), now=NOW)
    assert sum(d.exports_checked for d in again.destinations) == 0
    assert _findings(again) == _findings(local)


def test_a_reader_crash_on_a_dask_worker_is_check_crashed_and_the_worker_lives(tmp_path: Path, cluster: str) -> None:
    folder = tmp_path / "exports"
    exports = generate_dataset(folder, start=NOW - timedelta(days=1), count=1, seed=9, manifest=False, rows_full=20)
    victim = exports[0].files[0]
    moved = victim.with_name(f"part-00000-{CRASH_ME}-c000.gz.parquet")
    victim.rename(moved)
    cfg = _config(tmp_path / "cfg", [{"name": "d", "type": "local", "url": str(folder), "manifest": False}])
    spec = cluster.replace("tcp://", "dask://")
    for rescan in (False, True):  # the second run finds both Dask workers alive and crashes again
        s = run(cfg, RunOptions(level="metadata", executor=spec, rescan=rescan), now=NOW)
        assert [(f.code, f.uri) for f in s.findings] == [("file.check_crashed", "file://" + str(moved))]
        assert "was killed by SIGSEGV" in s.findings[0].message
        assert (s.exit_code, s.status) == (2, "completed")
    with distributed.Client(cluster, set_as_default=False) as client:
        assert len(client.scheduler_info()["workers"]) == 2


def test_worker_side_backend_is_built_once_per_destination(tmp_path: Path) -> None:
    dest = cfgmod.Destination(name="d", type="local", url=str(tmp_path), secrets={"password": "hunter2"})
    same = cfgmod.Destination(name="d", type="local", url=str(tmp_path), secrets={"password": "hunter2"})
    other = cfgmod.Destination(name="d", type="local", url=str(tmp_path), secrets={"password": "rotated"})
    assert workers.worker_backend(dest) is workers.worker_backend(same)
    assert workers.worker_backend(other) is not workers.worker_backend(dest)
    assert all("hunter2" not in k[1] for k in workers._BACKENDS)  # only a hash is kept as a key


def test_task_keys_and_reprs_carry_no_secret(tmp_path: Path) -> None:
    from verifier.exportcheck import ExportPlan
    from verifier.layout import ExportListing

    dest = cfgmod.Destination(name="prod", type="s3", url="s3://b/aep", secrets={"secret": "hunter2"})
    lst = ExportListing("ds1", NOW, "202611200600", "b/aep/ds1/exportTime=202611200600", "s3://b/aep/ds1")
    key = executors.task_key(dest, ExportPlan(listing=lst, kind="full", level="full", prev=None))
    assert key.startswith("verifier-check-prod/ds1/exportTime=202611200600-")
    assert "hunter2" not in key and "hunter2" not in repr(dest)


@pytest.mark.parametrize(
    ("spec", "ok"),
    [
        ("local", None),
        ("dask://10.0.0.5:8786", "tcp://10.0.0.5:8786"),
        ("tls://sched:8786", "tls://sched:8786"),
        ("dask://nohost", ValueError),
        ("dask://h:99999", ValueError),
        ("http://h:8786", ValueError),
    ],
)
def test_parse_spec(spec: str, ok: Any) -> None:
    if ok is ValueError:
        with pytest.raises(ValueError):
            executors.parse_spec(spec)
    else:
        assert executors.parse_spec(spec) == ok


def test_unreachable_scheduler_runs_nothing_and_exits_four(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nobody listens there
    folder = tmp_path / "exports"
    folder.mkdir()
    cfg = write_config(tmp_path, [{"name": "local", "type": "local", "url": str(folder)}])
    env = {**os.environ, "VERIFIER_DASK_CONNECT_TIMEOUT": "2"}
    r = subprocess.run(
        [sys.executable, "-m", "verifier", "--config", str(cfg), "run", "--executor", f"dask://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert r.returncode == 4, r.stderr
    assert f"no Dask scheduler answered at tcp://127.0.0.1:{port}" in r.stderr
    assert not (tmp_path / "catalog.duckdb").exists()  # nothing was run, nothing recorded

    bad = subprocess.run(
        [sys.executable, "-m", "verifier", "--config", str(cfg), "run", "--executor", "dask://nohost"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 4 and "--executor" in bad.stderr
