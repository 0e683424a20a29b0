"""Flows, connections and runs as Flow Service returns them, read tolerantly.

Adobe's pages disagree on several points (AEP-FLOW-SERVICE.md, marked [CONFLICT]); each reader
below accepts every documented form:
- run status `success` (examples) / `Success` (OAS enum): compared lower-case;
- run end `completedAtUTC` (examples) / `stoppedAtUTC` (OAS schema): either;
- template `foldernameTemplate` (API guide) / `folderNameTemplate` (OAS): either;
- epoch seconds (scheduleParams) / milliseconds (everything else): told apart by magnitude;
- single-entity GETs answer `{"items": [...]}` or the bare entity: both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# Data Lake is the one source connection spec of dataset exports (EXP-API).
DATA_LAKE_SOURCE_SPEC = "23598e46-f560-407b-88d5-ea6207e49db0"
# Dataset-export flow specs and their target connection specs (EXP-API table), by backend type.
DATASET_FLOW_SPECS: dict[str, tuple[str, str]] = {
    "269ba276-16fc-47db-92b0-c1049a3c131f": ("s3", "Amazon S3"),
    "95bd8965-fc8a-4119-b9c3-944c2c2df6d2": ("azure_blob", "Azure Blob Storage"),
    "17be2013-2549-41ce-96e7-a70363bec293": ("adls_gen2", "Azure Data Lake Storage Gen2"),
    "cd2fc47e-e838-4f38-a581-8fff2f99b63a": ("dlz", "Data Landing Zone"),
    "585c15c4-6cbf-4126-8f87-e26bff78b657": ("gcs", "Google Cloud Storage"),
    "354d6aad-4754-46e4-a576-1b384561c440": ("sftp", "SFTP"),
}
# Before this many epoch units, a number is seconds; after it, milliseconds (year 5138 in seconds).
_MS_EPOCH = 100_000_000_000


def epoch(value: Any) -> datetime | None:
    """An epoch timestamp in seconds or milliseconds (both documented) as an aware UTC time."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        n = float(value)
    except (TypeError, ValueError):
        return None
    if n <= 0:
        return None
    if n >= _MS_EPOCH:
        n /= 1000.0
    try:
        return datetime.fromtimestamp(n, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def first_item(body: dict[str, Any]) -> dict[str, Any]:
    """Single-entity GETs answer `{"items": [entity]}` (UPD, DEST-OAS); accept the bare entity too."""
    items = body.get("items")
    if isinstance(items, list):
        return items[0] if items and isinstance(items[0], dict) else {}
    return body


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _strs(v: Any) -> list[str]:
    return [x for x in v if isinstance(x, str)] if isinstance(v, list) else []


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and v.strip().isdigit():
        return int(v)
    return None


@dataclass
class Schedule:
    start: datetime | None
    interval: int | None
    unit: str | None  # hour | day
    end: datetime | None
    export_mode: str | None
    template: str | None

    @property
    def step(self) -> timedelta | None:
        if not self.interval or self.interval <= 0:
            return None  # interval 0: DAILY_FULL_EXPORT, a one-time export
        if self.unit == "hour":
            return timedelta(hours=self.interval)
        if self.unit == "day":
            return timedelta(days=self.interval)
        return None

    def slots(self, since: datetime, until: datetime) -> list[datetime]:
        """Scheduled export times in [since, until]: startTime + k × interval, before endTime."""
        if self.start is None:
            return []
        stop = min(until, self.end) if self.end else until
        step = self.step
        if step is None:
            return [self.start] if since <= self.start <= stop else []
        k = max(0, -(-(since - self.start) // step))  # the first k with start + k·step >= since
        out: list[datetime] = []
        t = self.start + k * step
        while t <= stop and len(out) < 100_000:
            out.append(t)
            t += step
        return out

    @classmethod
    def parse(cls, raw: Any) -> Schedule:
        p = _dict(raw)
        template = p.get("foldernameTemplate", p.get("folderNameTemplate"))
        unit = p.get("timeUnit")
        mode = p.get("exportMode")
        return cls(
            start=epoch(p.get("startTime")),
            interval=_int(p.get("interval")),
            unit=unit.lower() if isinstance(unit, str) else None,
            end=epoch(p.get("endTime")),
            export_mode=mode.upper() if isinstance(mode, str) else None,
            template=template if isinstance(template, str) and template else None,
        )


@dataclass
class Flow:
    id: str
    name: str
    state: str  # enabled | disabled (lower-cased)
    flow_spec_id: str
    source_ids: list[str]
    target_ids: list[str]
    schedule: Schedule
    raw_last_run: dict[str, Any] = field(default_factory=dict)

    @property
    def destination_type(self) -> str | None:
        spec = DATASET_FLOW_SPECS.get(self.flow_spec_id)
        return spec[0] if spec else None

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Flow:
        state = raw.get("state")
        return cls(
            id=str(raw.get("id", "")),
            name=str(raw.get("name", "")),
            state=state.lower() if isinstance(state, str) else "unknown",
            flow_spec_id=str(_dict(raw.get("flowSpec")).get("id", "")),
            source_ids=_strs(raw.get("sourceConnectionIds")),
            target_ids=_strs(raw.get("targetConnectionIds")),
            schedule=Schedule.parse(raw.get("scheduleParams")),
            raw_last_run=_dict(raw.get("lastRunDetails")),
        )


@dataclass
class Target:
    id: str
    format: str | None  # parquet | json
    compression: str | None  # gzip | none
    path: str | None
    location: str | None  # bucket / container, when the destination has one
    manifest: bool | None  # includeFileManifest, when stated
    template: str | None  # a folder template stated on the target, when there is one

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Target:
        p = _dict(raw.get("params"))
        fmt = p.get("datasetFileType")
        comp = p.get("compression")
        man = p.get("includeFileManifest")
        template = p.get("foldernameTemplate", p.get("folderNameTemplate"))
        path = p.get("path", p.get("remotePath"))
        loc = p.get("bucketName", p.get("container"))
        return cls(
            id=str(raw.get("id", "")),
            format=fmt.lower() if isinstance(fmt, str) else None,
            compression=comp.lower() if isinstance(comp, str) else None,
            path=path if isinstance(path, str) else None,
            location=loc if isinstance(loc, str) else None,
            manifest=man if isinstance(man, bool) else None,
            template=template if isinstance(template, str) and template else None,
        )


def source_datasets(raw: dict[str, Any]) -> dict[str, str]:
    """dataset id -> name, from a Data Lake source connection's `params.datasets`."""
    out: dict[str, str] = {}
    for d in _dict(raw.get("params")).get("datasets") or []:
        if isinstance(d, dict):
            ds = d.get("dataSetId", d.get("datasetId"))
            if isinstance(ds, str) and ds:
                out[ds] = str(d.get("name") or "")
    return out


@dataclass
class FlowRun:
    id: str
    flow_id: str
    status: str  # success | failed | processing | waiting | ... (lower-cased)
    started_at: datetime | None
    completed_at: datetime | None
    records: int | None
    bytes: int | None
    files: int | None
    errors: list[tuple[str, str]]  # (code, message), as Adobe gives them
    dataset_ids: set[str]  # datasets the run names; empty: every dataset of the flow

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> FlowRun:
        m = _dict(raw.get("metrics"))
        dur = _dict(m.get("durationSummary"))
        rec = _dict(m.get("recordSummary"))
        st = _dict(m.get("statusSummary"))
        status = st.get("status", raw.get("state"))
        errors = [
            (str(e.get("code", "")), str(e.get("message", ""))) for e in st.get("errors") or [] if isinstance(e, dict)
        ]
        names: set[str] = set()
        for s in rec.get("sourceSummaries") or []:
            if isinstance(s, dict):
                names.update(_dataset_ref(s.get("id")))
                for e in s.get("entitySummaries") or []:
                    if isinstance(e, dict):
                        names.update(_dataset_ref(e.get("id")))
        records = _int(rec.get("outputRecordCount"))
        if records is None:
            records = _int(rec.get("inputRecordCount"))
        return cls(
            id=str(raw.get("id", "")),
            flow_id=str(raw.get("flowId", "")),
            status=status.lower() if isinstance(status, str) else "unknown",
            started_at=epoch(dur.get("startedAtUTC")),
            completed_at=epoch(dur.get("completedAtUTC", dur.get("stoppedAtUTC"))),
            records=records,
            bytes=_int(_dict(m.get("sizeSummary")).get("outputBytes")),
            files=_int(_dict(m.get("fileSummary")).get("outputFileCount")),
            errors=errors,
            dataset_ids=names,
        )


def _dataset_ref(v: Any) -> set[str]:
    """`dataset:<id>` or a bare id, by analogy with audiences' `segment:<id>` ([UNCONFIRMED])."""
    if not isinstance(v, str) or not v:
        return set()
    return {v.split(":", 1)[1]} if v.lower().startswith("dataset:") else {v}
