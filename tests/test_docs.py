"""The README is part of the product: every command, code and exit status is documented there."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from verifier.exitcodes import EXIT_CODES
from verifier.findings import CODES

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_command_is_documented() -> None:
    from verifier.cli import load_commands

    for name in load_commands().commands:
        assert f"`verifier {name}" in README, f"command {name} is not in the README"


def test_every_finding_code_and_exit_status_is_documented() -> None:
    for code in CODES:
        assert f"`{code}`" in README, code
    for code in EXIT_CODES:
        assert re.search(rf"^\| {code} \|", README, re.M), code


def test_the_two_commands_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make demo" in README and "make test" in README
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_demo_runs_as_the_readme_says(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "verifier", "demo", str(tmp_path / "demo")], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    assert "parquet.corrupt" in r.stdout and "manifest.file_missing" in r.stdout and "json.corrupt" in r.stdout
    cfg = tmp_path / "demo" / "verifier.toml"
    for cmd in (["status"], ["findings", "--last"], ["sql", "SELECT code, count(*) FROM findings GROUP BY 1"]):
        r = subprocess.run(
            [sys.executable, "-m", "verifier", "--config", str(cfg), *cmd], capture_output=True, text=True, timeout=60
        )
        assert r.returncode == 0, (cmd, r.stderr)
