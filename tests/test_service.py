"""`verifier serve`: the HTTP API against a real uvicorn on a free 127.0.0.1 port, over a catalog
built by a real run of generated exports (one dataset with a broken export)."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from fixtures.defects import inject
from fixtures.generate import generate_dataset
from tests.helpers import write_config
from verifier import config as cfgmod
from verifier import runner, writer_waiting
from verifier.errors import ConfigError
from verifier.runner import RunOptions
from verifier.service.app import create_app

TOKEN = "s3cr3t-service-token-for-tests-0123456789"
GOOD, BROKEN, SLOW = "a1b2c3d4e5f6a7b8c9d0e1f2", "0badc0de0badc0de0badc0de", "5104de5104de5104de5104de"


@dataclass
class Env:
    tmp: Path
    config: cfgmod.Config
    config_path: Path
    start: datetime
    run_id: int


@dataclass
class Served:
    url: str
    app: Any
    server: uvicorn.Server

    def client(self, token: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kw)


def build_env(tmp: Path) -> Env:
    """Two datasets on `main` (GOOD: 5 daily exports, all fine; BROKEN: the 3rd of 5 has a corrupt
    Parquet file), verified once; and `slow` with 12 exports never verified, for on-demand runs."""
    now = datetime.now(UTC)
    start = (now - timedelta(days=5)).replace(hour=6, minute=0, second=0, microsecond=0)
    main, slow = tmp / "exports" / "main", tmp / "exports" / "slow"
    kw: dict[str, Any] = {"start": start, "rows_full": 60, "rows_incremental": 20, "files_per_export": 1}
    generate_dataset(main, GOOD, count=5, **kw)
    broken = generate_dataset(main, BROKEN, count=5, seed=1, **kw)
    inject(broken[2], "parquet_bad_magic")
    generate_dataset(
        slow,
        SLOW,
        count=12,
        seed=2,
        start=start - timedelta(days=7),
        cadence=timedelta(hours=12),
        rows_full=20,
        rows_incremental=5,
        files_per_export=1,
    )
    extra = '[service]\nlevel = "metadata"\n[service.secrets]\ntoken = "${VERIFIER_TEST_TOKEN}"\n'
    path = write_config(
        tmp,
        [
            {"name": "main", "type": "local", "url": str(main)},
            {"name": "slow", "type": "local", "url": str(slow), "schedule": "12h", "stale_after": "30d"},
        ],
        extra,
    )
    config = cfgmod.load(path, environ={"VERIFIER_TEST_TOKEN": TOKEN})
    summary = runner.run(config, RunOptions(level="full", destinations=["main"]))
    return Env(tmp, config, path, start, summary.run_id)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(app: Any) -> Iterator[Served]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", app, server)
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    return build_env(tmp_path_factory.mktemp("service"))


@pytest.fixture(scope="module")
def api(env: Env) -> Iterator[Served]:
    """The service with the token configured (so every path but /healthz needs it)."""
    with serve(create_app(env.config, sql_timeout_s=3.0)) as s:
        yield s


@pytest.fixture
def http(api: Served) -> Iterator[httpx.Client]:
    with api.client(TOKEN) as c:
        yield c


# -- health, auth, limits -------------------------------------------------------------------------
def test_healthz_needs_no_token(api: Served) -> None:
    with api.client() as c:
        r = c.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/api/datasets", "/api/runs", "/metrics", "/openapi.json", "/api/findings"])
def test_everything_else_needs_the_token(api: Served, path: str) -> None:
    with api.client() as anon, api.client("wrong-token") as wrong, api.client(TOKEN) as good:
        r = anon.get(path)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"] == "authentication required"
        assert wrong.get(path).status_code == 401
        ok = good.get(path)
        assert ok.status_code == 200
        assert TOKEN not in ok.text  # no secret in any answer
        assert anon.post("/api/sql", json={"query": "SELECT 1"}).status_code == 401
        assert anon.post("/api/runs").status_code == 401


def test_dashboard_token_once_sets_a_session_cookie(api: Served) -> None:
    with api.client() as c:
        assert c.get("/").status_code == 401
        assert c.get("/?token=nope").status_code == 401
        r = c.get("/?token=" + TOKEN, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == "/"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert TOKEN not in cookie  # an HMAC of the token, not the token
        page = c.get("/")
        assert page.status_code == 200
        assert "Backup health" in page.text
        # the cookie opens pages only, never the API
        assert c.get("/api/datasets").status_code == 401
        # a cross-site form post with the cookie is refused
        assert c.post("/run", headers={"Origin": "https://evil.example"}).status_code == 403


def test_exposed_without_token_refuses_to_start(env: Env, tmp_path: Path) -> None:
    no_token = cfgmod.load(write_config(tmp_path, [{"name": "x", "type": "local", "url": str(tmp_path)}]))
    with pytest.raises(ConfigError, match="token: required when serving on a non-loopback address"):
        create_app(no_token, exposed=True)
    create_app(env.config, exposed=True)  # with a token it starts
    create_app(no_token, exposed=False)  # and on loopback a token is optional
    proc = subprocess.run(
        [sys.executable, "-m", "verifier", "serve", "--config", str(tmp_path / "verifier.toml"), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "VERIFIER_CONFIG": ""},
    )
    assert proc.returncode == 4, proc.stderr
    assert "refusing to serve on 0.0.0.0 without a token" in proc.stderr


def test_body_too_large_and_bad_json(http: httpx.Client) -> None:
    big = '{"query": "SELECT ' + "1" * (70 * 1024) + '"}'
    r = http.post("/api/sql", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json() == {"error": "request body too large", "detail": "at most 65536 bytes"}

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(70):
            yield b" " * 1024

    r = http.post("/api/sql", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    r = http.post("/api/sql", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"] == "body is not valid JSON"
    r = http.post("/api/sql", json={"query": "SELECT 1", "extra": 1})
    assert r.status_code == 422
    assert r.json()["error"] == "request does not validate"


def test_unknown_path_is_json_404(http: httpx.Client) -> None:
    r = http.get("/api/nope")
    assert r.status_code == 404
    assert r.json() == {"error": "not found", "detail": None}


# -- reading the catalog ----------------------------------------------------------------------------
def test_datasets(http: httpx.Client, env: Env) -> None:
    r = http.get("/api/datasets")
    assert r.status_code == 200
    rows = {d["dataset_id"]: d for d in r.json()}
    assert set(rows) == {GOOD, BROKEN}
    assert rows[GOOD]["status"] == "ok"
    assert rows[BROKEN]["status"] == "failing"
    assert rows[BROKEN]["failed_exports"] == 1
    assert rows[GOOD]["exports"] == rows[BROKEN]["exports"] == 5
    assert rows[GOOD]["full_read_pct"] == 100.0
    last = env.start + timedelta(days=4)
    assert rows[GOOD]["latest_export"] == last.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert rows[GOOD]["last_verified"].endswith("Z")
    assert rows[GOOD]["destination"] == "main"
    only = http.get("/api/datasets", params={"dataset_id": GOOD}).json()
    assert [d["dataset_id"] for d in only] == [GOOD]


def test_datasets_and_open_findings_are_the_views(http: httpx.Client, env: Env) -> None:
    def view(query: str) -> list[dict[str, object]]:
        r = http.post("/api/sql", json={"query": query})
        assert r.status_code == 200, r.text
        return [dict(zip(r.json()["columns"], row, strict=True)) for row in r.json()["rows"]]

    health = {r["dataset_id"]: r for r in view("SELECT * FROM dataset_health")}
    for row in http.get("/api/datasets").json():  # times alike too: ISO to the second with a Z, in every answer
        want = health[row["dataset_id"]]
        assert {k: row[k] for k in want} == want
    r = http.get("/api/findings/open", params={"dataset_id": BROKEN})
    assert r.status_code == 200
    broken_at = (env.start + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [(f["code"], f["severity"], f["export_time"], f["first_run_id"]) for f in r.json()] == [
        ("restore.chain_broken", "error", broken_at, 1),
        ("parquet.corrupt", "error", broken_at, 1),
    ]
    assert http.get("/api/findings/open", params={"dataset_id": GOOD}).json() == []
    assert len(view("SELECT * FROM open_findings")) == len(http.get("/api/findings/open").json())


def test_dataset_exports(http: httpx.Client, env: Env) -> None:
    r = http.get(f"/api/datasets/{BROKEN}/exports")
    assert r.status_code == 200
    exports = r.json()
    assert [e["export_time"] for e in exports] == [
        (env.start + timedelta(days=i)).strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(5)
    ]
    assert [e["status"] for e in exports] == ["ok", "ok", "failed", "ok", "ok"]
    assert [e["kind"] for e in exports] == ["full"] + ["incremental"] * 4
    r = http.get("/api/datasets/no-such-dataset/exports")
    assert r.status_code == 404
    assert r.json() == {"error": "unknown dataset", "detail": "no exports of dataset 'no-such-dataset' in the catalog"}


def test_runs(http: httpx.Client, env: Env) -> None:
    runs = http.get("/api/runs").json()
    first = next(r for r in runs if r["run_id"] == env.run_id)
    assert first["level"] == "full"
    assert first["exit_code"] == 2
    r = http.get(f"/api/runs/{env.run_id}")
    assert r.status_code == 200
    one = r.json()
    assert one["run_id"] == env.run_id
    assert one["status"] == "completed"
    assert one["counts"]["error"] >= 1
    assert one["by_code"]["parquet.corrupt"] == 1
    assert one["running"] is False
    assert http.get("/api/runs/999999").json() == {"error": "unknown run", "detail": "no run 999999 in the catalog"}
    assert http.get("/api/runs/999999").status_code == 404
    assert http.get("/api/runs/0").status_code == 422
    assert http.get("/api/runs/abc").status_code == 422
    assert http.get("/api/runs/99999999999999999999999").status_code == 422


def test_findings(http: httpx.Client, env: Env) -> None:
    r = http.get("/api/findings", params={"run_id": env.run_id, "severity": "error"})
    assert r.status_code == 200
    found = r.json()
    codes = [f["code"] for f in found]
    assert codes.count("parquet.corrupt") == 1
    assert set(codes) <= {"parquet.corrupt", "restore.chain_broken"}  # the later links of the broken chain
    assert {f["dataset_id"] for f in found} == {BROKEN}
    assert (
        http.get("/api/findings", params={"run_id": env.run_id, "dataset_id": GOOD, "severity": "error"}).json() == []
    )
    assert http.get("/api/findings", params={"severity": "fatal"}).status_code == 422
    assert http.get("/api/findings", params={"run_id": 424242}).status_code == 404


def test_restore_plan(http: httpx.Client, env: Env) -> None:
    as_of = (env.start + timedelta(days=1, hours=1)).strftime("%Y-%m-%dT%H:%MZ")
    r = http.get("/api/restore-plan", params={"dataset_id": BROKEN, "as_of": as_of})
    if r.status_code == 501:
        pytest.skip("verifier.restore.plan is not in this build")
    assert r.status_code == 200
    plan = r.json()
    assert plan["dataset_id"] == BROKEN
    assert plan["intact"] is True
    assert [lk["kind"] for lk in plan["links"]] == ["full", "incremental"]
    later = (env.start + timedelta(days=4, hours=1)).strftime("%Y-%m-%dT%H:%MZ")
    broken = http.get("/api/restore-plan", params={"dataset_id": BROKEN, "as_of": later}).json()
    assert broken["intact"] is False
    bad = http.get("/api/restore-plan", params={"dataset_id": BROKEN, "as_of": "yesterday"})
    assert bad.status_code == 400
    assert bad.json()["error"] == "bad as_of"
    missing = http.get("/api/restore-plan", params={"dataset_id": "nope", "as_of": as_of})
    assert missing.status_code == 404
    assert http.get("/api/restore-plan", params={"dataset_id": BROKEN}).status_code == 422


def test_metrics_parse(http: httpx.Client) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    r = http.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    status = {
        (s.labels["dataset_id"], s.labels["status"]): s.value for s in families["verifier_dataset_status"].samples
    }
    assert status[(GOOD, "ok")] == 1
    assert status[(BROKEN, "failing")] == 1
    assert status[(BROKEN, "ok")] == 0
    assert "verifier_run_exit_status" in families


# -- SQL ----------------------------------------------------------------------------------------------
def test_sql_reads(http: httpx.Client) -> None:
    r = http.post(
        "/api/sql",
        json={
            "query": "SELECT dataset_id, count(*) AS n FROM exports WHERE destination = 'main' GROUP BY 1 ORDER BY 1"
        },
    )
    assert r.status_code == 200
    assert r.json() == {"columns": ["dataset_id", "n"], "rows": [[BROKEN, 5], [GOOD, 5]], "truncated": False}
    odd = http.post("/api/sql", json={"query": "SELECT 'nan'::DOUBLE AS x, TIMESTAMP '2024-01-02 03:04:05' AS t"})
    assert odd.json()["rows"] == [[None, "2024-01-02T03:04:05Z"]]  # a time without a zone is UTC


@pytest.mark.parametrize(
    "query",
    [
        "INSERT INTO runs (run_id) VALUES (99)",
        "DELETE FROM exports",
        "DROP TABLE findings",
        "COPY exports TO '/tmp/verifier-leak.csv'",
        "ATTACH '/tmp/verifier-other.duckdb' AS other",
        "SET enable_external_access = true",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT 1; DELETE FROM runs",
        "not sql at all",
    ],
)
def test_sql_is_read_only(http: httpx.Client, query: str) -> None:
    r = http.post("/api/sql", json={"query": query})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "query refused or failed"
    assert not Path("/tmp/verifier-leak.csv").exists()


def test_sql_row_cap_and_timeout(http: httpx.Client) -> None:
    r = http.post("/api/sql", json={"query": "SELECT range AS i FROM range(25000)"})
    body = r.json()
    assert r.status_code == 200
    assert len(body["rows"]) == 10_000
    assert body["truncated"] is True
    r = http.post("/api/sql", json={"query": "SELECT range AS i FROM range(10)", "max_rows": 3})
    assert r.json() == {"columns": ["i"], "rows": [[0], [1], [2]], "truncated": True}
    assert http.post("/api/sql", json={"query": "SELECT 1", "max_rows": 10_001}).status_code == 422
    t0 = time.monotonic()
    r = http.post(
        "/api/sql", json={"query": "SELECT sum(hash(a.range + b.range)) FROM range(100000) a, range(100000) b"}
    )
    assert r.status_code == 504
    assert r.json()["error"] == "query timed out"
    assert time.monotonic() - t0 < 10
    assert http.post("/api/sql", json={"query": "SELECT 42"}).json()["rows"] == [[42]]  # still serving


def test_sql_refused_while_a_writer_waits(http: httpx.Client, env: Env) -> None:
    """A writer kept out of the catalog announces it (verifier/writer_waiting.py): a query is refused
    with 503, as when the catalog is busy, until the announcement is withdrawn."""
    waiting = writer_waiting.Announcement(env.config.catalog_path)  # this process: alive, waiting
    waiting.announce(30)
    try:
        r = http.post("/api/sql", json={"query": "SELECT 42"})
    finally:
        waiting.withdraw()
    assert (r.status_code, r.json(), r.headers["retry-after"]) == (
        503,
        {"error": "catalog busy", "detail": "a run is waiting to write the catalog; try again when it has started"},
        "5",
    )
    assert http.post("/api/sql", json={"query": "SELECT 42"}).json()["rows"] == [[42]]


# -- runs over HTTP ------------------------------------------------------------------------------------
def test_post_run_while_reading_and_409(api: Served, http: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run of `slow` (each export held until released) is going on: reads succeed, a second POST is
    409; once released the run completes and its exports are in the catalog."""
    release, entered = threading.Event(), threading.Event()
    real = runner.check_export_safely

    def held(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "check_export_safely", held)
    try:
        r = http.post("/api/runs", json={"destinations": ["slow"], "level": "metadata"})
        assert r.status_code == 202, r.text
        run_id = r.json()["run_id"]
        assert r.json() == {"run_id": run_id, "status_url": f"/api/runs/{run_id}"}
        assert entered.wait(20)
        busy = http.post("/api/runs", json={})
        assert busy.status_code == 409
        assert busy.json()["error"] == "a run is in progress"
        assert busy.json()["detail"]["run_id"] == run_id
        assert http.post("/run", follow_redirects=False).headers["location"] == "/?busy=1"
        # reads go on during the run
        assert http.get(f"/api/runs/{run_id}").json()["status"] == "running"
        assert http.get(f"/api/runs/{run_id}").json()["running"] is True
        assert {d["dataset_id"] for d in http.get("/api/datasets").json()} >= {GOOD, BROKEN}
        assert http.post("/api/sql", json={"query": "SELECT count(*) FROM runs"}).status_code == 200
        assert http.get("/metrics").status_code == 200
        assert http.get("/api/service").json()["running_run_id"] == run_id
    finally:
        release.set()
    deadline = time.monotonic() + 30
    while http.get(f"/api/runs/{run_id}").json()["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    done = http.get(f"/api/runs/{run_id}").json()
    assert done["status"] == "completed"
    assert done["exports_checked"] == 12
    assert len(http.get(f"/api/datasets/{SLOW}/exports").json()) == 12
    assert http.post("/api/runs", json={"destinations": ["nope"]}).status_code == 400
    assert http.post("/api/runs", json={"level": "deep"}).status_code == 422
    assert http.post("/api/runs", json={"sample": 0}).status_code == 422


def test_shutdown_cancels_between_exports(env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shutdown during a run: the exports being checked finish and are recorded, the rest are left
    for the next run, and the run ends 'cancelled' (exit status 3, incomplete)."""
    folder = tmp_path / "slow"
    generate_dataset(
        folder,
        SLOW,
        count=12,
        seed=3,
        start=env.start - timedelta(days=7),
        cadence=timedelta(hours=12),
        rows_full=20,
        rows_incremental=5,
        files_per_export=1,
    )
    config = cfgmod.load(
        write_config(tmp_path, [{"name": "slow", "type": "local", "url": str(folder), "schedule": "12h"}])
    )
    release, entered = threading.Event(), threading.Event()
    real = runner.check_export_safely

    def held(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "check_export_safely", held)
    app = create_app(config, start_scheduler=False)
    scheduler = app.state.scheduler
    run_id = scheduler.trigger(RunOptions(level="metadata", jobs=2))
    assert entered.wait(20)
    stopper = threading.Thread(target=scheduler.stop)
    stopper.start()
    time.sleep(0.2)
    release.set()
    stopper.join(30)
    assert not stopper.is_alive()
    reader = app.state.reader
    from verifier import queries

    run = reader.read(queries.runs, run_id, limit=1, empty=[])[0]
    assert (run["status"], run["exit_code"]) == ("cancelled", 3)
    recorded = reader.read(queries.exports, SLOW, empty=[])
    assert 1 <= len(recorded) <= 2  # the two in progress (jobs=2), none of the ten not started
    assert run["exports_checked"] == len(recorded)


def test_no_catalog_yet_answers_empty(tmp_path: Path) -> None:
    config = cfgmod.load(write_config(tmp_path, [{"name": "x", "type": "local", "url": str(tmp_path / "none")}]))
    with serve(create_app(config)) as s, s.client() as c:
        for path in ("/api/datasets", "/api/runs", "/api/findings"):
            r = c.get(path)
            assert (r.status_code, r.json()) == (200, []), path
        assert c.get("/metrics").status_code == 200
        assert c.get("/api/runs/1").status_code == 404
        assert c.get("/api/datasets/x/exports").status_code == 404
        assert c.post("/api/sql", json={"query": "SELECT 1"}).status_code == 400
        assert c.get("/").status_code == 200
        assert "No catalog yet" in c.get("/").text


# -- fuzzing -------------------------------------------------------------------------------------------
def test_openapi_fuzz_no_server_errors(api: Served) -> None:
    """Every operation in /openapi.json, fuzzed by schemathesis: never a 5xx (504, a query stopped
    for running too long, is the one 5xx that is the caller's doing)."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings

    headers = {"Authorization": f"Bearer {TOKEN}"}
    schema = schemathesis.openapi.from_url(api.url + "/openapi.json", headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "GET /healthz",
        "GET /metrics",
        "GET /api/runs",
        "GET /api/runs/{run_id}",
        "POST /api/runs",
        "GET /api/datasets",
        "GET /api/datasets/{dataset_id}/exports",
        "GET /api/findings",
        "GET /api/restore-plan",
        "POST /api/sql",
    }
    failures: list[str] = []
    for op in operations:

        @given(case=op.as_strategy())
        @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            response = case.call(base_url=api.url, headers=headers, timeout=30)
            if response.status_code >= 500 and response.status_code != 504:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}")

        check()
    assert not failures, "\n".join(failures[:10])


def test_each_run_logs_its_counts_and_new_findings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The service's line per run (issue 14): verdict, counts by severity and the new findings by
    code; a run that finds the same again says 0 new."""
    import logging

    from tests.helpers import START

    folder = tmp_path / "exports"
    generate_dataset(folder, "ds1", start=START, count=3, seed=5, rows_full=50, rows_incremental=20)
    victim = sorted(folder.glob("ds1/exportTime=*/*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[:100])
    config = cfgmod.load(
        write_config(tmp_path, [{"name": "local", "type": "local", "url": str(folder), "stale_after": "3650d"}])
    )
    scheduler = create_app(config, start_scheduler=False).state.scheduler
    caplog.set_level(logging.INFO, logger="verifier.service")
    for _ in range(2):
        scheduler.trigger(RunOptions(level="metadata"))
        deadline = time.monotonic() + 120
        while scheduler.busy and time.monotonic() < deadline:  # until the run, its log line included, is over
            time.sleep(0.1)
    lines = [
        r.getMessage() for r in caplog.records if r.name == "verifier.service" and r.getMessage().startswith("run ")
    ]
    assert [line.rsplit("; ", 1)[0] for line in lines] == [
        "run 1 completed: exit 2 (at least one error finding); 3 errors, 0 warnings, 0 infos; "
        "3 new (manifest.size_mismatch x1, parquet.corrupt x1, restore.chain_broken x1)",
        "run 2 completed: exit 2 (at least one error finding); 3 errors, 0 warnings, 0 infos; 0 new",
    ]
    assert all(re.fullmatch(r"\d+\.\d s", line.rsplit("; ", 1)[1]) for line in lines)
