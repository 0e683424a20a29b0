"""AEP reconciliation in `verifier run`: a fake Flow Service in agreement with a generated tree,
one thing broken per scenario, exactly one finding expected (and none on the good datasets).
Every finding's scenario runs on a local folder and on S3 (moto): the `place` fixture."""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.aep_world import DS_A, DS_B, FLOW, RUN_DELAY, World, make_world
from tests.helpers import NOW, codes, do_run, local_config, sql, toml_value
from tests.servers import S3Store, Store
from tests.test_service import serve
from verifier import config as cfgmod
from verifier import queries
from verifier.aep.fetch import FlowSnapshot
from verifier.aep.model import Flow, FlowRun, Schedule
from verifier.aep.reconcile import reconcile
from verifier.catalog import Catalog
from verifier.config import Config
from verifier.service.app import create_app
from verifier.testing.aep_fake import Switches
from verifier.timeutil import iso


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    yield from make_world(tmp_path, monkeypatch)


@dataclass
class Place:
    """Where a scenario's tree is verified: the local folder itself, or a copy on moto S3."""

    tmp: Path
    store: Store | None = None
    uploaded: bool = False

    def config(self, w: World, secret_var: str = "VERIFIER_TEST_AEP_SECRET", **dest: Any) -> Config:
        dest = {"flows": [FLOW], "stale_after": "3650d", **dest}
        if self.store is None:
            return local_config(self.tmp, w.folder, w.aep_toml(secret_var), **dest)
        if not self.uploaded:
            self.store.upload(w.folder)  # the tree as the scenario left it, once
            self.uploaded = True
        flows = toml_value(dest.pop("flows"))
        snippet = self.store.toml_snippet("s3", **dest).replace(
            "[[destinations]]\n", f"[[destinations]]\nflows = {flows}\n", 1
        )
        path = self.tmp / "verifier.toml"
        path.write_text(f'[catalog]\npath = "{self.tmp / "catalog.duckdb"}"\n{snippet}\n{w.aep_toml(secret_var)}')
        return cfgmod.load(path)


@pytest.fixture(params=["local", "s3"])
def place(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Place]:
    """Every finding's scenario runs on a local folder and on S3 (moto, started once per session)."""
    if request.param == "local":
        yield Place(tmp_path)
        return
    store = S3Store(monkeypatch, request.getfixturevalue("moto_server"))
    yield Place(tmp_path, store)
    store.cleanup()


def config(tmp_path: Path, w: World, **dest: Any) -> Config:
    return Place(tmp_path).config(w, **dest)


def found(summary: Any) -> list[tuple[str, str | None]]:
    return sorted((f.code, f.dataset_id) for f in summary.findings)


SWITCHES = [
    Switches(),  # what Adobe's examples show
    Switches(  # the other side of every documented conflict
        status_case="title",
        end_field="stoppedAtUTC",
        template_field="folderNameTemplate",
        schedule_epoch="ms",
        expires_in_unit="ms",
        single_items=False,
        paging="token",
    ),
    Switches(next_href_absolute=True, next_href_keeps_filters=False),  # paging links, undocumented forms
]


@pytest.mark.parametrize("switches", SWITCHES, ids=["examples", "conflicts", "absolute-href"])
def test_a_clean_dataflow_with_every_export_present_gives_no_finding(
    tmp_path: Path, world: World, switches: Switches
) -> None:
    world.fake.switches = switches
    world.fake.page_size = 2  # four runs per dataset: paging is exercised
    world.runs_for_exports()
    cfg = config(tmp_path, world)
    s = do_run(cfg, "full")
    assert (found(s), s.exit_code) == ([], 0)
    assert sql(cfg, "SELECT flow_id, state, dataset_ids FROM flows") == [(FLOW, "enabled", f'["{DS_A}", "{DS_B}"]')]
    assert sql(cfg, "SELECT count(*), count(DISTINCT status) FROM flow_runs") == [(8, 1)]
    linked = sql(cfg, "SELECT count(*) FROM exports e JOIN flow_runs r USING (flow_run_id)")
    assert linked == [(8,)]
    # a second run reads only the runs since the last fetch, and stays clean
    again = do_run(cfg, "metadata", now=NOW + timedelta(hours=1))
    assert (found(again), again.exit_code) == ([], 0)
    runs_query = [q for m, q in world.fake.requests if q.startswith("/data/foundation/flowservice/runs")][-1]
    assert "startedAtUTC%3E" in runs_query or "startedAtUTC>" in runs_query


def test_without_manifests_runs_are_linked_by_their_scheduled_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for w in make_world(tmp_path, monkeypatch, manifest=False):
        w.runs_for_exports(per_dataset=False)  # one run per slot for every dataset of the flow
        cfg = config(tmp_path, w, manifest=False)
        s = do_run(cfg)
        assert (found(s), s.exit_code) == ([], 0)
        rows = sql(cfg, "SELECT e.export_time, r.started_at FROM exports e JOIN flow_runs r USING (flow_run_id)")
        assert len(rows) == 8 and all(r - e == RUN_DELAY for e, r in rows)


def test_a_dataset_of_the_flow_never_exported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, place: Place) -> None:
    for w in make_world(tmp_path, monkeypatch, extra_datasets={"65a1b2c3d4e5f60718293a4b": "Orders"}):
        w.runs_for_exports(per_dataset=False)
        s = do_run(place.config(w, manifest=True))
        assert found(s) == [("dataset.not_exported", "65a1b2c3d4e5f60718293a4b")]
        assert s.exit_code == 2


def test_a_successful_run_whose_folder_is_missing(world: World, place: Place) -> None:
    world.runs_for_exports()
    gone = world.exports[DS_A][-1]
    shutil.rmtree(gone.path)
    s = do_run(place.config(world))
    assert found(s) == [("export.missing", DS_A)]
    assert s.findings[0].export_time == gone.export_time and s.exit_code == 2


def test_a_scheduled_slot_with_neither_run_nor_folder(world: World, place: Place) -> None:
    """Expected exports come from the schedule: a slot Flow Service never ran is export.missing,
    once per stretch of such slots, and storage's dataset.schedule_gap for the same hole is not
    raised beside it (one cause, one finding)."""
    world.runs_for_exports()
    hole = world.drop(DS_A, 1)  # between two present exports: storage alone calls it a schedule gap
    tail = [world.drop(DS_B, 2), world.drop(DS_B, 3)]  # the last two slots: the flow stopped running
    s = do_run(place.config(world))
    got = sorted((f.code, f.dataset_id, f.export_time) for f in s.findings)
    assert got == [
        ("export.missing", DS_A, hole.export_time),
        ("export.missing", DS_B, tail[0].export_time),
    ]
    assert s.exit_code == 2
    by_ds = {f.dataset_id: f.message for f in s.findings}
    assert "recorded no run for that scheduled time" in by_ds[DS_A] and "later scheduled time" not in by_ds[DS_A]
    assert f"and 1 later scheduled time(s) up to {iso(tail[1].export_time)}" in by_ds[DS_B]


def _day(d: int, h: int = 6) -> datetime:
    return datetime(2026, 11, d, h, tzinfo=UTC)  # NOW is the 20th, 12:00


@pytest.mark.parametrize(
    ("schedule", "state", "run_at", "retention", "expected"),
    [
        # the reconcile window: the last 7 days of slots (the 14th to the 20th), one stretch
        ((_day(10), None), "enabled", None, None, [("export.missing", _day(14), 6)]),
        # a slot younger than settle_time (2h) is not due yet
        ((_day(20, 11), None), "enabled", None, None, []),
        # nothing before startTime, nothing after endTime (which is itself flow.ended)
        ((_day(16), _day(18, 7)), "enabled", None, None, [("export.missing", _day(16), 2), ("flow.ended", None, 0)]),
        # a disabled flow skips its slots: flow.disabled is the one finding
        ((_day(10), None), "disabled", None, None, [("flow.disabled", None, 0)]),
        # the store's retention (DLZ: 7 days; here 2): an older empty slot may have been deleted
        ((_day(10), None), "enabled", None, timedelta(days=2), [("export.missing", _day(19), 1)]),
        # a slot whose run is still going is not missing: it splits the stretch
        (
            (_day(10), None),
            "enabled",
            _day(18, 7),
            None,
            [("export.missing", _day(14), 3), ("export.missing", _day(19), 1)],
        ),
    ],
    ids=["window", "settle", "start-end", "disabled", "retention", "in-progress"],
)
def test_expected_slots_come_from_the_schedule(
    tmp_path: Path,
    schedule: tuple[datetime, datetime | None],
    state: str,
    run_at: datetime | None,
    retention: timedelta | None,
    expected: list[tuple[str, datetime | None, int]],
) -> None:
    start, end = schedule
    flow = Flow(FLOW, "Dataset export", state, "", [], [], Schedule(start, 1, "day", end, None, None))
    runs = [] if run_at is None else [FlowRun("r1", FLOW, "processing", run_at, None, None, None, None, [], set())]
    dest = local_config(tmp_path, tmp_path).destinations[0]
    out = reconcile(dest, FlowSnapshot(flow, {DS_A: "Events"}, [], runs), runs, [], NOW, retention)
    got = sorted(
        (f.code, f.export_time, int(m.group(1)) if (m := re.search(r"and (\d+) later", f.message)) else 0)
        for f in out.findings
    )
    assert got == sorted(expected, key=lambda x: (x[0], x[1] or NOW))
    assert out.reconciled == {DS_A}


def test_a_folder_no_run_accounts_for(world: World, place: Place) -> None:
    world.runs_for_exports()
    orphan = world.exports[DS_B][1]
    world.fake.runs = [r for r in world.fake.runs if r["id"] != orphan.flow_run_id]
    s = do_run(place.config(world))
    assert found(s) == [("export.no_run", DS_B)]
    assert s.findings[0].export_time == orphan.export_time and s.exit_code == 1


def test_a_failed_run_is_reported_with_adobes_error(world: World, place: Place) -> None:
    world.runs_for_exports()
    world.drop(DS_A, 3), world.drop(DS_B, 3)  # tonight's slot: its one run failed, no folder (one finding)
    world.fake.add_run(
        FLOW,
        NOW - timedelta(hours=5, minutes=55),
        status="failed",
        errors=[{"code": "ACTIVATION_BATCH-0000-FAILED", "message": "Job aborted."}],
    )
    cfg = place.config(world)
    s = do_run(cfg)
    assert found(s) == [("flow.run_failed", None)] and s.exit_code == 2
    assert "ACTIVATION_BATCH-0000-FAILED: Job aborted." in s.findings[0].message
    # status shows the dataflow's health beside the storage's, for each of its datasets
    rows = queries.status(Catalog(cfg.catalog_path), now=NOW)
    flows = {r["dataset_id"]: r["dataflow"] for r in rows}
    assert set(flows) == {DS_A, DS_B}
    assert {(f["flow_id"], f["state"], f["last_run_status"], f["failed_runs_7d"]) for f in flows.values()} == {
        (FLOW, "enabled", "failed", 1)
    }
    # and so do the API and the dashboard's dataset page
    with contextlib.ExitStack() as stack:
        served = stack.enter_context(serve(create_app(cfg, start_scheduler=False)))
        http = stack.enter_context(httpx.Client(base_url=served.url, timeout=30))
        api = http.get("/api/datasets", params={"dataset_id": DS_A}).json()
        assert [(r["dataflow"]["flow_id"], r["dataflow"]["last_run_status"]) for r in api] == [(FLOW, "failed")]
        page = http.get(f"/datasets/{DS_A}").text
        assert 'id="dataset-flows"' in page and FLOW in page and ">failed " in page


_FLOW_CASES = [
    ({"state": "disabled"}, "flow.disabled", 1),
    ({"end": NOW + timedelta(days=5)}, "flow.ending", 1),
    ({"end": NOW - timedelta(hours=1)}, "flow.ended", 2),
    ({"file_type": "JSON"}, "flow.settings_mismatch", 1),
    ({"config": {"schedule": "12h"}}, "flow.settings_mismatch", 1),  # storage sees 12h gaps: not said twice
    ({"template": "%DESTINATION%_%DATASET_ID%_%DATETIME(YYYYMMdd_HHmmss)%"}, "flow.settings_mismatch", 1),
]


@pytest.mark.parametrize(
    ("place", "flow", "expected", "exit_code"),
    # every case locally; each code once on S3 (the settings cases differ only in what Adobe says)
    [("local", *c) for c in _FLOW_CASES] + [("s3", *c) for c in _FLOW_CASES[:4]],
    indirect=["place"],
    ids=[f"local-{c[1]}-{i}" for i, c in enumerate(_FLOW_CASES)] + [f"s3-{c[1]}" for c in _FLOW_CASES[:4]],
)
def test_flow_state_and_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, place: Place, flow: dict[str, Any], expected: str, exit_code: int
) -> None:
    flow = dict(flow)
    dest = flow.pop("config", {})
    for w in make_world(tmp_path, monkeypatch, **flow):
        w.runs_for_exports()
        s = do_run(place.config(w, **dest))
        assert (found(s), s.exit_code) == ([(expected, None)], exit_code)


def test_record_count_mismatch_only_at_full_level(world: World, place: Place) -> None:
    world.runs_for_exports()
    short = world.exports[DS_A][0]
    run = next(r for r in world.fake.runs if r["id"] == short.flow_run_id)
    run["metrics"]["recordSummary"]["outputRecordCount"] = short.record_count * 2
    cfg = place.config(world)
    assert codes(do_run(cfg, "metadata")) == []
    s = do_run(cfg, "full", now=NOW + timedelta(minutes=1))
    assert found(s) == [("export.record_count_mismatch", DS_A)]
    assert s.findings[0].export_time == short.export_time and s.exit_code == 1


def test_adobe_refusing_the_credentials_is_incomplete_and_storage_is_still_checked(
    world: World, monkeypatch: pytest.MonkeyPatch, place: Place
) -> None:
    world.runs_for_exports()
    monkeypatch.setenv("VERIFIER_TEST_AEP_WRONG", "not-the-secret-x9")
    cfg = place.config(world, "VERIFIER_TEST_AEP_WRONG")
    s = do_run(cfg)
    assert (found(s), s.exit_code, s.status) == ([("aep.unreachable", None)], 3, "incomplete")
    assert s.destinations[0].exports_checked == 8
    assert "client_secret" in s.findings[0].message
    stored = sql(cfg, "SELECT message FROM findings")
    assert all("not-the-secret-x9" not in m for (m,) in stored)


# -- the documented conflicts no other scenario serves -------------------------------------------


def _failed_tonight(w: World) -> None:
    """Tonight's slot ran once, for every dataset, and failed; it left no folder."""
    w.drop(DS_A, 3), w.drop(DS_B, 3)
    w.fake.add_run(
        FLOW,
        NOW - timedelta(hours=5, minutes=55),
        status="failed",
        errors=[{"code": "ACTIVATION_BATCH-0000-FAILED", "message": "Job aborted."}],
    )


@pytest.mark.parametrize(
    ("switches", "plant", "expected", "says"),
    [
        # the OAS enum's title case: a `Failed` run is a failed run
        (Switches(status_case="title"), _failed_tonight, [("flow.run_failed", None)], "Job aborted."),
        # x-sandbox-name optional (the guides; absent means prod): verifier sends it all the same
        (Switches(require_sandbox=False), None, [], ""),
        # error_code as a number (DEST-OAS) rather than a string (troubleshooting guide)
        (Switches(error_code_number=True), "wrong-org", [("aep.unreachable", None)], "403025 Profile is not valid"),
    ],
    ids=["status-title-case", "sandbox-optional", "error-code-number"],
)
def test_documented_conflicts(
    tmp_path: Path, world: World, switches: Switches, plant: Any, expected: list[Any], says: str
) -> None:
    world.fake.switches = switches
    world.runs_for_exports()
    if callable(plant):
        plant(world)
    cfg = config(tmp_path, world)
    if plant == "wrong-org":
        world.fake.org_id = "0000000000000000000000@AdobeOrg"  # the config's org id is now not the credential's
    s = do_run(cfg)
    assert found(s) == expected
    assert says in " ".join(f.message for f in s.findings)
    if plant is _failed_tonight:
        assert sql(cfg, "SELECT status, count(*) FROM flow_runs GROUP BY 1 ORDER BY 1") == [
            ("failed", 1),
            ("success", 6),
        ]


def test_a_one_time_full_export_interval_0(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DAILY_FULL_EXPORT goes with timeUnit day and interval 0 (EXP-API; the OAS enum lacks 0): one
    slot, at startTime. Its run succeeded for both datasets, one of which left no folder."""
    flow = {"export_mode": "DAILY_FULL_EXPORT", "interval": 0, "unit": "day"}
    for w in make_world(tmp_path, monkeypatch, count=1, **flow):
        w.runs_for_exports()
        shutil.rmtree(w.exports[DS_B][0].path)
        cfg = config(tmp_path, w, export_mode="full")
        s = do_run(cfg)
        assert (found(s), s.exit_code) == ([("dataset.not_exported", DS_B)], 2)
        assert sql(cfg, "SELECT dataset_id FROM exports WHERE flow_run_id IS NOT NULL") == [(DS_A,)]
