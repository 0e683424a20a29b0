"""A run decrypts with one kept keyring per worker (not one per file) and leaves none behind: not
in the pool's root once the pool is closed, not on /dev/shm once `verifier run` has exited."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.test_pgp import gpg_agents, own_keyring_roots
from tests.test_restore_pgp import encrypted_chain
from verifier import workers
from verifier.checks import gpg

VERIFIER = [sys.executable, "-m", "verifier"]
SQL_DECRYPTED = (
    "SELECT sum(files_checked) AS decrypted FROM verifications "
    "WHERE level = 'full' AND run_id = (SELECT max(run_id) FROM runs)"
)


@pytest.fixture
def store(local_store: Any) -> Any:
    return local_store


def test_a_run_keeps_one_keyring_per_worker_and_leaves_none_behind(
    tmp_path: Path, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    workers.shared_pool(2).close()
    gpg.close_keyrings()
    before = own_keyring_roots()  # pools other tests made and did not close, if any
    config, _, _ = encrypted_chain(tmp_path, store, monkeypatch, jobs=2)  # a full run decrypts 4 files in 2 workers
    [root] = set(own_keyring_roots()) - set(before)  # the pool's: this process decrypted nothing itself
    homes = os.listdir(root)
    assert 1 <= len(homes) <= 2, homes  # one per worker that decrypted, not one per file
    assert all(not h.startswith(f"w{os.getpid()}-") for h in homes)
    assert gpg_agents(root)
    workers.shared_pool(2).close()
    assert own_keyring_roots() == before and gpg_agents(root) == []

    # `verifier run` as a command: nothing of its keyrings is left once it has exited
    proc = subprocess.Popen(
        [*VERIFIER, "--config", str(config), "run", "--level", "full", "--rescan", "--jobs", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, (out, err)
    read = subprocess.run(
        [*VERIFIER, "--config", str(config), "sql", "--format", "csv", SQL_DECRYPTED], capture_output=True, text=True
    )
    assert read.stdout.split() == ["decrypted", "4"], read  # it did decrypt: 4 files read at level full
    assert own_keyring_roots(proc.pid) == []
    assert gpg_agents(f"/dev/shm/verifier-gpg-{proc.pid}-") == []
