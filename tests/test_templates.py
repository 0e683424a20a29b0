"""Custom folder name templates: parsed from Adobe's macros, scanned, checked and restored like the
default layout; a dataflow writing by the same template reconciles cleanly."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fixtures.defects import inject
from tests.aep_world import DS_A, DS_B, FLOW, make_world
from tests.helpers import NOW, do_run, local_config, sql
from verifier.aep.fetch import FlowSnapshot
from verifier.aep.model import Flow, Schedule, Target
from verifier.aep.onboard import destination_blocks
from verifier.aep.reconcile import settings_differences
from verifier.errors import ConfigError
from verifier.restore import fetch
from verifier.restore.plan import plan
from verifier.templates import TemplateError, compile_template
from verifier.testing.aep_fake import Switches

FLAT = "%DESTINATION%_%DATASET_ID%_%DATETIME(YYYYMMdd_HHmmss)%"


def test_macros_become_matchers() -> None:
    t = compile_template(FLAT)
    assert t.match(["my_s3_dest_5ef3e324052581191aa6a466_20261117_060000"]) == (
        "5ef3e324052581191aa6a466",
        datetime(2026, 11, 17, 6, 0, tzinfo=UTC),
        "202611170600",
    )
    nested = compile_template("backups/%SANDBOX_NAME%/%DATASET_ID%/%EXPORT_TIME%")
    assert nested.match(["backups", "prod", "ds1", "exportTime=20261117060030"])[1:] == (  # type: ignore[index]
        datetime(2026, 11, 17, 6, 0, 30, tzinfo=UTC),
        "20261117060030",
    )
    assert nested.match(["backups", "prod", "ds1"]) is None
    assert compile_template(FLAT).match(["x_ds_20261399_060000"]) is None  # month 13


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("/", "neither the dataset nor the export time can be told from them"),
        ("%DATASET_ID%", "%DATASET_ID% and %EXPORT_TIME% or %DATETIME"),
        ("%DATASET_ID%/%RUN_ID%/%EXPORT_TIME%", "unknown macro %RUN_ID%"),
        ("%DATASET_ID%_%DATETIME(YYYYMMdd_QQ)%", "letters verifier does not know"),
    ],
)
def test_templates_verifier_cannot_scan_are_config_errors(tmp_path: Path, template: str, says: str) -> None:
    with pytest.raises(TemplateError, match=None) as info:
        compile_template(template)
    assert says in str(info.value)
    with pytest.raises(ConfigError, match=r"destinations\[local\]\.folder_template"):
        local_config(tmp_path, tmp_path, folder_template=template)


def _retemplate(folder: Path, out: Path) -> None:
    """Move a default-layout tree into FLAT's layout: <dest>_<dataset>_<YYYYMMdd_HHmmss>/<files>."""
    for export in sorted(folder.glob("*/exportTime=*")):
        t = datetime.strptime(export.name.split("=", 1)[1], "%Y%m%d%H%M")
        shutil.move(str(export), out / f"acme_s3_{export.parent.name}_{t:%Y%m%d_%H%M%S}")


def test_a_custom_template_verifies_like_the_default_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for w in make_world(tmp_path, monkeypatch, template=FLAT):
        # Adobe's API reference spells it folderNameTemplate (the guide: foldernameTemplate, served by
        # the settings_mismatch scenario of test_aep_reconcile); not read, it would be a mismatch here
        w.fake.switches = Switches(template_field="folderNameTemplate")
        w.runs_for_exports()
        inject(w.exports[DS_B][3], "parquet_truncated")
        flat = tmp_path / "flat"
        flat.mkdir()
        _retemplate(w.folder, flat)
        (flat / "notes.txt").write_text("stray")
        cfg = local_config(tmp_path, flat, w.aep_toml(), flows=[FLOW], stale_after="3650d", folder_template=FLAT)
        s = do_run(cfg, "full")
        got = sorted((f.code, f.dataset_id, f.export_time) for f in s.findings)
        bad = w.exports[DS_B][3].export_time
        assert got == [("layout.unexpected_entry", None, None), ("parquet.corrupt", DS_B, bad)]
        assert s.destinations[0].exports_checked == 8
        assert sql(cfg, "SELECT count(*) FROM exports WHERE flow_run_id IS NOT NULL") == [(8,)]
        # restore works from the template's folders, into the usual layout
        p = plan(cfg, DS_A, NOW)
        assert p.intact and len(p.links) == 4
        out = tmp_path / "restored"
        r = fetch.restore(cfg, DS_A, NOW, out)
        assert r.exit_code == 0 and r.count("restored") == sum(len(e.files) for e in w.exports[DS_A])
        first = w.exports[DS_A][0]
        name = first.files[0].name
        moved = flat / f"acme_s3_{DS_A}_{first.export_time:%Y%m%d_%H%M%S}" / name
        assert (out / DS_A / f"exportTime={first.export_time:%Y%m%d%H%M}" / name).read_bytes() == moved.read_bytes()


def test_a_dataflow_writing_everything_in_one_folder_is_explained_not_configured(tmp_path: Path) -> None:
    """`/` (Adobe's UI allows it): randomly named files of every dataset in one folder cannot be
    verified; init --from-aep says so in a comment instead of writing a config that fails to load,
    and the run's flow.settings_mismatch names the template."""
    schedule = Schedule(NOW, 1, "day", None, "FIRST_FULL_THEN_INCREMENTAL", "/")
    flow = Flow(FLOW, "Everything", "enabled", "269ba276-16fc-47db-92b0-c1049a3c131f", [], [], schedule)
    target = Target("tgt", "parquet", "gzip", "aep", "acme-backups", True, None)
    snap = FlowSnapshot(flow, {DS_A: "Events"}, [target])
    block = destination_blocks([snap])
    assert 'folder template is "/"' in block and "folder_template =" not in block
    assert "%DATASET_ID%/%EXPORT_TIME%" in block
    dest = local_config(tmp_path, tmp_path).destinations[0]
    assert settings_differences(dest, snap) == [
        "folder template '/' in the dataflow, '%DATASET_ID%/%EXPORT_TIME%' in the config"
    ]
