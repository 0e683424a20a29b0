"""One conformance suite, every backend: the same planted defects give the same findings.

Each test runs against a real server of the store (the project's own are in tests/servers.py:
the local folder, moto, Azurite, fake-gcs-server, OpenSSH). A backend adds fixtures, never tests.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from verifier_fixtures.defects import inject
from verifier_fixtures.generate import generate_dataset

from verifier import config as cfgmod
from verifier.backends import get_backend_class
from verifier.settings import Config, Destination
from verifier.testing.runs import NOW, START, do_run, sql
from verifier.testing.store import ConformanceStore

PARQUET_DEFECTS = {  # dataset seed -> (defect on the newest export, finding expected)
    1: (None, None),
    2: ("parquet_truncated", "parquet.corrupt"),
    3: ("manifest_file_missing", "manifest.file_missing"),
    4: ("parquet_corrupt_page", "parquet.corrupt"),
    5: ("manifest_unlisted_file", "manifest.unlisted_file"),
    6: ("bad_export_time", "layout.bad_export_time"),
}
JSON_DEFECTS = {11: (None, None), 12: ("json_bad_line", "json.corrupt"), 13: ("json_truncated", "json.corrupt")}


@dataclass
class Planted:
    root: Path
    expected: dict[str, str | None]  # dataset id -> the one finding code it must yield (None: good)
    corrupt_page: str  # the dataset whose damage only a full read finds

    def want(self, *, skip: str | None = None) -> dict[str, set[str]]:
        return {ds: {code} for ds, code in self.expected.items() if code and ds != skip}


def plant(root: Path) -> Planted:
    """A local tree with one defect per dataset, and the finding each dataset must yield."""
    expected: dict[str, str | None] = {}
    corrupt_page = ""
    for sub, fmt, defects in (("pq", "parquet", PARQUET_DEFECTS), ("js", "json", JSON_DEFECTS)):
        for seed, (defect, code) in defects.items():
            exports = generate_dataset(
                root / sub, fmt=fmt, start=START, count=3, seed=seed, rows_full=90, rows_incremental=30
            )
            if defect:
                inject(exports[-1], defect)
            expected[exports[0].dataset_id] = code
            if defect == "parquet_corrupt_page":
                corrupt_page = exports[0].dataset_id
    return Planted(root, expected, corrupt_page)


def _config(store: ConformanceStore, tmp_path: Path) -> Config:
    text = f'[catalog]\npath = "{tmp_path / "catalog.duckdb"}"\n[defaults]\nstale_after = "3650d"\n'
    text += store.toml_snippet("pq", prefix="pq", format="parquet")
    text += store.toml_snippet("js", prefix="js", format="json")
    p = tmp_path / "verifier.toml"
    p.write_text(text)
    return cfgmod.load(p)


def _found(summary: Any) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in summary.findings:
        out.setdefault(f.dataset_id or "", set()).add(f.code)
    return out


def _cli_run(config: Config) -> subprocess.CompletedProcess[str]:
    """The real command line, with debug logging on, so every log line can be searched for secrets."""
    argv = ["-m", "verifier", "-vv", "run", "--level", "full", "--config", str(config.path), "--json", "-"]
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=300)


def _catalog_text(config: Config) -> str:
    tables = ("runs", "destinations", "exports", "files", "findings", "checksums")
    return " ".join(str(v) for t in tables for row in sql(config, f"SELECT * FROM {t}") for v in row)


class StoreFixtures:
    """What a backend's test module provides: `store`, a fresh area on a real server."""

    @pytest.fixture
    def store(self) -> ConformanceStore:
        raise NotImplementedError("a backend's fixtures class provides the `store` fixture")


class Conformance:
    """The tests every backend passes; mix in with the backend's StoreFixtures."""

    @pytest.fixture(scope="class")
    @classmethod
    def planted(cls, tmp_path_factory: pytest.TempPathFactory) -> Planted:  # one tree per backend class
        return plant(tmp_path_factory.mktemp("planted"))

    def test_same_defects_same_findings(self, store: ConformanceStore, planted: Planted, tmp_path: Path) -> None:
        store.upload(planted.root)
        config = _config(store, tmp_path)
        r = _cli_run(config)
        assert r.returncode == 2, r.stderr[-3000:]
        summary = json.loads(r.stdout)
        found: dict[str, set[str]] = {}
        for f in summary["findings"]:
            found.setdefault(f["dataset_id"] or "", set()).add(f["code"])
        want = planted.want()
        assert found == want
        assert all(d["reachable"] for d in summary["destinations"])
        # every good file was read, hashed, and its MD5 matches the bytes planted
        local_md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in planted.root.rglob("part-*")}
        rows = sql(config, "SELECT name, md5, status FROM files WHERE role = 'data' AND status = 'ok'")
        assert rows and all(md5 == local_md5[name] for name, md5, _ in rows)
        # records counted at full level for every good export
        assert sql(config, "SELECT count(*) FROM exports WHERE status = 'ok' AND record_count IS NULL") == [(0,)]
        # native checksums recorded with their provenance: what the backend says its store offers
        native = sql(config, "SELECT DISTINCT algo, source FROM checksums WHERE source <> 'computed'")
        assert {tuple(r) for r in native} == get_backend_class(store.type).offered_checksums
        # nothing secret anywhere: catalog, JSON report, log lines, finding messages
        assert "DEBUG" in r.stderr  # the logs were really on
        catalog_text = _catalog_text(config)
        for secret in store.secrets.values():
            assert secret not in r.stdout
            assert secret not in r.stderr
            assert secret not in catalog_text
        # a second night over the unchanged store reads no content
        again = do_run(config, "full", now=NOW)
        assert sum(d.bytes_read for d in again.destinations) == 0
        assert sum(d.exports_skipped for d in again.destinations) == sum(d.exports_seen for d in again.destinations)
        assert _found(again) == want

    def test_metadata_level_finds_all_but_what_needs_every_page(
        self, store: ConformanceStore, planted: Planted, tmp_path: Path
    ) -> None:
        store.upload(planted.root)
        config = _config(store, tmp_path)
        summary = do_run(config, "metadata", now=NOW)
        # a corrupt page only shows when every page is decoded; the rest (these files are small enough for the
        # 64 KiB gzip head to cover the JSON damage) is found by footers, heads and trailers
        assert _found(summary) == planted.want(skip=planted.corrupt_page)
        assert sql(config, "SELECT DISTINCT verified_level FROM files WHERE role = 'data'") == [("metadata",)]
        assert sql(config, "SELECT count(*) FROM files WHERE md5 IS NOT NULL") == [(0,)]

    def test_a_dead_destination_is_incomplete_and_the_others_are_still_verified(
        self, store: ConformanceStore, planted: Planted, tmp_path: Path
    ) -> None:
        dead = store.dead_dest()
        if dead is None:
            pytest.skip("a local folder cannot be unreachable")
        good = Destination(name="local", type="local", url=str(planted.root / "pq"), stale_after=timedelta(days=3650))
        config = Config(path=None, catalog_path=tmp_path / "c.duckdb", destinations=[dead, good])
        t0 = time.monotonic()
        summary = do_run(config, "metadata", now=NOW)
        assert time.monotonic() - t0 < 60
        assert [d.reachable for d in summary.destinations] == [False, True]
        assert summary.destinations[1].exports_checked > 0
        unreachable = [f for f in summary.findings if f.code == "backend.unreachable"]
        assert len(unreachable) == 1 and unreachable[0].destination == dead.name
        # the local destination has broken exports too, so errors win: 2; without them the run would be 3
        assert summary.exit_code == 2
        only_dead = Config(path=None, catalog_path=tmp_path / "d.duckdb", destinations=[dead])
        assert do_run(only_dead, "metadata", now=NOW).exit_code == 3
