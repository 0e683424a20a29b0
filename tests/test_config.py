"""A bad config is refused before anything runs, naming the file, the key and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from verifier import config as cfgmod
from verifier.errors import ConfigError


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> cfgmod.Config:
    p = tmp_path / "v.toml"
    p.write_text(text)
    return cfgmod.load(p, environ=env or {})


GOOD = """
[catalog]
path = "cat.duckdb"
[defaults]
format = "json"
schedule = "6h"
[[destinations]]
name = "a"
type = "local"
url = "/data/exports"
[[destinations]]
name = "b"
type = "local"
url = "file:///data/other"
format = "parquet"
compression = "none"
stale_after = "3d"
"""


def test_defaults_inherit_and_destination_wins(tmp_path: Path) -> None:
    c = load(tmp_path, GOOD)
    a, b = c.destinations
    assert (a.format, a.compression, a.schedule.total_seconds() if a.schedule else None) == ("json", "gzip", 6 * 3600)
    assert (b.format, b.compression, b.stale_after.days) == ("parquet", "none", 3)
    assert c.catalog_path == tmp_path / "cat.duckdb"


@pytest.mark.parametrize(
    "text,where,why",
    [
        ("[catalog]\npath = 1\n[bogus]\n", "bogus", "unknown key"),
        (
            "[defaults]\nformat = \"csv\"\n[[destinations]]\nname='a'\ntype='local'\nurl='/x'\n",
            "destinations[a].format",
            "'csv'",
        ),
        ("[[destinations]]\nname='a'\ntype='nfs'\nurl='/x'\n", "destinations[a].type", "not a known backend"),
        ("[[destinations]]\nname='a'\ntype='local'\nurl='/x'\nschedule='5h'\n", "destinations[a].schedule", "5h"),
        (
            "[[destinations]]\nname='a'\ntype='local'\nurl='/x'\nsettle_time='soon'\n",
            "destinations[a].settle_time",
            "not a duration",
        ),
        ("[[destinations]]\nname='a'\ntype='local'\nurl='/x'\ncolour='red'\n", "destinations[0].colour", "unknown key"),
        (
            "[[destinations]]\nname='a'\ntype='local'\nurl='/x'\n[destinations.secrets]\nkey='hunter2'\n",
            "destinations[a].secrets.key",
            "environment reference",
        ),
        (
            "[[destinations]]\nname='a'\ntype='local'\nurl='/x'\n[destinations.secrets]\nkey='${NOPE}'\n",
            "destinations[a].secrets.key",
            "NOPE is not set",
        ),
        (
            "[[destinations]]\nname='a'\ntype='local'\nurl='/x'\n[[destinations]]\nname='a'\ntype='local'\nurl='/y'\n",
            "destinations[1].name",
            "duplicate",
        ),
        (
            "[[destinations]]\nname='a'\ntype='local'\nurl='/x'\nformat='json'\ncompression='none'\n",
            "destinations[a].compression",
            "gzip",
        ),
        ('[severity]\n"file.bogus" = "error"\n', "severity.file.bogus", "unknown finding code"),
        ('[severity]\n"file.empty" = "fatal"\n', "severity.file.empty", "unknown severity"),
        ('[service]\nschedule = "61 * * * *"\n', "service.schedule", "outside"),
        ("not toml [", "", "not valid TOML"),
    ],
)
def test_bad_config_names_file_key_and_reason(tmp_path: Path, text: str, where: str, why: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text)
    msg = str(err.value)
    assert msg.startswith(str(tmp_path / "v.toml"))
    assert where in msg
    assert why in msg


def test_secrets_are_resolved_and_never_shown(tmp_path: Path) -> None:
    text = "[[destinations]]\nname='a'\ntype='local'\nurl='/x'\n[destinations.secrets]\ntoken='${TOK}'\n"
    c = load(tmp_path, text, {"TOK": "s3cr3t-value"})
    d = c.destinations[0]
    assert d.secrets == {"token": "s3cr3t-value"}
    assert "s3cr3t" not in repr(d) and "s3cr3t" not in repr(c)
    from verifier.redact import scrub

    assert scrub("failed with s3cr3t-value inside") == "failed with *** inside"


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        cfgmod.load(tmp_path / "absent.toml")
