"""The isolated check path: a file that crashes, hangs or bloats the reader costs that file, never the run.

Crashes are real: a worker process is killed by a real signal, really sleeps past the time limit,
really allocates past the memory limit (made to by ``VERIFIER_WORKER_TEST_HOOK``), or really
aborts inside pyarrow on apache/parquet-testing's ``encrypt_columns_plaintext_footer.parquet.encrypted``
(in the corpus, tests/corpus/parquet-testing/data, Apache License 2.0).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fixtures.generate import generate_dataset
from tests.helpers import START, apply_limits, do_run, later, local_config, sql
from verifier import config as cfgmod
from verifier import workers
from verifier.checks import limits

ENCRYPTED = (
    Path(__file__).parent / "corpus" / "parquet-testing" / "data" / "encrypt_columns_plaintext_footer.parquet.encrypted"
)


@pytest.fixture
def tree(tmp_path: Path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "exports"
    exports = generate_dataset(folder, start=START, count=3, seed=21, rows_full=150, rows_incremental=50)
    return folder, exports, local_config(tmp_path, folder, stale_after="3650d")


def _verifier(config_path: Path, metrics: Path, *args: str, hook: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        workers.TEST_HOOK_ENV: hook,
        "VERIFIER_CHECK_SECONDS": "10",  # room for the memory hog to grow on a loaded machine
        "VERIFIER_WORKER_MEMORY_BYTES": str(400 * limits.MiB),
    }
    cmd = [sys.executable, "-m", "verifier", "run", "--config", str(config_path), "--json", "-"]
    return subprocess.run(
        [*cmd, "--metrics", str(metrics), *args], capture_output=True, text=True, timeout=180, env=env
    )


def test_killed_hung_and_bloated_workers_cost_one_finding_each(tree, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, exports, config = tree
    (a, b), (c, d) = exports[0].files, exports[1].files
    hook = f"sigkill:{a.name},sigsegv:{b.name},hang:{c.name},memory:{d.name}"
    metrics = tmp_path / "verifier.prom"
    for rescan in ((), ("--rescan",)):  # the next run, reading the same files again, completes too
        r = _verifier(config.path, metrics, "--level", "metadata", *rescan, hook=hook)
        assert r.returncode == 2, r.stderr
        summary = json.loads(r.stdout)
        assert summary["by_code"] == {"file.check_crashed": 4, "restore.chain_broken": 1}
        crashed = {
            f["uri"].rsplit("/", 1)[1]: f["message"] for f in summary["findings"] if f["code"] == "file.check_crashed"
        }
        assert sorted(crashed) == sorted(p.name for p in (a, b, c, d))
        assert "was killed by SIGKILL" in crashed[a.name]
        assert "was killed by SIGSEGV" in crashed[b.name]
        assert "ran past the 10 s time limit" in crashed[c.name]
        assert "went past the 400 MiB memory limit" in crashed[d.name]
        assert "raise [limits] worker_memory_bytes in the config" in crashed[d.name]
        assert all("the file was not verified and the run went on" in m for m in crashed.values())
        families = {f.name: f for f in text_string_to_metric_families(metrics.read_text())}
        assert families["verifier_run_exit_status"].samples[0].value == 2
    rows = sql(config, "SELECT run_id, status, exit_code FROM runs ORDER BY run_id")
    assert rows == [(1, "completed", 2), (2, "completed", 2)]
    assert sql(config, "SELECT status FROM exports ORDER BY export_time") == [("failed",), ("failed",), ("ok",)]
    files = sql(config, "SELECT name, status FROM files WHERE role = 'data' AND status <> 'ok' ORDER BY name")
    assert sorted(n for n, _ in files) == sorted(p.name for p in (a, b, c, d))
    assert {s for _, s in files} == {"failed"}


def test_a_file_that_aborts_pyarrow_is_check_crashed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "exports"
    exports = generate_dataset(folder, start=START, count=1, seed=5, manifest=False, rows_full=20)
    victim = exports[0].files[1]
    shutil.copyfile(ENCRYPTED, victim)
    config = local_config(tmp_path, folder, stale_after="3650d", manifest=False)
    # pyarrow aborts (SIGABRT) reading encrypted column-chunk metadata; the hook reads it the way the
    # footer check once did, so the test keeps provoking the real abort whatever the checks learn
    monkeypatch.setenv(workers.TEST_HOOK_ENV, f"pyarrow-metadata:{victim.name}")
    for hours in (0, 1):
        s = do_run(config, "metadata", now=later(hours), rescan=True)
        assert [(f.code, f.uri) for f in s.findings] == [("file.check_crashed", "file://" + str(victim))]
        assert "was killed by SIGABRT" in s.findings[0].message
        assert s.exit_code == 2 and s.status == "completed"
    assert sql(config, "SELECT status FROM runs ORDER BY run_id") == [("completed",), ("completed",)]


def test_pool_is_started_once_and_reused_across_runs(tree) -> None:  # type: ignore[no-untyped-def]
    _, _, config = tree
    do_run(config, "metadata", jobs=2)
    pool = workers.shared_pool(2)
    do_run(config, "full", now=later(1), jobs=2)
    assert workers.shared_pool(2) is pool


@pytest.mark.parametrize("table", ['max_row_group_bytes = "1KiB"', "max_rows = 10", "max_footer_bytes = 100"])
def test_the_configs_limits_reach_the_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: str) -> None:
    # the run applies [limits] to this process too: put the defaults back for the tests after this one
    for name in limits.CONFIG:
        monkeypatch.setattr(limits, name, getattr(limits, name))
    folder = tmp_path / "exports"
    exports = generate_dataset(folder, start=START, count=1, seed=5, rows_full=200)
    config = local_config(tmp_path, folder, f"[limits]\n{table}\n", stale_after="3650d")
    s = do_run(config, "full")
    assert sorted((f.code, f.uri) for f in s.findings) == sorted(
        ("file.too_large", "file://" + str(p)) for p in exports[0].files
    )
    assert all(f"[limits] {table.split()[0]}" in f.message for f in s.findings)
    assert s.exit_code == 1  # warnings only


def _rows(config) -> list[tuple[object, ...]]:  # type: ignore[no-untyped-def]
    q = "SELECT name, status, verified_level, md5, crc32c, record_count, schema_hash FROM files ORDER BY name"
    return sql(config, q)


@pytest.mark.parametrize("level", ["metadata", "full"])
def test_a_remote_stores_bytes_are_read_by_the_run_and_parsed_in_the_pool(
    level: str, s3_store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """S3 reads happen on the run's threads (reads.prepare: ranges in memory, whole objects spooled);
    the same tree on a local folder gives the same findings and rows, a crash is still one finding,
    and no spool file is left behind."""
    from fixtures.defects import inject

    folder = tmp_path / "exports"
    exports = generate_dataset(folder, start=START, count=3, seed=21, rows_full=150, rows_incremental=50)
    inject(exports[-1], "parquet_corrupt_page")
    victim = exports[0].files[0]
    monkeypatch.setenv(workers.TEST_HOOK_ENV, f"sigkill:{victim.name}")
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(limits, "SPOOL_DIR", str(spool))
    s3_store.upload(folder)
    text = f'[catalog]\npath = "{tmp_path / "s3.duckdb"}"\n[defaults]\nstale_after = "3650d"\n'
    (tmp_path / "s3").mkdir()
    (tmp_path / "s3" / "verifier.toml").write_text(text + s3_store.toml_snippet("main"))
    remote = cfgmod.load(tmp_path / "s3" / "verifier.toml")
    (tmp_path / "local").mkdir()
    local = local_config(tmp_path / "local", folder, stale_after="3650d")

    found = {}
    for name, config in (("s3", remote), ("local", local)):
        s = do_run(config, level, jobs=2)
        found[name] = sorted((f.code, f.uri.rsplit("/", 1)[1]) for f in s.findings)
    assert found["s3"] == found["local"]
    assert ("file.check_crashed", victim.name) in found["s3"]
    assert (("parquet.corrupt", exports[-1].files[-1].name) in found["s3"]) == (level == "full")
    assert _rows(remote) == _rows(local)
    assert list(spool.iterdir()) == []


def test_a_remote_read_that_stalls_is_given_up_at_the_files_time_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that stops answering mid-read: the run's spooling thread stops waiting at the time
    limit and the file is check_crashed, as when a worker hangs on it."""
    from verifier.backends.local import LocalBackend
    from verifier.checks import reads
    from verifier.model import Entry

    class Remote(LocalBackend):  # the local file system, taken for a remote store (no local path)
        def local_path(self, path: str) -> str | None:
            return None

    fifo = tmp_path / "part-00000.parquet"
    os.mkfifo(fifo)  # opening it for reading blocks until a writer comes: a store that never answers
    config = local_config(tmp_path, tmp_path)
    backend = Remote(config.destinations[0])
    (tmp_path / "cfg").mkdir()
    apply_limits(tmp_path / "cfg", monkeypatch, "check_seconds = 1")  # as [limits] sets it
    monkeypatch.setattr(limits, "SPOOL_DIR", str(tmp_path))
    entry = Entry(path=str(fifo), name=fifo.name, is_dir=False, size=100)
    try:
        prepared = reads.prepare(backend, entry, backend.dest, "full")
        assert prepared is not None and prepared.stalled and prepared.spooled is None
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fifo.name, "verifier.toml", "cfg"])
        pending = workers.submit_check(workers.shared_pool(2), backend, entry, "file://" + str(fifo), "full")
        fc = pending.result()
        assert [f.code for f in fc.findings] == ["file.check_crashed"]
        assert "ran past the 1 s time limit" in fc.findings[0].message
        assert "raise [limits] check_seconds in the config" in fc.findings[0].message
    finally:
        try:  # let the abandoned readers go
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass


def test_warm_starts_the_workers_before_any_check() -> None:
    import time

    import psutil

    def descendants() -> set[int]:
        return {p.pid for p in psutil.Process().children(recursive=True)}

    before = descendants()
    pool = workers.CheckPool(2)
    try:
        pool.warm()  # returns at once; the workers come up on their own
        deadline = time.monotonic() + 120
        while len(descendants() - before) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(descendants() - before) >= 2
        assert pool.run(os.getpid, timeout=60, memory=limits.WORKER_MEMORY_BYTES) in descendants() - before
    finally:
        pool.close()
