"""Restore lookups: plans for several points in time, broken chains, fallback, verified fetches.

Every test starts from a generated dataset (one full export, then incrementals), puts it in a
store area, runs `verifier run --level full`, then breaks one thing at a time. The store area is
the `store` fixture (tests.servers' local folder); the tests that fetch bytes take `any_store`
instead and run on every backend's real server.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from fixtures.defects import inject
from fixtures.generate import ExportInfo, generate_dataset
from verifier import config as cfgmod
from verifier.cli import main
from verifier.errors import ConfigError
from verifier.restore import fetch, load
from verifier.restore.plan import plan, to_dict
from verifier.restore.verify import NO_CHECKSUM
from verifier.runner import RunOptions, RunSummary, run

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
START = datetime(2026, 11, 16, 6, 0, tzinfo=UTC)  # four daily exports: 16th (full) .. 19th at 06:00
DAY = timedelta(days=1)


# -- the store area: tests.servers' local folder; tests that take `any_store` run on every backend --
@pytest.fixture
def store(local_store: Any) -> Any:
    return local_store


# -- building a verified chain ------------------------------------------------------------------
@dataclass
class Chain:
    tmp: Path
    store: Any
    gen: Path  # the generated tree: the source of truth for bytes
    exports: list[ExportInfo]
    config: cfgmod.Config
    config_path: Path

    @property
    def dataset(self) -> str:
        return self.exports[0].dataset_id

    def names(self, exports: list[ExportInfo]) -> list[str]:
        return sorted(p.name for e in exports for p in e.files)

    def rel(self, path: Path, prefix: str) -> str:
        return f"{prefix}/{path.relative_to(self.gen).as_posix()}"

    def reupload(self, export: ExportInfo, prefixes: tuple[str, ...] = ("primary",)) -> None:
        for prefix in prefixes:
            for f in sorted(export.path.iterdir()):
                self.store.write_bytes(self.rel(f, prefix), f.read_bytes())

    def run(self, hours: float = 0) -> RunSummary:
        return run(self.config, RunOptions(level="full"), now=NOW + timedelta(hours=hours))

    def catalog(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.config.catalog_path))


def write_config(tmp: Path, snippets: list[str], catalog: Path | None = None) -> Path:
    path = tmp / "verifier.toml"
    path.write_text(f'[catalog]\npath = "{catalog or tmp / "catalog.duckdb"}"\n\n' + "\n".join(snippets))
    return path


def make_chain(
    tmp: Path,
    store: Any,
    *,
    destinations: tuple[str, ...] = ("primary",),
    fmt: str = "parquet",
    run_now: bool = True,
    **dest_defaults: Any,
) -> Chain:
    gen = tmp / "gen"
    extra = dest_defaults.pop("extra_columns", None)
    exports = generate_dataset(
        gen,
        fmt=fmt,
        start=START,
        count=4,
        files_per_export=2,
        seed=11,
        extra_columns=extra,
        rows_full=120,
        rows_incremental=30,
    )
    snippets = []
    for name in destinations:
        store.upload(gen, prefix=name)
        snippets.append(store.toml_snippet(name, prefix=name, format=fmt, **dest_defaults))
    path = write_config(tmp, snippets)
    chain = Chain(tmp, store, gen, exports, cfgmod.load(path), path)
    if run_now:
        assert chain.run().exit_code in (0, 1)  # 1: the dataset.schema_drift an added column is
    return chain


class Cli:
    """The real command line (`verifier.cli.main`, exit-status mapping included), run in-process."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        self.capsys, self.monkeypatch = capsys, monkeypatch

    def __call__(self, config: Path, *args: str) -> tuple[int, Any]:
        self.monkeypatch.setattr(sys, "argv", ["verifier", "--config", str(config), *args])
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            main()
        out: Any = self.capsys.readouterr().out
        if "--json" in args and out.strip():
            out = json.loads(out)
        code = exc.value.code
        return code if isinstance(code, int) else (0 if code is None else 1), out


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(capsys, monkeypatch)


def planned_names(p: Any) -> list[str]:
    return sorted(f.name for lk in p.links for f in lk.files)


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink())


# -- plans --------------------------------------------------------------------------------------
def test_plan_lists_exactly_the_chain_prefix_for_each_point_in_time(tmp_path: Path, store: Any, cli: Cli) -> None:
    c = make_chain(tmp_path, store)
    before = plan(c.config, c.dataset, START - timedelta(minutes=1))
    assert not before.intact and before.exit_code == 2 and before.links == []
    assert "no export at or before" in before.message
    for i, e in enumerate(c.exports):
        for t in (e.export_time, e.export_time + timedelta(hours=12)):  # at it, and between it and the next
            p = plan(c.config, c.dataset, t)
            assert p.intact and p.exit_code == 0, p.message
            assert planned_names(p) == c.names(c.exports[: i + 1])
            assert [lk.export_time for lk in p.links] == [x.export_time for x in c.exports[: i + 1]]
            assert [lk.kind for lk in p.links] == ["full"] + ["incremental"] * i
            assert p.total_records == sum(x.record_count for x in c.exports[: i + 1])
            assert p.total_bytes == sum(f.stat().st_size for x in c.exports[: i + 1] for f in x.files)
            assert p.findings == []
    d = to_dict(plan(c.config, c.dataset, c.exports[1].export_time))
    assert d["intact"] and d["destination"] == "primary" and d["totals"]["exports"] == 2
    f0 = d["links"][0]["files"][0]
    assert set(f0) == {"name", "uri", "size", "checksum", "record_count", "status", "problem"}
    assert f0["checksum"]["algo"] == "md5" and f0["checksum"]["source"] == "computed" and f0["status"] == "ok"
    assert f0["uri"].endswith(f0["name"])

    # the command line: both time forms, JSON, exit statuses
    rc, out = cli(
        c.config_path, "restore-plan", c.dataset, "--as-of", c.exports[2].export_time.strftime("%Y%m%d%H%M"), "--json"
    )
    assert (
        rc == 0
        and out["intact"]
        and sorted(f["name"] for lk in out["links"] for f in lk["files"]) == c.names(c.exports[:3])
    )
    rc, out = cli(c.config_path, "restore-plan", c.dataset, "--as-of", "2026-11-01T00:00:00Z", "--json")
    assert rc == 2 and out["links"] == [] and not out["intact"]
    rc, text = cli(
        c.config_path, "restore-plan", c.dataset, "--as-of", "2026-11-18T07:00+01:00"
    )  # = 06:00Z: three exports
    assert rc == 0 and "3 export(s)" in text
    assert cli(c.config_path, "restore-plan", c.dataset, "--as-of", "yesterday")[0] == 4
    assert cli(c.config_path, "restore-plan", c.dataset, "--as-of", "202611180600", "--destination", "nope")[0] == 4


def test_plan_in_full_mode_is_the_latest_snapshot_only(tmp_path: Path, store: Any) -> None:
    c = make_chain(tmp_path, store, export_mode="full")
    for e in c.exports:
        p = plan(c.config, c.dataset, e.export_time + timedelta(hours=3))
        assert p.intact and planned_names(p) == c.names([e])
        assert [lk.kind for lk in p.links] == ["full"]
    assert not plan(c.config, c.dataset, START - DAY).intact


def test_a_failed_link_breaks_every_later_point_in_time(tmp_path: Path, store: Any, cli: Cli) -> None:
    c = make_chain(tmp_path, store)
    inject(c.exports[1], "parquet_truncated")
    c.reupload(c.exports[1])
    assert c.run(hours=1).exit_code == 2
    second = c.exports[1].export_time
    for t in (second, c.exports[3].export_time):
        p = plan(c.config, c.dataset, t)
        assert not p.intact and p.exit_code == 2
        [f] = p.findings
        assert f.code == "restore.chain_broken" and f.export_time == second
        assert "2026-11-17T06:00:00Z" in f.message and "failed" in f.message
        assert "latest point in time restorable from it is 2026-11-16T06:00:00Z" in f.message
        broken = [lk for lk in p.links if lk.problem]
        assert [lk.export_time for lk in broken] == [second]
        # --allow-unverified relaxes only never-verified links
        assert not plan(c.config, c.dataset, t, allow_unverified=True).intact
    assert plan(c.config, c.dataset, c.exports[0].export_time).intact
    rc, out = cli(c.config_path, "restore-plan", c.dataset, "--as-of", "2026-11-19T06:00Z", "--json")
    assert rc == 2 and [f["code"] for f in out["findings"]] == ["restore.chain_broken"]
    assert out["findings"][0]["export_time"] == "2026-11-17T06:00:00Z"
    assert [lk["intact"] for lk in out["links"]] == [True, False, True, True]
    # restore refuses to fetch anything from a broken chain
    rc, out = cli(
        c.config_path, "restore", c.dataset, "--as-of", "2026-11-19T06:00Z", "--to", str(tmp_path / "out"), "--json"
    )
    assert rc == 2 and out["files"] == [] and not (tmp_path / "out").exists()


def test_a_vanished_export_breaks_the_chain(tmp_path: Path, store: Any) -> None:
    c = make_chain(tmp_path, store)
    store.remove(f"primary/{c.dataset}/exportTime=202611180600")
    c.run(hours=1)
    assert plan(c.config, c.dataset, c.exports[1].export_time).intact
    p = plan(c.config, c.dataset, c.exports[3].export_time)
    assert not p.intact
    assert [lk.status for lk in p.links] == ["ok", "ok", "vanished", "ok"]
    assert "vanished" in p.findings[0].message and p.findings[0].export_time == c.exports[2].export_time
    # the full export gone: nothing after it can be restored
    store.remove(f"primary/{c.dataset}/exportTime=202611160600")
    c.run(hours=2)
    p = plan(c.config, c.dataset, c.exports[1].export_time)
    assert not p.intact and p.links[0].status == "vanished" and p.findings[0].export_time == START


def test_never_verified_links_break_the_chain_unless_allowed(tmp_path: Path, store: Any) -> None:
    c = make_chain(tmp_path, store)
    with c.catalog() as con:
        con.execute("UPDATE exports SET status = 'unverified' WHERE export_time = ?", [datetime(2026, 11, 18, 6)])
        con.execute("UPDATE exports SET status = 'pending' WHERE export_time = ?", [datetime(2026, 11, 19, 6)])
    p = plan(c.config, c.dataset, c.exports[2].export_time)
    assert not p.intact and "never verified" in (p.links[2].problem or "")
    assert plan(c.config, c.dataset, c.exports[2].export_time, allow_unverified=True).intact
    p = plan(c.config, c.dataset, c.exports[3].export_time, allow_unverified=True)
    assert not p.intact and "pending" in (p.links[3].problem or "")


def test_falls_back_to_another_destination_holding_an_intact_copy(tmp_path: Path, any_store: Any) -> None:
    store = any_store  # on every backend's real server
    c = make_chain(tmp_path, store, destinations=("primary", "backup"))
    originals = {f: f.read_bytes() for e in c.exports for f in e.files}
    inject(c.exports[1], "parquet_truncated")
    c.reupload(c.exports[1], ("primary",))
    c.run(hours=1)
    t = c.exports[3].export_time
    for preferred in (None, "primary", "backup"):
        p = plan(c.config, c.dataset, t, destination=preferred)
        assert p.intact and p.chosen is not None and p.chosen.destination == "backup"
        assert planned_names(p) == c.names(c.exports)
        reasons = {a.destination: a.reason for a in p.attempts}
        assert "2026-11-17T06:00:00Z" in reasons["primary"] and reasons["primary"].startswith("not used")
        assert reasons["backup"].startswith("used")
        assert p.findings == []
    # before the broken link the first destination in config order is used
    p = plan(c.config, c.dataset, c.exports[0].export_time)
    assert p.chosen is not None and p.chosen.destination == "primary"
    assert "not needed" in next(a.reason for a in p.attempts if a.destination == "backup")
    # and the restore fetches from the intact copy, byte for byte
    out = tmp_path / "out"
    r = fetch.restore(c.config, c.dataset, t, out, destination="primary")
    assert r.exit_code == 0 and r.count("restored") == 8
    for f, data in originals.items():
        assert (out / c.dataset / f.parent.name / f.name).read_bytes() == data


# -- restores -----------------------------------------------------------------------------------
def test_restore_is_byte_identical_and_a_rerun_resumes(tmp_path: Path, any_store: Any, cli: Cli) -> None:
    store = any_store  # on every backend's real server
    c = make_chain(tmp_path, store)
    out = tmp_path / "out"
    rc, res = cli(
        c.config_path, "restore", c.dataset, "--as-of", "202611190600", "--to", str(out), "--json", "--jobs", "4"
    )
    assert rc == 0 and res["complete"] and res["summary"]["restored"] == 8, res
    assert res["summary"]["bytes_fetched"] == res["plan"]["totals"]["bytes"]
    # against the MD5 and CRC32C a full run recorded, and any native checksum the store offers
    for f in res["files"]:
        assert f["verified_by"].startswith("size and "), f
        assert {"md5 (computed)", "crc32c (computed)"} <= set(f["verified_by"][len("size and ") :].split(", ")), f
    expected = sorted(f"{c.dataset}/{e.path.name}/{f.name}" for e in c.exports for f in e.files)
    assert files_under(out) == expected
    for e in c.exports:
        for f in e.files:
            assert (out / c.dataset / e.path.name / f.name).read_bytes() == f.read_bytes()

    # interrupted: one file lost; the rerun fetches only that one
    lost = out / c.dataset / c.exports[2].path.name / c.exports[2].files[0].name
    lost.unlink()
    r = fetch.restore(c.config, c.dataset, c.exports[3].export_time, out)
    assert r.exit_code == 0 and (r.count("restored"), r.count("skipped")) == (1, 7)
    assert [f.name for f in r.files if f.action == "restored"] == [lost.name]
    assert lost.read_bytes() == c.exports[2].files[0].read_bytes()

    # a pre-existing file that differs is refused, never overwritten
    other = out / c.dataset / c.exports[0].path.name / c.exports[0].files[1].name
    garbage = bytes(other.stat().st_size)
    other.write_bytes(garbage)
    r = fetch.restore(c.config, c.dataset, c.exports[3].export_time, out)
    assert r.exit_code == 2 and r.count("refused") == 1 and r.count("skipped") == 7
    [refused] = [f for f in r.files if f.action == "refused"]
    assert refused.name == other.name and "not overwritten" in (refused.message or "")
    assert other.read_bytes() == garbage
    assert not [p for p in out.rglob(".*part-*")]


def test_a_tampered_file_is_refused_and_nothing_is_left_behind(tmp_path: Path, any_store: Any, cli: Cli) -> None:
    store = any_store  # on every backend's real server
    c = make_chain(tmp_path, store)
    victim = c.exports[1].files[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: only the checksum can tell
    store.write_bytes(c.rel(victim, "primary"), bytes(data))
    out = tmp_path / "out"
    rc, res = cli(c.config_path, "restore", c.dataset, "--as-of", "202611190600", "--to", str(out), "--json")
    assert rc == 2 and not res["complete"]
    [bad] = [f for f in res["files"] if f["action"] != "restored"]
    assert bad["action"] == "mismatch" and bad["name"] == victim.name
    assert "md5 of the bytes is" in bad["message"]
    assert not (out / c.dataset / c.exports[1].path.name / victim.name).exists()
    assert len(files_under(out)) == 7 and not [p for p in out.rglob(".*part-*")]


def test_without_a_recorded_checksum_the_content_is_decoded(tmp_path: Path, store: Any) -> None:
    c = make_chain(tmp_path, store, fmt="json")
    with c.catalog() as con:
        con.execute("UPDATE files SET md5 = NULL, crc32c = NULL")
        con.execute("DELETE FROM checksums")
    out = tmp_path / "out"
    r = fetch.restore(c.config, c.dataset, c.exports[3].export_time, out)
    assert r.exit_code == 0 and r.count("restored") == 8
    assert {f.verified_by for f in r.files} == {NO_CHECKSUM}
    assert "run `verifier run --level full`" in NO_CHECKSUM
    # a damaged gzip stream of the same size is caught by decoding
    victim = c.exports[2].files[0]
    data = bytearray(victim.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 8):
        data[i] ^= 0x5A
    store.write_bytes(c.rel(victim, "primary"), bytes(data))
    out2 = tmp_path / "out2"
    r = fetch.restore(c.config, c.dataset, c.exports[3].export_time, out2)
    assert r.exit_code == 2
    [bad] = [f for f in r.files if f.action == "mismatch"]
    assert bad.name == victim.name and "json.corrupt" in (bad.message or "")
    assert not [p for p in out2.rglob(".*part-*")] and len(files_under(out2)) == 7


def test_dry_run_writes_nothing(tmp_path: Path, store: Any, cli: Cli) -> None:
    c = make_chain(tmp_path, store)
    out = tmp_path / "out"
    rc, res = cli(
        c.config_path, "restore", c.dataset, "--as-of", "202611170600", "--to", str(out), "--dry-run", "--json"
    )
    assert rc == 0 and res["dry_run"] and res["summary"]["would_fetch"] == 4 and not out.exists()
    fetch.restore(c.config, c.dataset, c.exports[0].export_time, out)
    before = files_under(out)
    rc, text = cli(c.config_path, "restore", c.dataset, "--as-of", "202611170600", "--to", str(out), "--dry-run")
    assert rc == 0 and "2 would skip" in text and "2 would fetch" in text
    assert files_under(out) == before


def test_hostile_names_in_the_catalog_never_escape_dir(tmp_path: Path, store: Any, cli: Cli) -> None:
    c = make_chain(tmp_path, store)
    evil_catalog = tmp_path / "evil.duckdb"
    shutil.copy(c.config.catalog_path, evil_catalog)
    first = c.exports[0].files[0].name
    con = duckdb.connect(str(evil_catalog))
    for table in ("exports", "files", "checksums"):
        con.execute(
            f"INSERT INTO {table} SELECT * REPLACE ('..' AS dataset_id) FROM {table} WHERE dataset_id = ?", [c.dataset]
        )
    for table in ("files", "checksums"):
        con.execute(f"UPDATE {table} SET name = '../../../evil' WHERE dataset_id = ? AND name = ?", [c.dataset, first])
    con.close()
    (tmp_path / "evil").mkdir()
    cfg_path = write_config(tmp_path / "evil", [c.store.toml_snippet("primary", prefix="primary")], evil_catalog)
    config = cfgmod.load(cfg_path)
    out = tmp_path / "dir" / "out"
    for dataset in ("..", c.dataset):
        p = plan(config, dataset, c.exports[3].export_time)
        assert not p.intact and p.findings[0].code == "restore.chain_broken"
        assert (
            ("dataset id" in p.findings[0].message) if dataset == ".." else ("'../../../evil'" in p.findings[0].message)
        )
        rc, res = cli(cfg_path, "restore", dataset, "--as-of", "202611190600", "--to", str(out), "--json")
        assert rc == 2 and res["files"] == []
    assert not [p for p in tmp_path.rglob("evil") if p.is_file()]
    assert not (tmp_path / "dir").exists() or files_under(tmp_path / "dir") == []

    # names the plan let through are checked again where the files are written: a symlink in the way
    outside = tmp_path / "outside"
    outside.mkdir()
    out.mkdir(parents=True)
    (out / c.dataset).symlink_to(outside)
    r = fetch.restore(c.config, c.dataset, c.exports[1].export_time, out)
    assert r.exit_code == 2 and {f.action for f in r.files} == {"refused"}
    assert "symlink" in (r.files[0].message or "") and list(outside.iterdir()) == []
    # ... and a hostile file name handed straight to the writer
    (out / c.dataset).unlink()
    good = plan(c.config, c.dataset, c.exports[0].export_time)
    link = good.links[0]
    link.files[0].name = "../../../evil"
    (out / c.dataset / link.folder).mkdir(parents=True)
    fd = os.open(out / c.dataset / link.folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        from verifier.backends import make_backend

        ctx = fetch._Context(
            make_backend(c.config.destinations[0]), c.config.destinations[0], good, False, fetch.FetchProgress()
        )
        res1 = ctx.one(link, link.files[0], fd)
    finally:
        os.close(fd)
    assert res1.action == "refused" and "is a path" in (res1.message or "")
    assert not [p for p in tmp_path.rglob("evil") if p.is_file()]


def test_into_duckdb_and_parquet_union_added_columns(tmp_path: Path, store: Any, cli: Cli) -> None:
    c = make_chain(tmp_path, store, extra_columns={2: "loyaltyTier"})
    out = tmp_path / "out"
    db = tmp_path / "restored.duckdb"
    rc, res = cli(
        c.config_path, "restore", c.dataset, "--as-of", "202611190600", "--to", str(out), "--into", str(db), "--json"
    )
    assert rc == 0, res
    table = load.table_name(c.dataset)
    assert res["into"]["table"] == table and res["into"]["rows"] == res["plan"]["totals"]["records"]
    con = duckdb.connect(str(db), read_only=True)
    try:
        total, tier, times = con.execute(
            f'SELECT count(*), count("loyaltyTier"), count(DISTINCT _export_time) FROM "{table}"'
        ).fetchone()  # type: ignore[misc]
        assert (total, times) == (sum(e.record_count for e in c.exports), 4)
        assert tier == c.exports[2].record_count + c.exports[3].record_count
        order = [r[0] for r in con.execute(f'SELECT _export_time FROM "{table}" ORDER BY rowid').fetchall()]
        assert order == sorted(order) and order[0] == START.replace(tzinfo=None)
    finally:
        con.close()
    # the table is never replaced, the catalog never a target: bad arguments (4), nothing run
    assert (
        cli(c.config_path, "restore", c.dataset, "--as-of", "202611190600", "--to", str(out), "--into", str(db))[0] == 4
    )
    with pytest.raises(ConfigError):
        fetch.restore(c.config, c.dataset, NOW, out, into=c.config.catalog_path)
    with pytest.raises(ConfigError):
        fetch.restore(c.config, c.dataset, NOW, out, into=tmp_path / "x.csv")
    # one Parquet file of the same table, from the already restored files
    pq_path = tmp_path / "restored.parquet"
    r = fetch.restore(c.config, c.dataset, c.exports[3].export_time, out, into=pq_path)
    assert r.exit_code == 0 and r.count("skipped") == 8 and r.load is not None
    assert pq.read_metadata(pq_path).num_rows == sum(e.record_count for e in c.exports)
    assert "loyaltyTier" in pq.read_schema(pq_path).names and "_export_time" in pq.read_schema(pq_path).names
    with pytest.raises(ConfigError):
        fetch.restore(c.config, c.dataset, NOW, out, into=pq_path)
