"""Issue 15 (2): the default service (loopback, no token) refuses other web sites' requests and
Host names that are not its own. Against a real `verifier serve` process."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.helpers import write_config
from tests.hostile_sql import ONE_HUGE_VALUE, SIX_LONG_COLUMNS, TWO_LONG_COLUMNS, planning_bomb
from tests.servers import Server, _http_ok, free_port
from verifier.catalog import Catalog


@dataclass
class Served:
    url: str
    port: int
    server: Server

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("harden-serve")
    (tmp / "exports").mkdir()
    cfg = write_config(tmp, [{"name": "empty", "type": "local", "url": str(tmp / "exports")}])
    Catalog(tmp / "catalog.duckdb").create()
    port = free_port()
    argv = [sys.executable, "-m", "verifier", "serve", "--config", str(cfg), "--port", str(port)]
    server = Server("verifier-serve", [*argv, "--allowed-host", "verifier.example"], tmp)
    url = f"http://127.0.0.1:{port}"
    server.wait(lambda: _http_ok(url + "/healthz"), timeout=60)
    try:
        yield Served(url, port, server)
    finally:
        server.stop()


def test_a_cross_site_text_plain_post_starts_nothing(served: Served) -> None:
    with served.client() as c:
        r = c.post(
            "/api/runs",
            content=b'{"level": "full"}',
            headers={"content-type": "text/plain", "origin": "https://evil.example", "sec-fetch-site": "cross-site"},
        )
        assert (r.status_code, r.json()) == (
            403,
            {"error": "cross-site request refused", "detail": "Sec-Fetch-Site: cross-site"},
        )
        r = c.post("/api/runs", content=b"{}", headers={"content-type": "text/plain", "origin": "https://evil.example"})
        assert (r.status_code, r.json()["detail"]) == (403, "the request's Origin is not this service")
        r = c.post("/run", headers={"origin": "null"})  # the dashboard's form, from a sandboxed frame
        assert r.status_code == 403
        assert c.get("/api/runs").json() == []


def test_an_api_post_must_be_json(served: Served) -> None:
    with served.client() as c:
        r = c.post("/api/runs", content=b"{}", headers={"content-type": "text/plain"})
        assert (r.status_code, r.json()["error"]) == (415, "unsupported media type")
        assert c.post("/api/sql", data={"query": "SELECT 1"}).status_code == 415  # a form post
        assert c.get("/api/runs").json() == []


def test_a_same_origin_json_post_passes(served: Served) -> None:
    with served.client() as c:
        headers = {"origin": served.url, "sec-fetch-site": "same-origin"}
        r = c.post("/api/sql", json={"query": "SELECT 42 AS x"}, headers=headers)
        assert (r.status_code, r.json()["rows"]) == (200, [[42]])


@pytest.mark.parametrize("path", ["/", "/api/runs", "/metrics", "/openapi.json"])
def test_a_foreign_host_name_is_refused(served: Served, path: str) -> None:
    with served.client() as c:
        r = c.get(path, headers={"host": f"rebound.evil.example:{served.port}"})
        assert (r.status_code, r.json()["error"]) == (421, "unknown host")
        assert c.get(path, headers={"host": f"localhost:{served.port}"}).status_code == 200
        assert c.get(path, headers={"host": f"verifier.example:{served.port}"}).status_code == 200  # --allowed-host
        assert c.get("/healthz", headers={"host": "anything"}).status_code == 200  # probes send the pod IP


def test_the_worst_sql_leaves_the_service_small(served: Served) -> None:
    """Issue 15 (1, 8): the answers are capped and the queries run in a bounded child process, so
    the service's own peak RSS stays under 500 MB (it was 5.1 GB, then MemoryError)."""
    memory = "the query needs more memory than the sandbox allows (256 MB)"
    with served.client() as c:

        def sql(query: str) -> httpx.Response:
            return c.post("/api/sql", json={"query": query}, timeout=120)

        r = sql(TWO_LONG_COLUMNS)
        assert (r.status_code, len(r.json()["rows"]), r.json()["truncated"]) == (200, 63, True)
        assert len(r.content) < 9 * 1024 * 1024
        for query in (SIX_LONG_COLUMNS, ONE_HUGE_VALUE):
            r = sql(query)
            assert (r.status_code, r.json()) == (400, {"error": "query refused or failed", "detail": memory})
        # a plan that doubles at every level meets whichever bound comes first: the 10 s clock on a
        # busy machine, the sandbox's memory cap on a quiet one (seen in CI); both stop it cold
        r = sql(planning_bomb())
        assert (r.status_code, r.json()["detail"]) in {
            (504, "the query ran longer than 10s and was stopped"),
            (400, memory),
        }
        assert sql("SELECT 42").json()["rows"] == [[42]]
    status = Path(f"/proc/{served.server.proc.pid}/status").read_text()
    peak_kib = int(status.split("VmHWM:")[1].split()[0])
    assert peak_kib < 500 * 1024, f"service peak RSS {peak_kib / 1024:.0f} MiB"
