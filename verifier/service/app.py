"""The HTTP API of `verifier serve` (FastAPI): runs, datasets, exports, findings, restore plans,
read-only SQL, health and metrics. Every error is JSON: `{"error": "...", "detail": ...}`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from verifier import queries, redact
from verifier.config import Config
from verifier.errors import CatalogError, CatalogLocked, ConfigError
from verifier.jsonable import jsonable
from verifier.levels import Level
from verifier.service.access import CatalogReader, ModeGate, SqlError, SqlTimeout
from verifier.service.actions import ApiError, restore_plan_dict
from verifier.service.dashboard import router
from verifier.service.origin import LOOPBACK_NAMES, SameOrigin
from verifier.service.scheduler import Busy, Scheduler, ShuttingDown, service_run_options
from verifier.service.security import MAX_BODY, Guard

log = logging.getLogger("verifier.service")

SQL_MAX_ROWS = 10_000
SQL_TIMEOUT_S = 10.0
MIN_TOKEN_CHARS = 32  # off loopback the token is all that stands between the network and the catalog
MAX_ID = 2**62  # run ids are BIGINT; larger numbers are simply unknown runs


# -- request and response models ---------------------------------------------------------------
class ErrorBody(BaseModel):
    error: str
    detail: Any = None


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    destinations: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=100, description="Only these destinations (default: all)."
    )
    level: Level | None = Field(None, description="Default: [service] level.")
    sample: float | None = Field(None, gt=0, le=100, description="Percent of data to read fully.")


class RunStarted(BaseModel):
    run_id: int
    status_url: str


class SqlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=20_000, description="One read-only DuckDB query.")
    max_rows: int = Field(SQL_MAX_ROWS, ge=1, le=SQL_MAX_ROWS, description="Row cap (at most 10000).")


class SqlAnswer(BaseModel):
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


class FindingsQuery(BaseModel):
    run_id: int | None = Field(None, ge=1, le=MAX_ID, description="Default: the last run.")
    severity: Literal["info", "warning", "error"] | None = Field(None, description="At least this severity.")
    dataset_id: str | None = Field(None, max_length=500)
    limit: int = Field(1000, ge=1, le=10_000)


class RestorePlanQuery(BaseModel):
    dataset_id: str = Field(min_length=1, max_length=500)
    as_of: str = Field(
        min_length=1, max_length=100, description="ISO 8601 (2024-05-01T06:00Z), YYYYMMDDHHMM, now or latest-intact."
    )
    destination: str | None = Field(None, max_length=200)
    allow_unverified: bool = False


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        400: "bad input",
        401: "missing or wrong bearer token",
        413: "request body too large",
        422: "request does not validate",
        503: "catalog busy or unreadable",
    }.items()
}


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(jsonable(data), status_code=status)


# -- the app -------------------------------------------------------------------------------------
def create_app(
    config: Config,
    *,
    exposed: bool = False,
    start_scheduler: bool = True,
    sql_timeout_s: float = SQL_TIMEOUT_S,
    max_body: int = MAX_BODY,
    hosts: frozenset[str] = LOOPBACK_NAMES,
) -> FastAPI:
    """The service for `config`. `exposed` (bound to a non-loopback address) requires a token."""
    token = _token(config, exposed)
    gate = ModeGate()
    reader = CatalogReader(config.catalog_path, gate)
    scheduler = Scheduler(config, gate)
    app = FastAPI(
        title="verifier",
        summary="Backup verification for Adobe Experience Platform dataset exports",
        version=_version(),
        lifespan=_lifespan(scheduler, start_scheduler),
        responses=ERRORS,
    )
    app.state.config = config
    app.state.reader = reader
    app.state.scheduler = scheduler
    app.state.sql_timeout_s = sql_timeout_s
    _install_error_handlers(app)
    _service_routes(app, reader, scheduler)
    _run_routes(app, config, reader, scheduler)
    _catalog_routes(app, reader)
    app.include_router(router)
    app.add_middleware(SameOrigin, hosts=hosts)  # inside Guard: a request without the token is 401 first
    app.add_middleware(Guard, token=token, max_body=max_body)
    return app


def _token(config: Config, exposed: bool) -> str | None:
    token = config.service.token
    if exposed and not token:
        raise ConfigError(
            f"{config.path}: service.secrets.token: required when serving on a non-loopback address; "
            'set [service.secrets] token = "${VERIFIER_TOKEN}", or bind to 127.0.0.1'
        )
    if exposed and token and len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"{config.path}: service.secrets.token: {len(token)} characters is too short to serve on a "
            f"non-loopback address; use at least {MIN_TOKEN_CHARS} (e.g. `openssl rand -hex 32`)"
        )
    return token


def _lifespan(scheduler: Scheduler, start_scheduler: bool) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if start_scheduler:
            scheduler.start()
        try:
            yield
        finally:
            import anyio

            await anyio.to_thread.run_sync(scheduler.stop)

    return lifespan


def _service_routes(app: FastAPI, reader: CatalogReader, scheduler: Scheduler) -> None:
    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, str]:
        """Liveness: no token needed, touches nothing."""
        return {"status": "ok"}

    @app.get("/metrics", tags=["service"], response_class=Response)
    def metrics() -> Response:
        """Prometheus text format: the same series as `verifier run --metrics`."""
        from prometheus_client import CONTENT_TYPE_LATEST

        from verifier.metrics import render

        return Response(reader.read(render, empty=b""), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/service", tags=["service"])
    def service_status() -> JSONResponse:
        """The schedule, the next scheduled run, the run in progress."""
        return _json(scheduler.status())


def _run_routes(app: FastAPI, config: Config, reader: CatalogReader, scheduler: Scheduler) -> None:
    @app.get("/api/runs", tags=["runs"])
    def list_runs(limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> JSONResponse:
        """Run history, newest first."""
        return _json(reader.read(queries.runs, limit=limit, empty=[]))

    @app.get("/api/runs/{run_id}", tags=["runs"], responses={404: {"model": ErrorBody}})
    def get_run(run_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> JSONResponse:
        """One run with its summary: counts by severity and by finding code, per destination."""
        rows = reader.read(queries.runs, run_id, limit=1, empty=[])
        if not rows:
            raise ApiError(404, "unknown run", f"no run {run_id} in the catalog")
        run = rows[0] | _finding_counts(reader.read(queries.findings, run_id, empty=[]))
        run["running"] = scheduler.running_run_id == run_id
        return _json(run)

    @app.post(
        "/api/runs", tags=["runs"], status_code=202, response_model=RunStarted, responses={409: {"model": ErrorBody}}
    )
    def start_run(body: RunRequest | None = None) -> JSONResponse:
        """Start a run now; 202 with its id, 409 while another run is going on."""
        body = body or RunRequest.model_validate({})
        known = {d.name for d in config.destinations}
        unknown = [d for d in body.destinations if d not in known]
        if unknown:
            raise ApiError(400, "unknown destination", f"{unknown[0]!r} is not configured; known: {sorted(known)}")
        if not config.destinations:
            raise ApiError(400, "nothing to verify", "no [[destinations]] configured")
        opts = service_run_options(config, body.level, body.destinations, body.sample)
        try:
            run_id = scheduler.trigger(opts)
        except Busy as exc:
            raise ApiError(409, "a run is in progress", {"message": str(exc), "run_id": exc.run_id}) from None
        except ShuttingDown as exc:
            raise ApiError(503, "shutting down", str(exc)) from None
        return _json({"run_id": run_id, "status_url": f"/api/runs/{run_id}"}, status=202)


def _finding_counts(found: list[dict[str, Any]]) -> dict[str, Any]:
    """A run's findings counted by severity, by code and per destination."""
    counts = {"error": 0, "warning": 0, "info": 0}
    by_code: dict[str, int] = {}
    by_dest: dict[str, dict[str, int]] = {}
    for f in found:
        counts[f["severity"]] = counts.get(f["severity"], 0) + 1
        by_code[f["code"]] = by_code.get(f["code"], 0) + 1
        d = by_dest.setdefault(f["destination"], {"error": 0, "warning": 0, "info": 0})
        d[f["severity"]] = d.get(f["severity"], 0) + 1
    return {"counts": counts, "by_code": dict(sorted(by_code.items())), "destinations": by_dest}


def _catalog_routes(app: FastAPI, reader: CatalogReader) -> None:
    @app.get("/api/datasets", tags=["datasets"])
    def datasets(
        dataset_id: Annotated[str | None, Query(max_length=500)] = None,
    ) -> JSONResponse:
        """Every dataset (per destination) with its health, last export, last verified and full-read coverage."""
        return _json(reader.read(queries.status, dataset_id, empty=[]))

    @app.get("/api/datasets/{dataset_id}/exports", tags=["datasets"], responses={404: {"model": ErrorBody}})
    def dataset_exports(
        dataset_id: Annotated[str, Path(min_length=1, max_length=500)],
        destination: Annotated[str | None, Query(max_length=200)] = None,
    ) -> JSONResponse:
        """One dataset's export history, oldest first."""
        rows = reader.read(queries.exports, dataset_id, destination, empty=[])
        if not rows:
            raise ApiError(404, "unknown dataset", f"no exports of dataset {dataset_id!r} in the catalog")
        return _json(rows)

    @app.get("/api/findings", tags=["findings"], responses={404: {"model": ErrorBody}})
    def findings(q: Annotated[FindingsQuery, Query()]) -> JSONResponse:
        """Findings of one run (the last one by default), at least `severity`, of one dataset."""
        run_id = q.run_id
        if run_id is None:
            run_id = reader.read(queries.last_run_id, empty=None)
            if run_id is None:
                return _json([])
        elif not reader.read(queries.runs, run_id, limit=1, empty=[]):
            raise ApiError(404, "unknown run", f"no run {run_id} in the catalog")
        return _json(reader.read(queries.findings, run_id, q.severity, q.dataset_id, limit=q.limit, empty=[]))

    @app.get("/api/findings/open", tags=["findings"])
    def open_findings(
        dataset_id: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> JSONResponse:
        """What is broken now (the `open_findings` view): every open finding, worst first, with since when."""
        return _json(reader.read(queries.open_findings, dataset_id, limit=limit, empty=[]))

    @app.get("/api/restore-plan", tags=["restore"], responses={404: {"model": ErrorBody}, 501: {"model": ErrorBody}})
    def restore_plan(q: Annotated[RestorePlanQuery, Query()]) -> JSONResponse:
        """The exports and files needed to rebuild a dataset as of a time, as `restore-plan --json` prints it."""
        return _json(restore_plan_dict(app, q.dataset_id, q.as_of, q.destination, q.allow_unverified))

    @app.post("/api/sql", tags=["sql"], response_model=SqlAnswer, responses={504: {"model": ErrorBody}})
    def sql(body: SqlRequest) -> JSONResponse:
        """Read-only SQL over the catalog (sandboxed: no other file can be read or written); rows capped."""
        try:
            res = reader.sql(body.query, body.max_rows, app.state.sql_timeout_s)
        except SqlTimeout as exc:
            raise ApiError(504, "query timed out", str(exc)) from None
        except SqlError as exc:
            raise ApiError(400, "query refused or failed", redact.scrub(str(exc))) from None
        return _json({"columns": res.columns, "rows": res.rows, "truncated": res.truncated})


def _version() -> str:
    from verifier import __version__

    return __version__


def _install_error_handlers(app: FastAPI) -> None:
    phrases = {
        400: "bad request",
        401: "authentication required",
        403: "forbidden",
        404: "not found",
        405: "method not allowed",
        409: "conflict",
        413: "request body too large",
        415: "unsupported media type",
    }

    @app.exception_handler(ApiError)
    async def api_error(_r: Request, exc: ApiError) -> JSONResponse:
        return _json({"error": exc.error, "detail": exc.detail}, exc.status)

    @app.exception_handler(HTTPException)
    async def http_error(_r: Request, exc: HTTPException) -> JSONResponse:
        error = phrases.get(exc.status_code, "error")
        detail = exc.detail if exc.detail and str(exc.detail).lower() != error else None
        return JSONResponse({"error": error, "detail": detail}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_r: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": redact.scrub(str(e.get("msg", ""))), "type": e.get("type")}
            for e in exc.errors()
        ]
        if any(e["type"] == "json_invalid" for e in errors):
            return JSONResponse({"error": "body is not valid JSON", "detail": errors}, 400)
        return JSONResponse({"error": "request does not validate", "detail": errors}, 422)

    @app.exception_handler(CatalogLocked)
    async def locked(_r: Request, exc: CatalogLocked) -> JSONResponse:
        return JSONResponse(
            {"error": "catalog busy", "detail": redact.scrub(str(exc))}, 503, headers={"retry-after": "5"}
        )

    @app.exception_handler(CatalogError)
    async def unreadable(_r: Request, exc: CatalogError) -> JSONResponse:
        return JSONResponse({"error": "catalog unreadable", "detail": redact.scrub(str(exc))}, 503)

    @app.exception_handler(ConfigError)
    async def bad_config(_r: Request, exc: ConfigError) -> JSONResponse:
        return JSONResponse({"error": "bad request", "detail": redact.scrub(str(exc))}, 400)

    @app.exception_handler(Exception)
    async def internal(_r: Request, exc: Exception) -> JSONResponse:
        log.error("internal error: %s: %s", type(exc).__name__, redact.scrub(str(exc)), exc_info=exc)
        return JSONResponse({"error": "internal error", "detail": "see the service log"}, 500)
