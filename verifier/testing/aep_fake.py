"""A fake IMS + Flow Service, built only from AEP-FLOW-SERVICE.md, for tests and demos.

`FakeAep` holds the flows, connections and runs; `app()` serves them the way Adobe's pages say
(token v3 and v2, the five headers, `{"items": [...]}` for single entities, 100 per page with
`_links.next`, the `property=` filters the client uses). Every place where Adobe's pages
disagree is a switch in `Switches`, so a test can serve either documented form.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

BASE = "/data/foundation/flowservice"


@dataclass
class Switches:
    """One per documented [CONFLICT]; the defaults are what Adobe's examples show."""

    status_case: str = "lower"  # "lower": success/failed (examples) | "title": Success/Failed (OAS enum)
    end_field: str = "completedAtUTC"  # | "stoppedAtUTC" (DEST-OAS schema)
    template_field: str = "foldernameTemplate"  # | "folderNameTemplate" (DEST-OAS)
    schedule_epoch: str = "s"  # scheduleParams startTime/endTime: "s" (documented) | "ms"
    expires_in_unit: str = "s"  # IMS expires_in: "s" (OAuth S2S) | "ms" (deprecated JWT page)
    paging: str = "links"  # "links": _links.next.href | "token": a bare continuationToken
    next_href_absolute: bool = False  # _links.next.href as a full URL instead of base-path relative
    next_href_keeps_filters: bool = True  # whether href repeats property= (undocumented either way)
    single_items: bool = True  # single-entity GET answers {"items": [..]} (UPD) or the bare entity
    require_sandbox: bool = True  # DEST-OAS: required; UPD: absent means prod
    error_code_number: bool = False  # error bodies' `error_code`: "401013" (TRBL) | 401013 (DEST-OAS)


@dataclass
class FakeAep:
    client_id: str = "fake-client-id"
    client_secret: str = "fake-client-secret"
    org_id: str = "5555467B5D8013E50A494220@AdobeOrg"
    sandbox: str = "prod"
    token_ttl_s: float = 86399.0
    page_size: int = 100
    switches: Switches = field(default_factory=Switches)
    flows: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    # responses to serve before the real one: (status, Retry-After or None), consumed in order
    faults: list[tuple[int, str | None]] = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (monotonic)
    token_requests: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path?query) seen

    # -- building the world -------------------------------------------------------------
    def add_flow(
        self,
        flow_id: str,
        datasets: dict[str, str],
        *,
        name: str = "Dataset export",
        flow_spec: str = "269ba276-16fc-47db-92b0-c1049a3c131f",
        state: str = "enabled",
        start: datetime,
        interval: int = 1,
        unit: str = "day",
        end: datetime | None = None,
        export_mode: str = "FIRST_FULL_THEN_INCREMENTAL",
        template: str | None = None,
        file_type: str = "PARQUET",
        compression: str = "GZIP",
        params: dict[str, Any] | None = None,
    ) -> None:
        src, tgt = f"src-{flow_id}", f"tgt-{flow_id}"
        self.sources[src] = {
            "id": src,
            "name": "Data Lake Source Connection",
            "state": "enabled",
            "connectionSpec": {"id": "23598e46-f560-407b-88d5-ea6207e49db0", "version": "1.0"},
            "params": {"datasets": [{"dataSetId": d, "name": n} for d, n in datasets.items()]},
        }
        self.targets[tgt] = {
            "id": tgt,
            "name": name,
            "state": "enabled",
            "baseConnectionId": f"base-{flow_id}",
            "connectionSpec": {"id": "4fce964d-3f37-408f-9778-e597338a21ee", "version": "1.0"},
            "params": {
                "mode": "Server-to-server",
                "compression": compression,
                "datasetFileType": file_type,
                "path": "aep",
                "bucketName": "acme-backups",
                **(params or {}),
            },
        }
        sched: dict[str, Any] = {
            "exportMode": export_mode,
            "interval": interval,
            "timeUnit": unit,
            "startTime": start.timestamp(),
        }
        if end is not None:
            sched["endTime"] = end.timestamp()
        if template is not None:
            sched["template"] = template
        self.flows[flow_id] = {
            "id": flow_id,
            "createdAt": int(start.timestamp() * 1000),
            "updatedAt": int(start.timestamp() * 1000),
            "createdClient": "exc_app",
            "sandboxName": self.sandbox,
            "imsOrgId": self.org_id,
            "name": name,
            "flowSpec": {"id": flow_spec, "version": "1.0"},
            "state": state,
            "sourceConnectionIds": [src],
            "targetConnectionIds": [tgt],
            "inheritedAttributes": {
                "properties": {"isDestinationFlow": True},
                "sourceConnections": [{"id": src, "connectionSpec": {"id": "23598e46-f560-407b-88d5-ea6207e49db0"}}],
                "targetConnections": [{"id": tgt, "connectionSpec": {"id": "4fce964d-3f37-408f-9778-e597338a21ee"}}],
            },
            "scheduleParams": sched,
            "transformations": [],
            "runs": f"/runs?property=flowId=={flow_id}",
        }

    def add_run(
        self,
        flow_id: str,
        started: datetime,
        *,
        status: str = "success",
        run_id: str | None = None,
        duration_s: float = 300.0,
        records: int | None = None,
        datasets: list[str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> str:
        """A run; `datasets` names the datasets it covers (one run per dataset, like audiences)."""
        rid = run_id or str(_uuid(f"{flow_id}/{started.isoformat()}/{datasets}"))
        start_ms = int(started.timestamp() * 1000)
        rec: dict[str, Any] = {"inputRecordCount": records or 0, "skippedRecordCount": 0}
        if records is not None:
            rec["outputRecordCount"] = records
        if datasets:
            rec["sourceSummaries"] = [
                {"id": f"dataset:{d}", "inputRecordCount": records or 0, "entitySummaries": []} for d in datasets
            ]
        self.runs.append(
            {
                "id": rid,
                "createdAt": start_ms,
                "updatedAt": start_ms + int(duration_s * 1000),
                "createdBy": "aep_activation_batch@AdobeID",
                "sandboxName": self.sandbox,
                "imsOrgId": self.org_id,
                "flowId": flow_id,
                "flowSpec": {"id": "615d3489-36d2-4671-9467-4ae1129facd3", "version": "1.0"},
                "metrics": {
                    "durationSummary": {"startedAtUTC": start_ms, "end": start_ms + int(duration_s * 1000)},
                    "sizeSummary": {"inputBytes": 0},
                    "recordSummary": rec,
                    "statusSummary": {"status": status, "errors": errors or []},
                },
            }
        )
        return rid

    # -- serving ------------------------------------------------------------------------
    def issue_token(self) -> str:
        token = "tok-" + secrets.token_urlsafe(24)
        self.tokens[token] = time.monotonic() + self.token_ttl_s
        return token

    def expire_tokens(self) -> None:
        """Every token issued so far now fails with 401 (an early revocation or expiry)."""
        for t in self.tokens:
            self.tokens[t] = 0.0

    def render_flow(self, flow: dict[str, Any]) -> dict[str, Any]:
        sw = self.switches
        out = dict(flow)
        sched = dict(flow["scheduleParams"])
        for k in ("startTime", "endTime"):
            if k in sched:
                sched[k] = int(sched[k] * 1000) if sw.schedule_epoch == "ms" else int(sched[k])
        if "template" in sched:
            sched[sw.template_field] = sched.pop("template")
        out["scheduleParams"] = sched
        last = [r for r in self.runs if r["flowId"] == flow["id"]]
        if last:
            r = max(last, key=lambda r: r["metrics"]["durationSummary"]["startedAtUTC"])
            d = r["metrics"]["durationSummary"]
            out["lastRunDetails"] = {
                "id": r["id"],
                "state": self._status(r["metrics"]["statusSummary"]["status"]),
                "startedAtUTC": d["startedAtUTC"],
                sw.end_field: d["end"],
            }
        return out

    def render_run(self, run: dict[str, Any]) -> dict[str, Any]:
        out = dict(run)
        m = dict(run["metrics"])
        d = dict(m["durationSummary"])
        d[self.switches.end_field] = d.pop("end")
        m["durationSummary"] = d
        st = dict(m["statusSummary"])
        st["status"] = self._status(st["status"])
        m["statusSummary"] = st
        out["metrics"] = m
        return out

    def _status(self, s: str) -> str:
        return s.title() if self.switches.status_case == "title" else s.lower()


def _uuid(seed: str) -> str:
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, seed))


def _err(status: int, code: str, message: str, number: bool = False) -> JSONResponse:
    value: str | int = int(code) if number and code.isdigit() else code
    return JSONResponse({"error_code": value, "message": message}, status_code=status)


def _matches(item: dict[str, Any], prop: str) -> bool:
    """The `property=` filters the client uses: `a.b==x[,y]`, `a.b>n`, `a.b<n`."""
    for op in ("==", ">", "<"):
        if op in prop:
            key, _, want = prop.partition(op)
            break
    else:
        return True
    value: Any = item
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if op == "==":
        return str(value).lower() in {w.lower() for w in want.split(",")}
    try:
        n, w = float(value), float(want)
    except (TypeError, ValueError):
        return False
    return n > w if op == ">" else n < w


def app(fake: FakeAep) -> FastAPI:
    api = FastAPI()

    @api.middleware("http")
    async def faults_and_log(request: Request, call_next: Any) -> Any:
        fake.requests.append(
            (request.method, str(request.url.path) + ("?" + request.url.query if request.url.query else ""))
        )
        if fake.faults:
            status, retry_after = fake.faults.pop(0)
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            return JSONResponse({"error_code": str(status), "message": "injected"}, status_code=status, headers=headers)
        return await call_next(request)

    async def token(request: Request) -> JSONResponse:
        # form-encoded body (recommended by IMS) or query string (the older v2 Postman call)
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        params = {**dict(request.query_params), **form}
        fake.token_requests += 1
        if params.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if params.get("client_id") != fake.client_id or params.get("client_secret") != fake.client_secret:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        ttl = fake.token_ttl_s * 1000 if fake.switches.expires_in_unit == "ms" else fake.token_ttl_s
        return JSONResponse({"access_token": fake.issue_token(), "token_type": "bearer", "expires_in": int(ttl)})

    api.add_api_route("/ims/token/v3", token, methods=["POST"])
    api.add_api_route("/ims/token/v2", token, methods=["POST"])

    def check(request: Request) -> JSONResponse | None:
        h = request.headers
        num = fake.switches.error_code_number
        auth = h.get("authorization", "")
        if not auth.startswith("Bearer "):
            return _err(403, "403010", "Oauth token is missing.", num)
        if fake.tokens.get(auth[7:], 0.0) < time.monotonic():
            return _err(401, "401013", "Oauth token is not valid", num)
        if not h.get("x-api-key"):
            return _err(403, "403000", "Api Key is required", num)
        if h["x-api-key"] != fake.client_id:
            return _err(403, "403003", "Api Key is invalid", num)
        if h.get("x-gw-ims-org-id") != fake.org_id:
            return _err(403, "403025", "Profile is not valid", num)
        sandbox = h.get("x-sandbox-name")
        if sandbox is None and fake.switches.require_sandbox:
            return _err(400, "2105-400", "The header x-sandbox-name is missing in the request.", num)
        if (sandbox or "prod") != fake.sandbox:
            return _err(403, "2120-403", "sandbox not found", num)
        return None

    def one(kind: str, entity: dict[str, Any] | None, ident: str) -> JSONResponse:
        if entity is None:
            return JSONResponse({"errorMessage": f"{kind} not found with id = [{ident}]"}, status_code=404)
        return JSONResponse({"items": [entity]} if fake.switches.single_items else entity)

    def page(request: Request, items: list[dict[str, Any]]) -> JSONResponse:
        q = request.query_params
        props = q.getlist("property")
        chosen = [i for i in items if all(_matches(i, p) for p in props)]
        try:
            limit = min(int(q.get("limit", "100")), 100, fake.page_size)
        except ValueError:
            return _err(400, "1401-400", "limit must be a positive number")
        offset = int(q.get("continuationToken", "0") or 0)
        chunk = chosen[offset : offset + limit]
        body: dict[str, Any] = {"items": chunk, "_links": {}}
        if offset + limit < len(chosen):
            token = str(offset + limit)
            if fake.switches.paging == "token":
                body["continuationToken"] = token
            else:
                keep = "".join(f"&property={p}" for p in props) if fake.switches.next_href_keeps_filters else ""
                href = f"{request.url.path.replace(BASE, '')}?continuationToken={token}{keep}"
                if fake.switches.next_href_absolute:
                    href = f"{request.base_url}{BASE.lstrip('/')}{href}"
                body["_links"] = {"next": {"href": href}}
        return JSONResponse(body)

    @api.get(BASE + "/flows")
    async def list_flows(request: Request) -> JSONResponse:
        return check(request) or page(request, [fake.render_flow(f) for f in fake.flows.values()])

    @api.get(BASE + "/flows/{flow_id}")
    async def get_flow(flow_id: str, request: Request) -> JSONResponse:
        flow = fake.flows.get(flow_id)
        return check(request) or one("flows", fake.render_flow(flow) if flow else None, flow_id)

    @api.get(BASE + "/sourceConnections/{ident}")
    async def get_source(ident: str, request: Request) -> JSONResponse:
        return check(request) or one("sourceConnections", fake.sources.get(ident), ident)

    @api.get(BASE + "/targetConnections/{ident}")
    async def get_target(ident: str, request: Request) -> JSONResponse:
        return check(request) or one("targetConnections", fake.targets.get(ident), ident)

    @api.get(BASE + "/runs")
    async def list_runs(request: Request) -> JSONResponse:
        # "The most recently created or updated entities are returned first." (DEST-OAS)
        runs = sorted(fake.runs, key=lambda r: -r["metrics"]["durationSummary"]["startedAtUTC"])
        return check(request) or page(request, [fake.render_run(r) for r in runs])

    return api


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(fake: FakeAep) -> Iterator[str]:
    """Serve `fake` on a free loopback port in a thread; yields the base URL."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app(fake), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="fake-aep", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fake AEP server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
