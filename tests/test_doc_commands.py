"""Every command in a ```sh or ```console block of README.md and docs/*.md runs as written.

`verifier …` lines run against a copy of the demo catalog (with `--config` pointing at it when the
line names none, as `$VERIFIER_CONFIG` would); `curl …` lines run against a `verifier serve` this
test starts on a free port of 127.0.0.1 (their `localhost:8080` is rewritten to it). Lines that
cannot run on a test machine (installing, a cluster on another host, systemd, a cloud store, Adobe)
must match one of NOT_HERE, each with the reason; an unknown line fails the test, so a new command
in the docs is either run here or consciously listed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# (pattern, why it does not run here)
NOT_HERE: list[tuple[str, str]] = [
    (r"^make (demo|test)\b", "the suite itself is `make test`; the demo is built by the fixture below"),
    (
        r"^export AEP_CLIENT_",
        "Adobe credentials: tests/test_aep_cli.py runs these commands against the fake Flow Service",
    ),
    (
        r"^verifier aep flows\b|^verifier init --from-aep\b",
        "needs Adobe; tested against the fake in tests/test_aep_cli.py",
    ),
    (r"^pip install\b", "installing"),
    (r"^(DASK_\S+ )?dask (scheduler|worker)\b", "a cluster on other hosts; tests/test_dask.py starts a LocalCluster"),
    (r"^verifier run .*--executor dask://10\.", "a cluster on another host; tests/test_dask.py runs the executor"),
    (r"^(VERIFIER_TOKEN=\S+ )?verifier serve\b", "long-running; this test starts the service itself"),
    (r"^verifier catalog export (s3|gs)://acme", "a real bucket; tests/test_catalog_export.py exports to moto S3"),
    (r"^sudo systemctl|^journalctl", "systemd on a server"),
    (
        r'^eval "\$\(_VERIFIER_COMPLETE=(bash|zsh)_source verifier\)"$',
        "a shell's startup file; tests/test_docs.py checks the scripts they evaluate",
    ),
]


def _blocks(text: str) -> Iterator[str]:
    for m in re.finditer(r"^```(sh|console)\n(.*?)^```", text, re.M | re.S):
        yield m.group(2)


def _commands(block: str) -> Iterator[str]:
    """Command lines as written: `$ ` prompts stripped (console), output lines skipped, `\\`
    continuations joined."""
    console = any(line.startswith("$ ") for line in block.splitlines())
    pending = ""
    for raw in block.splitlines():
        line = raw.rstrip()
        if pending:
            line = pending + " " + line.strip()
            pending = ""
        elif console:
            if not line.startswith("$ "):
                continue
            line = line[2:]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.endswith("\\"):
            pending = line[:-1].rstrip()
            continue
        if shlex.split(line, comments=True):  # run as written: the shell drops a trailing comment itself
            yield line.strip()


def _documented() -> list[tuple[str, str]]:
    return [(doc.name, cmd) for doc in DOCS for block in _blocks(doc.read_text()) for cmd in _commands(block)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("doccmds")
    r = subprocess.run(
        [sys.executable, "-m", "verifier", "demo", "demo"], capture_output=True, text=True, timeout=600, cwd=base
    )
    assert r.returncode == 0, r.stderr
    return base


@pytest.fixture(scope="module")
def service(demo_dir: Path) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "verifier", "serve", "--config", "demo/verifier.toml", "--port", str(port), "-q"],
        cwd=demo_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.2)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=30)


def test_every_documented_command_is_run_here_or_listed_with_a_reason() -> None:
    found = _documented()
    assert len(found) >= 10
    runnable = ("verifier ", ".venv/bin/verifier ", "curl ")
    unknown = [
        (doc, c) for doc, c in found if not c.startswith(runnable) and not any(re.search(p, c) for p, _ in NOT_HERE)
    ]
    assert unknown == [], "a documented command neither runs in this test nor is listed in NOT_HERE"


def test_every_documented_command_runs(demo_dir: Path, service: str) -> None:
    exe = shutil.which("verifier") or str(Path(sys.executable).parent / "verifier")
    env = {**os.environ, "VERIFIER_CONFIG": str(demo_dir / "demo" / "verifier.toml"), "VERIFIER_TOKEN": ""}
    ran = []
    for doc, cmd in _documented():
        if any(re.search(p, cmd) for p, _ in NOT_HERE):
            continue
        if cmd.startswith("curl "):
            cmd = cmd.replace("localhost:8080", service)
        elif cmd.startswith(".venv/bin/verifier "):
            cmd = shlex.quote(exe) + cmd[len(".venv/bin/verifier") :]
        elif cmd.startswith("verifier "):
            cmd = shlex.quote(exe) + cmd[len("verifier") :]
        r = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=180, cwd=demo_dir, env=env)
        assert r.returncode == 0, (doc, cmd, r.stdout[-2000:], r.stderr[-2000:])
        if cmd.startswith("curl "):
            answer = json.loads(r.stdout)
            assert "error" not in answer and "detail" not in answer, (doc, cmd, answer)
        ran.append(cmd)
    assert sum(c.startswith("curl ") for c in ran) == 2 and any("catalog export" in c for c in ran)
    assert len(ran) >= 6
