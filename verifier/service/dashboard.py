"""The dashboard: server-rendered pages for a person who wants to look. No JavaScript; a page
refreshes itself while a run is going on."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from verifier import queries
from verifier.service.access import CatalogReader
from verifier.service.actions import ApiError, restore_plan_dict
from verifier.service.chart import LAYOUTS, export_chart, human_bytes, human_count, when
from verifier.service.scheduler import service_run_options
from verifier.service.triaged import mark_shown_status, shown_findings, shown_plan
from verifier.timeutil import iso, utcnow

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=FsPath(__file__).parent / "templates")
# to the minute: exports are hourly at the finest, and a narrower column leaves room for the rest
templates.env.filters["iso"] = when
templates.env.filters["bytes"] = human_bytes
templates.env.filters["count"] = human_count
# a path may break after a slash, never inside a name
templates.env.filters["wbr"] = lambda v: Markup(str(escape(v)).replace("/", "/<wbr>"))
ISO_TIME = re.compile(r"\b(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(:\d\d)?(?:\.\d+)?Z\b")


def times(v: Any) -> Markup:
    """Times in a message (`2026-12-02T02:00:00Z`) as the tables show them (`2026-12-02 02:00`,
    seconds only when not :00), never broken across lines."""

    def shown(m: re.Match[str]) -> str:
        secs = m.group(3) if m.group(3) not in (None, ":00") else ""
        return f'<span class="when">{m.group(1)} {m.group(2)}{secs}</span>'

    return Markup(ISO_TIME.sub(shown, str(escape(v))))


templates.env.filters["times"] = times
HEALTH_ORDER = {"failing": 0, "stale": 1, "warning": 2, "pending": 3, "ok": 4}


def _reader(request: Request) -> CatalogReader:
    reader: CatalogReader = request.app.state.reader
    return reader


def _urls(request: Request) -> dict[str, str]:
    return {d.name: d.url for d in request.app.state.config.destinations}


def _page(request: Request, name: str, code: int = 200, **ctx: Any) -> Response:
    sched = request.app.state.scheduler
    ctx.setdefault("service", sched.status())
    ctx.setdefault("catalog_exists", _reader(request).exists)
    return templates.TemplateResponse(request, name, ctx, status_code=code)


@router.get("/", response_class=HTMLResponse)
def index(request: Request, started: int | None = None, busy: str | None = None) -> Response:
    reader = _reader(request)
    rows = reader.read(queries.status, empty=[])
    rows.sort(key=lambda r: (HEALTH_ORDER.get(r["status"], 9), r["dataset_id"], r["destination"]))
    health = Counter(r["status"] for r in rows)
    run_id = reader.read(queries.last_run_id, empty=None)
    run = reader.read(queries.runs, run_id, limit=1, empty=[]) if run_id is not None else []
    # what is broken now (the open_findings view), not only what the last run saw: a run may have
    # looked at one dataset or destination, and a finding carried from an earlier run is still open
    found = reader.read(queries.open_findings, None, limit=300, empty=[])
    return _page(
        request,
        "index.html",
        datasets=rows,
        health=health,
        run=run[0] if run else None,
        findings=shown_findings(found, _urls(request)),
        started=started,
        busy=busy,
        now=utcnow(),
    )


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
def dataset(request: Request, dataset_id: Annotated[str, Path(max_length=500)]) -> Response:
    reader = _reader(request)
    exports = reader.read(queries.exports, dataset_id, empty=[])
    if not exports:
        return _page(request, "missing.html", 404, what=f"dataset {dataset_id}")
    status = reader.read(queries.status, dataset_id, empty=[])
    by_dest: dict[str, list[dict[str, Any]]] = {}
    for e in exports:
        by_dest.setdefault(e["destination"], []).append(e)
    # what is broken now (the open_findings view), not what the last run saw: that run may have
    # looked at other datasets only
    found = reader.read(queries.open_findings, dataset_id, limit=300, empty=[])
    health = {r["destination"]: r for r in status}
    for d, ex in by_dest.items():
        warned = {f["export_time"] for f in found if f["destination"] == d and f["severity"] == "warning"}
        mark_shown_status(ex, health.get(d), warned)
    charts = [
        {
            "destination": d,
            "svgs": [export_chart(ex, f"exports of {dataset_id} on {d}", lay) for lay in LAYOUTS],
            "exports": ex,
        }
        for d, ex in by_dest.items()
    ]
    return _page(
        request,
        "dataset.html",
        dataset_id=dataset_id,
        status=status,
        charts=charts,
        findings=shown_findings(found, _urls(request)),
        broken=sum(1 for e in exports if e["status"] in ("failed", "vanished")),
    )


@router.get("/restore", response_class=HTMLResponse)
def restore(
    request: Request,
    dataset_id: Annotated[str | None, Query(max_length=500)] = None,
    as_of: Annotated[str | None, Query(max_length=100)] = None,
    destination: Annotated[str | None, Query(max_length=200)] = None,
    allow_unverified: bool = False,
) -> Response:
    reader = _reader(request)
    datasets = sorted({r["dataset_id"] for r in reader.read(queries.status, empty=[])})
    plan, error, status = None, None, 200
    if dataset_id and as_of:
        try:
            plan = restore_plan_dict(request.app, dataset_id, as_of, destination or None, allow_unverified)
        except ApiError as exc:
            error, status = f"{exc.error}: {exc.detail}", exc.status
        else:
            plan = shown_plan(plan, _urls(request))
    return _page(
        request,
        "restore.html",
        status,
        datasets=datasets,
        destinations=[d.name for d in request.app.state.config.destinations],
        dataset_id=dataset_id or "",
        as_of=as_of or (iso(utcnow()) or ""),
        destination=destination or "",
        allow_unverified=allow_unverified,
        plan=plan,
        error=error,
    )


@router.post("/run")
def run_now(request: Request) -> Response:
    """The "run now" button: a run with the [service] level and sample."""
    from verifier.service.scheduler import Busy, ShuttingDown

    config = request.app.state.config
    opts = service_run_options(config)
    if not config.destinations:
        return RedirectResponse("/?busy=1", status_code=303)
    try:
        run_id = request.app.state.scheduler.trigger(opts)
    except (Busy, ShuttingDown):
        return RedirectResponse("/?busy=1", status_code=303)
    return RedirectResponse(f"/?started={run_id}", status_code=303)
