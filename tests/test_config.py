"""A bad config is refused before anything runs, naming the file, the key and what is wrong."""

from __future__ import annotations

from datetime import timedelta
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
            "defaults.format",
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
        ('[limits]\nmax_footer = "1GiB"\n', "limits.max_footer", "allowed: check_seconds, expansion_floor_bytes"),
        ('[limits]\nmax_row_group_bytes = "lots"\n', "limits.max_row_group_bytes", "not a size"),
        ("[limits]\nmax_rows = 0\n", "limits.max_rows", "must be more than 0"),
        ('[limits]\nmax_columns = "many"\n', "limits.max_columns", "not a count"),
        ("[limits]\nmax_line_bytes = true\n", "limits.max_line_bytes", "not a size"),
        ('[limits]\ncheck_seconds = "soon"\n', "limits.check_seconds", "not a duration"),
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


PGP = "[[destinations]]\nname='a'\ntype='local'\nurl='/x'\nencryption='pgp'\n"
FPR = "A3F3 4224 B7E9 1D78 381B  2F35 4339 53E2 85D2 E072"  # as gpg prints it
ARMOURED = "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nxx\n-----END PGP PRIVATE KEY BLOCK-----\n"


def test_pgp_destination_options_and_secrets(tmp_path: Path) -> None:
    text = PGP + f"pgp_recipient = '{FPR}'\n[destinations.secrets]\npgp_private_key='${{K}}'\npgp_passphrase='${{P}}'\n"
    d = load(tmp_path, text, {"K": ARMOURED, "P": "pw-9"}).destinations[0]
    assert (d.encryption, d.pgp_recipients) == ("pgp", ("A3F34224B7E91D78381B2F35433953E285D2E072",))
    assert d.pgp_secrets == {"pgp_private_key": ARMOURED, "pgp_passphrase": "pw-9"}
    assert d.secrets == {}  # never handed to the store client
    two = load(tmp_path, PGP + "pgp_recipient = ['0x433953E285D2E072', '" + "AB" * 32 + "']\n").destinations[0]
    assert two.pgp_recipients == ("433953E285D2E072", "AB" * 32)
    plain = load(tmp_path, "[[destinations]]\nname='a'\ntype='local'\nurl='/x'\n").destinations[0]
    assert (plain.encryption, plain.pgp_recipients) == ("none", ())


@pytest.mark.parametrize(
    ("text", "env", "where", "why"),
    [
        (PGP, {}, "destinations[a].pgp_recipient", "required"),
        (PGP + "pgp_recipient='1234'\n", {}, "destinations[a].pgp_recipient", "not a fingerprint"),
        (PGP.replace("'pgp'", "'aes'") + f"pgp_recipient='{FPR}'\n", {}, "destinations[a].encryption", "'aes'"),
        (PGP.replace("encryption='pgp'\n", f"pgp_recipient='{FPR}'\n"), {}, "a].pgp_recipient", "only used with"),
        (
            PGP + f"pgp_recipient='{FPR}'\n[destinations.secrets]\npgp_private_key='${{K}}'\n",
            {"K": "-----BEGIN PGP PUBLIC KEY BLOCK-----"},
            "destinations[a].secrets.pgp_private_key",
            "not an ASCII-armoured OpenPGP private key",
        ),
        (
            PGP + f"pgp_recipient='{FPR}'\n[destinations.secrets]\npgp_passphrase='${{P}}'\n",
            {"P": "pw"},
            "destinations[a].secrets.pgp_passphrase",
            "together with secrets.pgp_private_key",
        ),
        (
            PGP.replace("'local'\nurl='/x'", "'dlz'\nurl='https://a.blob.core.windows.net/dlz-destination'")
            + f"pgp_recipient='{FPR}'\n",
            {},
            "destinations[a].encryption",
            "Data Landing Zone",
        ),
    ],
)
def test_bad_pgp_config(tmp_path: Path, text: str, env: dict[str, str], where: str, why: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text, env)
    assert where in str(err.value) and why in str(err.value)
    assert "BEGIN PGP" not in str(err.value)


def test_limits_table_raises_the_decode_limit(tmp_path: Path) -> None:
    cfg = load(tmp_path, GOOD + '[limits]\nmax_row_group_bytes = "4GiB"\n')
    assert cfg.limits == {"MAX_ROW_GROUP_BYTES": 4 * 1024**3}
    assert load(tmp_path, GOOD).limits == {}


def test_every_limit_has_a_key_of_its_kind(tmp_path: Path) -> None:
    text = (
        '[limits]\nmax_footer_bytes = "128MiB"\nmax_row_groups = 200_000\nmax_columns = "300000"\n'
        "max_column_chunks = 4000000\nmax_rows = 1000000000000\nmax_line_bytes = 268435456\n"
        'max_expansion_ratio = 1000\nexpansion_floor_bytes = "1GiB"\ncheck_seconds = "15m"\n'
        'worker_memory_bytes = "8GiB"\n'
    )
    cfg = load(tmp_path, GOOD + text)
    assert cfg.limits == {
        "MAX_FOOTER_BYTES": 128 * 1024**2,
        "MAX_ROW_GROUPS": 200_000,
        "MAX_COLUMNS": 300_000,
        "MAX_COLUMN_CHUNKS": 4_000_000,
        "MAX_ROWS": 10**12,
        "MAX_LINE_BYTES": 256 * 1024**2,
        "MAX_EXPANSION_RATIO": 1000,
        "EXPANSION_FLOOR_BYTES": 1024**3,
        "CHECK_SECONDS": 900,
        "WORKER_MEMORY_BYTES": 8 * 1024**3,
    }
    assert load(tmp_path, GOOD).limits == {}


def test_the_schedule_message_lists_every_accepted_schedule(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, "[[destinations]]\nname='a'\ntype='local'\nurl='/x'\nschedule='5h'\n")
    assert str(err.value).endswith("destinations[a].schedule: '5h': use one of 3h, 6h, 8h, 9h, 12h, 24h, 1d or auto")
    assert load(tmp_path, "[[destinations]]\nname='a'\ntype='local'\nurl='/x'\nschedule='9h'\n").destinations[
        0
    ].schedule == timedelta(hours=9)


def test_a_relative_local_url_is_taken_from_the_config_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "conf"
    (folder / "exports").mkdir(parents=True)
    (tmp_path / "shared").mkdir()
    monkeypatch.chdir(tmp_path / "shared")  # not where the config is
    cfg = load(
        folder,
        "[[destinations]]\nname='a'\ntype='local'\nurl='exports'\n"
        "[[destinations]]\nname='b'\ntype='local'\nurl='file://../shared'\n",
    )
    assert [d.url for d in cfg.destinations] == [str(folder / "exports"), str(tmp_path / "shared")]
