"""Corruption tests: a good generated export, one thing broken, exactly the one finding expected.

And none on the good exports, at every level.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from fixtures.defects import inject
from fixtures.generate import generate_dataset
from tests.helpers import START, codes, do_run, local_config

NOW = datetime(2026, 11, 19, 12, 0, tzinfo=UTC)  # the third daily export (06:00) is settled, none is stale

# defect, format, target export index, level at which it is first seen, the findings expected (sorted)
CASES: list[tuple[str, str, int, str, list[str]]] = [
    ("bad_export_time", "parquet", 2, "listing", ["layout.bad_export_time"]),
    ("unexpected_entry", "parquet", 1, "listing", ["layout.unexpected_entry"]),
    ("stray_dataset_file", "parquet", 1, "listing", ["layout.unexpected_entry"]),
    ("manifest_missing", "parquet", 1, "listing", ["manifest.missing"]),
    ("manifest_not_json", "parquet", 1, "listing", ["manifest.invalid"]),
    ("manifest_wrong_shape", "parquet", 1, "listing", ["manifest.invalid"]),
    ("manifest_path_traversal", "parquet", 1, "listing", ["manifest.invalid"]),
    ("manifest_absolute_name", "json", 1, "listing", ["manifest.invalid"]),
    ("manifest_file_missing", "parquet", 1, "listing", ["manifest.file_missing"]),
    ("manifest_size_mismatch", "json", 1, "listing", ["manifest.size_mismatch"]),
    ("manifest_unlisted_file", "parquet", 1, "listing", ["manifest.unlisted_file"]),
    ("manifest_time_mismatch", "parquet", 1, "listing", ["manifest.time_mismatch"]),
    ("file_empty", "parquet", 1, "listing", ["file.empty"]),
    ("file_empty", "json", 1, "listing", ["file.empty"]),
    ("unexpected_format", "parquet", 1, "metadata", ["file.unexpected_format"]),
    ("unexpected_format", "json", 1, "metadata", ["file.unexpected_format"]),
    ("parquet_bad_magic", "parquet", 1, "metadata", ["parquet.corrupt"]),
    ("parquet_truncated", "parquet", 1, "metadata", ["parquet.corrupt"]),
    ("parquet_bad_footer", "parquet", 1, "metadata", ["parquet.corrupt"]),
    ("parquet_footer_length_absurd", "parquet", 1, "metadata", ["parquet.corrupt"]),
    ("parquet_corrupt_page", "parquet", 1, "full", ["parquet.corrupt"]),
    ("json_bad_gzip", "json", 1, "full", ["json.corrupt"]),
    ("json_truncated", "json", 1, "full", ["json.corrupt"]),
    ("json_bad_utf8", "json", 1, "full", ["json.corrupt"]),
    ("json_not_object", "json", 1, "full", ["json.corrupt"]),
    ("json_bad_line", "json", 1, "full", ["json.corrupt"]),
    ("export_empty", "parquet", 1, "listing", ["export.empty"]),
    ("schema_drift", "parquet", 2, "metadata", ["dataset.schema_drift"]),
    ("delete_export", "parquet", 1, "listing", ["dataset.schedule_gap"]),
]
LOWER = {"listing": None, "metadata": "listing", "full": "metadata"}


def _dataset(tmp_path: Path, fmt: str, compression: str = "gzip") -> tuple[Path, list]:  # type: ignore[type-arg]
    folder = tmp_path / "exports"
    exports = generate_dataset(
        folder, fmt=fmt, compression=compression, start=START, count=3, seed=11, rows_full=120, rows_incremental=40
    )
    return folder, exports


@pytest.mark.parametrize("fmt,compression", [("parquet", "gzip"), ("parquet", "none"), ("json", "gzip")])
@pytest.mark.parametrize("level", ["listing", "metadata", "full"])
def test_good_exports_have_no_findings(tmp_path: Path, fmt: str, compression: str, level: str) -> None:
    folder, _ = _dataset(tmp_path, fmt, compression)
    config = local_config(tmp_path, folder, format=fmt, compression=compression)
    summary = do_run(config, level, now=NOW)
    assert codes(summary) == []
    assert summary.exit_code == 0
    assert summary.destinations[0].exports_checked == 3


@pytest.mark.parametrize("defect,fmt,index,level,expected", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_one_defect_one_finding(
    tmp_path: Path, defect: str, fmt: str, index: int, level: str, expected: list[str]
) -> None:
    folder, exports = _dataset(tmp_path, fmt)
    inject(exports[index], defect)
    # export_mode "full": each export stands alone, so a broken one breaks no restore chain here
    # (restore.chain_broken has tests of its own)
    config = local_config(tmp_path, folder, format=fmt, export_mode="full")
    summary = do_run(config, level, now=NOW)
    assert codes(summary) == expected
    worst = max(f.sev for f in summary.findings)
    assert summary.exit_code == (2 if str(worst) == "error" else 1)
    lower = LOWER[level]
    if lower is not None and defect != "schema_drift" and not defect.startswith("json_"):
        # the level below does not read what it takes to see it: a fresh catalog finds nothing
        # (JSON corruption may show at metadata already, when it lies in the head that level reads)
        (tmp_path / "lower").mkdir()
        fresh = local_config(tmp_path / "lower", folder, format=fmt, export_mode="full")
        assert codes(do_run(fresh, lower, now=NOW)) == []


def test_every_defect_of_the_generator_is_covered() -> None:
    from fixtures.defects import DEFECTS

    tested = {c[0] for c in CASES}
    untested = set(DEFECTS) - tested - {"flip_byte", "json_gzip_bomb", "json_long_line"}
    assert not untested, f"defects without a corruption test here: {sorted(untested)}"


def test_pending_export_is_not_failed_until_it_settles(tmp_path: Path) -> None:
    folder, exports = _dataset(tmp_path, "parquet")
    inject(exports[2], "manifest_file_missing")  # half-written: a listed file not there yet
    config = local_config(tmp_path, folder)
    just_after = exports[2].export_time.replace(minute=30)  # 30 min after the 06:00 export: younger than 2h
    summary = do_run(config, "metadata", now=just_after)
    assert codes(summary) == []
    from tests.helpers import sql

    assert sql(config, "SELECT status FROM exports ORDER BY export_time") == [("ok",), ("ok",), ("pending",)]
    # the next run, after settle_time, judges it
    summary = do_run(config, "metadata", now=NOW)
    assert codes(summary) == ["manifest.file_missing"]
    assert sql(config, "SELECT status FROM exports ORDER BY export_time") == [("ok",), ("ok",), ("failed",)]


def test_stale_dataset(tmp_path: Path) -> None:
    folder, _ = _dataset(tmp_path, "parquet")
    config = local_config(tmp_path, folder)
    summary = do_run(config, "listing", now=datetime(2026, 11, 25, tzinfo=UTC))
    assert codes(summary) == ["dataset.stale"]
    assert summary.exit_code == 1


def test_fourteen_digit_export_times_are_accepted(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    generate_dataset(folder, start=START, count=3, seed=3, digits=14)
    config = local_config(tmp_path, folder)
    summary = do_run(config, "metadata", now=NOW)
    assert codes(summary) == []
    from tests.helpers import sql

    assert [r[0].hour for r in sql(config, "SELECT export_time FROM exports ORDER BY 1")] == [6, 6, 6]


def test_severity_override(tmp_path: Path) -> None:
    folder, exports = _dataset(tmp_path, "parquet")
    inject(exports[1], "unexpected_entry")
    config = local_config(tmp_path, folder, extra='[severity]\n"layout.unexpected_entry" = "error"\n')
    summary = do_run(config, "listing", now=NOW)
    assert [(f.code, str(f.sev)) for f in summary.findings] == [("layout.unexpected_entry", "error")]
    assert summary.exit_code == 2


def test_a_broken_link_breaks_the_restore_chain_of_later_exports(tmp_path: Path) -> None:
    folder, exports = _dataset(tmp_path, "parquet")
    inject(exports[1], "parquet_truncated")
    config = local_config(tmp_path, folder)  # first full, then incremental
    summary = do_run(config, "metadata", now=NOW)
    assert codes(summary) == ["parquet.corrupt", "restore.chain_broken"]
    (chain,) = [f for f in summary.findings if f.code == "restore.chain_broken"]
    assert chain.export_time == exports[1].export_time
    assert "the 1 later export(s)" in chain.message
    # a broken last link breaks nothing after it
    folder2 = tmp_path / "second"
    exports2 = generate_dataset(folder2, start=START, count=3, seed=12)
    inject(exports2[2], "parquet_truncated")
    (tmp_path / "b").mkdir()
    assert codes(do_run(local_config(tmp_path / "b", folder2), "metadata", now=NOW)) == ["parquet.corrupt"]
