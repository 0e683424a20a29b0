"""The command line: exit statuses, --json, help, read-only SQL, the catalog lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.generate import generate_dataset
from tests.helpers import START, write_config

VERIFIER = [sys.executable, "-m", "verifier"]


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VERIFIER, *args], capture_output=True, text=True, cwd=cwd, timeout=120, env={**os.environ, **(env or {})}
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    generate_dataset(folder, start=START, count=3, seed=5, rows_full=50, rows_incremental=20)
    return write_config(tmp_path, [{"name": "local", "type": "local", "url": str(folder), "stale_after": "3650d"}])


def test_run_json_and_exit_zero(tree: Path) -> None:
    r = cli("run", "--config", str(tree), "--json", "-")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["exit_code"] == 0 and data["counts"] == {"info": 0, "warning": 0, "error": 0}
    assert data["destinations"][0]["exports_checked"] == 3


def test_exit_two_on_a_broken_backup_and_findings_last(tree: Path) -> None:
    data_dir = tree.parent / "exports"
    victim = sorted(data_dir.glob("*/exportTime=*/*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[:100])
    r = cli("run", "--config", str(tree))
    assert r.returncode == 2, r.stdout + r.stderr
    r = cli("findings", "--last", "--json", "--config", str(tree))
    rows = json.loads(r.stdout)
    # the first (full) export is broken, so the two incrementals after it cannot be restored either
    assert sorted({x["code"] for x in rows}) == ["manifest.size_mismatch", "parquet.corrupt", "restore.chain_broken"]


def test_exit_four_on_bad_config_and_bad_arguments(tmp_path: Path, tree: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[destinations]]\nname='x'\ntype='local'\n")
    r = cli("run", "--config", str(bad))
    assert r.returncode == 4
    assert "bad.toml" in r.stderr and "destinations[x].url" in r.stderr
    assert cli("run", "--config", str(tree), "--level", "deep").returncode == 4
    assert cli("run", "--config", str(tree), "--budget", "lots").returncode == 4
    assert cli("nosuchcommand").returncode == 4


def test_run_help_documents_exit_statuses() -> None:
    r = cli("run", "--help")
    assert r.returncode == 0
    for line in [
        "0  everything checked",
        "1  warnings only",
        "2  at least one error",
        "3  incomplete",
        "4  nothing was run",
    ]:
        assert line in r.stdout


def test_every_command_has_help() -> None:
    from verifier.cli import load_commands

    for name in load_commands().commands:
        r = cli(name, "--help")
        assert r.returncode == 0, name
        assert "Usage:" in r.stdout


def test_sql_is_read_only_and_sandboxed(tree: Path, tmp_path: Path) -> None:
    assert cli("run", "--config", str(tree)).returncode == 0
    r = cli("sql", "--config", str(tree), "SELECT count(*) AS n FROM exports", "--format", "json")
    assert json.loads(r.stdout) == [{"n": 3}]
    r = cli("sql", "--config", str(tree), "DELETE FROM exports")
    assert r.returncode == 4 and "read-only" in r.stderr.lower()
    out = tmp_path / "leak.csv"
    r = cli("sql", "--config", str(tree), f"COPY exports TO '{out}'")
    assert r.returncode == 4 and not out.exists()
    r = cli("sql", "--config", str(tree), "SELECT * FROM read_csv('/etc/passwd')")
    assert r.returncode == 4


def test_status_and_exports(tree: Path) -> None:
    assert cli("run", "--config", str(tree)).returncode == 0
    status = json.loads(cli("status", "--json", "--config", str(tree)).stdout)
    assert len(status) == 1 and status[0]["status"] == "ok" and status[0]["exports"] == 3
    ds = status[0]["dataset_id"]
    ex = json.loads(cli("exports", ds, "--json", "--config", str(tree)).stdout)
    assert [e["kind"] for e in ex] == ["full", "incremental", "incremental"]
    assert all(e["status"] == "ok" for e in ex)


def test_second_run_is_refused_while_one_holds_the_lock(tree: Path) -> None:
    from verifier import config as cfgmod
    from verifier.catalog import RunLock

    config = cfgmod.load(tree)
    with RunLock(config.catalog_path):
        r = cli("run", "--config", str(tree))
    assert r.returncode == 4
    assert "catalog is locked" in r.stderr


def test_reading_commands_need_a_catalog(tree: Path) -> None:
    r = cli("status", "--config", str(tree))
    assert r.returncode == 4 and "no catalog" in r.stderr


def test_an_internal_error_is_reported_without_secrets(
    tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from verifier import redact
    from verifier.cli import main

    redact.register("hunter2-secret-value")

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("could not connect with password hunter2-secret-value")

    monkeypatch.setattr("verifier.runner.run", boom)
    monkeypatch.setattr(sys, "argv", ["verifier", "run", "--config", str(tree)])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 4
    err = capsys.readouterr().err
    assert "internal error (RuntimeError)" in err and "Traceback" in err
    assert "hunter2" not in err and "password ***" in err
