"""Issue 15 (also): a restore killed mid-download leaves a hidden `.part` file; the rerun that
restores the file removes it (and leaves a part someone may still be writing)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.test_restore import make_chain
from verifier.restore import fetch


@pytest.fixture
def store(local_store: Any) -> Any:
    return local_store


def test_a_rerun_removes_the_parts_a_killed_restore_left(tmp_path: Path, store: Any) -> None:
    c = make_chain(tmp_path, store)
    export, victim = c.exports[1], c.exports[1].files[0]
    folder = tmp_path / "out" / c.dataset / export.path.name
    folder.mkdir(parents=True)
    # what a SIGKILL mid-download leaves: the first bytes, under the temp name, an hour old
    stale = folder / f".{victim.name}.part-0123456789ab"
    stale.write_bytes(victim.read_bytes()[:100])
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    fresh = folder / f".{victim.name}.part-fedcba987654"  # another restore, still writing
    fresh.write_bytes(b"x")
    other = folder / f".{victim.name}.part-notours"  # not a name verifier makes
    other.write_bytes(b"y")
    os.utime(other, (hour_ago, hour_ago))

    r = fetch.restore(c.config, c.dataset, c.exports[3].export_time, tmp_path / "out")
    assert (r.exit_code, r.count("restored")) == (0, 8)
    assert (folder / victim.name).read_bytes() == victim.read_bytes()
    assert sorted(p.name for p in folder.glob(".*")) == sorted([fresh.name, other.name])
