"""The README is part of the product: every command, code and exit status is documented there."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`verifier demo` once for this module: its config path and what it printed."""
    directory = tmp_path_factory.mktemp("demo") / "demo"
    r = subprocess.run(
        [sys.executable, "-m", "verifier", "demo", str(directory)], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    assert "parquet.corrupt" in r.stdout and "manifest.file_missing" in r.stdout and "json.corrupt" in r.stdout
    return directory / "verifier.toml", r.stdout


@pytest.fixture(scope="module")
def demo(demo_run: tuple[Path, str]) -> Path:
    return demo_run[0]


def test_the_demo_findings_are_relative_and_marked_as_the_view_says(demo_run: tuple[Path, str]) -> None:
    """Its own findings section reads like `verifier findings`: paths relative to the destination,
    root causes marked as open_findings says (four open since the first night, the manifest that
    was put right on the second night and broken again on the third: new)."""
    out = demo_run[1]
    section = out.split("== verifier findings --last --severity warning\n", 1)[1].split("\n== ", 1)[0]
    assert "file://" not in section
    causes = [line for line in section.splitlines() if line[:1].isupper()]
    marks = sorted((line.split()[1], line.rsplit("  ", 1)[1]) for line in causes)
    assert marks == [
        ("dataset.schema_drift", "[open since run 1]"),
        ("json.corrupt", "[open since run 1]"),
        ("manifest.file_missing", "[open since run 1]"),
        ("manifest.size_mismatch", "[new]"),
        ("parquet.corrupt", "[open since run 1]"),
    ]
    assert all(re.fullmatch(r"(ERROR  |WARNING) \S+  [0-9a-f]{24}/exportTime=\d{12}(/\S+)?  \[.*\]", c) for c in causes)


def test_the_demo_try_line_runs_as_printed(demo_run: tuple[Path, str]) -> None:
    (line,) = [line for line in demo_run[1].splitlines() if line.startswith("Try: ")]
    commands = line.removeprefix("Try: ").split("   |   ")
    assert len(commands) == 2
    for cmd in commands:
        r = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, (cmd, r.stderr)
        assert r.stdout.strip(), cmd


def test_the_demo_runs_as_the_readme_says(demo: Path) -> None:
    for cmd in (["status"], ["findings", "--last"], ["sql", "SELECT code, count(*) FROM findings GROUP BY 1"]):
        r = subprocess.run(
            [sys.executable, "-m", "verifier", "--config", str(demo), *cmd], capture_output=True, text=True, timeout=60
        )
        assert r.returncode == 0, (cmd, r.stderr)


def test_every_cookbook_query_returns_rows_on_the_demo_catalog(demo: Path) -> None:
    from verifier import config as cfgmod
    from verifier.catalog import Catalog

    text = (ROOT / "docs" / "sql.md").read_text()
    cookbook = text.split("\n## Cookbook\n", 1)[1].split("\n## ", 1)[0]
    queries = re.findall(r"```sql\n(.*?)```", cookbook, re.S)
    assert len(queries) == 7
    catalog = Catalog(cfgmod.load(demo).catalog_path)
    for query in queries:
        _cols, rows = catalog.query(query)  # the sandboxed, read-only path `verifier sql` takes
        assert rows, query


def test_every_view_is_documented_in_docs_sql() -> None:
    from verifier.catalog.views import NAMES

    text = (ROOT / "docs" / "sql.md").read_text()
    for name in NAMES:
        assert f"### `{name}`" in text, name


def test_shell_completion_is_documented_and_works() -> None:
    """`verifier --help` mentions completion; the README says how to turn it on for bash and zsh,
    and each line evaluates a script that completes verifier's commands."""
    import os
    import shutil

    exe = shutil.which("verifier") or str(Path(sys.executable).parent / "verifier")
    for shell, marker in (("bash", "complete -o nosort -F _verifier_completion verifier"), ("zsh", "compdef")):
        assert f'eval "$(_VERIFIER_COMPLETE={shell}_source verifier)"' in README
        r = subprocess.run(
            [exe],
            env={**os.environ, "_VERIFIER_COMPLETE": f"{shell}_source"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0 and marker in r.stdout, (shell, r.stdout, r.stderr)
    if shutil.which("bash"):
        script = f'eval "$(_VERIFIER_COMPLETE=bash_source {exe})"; COMP_WORDS=(verifier sta); COMP_CWORD=1; '
        script += f"_verifier_completion {exe}; echo ${{COMPREPLY[@]}}"
        r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
        assert r.stdout.split() == ["status"], (r.stdout, r.stderr)
