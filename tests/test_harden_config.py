"""Issue 15 (3, 7 and "also"): credentials are refused wherever the config would print or store
them, and a hostile TOML file is a config error, never an internal one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from verifier import config as cfgmod
from verifier.errors import ConfigError

SECRET = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> cfgmod.Config:
    p = tmp_path / "v.toml"
    p.write_text(text)
    return cfgmod.load(p, environ=env or {})


def dest(btype: str, url: str, extra: str = "") -> str:
    return f"[[destinations]]\nname = 'd'\ntype = '{btype}'\nurl = '{url}'\n{extra}"


@pytest.mark.parametrize(
    "btype,url,why",
    [
        ("s3", f"s3://AKIAEXAMPLE:{SECRET}@bucket/p", "holds a password or secret key"),
        ("gcs", f"gs://user:{SECRET}@bucket/p", "holds a password or secret key"),
        ("sftp", f"sftp://backup:{SECRET}@host/exports", "holds a password or secret key"),
        (
            "s3",
            f"s3://bucket/p?X-Amz-Signature={SECRET}&X-Amz-Expires=60",
            "query holds a credential (X-Amz-Signature=",
        ),
        ("adls_gen2", f"abfss://c@acct.dfs.core.windows.net/p?sv=2022&sig={SECRET}", "query holds a credential (sig="),
        ("s3", "s3://bucket/p?sig=", "query holds a credential (sig="),
    ],
)
def test_a_credential_in_the_url_is_refused(tmp_path: Path, btype: str, url: str, why: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, dest(btype, url))
    text = str(exc.value)
    assert f"{tmp_path / 'v.toml'}: destinations[d].url: the URL" in text
    assert why in text
    assert "[destinations.secrets]" in text
    assert SECRET not in text


def test_a_user_name_alone_and_a_harmless_query_pass(tmp_path: Path) -> None:
    c = load(tmp_path, dest("sftp", "sftp://backup@host:2222/exports"))
    assert c.destinations[0].url == "sftp://backup@host:2222/exports"


@pytest.mark.parametrize(
    "btype,url,options,where",
    [
        ("s3", "s3://b/p", f"key = 'AKIA'\nsecret = '{SECRET}'", "options.key"),
        ("adls_gen2", "abfss://c@a.dfs.core.windows.net/p", f"account_key = '{SECRET}'", "options.account_key"),
        ("adls_gen2", "abfss://c@a.dfs.core.windows.net/p", f"sas_token = '{SECRET}'", "options.sas_token"),
        ("sftp", "sftp://u@h/p", f"password = '{SECRET}'", "options.password"),
        ("gcs", "gs://b/p", f"token = '{SECRET}'", "options.token"),
        (
            "s3",
            "s3://b/p",
            f"client_kwargs = {{ aws_secret_access_key = '{SECRET}' }}",
            "options.client_kwargs.aws_secret_access_key",
        ),
    ],
)
def test_a_secret_option_is_refused_outside_secrets(
    tmp_path: Path, btype: str, url: str, options: str, where: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, dest(btype, url, f"[destinations.options]\n{options}\n"))
    text = str(exc.value)
    assert f"destinations[d].{where}: a credential, never written in the config" in text
    assert "[destinations.secrets]" in text
    assert SECRET not in text


def test_a_token_naming_a_source_is_not_a_secret(tmp_path: Path) -> None:
    c = load(tmp_path, dest("gcs", "gs://b/p", "[destinations.options]\ntoken = 'anon'\n"))
    assert c.destinations[0].options == {"token": "anon"}


def test_an_empty_secret_is_refused(tmp_path: Path) -> None:
    text = dest("s3", "s3://b/p", "[destinations.secrets]\nsecret = '${EMPTY}'\n")
    with pytest.raises(ConfigError, match=r"destinations\[d\]\.secrets\.secret: environment variable EMPTY is empty"):
        load(tmp_path, text, {"EMPTY": ""})
    svc = "[service.secrets]\ntoken = '${T}'\n"
    with pytest.raises(ConfigError, match=r"service\.secrets\.token: environment variable T is empty"):
        load(tmp_path, svc, {"T": ""})


def test_toml_nested_5000_deep_is_a_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "v.toml"
    cfg.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "verifier", "status", "--config", str(cfg)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 4
    assert proc.stderr == f"verifier: {cfg}: not valid TOML: arrays or tables nested too deeply\n"


def test_a_short_token_is_refused_off_loopback(tmp_path: Path) -> None:
    token = "x"
    cfg = tmp_path / "v.toml"
    cfg.write_text("[service.secrets]\ntoken = '${VERIFIER_TOKEN}'\n")
    proc = subprocess.run(
        [sys.executable, "-m", "verifier", "serve", "--config", str(cfg), "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "VERIFIER_TOKEN": token},
    )
    assert proc.returncode == 4
    assert proc.stderr == (
        f"verifier: {cfg}: service.secrets.token: {len(token)} characters is too short to serve on a "
        "non-loopback address; use at least 32 (e.g. `openssl rand -hex 32`)\n"
    )
