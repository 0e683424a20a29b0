"""`verifier init` and `verifier aep flows`, as a user runs them: from credentials to a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.aep_world import DS_A, DS_B, FLOW, make_world
from tests.servers import MotoServer, S3Store
from verifier import config as cfgmod


def verifier(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "verifier", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def test_init_writes_a_commented_config_and_never_overwrites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "verifier.toml"
    r = verifier("init", "--type", "s3", "--url", "s3://acme-backups/aep", "--output", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert 'key = "${AWS_ACCESS_KEY_ID}"' in text and "# flows = " in text
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    cfg = cfgmod.load(out)
    d = cfg.destinations[0]
    assert (d.name, d.type, d.url, d.format, cfg.catalog_path) == (
        "backups",
        "s3",
        "s3://acme-backups/aep",
        "parquet",
        tmp_path / "verifier.duckdb",
    )
    again = verifier("init", "--type", "local", "--url", "/x", "--output", str(out))
    assert again.returncode == 4 and "never overwrites" in again.stderr and out.read_text() == text


def test_from_aep_to_a_run_with_the_config_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_server: MotoServer
) -> None:
    store = S3Store(monkeypatch, moto_server)
    params: dict[str, Any] = {"bucketName": store.bucket, "path": "aep", "includeFileManifest": True}
    # a subprocess run judges by the wall clock: four daily exports, the last one settled (2h) by now
    start = (datetime.now(UTC) - timedelta(days=3, hours=2)).replace(minute=0, second=0, microsecond=0)
    for w in make_world(tmp_path, monkeypatch, start=start, params=params):
        w.runs_for_exports()
        store.upload(w.folder)
        aep = ["--org-id", w.fake.org_id, "--platform-url", w.url, "--ims-url", f"{w.url}/ims/token/v3"]
        env = {
            "AEP_CLIENT_ID": w.fake.client_id,
            "AEP_CLIENT_SECRET": w.fake.client_secret,
            "AWS_ACCESS_KEY_ID": moto_server.key,
            "AWS_SECRET_ACCESS_KEY": moto_server.secret,
            "AWS_ENDPOINT_URL": moto_server.endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        listed = verifier("aep", "flows", "--json", *aep, env=env)
        assert listed.returncode == 0, listed.stderr
        flows = json.loads(listed.stdout)["flows"]
        assert [(f["flow_id"], f["state"], f["type"], f["target"]["url"]) for f in flows] == [
            (FLOW, "enabled", "s3", f"s3://{store.bucket}/aep")
        ]
        assert flows[0]["datasets"] == {DS_A: "Events", DS_B: "Profiles"}
        assert w.fake.client_secret not in listed.stdout + listed.stderr

        init = verifier("init", "--from-aep", *aep, cwd=tmp_path, env=env)
        assert init.returncode == 0, init.stderr
        assert w.fake.client_secret not in (tmp_path / "verifier.toml").read_text()
        run = verifier("run", "--json", "-", cwd=tmp_path, env=env)
        summary = json.loads(run.stdout)
        assert ([f["code"] for f in summary["findings"]], run.returncode) == ([], 0), run.stderr
        assert summary["destinations"][0]["exports_checked"] == 8
