"""`verifier init` -> `doctor` -> `run` from an empty folder, and what doctor says when it cannot
reach a store or a credential is about to expire (SPEC §11)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fixtures.generate import generate_dataset
from tests.helpers import START
from verifier import credentials
from verifier.settings import Destination

VERIFIER = [sys.executable, "-m", "verifier"]


def cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VERIFIER, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env={**os.environ, **(env or {})}
    )


def test_init_doctor_run_from_an_empty_folder(tmp_path: Path) -> None:
    generate_dataset(
        tmp_path / "exports", dataset_id="ds1", start=START, count=2, seed=2, rows_full=20, rows_incremental=5
    )
    r = cli(tmp_path, "init", "--type", "local", "--url", "exports", "--schedule", "auto")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "verifier.toml").exists()
    doc = cli(tmp_path, "doctor", "--json")
    assert doc.returncode == 0, doc.stderr
    checks = {c["check"]: c["outcome"] for c in json.loads(doc.stdout)}
    assert checks == {"config": "ok", "list": "ok", "read": "ok", "clock": "ok"}
    assert not (tmp_path / "verifier.duckdb").exists()  # doctor records nothing
    run = cli(tmp_path, "run", "--json", "-")
    assert run.returncode in (0, 1), run.stderr  # 1 if the exports are stale by now
    assert json.loads(run.stdout)["destinations"][0]["exports_seen"] == 2


def test_doctor_reports_an_unreachable_store_and_an_expiring_sas(tmp_path: Path) -> None:
    se = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%MZ")
    token = f"sv=2022-11-02&ss=b&srt=co&sp=rl&se={se}&sig=c2VjcmV0c2lnbmF0dXJlZm9ydGVzdA%3D%3D"
    (tmp_path / "verifier.toml").write_text(
        '[[destinations]]\nname = "dlz"\ntype = "dlz"\n'
        'url = "https://127.0.0.1:1/devstoreaccount1/dlz-destination/aep"\n'
        '[destinations.secrets]\nsas_token = "${DLZ_SAS}"\n'
    )
    r = cli(tmp_path, "doctor", "--json", env={"DLZ_SAS": token})
    assert r.returncode == 3, r.stdout + r.stderr
    rows = json.loads(r.stdout)
    by = {c["check"]: c for c in rows}
    assert by["credentials"]["outcome"] == "warning"
    assert by["credentials"]["detail"].startswith("secrets.sas_token expires on ")
    assert by["list"]["outcome"] == "failed"
    assert "c2VjcmV0c2lnbmF0dXJlZm9ydGVzdA" not in r.stdout + r.stderr

    # every run says it too, beside the unreachable store
    run = cli(tmp_path, "run", "--json", "-", env={"DLZ_SAS": token})
    assert run.returncode == 3, run.stderr
    assert json.loads(run.stdout)["by_code"] == {"backend.credentials_expiring": 1, "backend.unreachable": 1}


def test_credential_expiry_findings() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)

    def dest(**secrets: str) -> Destination:
        return Destination(name="d", type="dlz", url=None, secrets=secrets)

    assert credentials.findings(dest(sas_token="sp=rl&se=2027-01-30T00:00:00Z&sig=x"), now) == []
    (soon,) = credentials.findings(dest(sas_token="?sp=rl&se=2026-12-10T00:00:00Z&sig=x"), now)
    assert (soon.code, str(soon.sev)) == ("backend.credentials_expiring", "warning")
    (gone,) = credentials.findings(dest(sas_url="https://a.blob.core.windows.net/c?se=2026-11-30&sig=x"), now)
    assert str(gone.sev) == "error" and "expired on 2026-11-30" in gone.message
    conn = "BlobEndpoint=https://a/;SharedAccessSignature=sv=1&se=2026-12-05T00:00:00Z&sig=x"
    (c,) = credentials.findings(dest(connection_string=conn), now)
    assert c.message.startswith("secrets.connection_string (SharedAccessSignature) expires on 2026-12-05 00:00 UTC")
