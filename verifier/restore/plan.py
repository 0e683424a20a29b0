"""Which exports and files rebuild a dataset as of a time, and whether every link is intact.

Reads the catalog only (read-only), never the store. A dataset's exports form a chain: with
``export_mode = "first_full_then_incremental"`` the state as of T needs every export from the
earliest ever recorded (the full one) up to T; with ``"full"`` only the latest export at or
before T. A link that is failed, vanished, pending or never verified breaks the chain
(``--allow-unverified`` relaxes only the never-verified case). When several destinations hold
the dataset, the first one with an intact chain is used: ``--destination`` first, then the
config's order, then destinations only the catalog still knows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from verifier.catalog.db import connect, from_db, to_db
from verifier.checks.manifest import plain_name_problem
from verifier.config import Config
from verifier.errors import ConfigError
from verifier.findings import Finding
from verifier.model import Checksum
from verifier.timeutil import iso

INTACT_STATUSES = ("ok", "warning")
EXPORT_MODES = ("first_full_then_incremental", "full")
#: the checksum a plan shows (and a restore names first): (algo, source) in order of preference
CHECKSUM_PREFERENCE: tuple[tuple[str, str], ...] = (
    ("md5", "computed"),
    ("md5", "service"),
    ("md5", "client"),
    ("crc32c", "computed"),
    ("crc32c", "service"),
    ("crc32c", "client"),
)
_WHY_STATUS = {
    "failed": "failed verification",
    "vanished": "vanished from the store (recorded earlier, gone since)",
    "pending": "still pending (being written, or younger than settle_time, when last checked); "
    "run `verifier run` again once it has settled",
    "unverified": "never verified (it could not be checked); run `verifier run`, or pass --allow-unverified",
}


@dataclass
class PlanFile:
    name: str
    uri: str
    size: int
    record_count: int | None
    status: str
    checksums: list[Checksum] = field(default_factory=list)  # every one recorded: computed and native
    problem: str | None = None  # why this file cannot be restored

    @property
    def checksum(self) -> Checksum | None:
        """The checksum shown, and verified first: computed MD5, native MD5, then CRC32C, then any."""
        for algo, source in CHECKSUM_PREFERENCE:
            for c in self.checksums:
                if c.algo == algo and c.source == source:
                    return c
        return self.checksums[0] if self.checksums else None


@dataclass
class Link:
    """One export of a chain."""

    export_time: datetime
    export_time_raw: str
    uri: str
    kind: str | None
    status: str
    level: str | None
    verified_at: datetime | None
    files: list[PlanFile] = field(default_factory=list)
    problem: str | None = None  # why this link breaks the chain

    @property
    def folder(self) -> str:
        return f"exportTime={self.export_time_raw}"

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def record_count(self) -> int | None:
        counts = [f.record_count for f in self.files]
        return None if None in counts else sum(c for c in counts if c is not None)


@dataclass
class Attempt:
    """One destination considered for the plan."""

    destination: str
    type: str | None
    export_mode: str
    configured: bool
    recorded: int  # exports of the dataset the catalog knows there
    links: list[Link] = field(default_factory=list)
    problem: str | None = None  # why its chain cannot be used (None: intact)
    hint: str | None = None  # the latest restorable point, when there is one
    used: bool = False
    reason: str = ""

    @property
    def intact(self) -> bool:
        return self.problem is None

    @property
    def broken_links(self) -> list[Link]:
        return [lk for lk in self.links if lk.problem]


@dataclass
class Plan:
    dataset_id: str
    as_of: datetime
    allow_unverified: bool
    preferred: str | None
    attempts: list[Attempt]
    findings: list[Finding]
    message: str

    @property
    def chosen(self) -> Attempt | None:
        return next((a for a in self.attempts if a.used), None)

    @property
    def shown(self) -> Attempt | None:
        """The chain to show: the one used, else the first with any links."""
        return self.chosen or next((a for a in self.attempts if a.links), None)

    @property
    def intact(self) -> bool:
        return self.chosen is not None

    @property
    def links(self) -> list[Link]:
        a = self.shown
        return a.links if a else []

    @property
    def exit_code(self) -> int:
        from verifier.exitcodes import ERRORS, OK

        return OK if self.intact else ERRORS

    @property
    def total_bytes(self) -> int:
        return sum(lk.total_bytes for lk in self.links)

    @property
    def total_records(self) -> int | None:
        counts = [lk.record_count for lk in self.links]
        return None if None in counts else sum(c for c in counts if c is not None)

    @property
    def file_count(self) -> int:
        return sum(len(lk.files) for lk in self.links)


# -- building ----------------------------------------------------------------------------------
def plan(
    config: Config,
    dataset: str,
    as_of: datetime,
    *,
    destination: str | None = None,
    allow_unverified: bool = False,
    require_configured: bool = False,
) -> Plan:
    """The plan to rebuild `dataset` as of `as_of` (naive means UTC), from the catalog alone.

    `require_configured` (for fetching) skips destinations that are no longer in the config.
    Raises CatalogError when the catalog cannot be read, ConfigError for an unknown --destination.
    """
    as_of = as_of.replace(tzinfo=UTC) if as_of.tzinfo is None else as_of.astimezone(UTC)
    recs = _load(config, dataset, as_of)
    configured = {d.name: d for d in config.destinations}
    if destination is not None and destination not in configured and destination not in recs.dests:
        names = ", ".join(d.name for d in config.destinations) or "none"
        raise ConfigError(
            f"--destination {destination!r} is neither in the config ({config.path}) nor in the catalog; "
            f"configured: {names}"
        )
    order = [destination] if destination else []
    order += [d.name for d in config.destinations if d.name in recs.exports]
    order += sorted(n for n in recs.exports if n not in configured)
    attempts: list[Attempt] = []
    for name in dict.fromkeys(order):
        dest = configured.get(name)
        mode = dest.export_mode if dest else recs.dests.get(name, (None, None))[1] or EXPORT_MODES[0]
        btype = dest.type if dest else recs.dests.get(name, (None, None))[0]
        a = _evaluate(name, btype, mode, dest is not None, recs, dataset, as_of, allow_unverified)
        if require_configured and dest is None and a.problem is None:
            a.problem = "not in the config any more, so its files cannot be fetched; add it back to restore from it"
        attempts.append(a)
    chosen = next((a for a in attempts if a.intact), None)
    for a in attempts:
        a.reason = _reason(a, chosen, destination)
        a.used = a is chosen
    findings = [] if chosen else _findings(config, attempts, dataset, as_of)
    p = Plan(dataset, as_of, allow_unverified, destination, attempts, findings, "")
    p.message = _message(p)
    return p


@dataclass
class _Records:
    exports: dict[str, list[Link]] = field(default_factory=dict)  # destination -> links in time order
    dests: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)  # name -> (type, export_mode)
    errors: dict[tuple[str, datetime], list[str]] = field(default_factory=dict)  # failed export -> finding codes


def _load(config: Config, dataset: str, as_of: datetime) -> _Records:
    """The dataset's exports, and the files and checksums of those at or before `as_of`.

    Times of the many file and checksum rows travel as integers (epoch microseconds): turning
    tens of thousands of TIMESTAMPs into datetimes was most of a plan's time at 1 M file rows.
    """
    out = _Records()
    cutoff = to_db(as_of)
    with connect(config.catalog_path, read_only=True) as con:
        for name, btype, mode in con.execute("SELECT name, type, export_mode FROM destinations").fetchall():
            out.dests[name] = (btype, mode)
        by_key: dict[tuple[str, int], Link] = {}
        for dest, t, us, raw, uri, kind, status, level, verified in con.execute(
            "SELECT destination, export_time, epoch_us(export_time), export_time_raw, uri, kind, status, level, "
            "verified_at FROM exports WHERE dataset_id = ? ORDER BY destination, export_time, export_time_raw",
            [dataset],
        ).fetchall():
            tt = t.replace(tzinfo=UTC)
            link = Link(tt, raw or _raw(tt), uri or "", kind, status, level, from_db(verified))
            out.exports.setdefault(dest, []).append(link)
            by_key[(dest, us)] = link
        sums: dict[tuple[str, int, str], list[Checksum]] = {}
        for dest, us, name, algo, value, source in con.execute(
            "SELECT destination, epoch_us(export_time), name, algo, lower(value), source FROM checksums "
            "WHERE dataset_id = ? AND export_time <= ? ORDER BY destination, export_time, name, algo, source",
            [dataset, cutoff],
        ).fetchall():
            sums.setdefault((dest, us, name), []).append(Checksum(algo, value, source))
        for dest, us, name, uri, size, records, status, md5, crc in con.execute(
            "SELECT destination, epoch_us(export_time), name, uri, size, record_count, status, lower(md5), "
            "lower(crc32c) FROM files WHERE dataset_id = ? AND role = 'data' AND export_time <= ? "
            "ORDER BY destination, export_time, name",
            [dataset, cutoff],
        ).fetchall():
            parent = by_key.get((dest, us))
            if parent is None:
                continue
            cs = sums.get((dest, us, name), [])
            for algo, value in (("md5", md5), ("crc32c", crc)):
                if value:
                    c = Checksum(algo, value, "computed")
                    if c not in cs:
                        cs.append(c)
            parent.files.append(PlanFile(name, uri or "", int(size or 0), records, status or "unverified", cs))
        for dest, t, code, message in con.execute(
            "SELECT f.destination, f.export_time, f.code, f.message FROM findings f JOIN exports e "
            "ON f.destination = e.destination AND f.dataset_id = e.dataset_id AND f.export_time = e.export_time "
            "AND f.run_id = e.run_id WHERE e.dataset_id = ? AND e.status = 'failed' AND f.severity = 'error' "
            "ORDER BY f.finding_id",
            [dataset],
        ).fetchall():
            out.errors.setdefault((dest, from_db(t)), []).append(f"{code}: {message}")  # type: ignore[arg-type]
    return out


def _raw(t: datetime) -> str:
    return t.strftime("%Y%m%d%H%M%S" if t.second else "%Y%m%d%H%M")


def _evaluate(
    name: str,
    btype: str | None,
    mode: str,
    configured: bool,
    recs: _Records,
    dataset: str,
    as_of: datetime,
    allow_unverified: bool,
) -> Attempt:
    exports = recs.exports.get(name, [])
    a = Attempt(name, btype, mode, configured, len(exports))
    if not exports:
        a.problem = f"holds no exports of dataset {dataset} in the catalog"
        return a
    before = [e for e in exports if e.export_time <= as_of]
    if not before:
        a.problem = (
            f"has no export at or before {iso(as_of)}: its earliest recorded export is {iso(exports[0].export_time)}"
        )
        return a
    a.links = [before[-1]] if mode == "full" else before
    ds_problem = plain_name_problem(dataset)
    for lk in a.links:
        lk.problem = _link_problem(lk, recs.errors.get((name, lk.export_time), []), allow_unverified, ds_problem)
    broken = a.broken_links
    if not broken:
        return a
    first = broken[0]
    a.problem = f"the link {iso(first.export_time)} ({first.uri}) {first.problem}"
    if mode == "full":
        good = [e for e in before if not _link_problem(e, [], allow_unverified, ds_problem)]
        if good:
            a.hint = f"the latest intact snapshot before it is {iso(good[-1].export_time)}"
    else:
        i = a.links.index(first)
        if i > 0:
            a.hint = f"the latest point in time restorable from it is {iso(a.links[i - 1].export_time)}"
    return a


# names that need no closer look: letters, digits and . _ - = only (every AEP part name)
_PLAIN = re.compile(r"[A-Za-z0-9._=-]{1,255}")


def _link_problem(lk: Link, errors: list[str], allow_unverified: bool, ds_problem: str | None) -> str | None:
    """Why this export cannot be part of a restore, or None."""
    if ds_problem:
        return f"cannot be restored: the dataset id {ds_problem}"
    if lk.status not in INTACT_STATUSES and not (lk.status == "unverified" and allow_unverified):
        why = _WHY_STATUS.get(lk.status, f"has status {lk.status!r}")
        if lk.status == "failed" and errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            why += f": {errors[0]}{more}"
        return f"is {why}" if lk.status in _WHY_STATUS else why
    raw = lk.export_time_raw
    folder_problem = plain_name_problem(lk.folder)
    if folder_problem or not (raw.isdigit() and raw.isascii() and len(raw) in (12, 14)):
        return f"cannot be restored: its folder {folder_problem or repr(lk.folder) + ' is not a valid exportTime'}"
    if lk.status == "unverified" and not lk.files:
        return "was never listed, so its files are unknown; run `verifier run` to record them"
    for f in lk.files:
        name_problem = None if _PLAIN.fullmatch(f.name) and f.name not in (".", "..") else plain_name_problem(f.name)
        if name_problem:
            f.problem = f"refused: {name_problem}"
        elif f.status not in INTACT_STATUSES and not (f.status == "unverified" and allow_unverified):
            f.problem = f"file is {_WHY_STATUS.get(f.status, f'in status {f.status!r}')}"
        if f.problem:
            return f"has a file that cannot be restored: {f.name[:200]!r} {f.problem}"
    return None


def _reason(a: Attempt, chosen: Attempt | None, preferred: str | None) -> str:
    if a is chosen:
        why = "the --destination asked for" if a.destination == preferred else "the first with an intact chain"
        return f"used: {why}; {len(a.links)} export(s), intact"
    if a.problem is None and chosen is not None:
        return f"not needed: its chain is intact too, but {chosen.destination} came first"
    text = f"not used: {a.problem}"
    if a.hint:
        text += f"; {a.hint}"
    return text


def _findings(config: Config, attempts: list[Attempt], dataset: str, as_of: datetime) -> list[Finding]:
    out = []
    for a in attempts:
        broken = a.broken_links
        if not broken:
            continue
        lk = broken[0]
        hint = f" ({a.hint})" if a.hint else ""
        f = Finding(
            "restore.chain_broken",
            f"{lk.uri}: dataset {dataset} as of {iso(as_of)} cannot be restored from {a.destination}: "
            f"the export {iso(lk.export_time)} {lk.problem}{hint}",
            destination=a.destination,
            dataset_id=dataset,
            export_time=lk.export_time,
            uri=lk.uri or None,
        )
        if f.code in config.severity:
            f.severity = config.severity[f.code]
        out.append(f)
    return out


def _message(p: Plan) -> str:
    c = p.chosen
    if c is not None:
        recs = "unknown" if p.total_records is None else str(p.total_records)
        return (
            f"dataset {p.dataset_id} as of {iso(p.as_of)}: {len(p.links)} export(s), {p.file_count} file(s), "
            f"{p.total_bytes} bytes, {recs} records from {c.destination} — intact"
        )
    if not p.attempts:
        return (
            f"dataset {p.dataset_id}: no exports in the catalog; check the id (`verifier status`) or run `verifier run`"
        )
    if not any(a.links for a in p.attempts):
        return f"dataset {p.dataset_id}: no export at or before {iso(p.as_of)} in any destination; nothing to restore"
    return (
        f"dataset {p.dataset_id} as of {iso(p.as_of)} cannot be restored: no destination holds an intact chain "
        "(restore.chain_broken)"
    )


# -- output ------------------------------------------------------------------------------------
def checksum_dict(c: Checksum | None) -> dict[str, str] | None:
    return None if c is None else {"algo": c.algo, "value": c.value, "source": c.source}


def link_dict(lk: Link) -> dict[str, Any]:
    return {
        "export_time": iso(lk.export_time),
        "export_time_raw": lk.export_time_raw,
        "uri": lk.uri,
        "kind": lk.kind,
        "status": lk.status,
        "level": lk.level,
        "verified_at": iso(lk.verified_at),
        "intact": lk.problem is None,
        "problem": lk.problem,
        "file_count": len(lk.files),
        "total_bytes": lk.total_bytes,
        "record_count": lk.record_count,
        "files": [
            {
                "name": f.name,
                "uri": f.uri,
                "size": f.size,
                "checksum": checksum_dict(f.checksum),
                "record_count": f.record_count,
                "status": f.status,
                "problem": f.problem,
            }
            for f in lk.files
        ],
    }


def finding_dict(f: Finding) -> dict[str, Any]:
    return f.as_dict()


def to_dict(p: Plan) -> dict[str, Any]:
    """The stable JSON shape of `restore-plan --json` (and of the HTTP API)."""
    shown = p.shown
    return {
        "dataset_id": p.dataset_id,
        "as_of": iso(p.as_of),
        "intact": p.intact,
        "exit_code": p.exit_code,
        "destination": shown.destination if shown else None,
        "export_mode": shown.export_mode if shown else None,
        "allow_unverified": p.allow_unverified,
        "message": p.message,
        "links": [link_dict(lk) for lk in p.links],
        "totals": {
            "exports": len(p.links),
            "files": p.file_count,
            "bytes": p.total_bytes,
            "records": p.total_records,
        },
        "destinations": [
            {
                "name": a.destination,
                "type": a.type,
                "export_mode": a.export_mode,
                "configured": a.configured,
                "exports_recorded": a.recorded,
                "used": a.used,
                "intact": a.intact,
                "reason": a.reason,
                "broken_links": [
                    {"export_time": iso(lk.export_time), "status": lk.status, "problem": lk.problem}
                    for lk in a.broken_links
                ],
            }
            for a in p.attempts
        ],
        "findings": [finding_dict(f) for f in p.findings],
    }


def describe(p: Plan) -> str:
    """The plan as plain text, for people (the demo, and the CLI off a terminal)."""
    lines = [p.message]
    shown = p.shown
    if shown is not None:
        state = "intact" if p.intact else "BROKEN"
        lines.append(f"chain on {shown.destination} ({shown.export_mode}), {state}:")
    for lk in p.links:
        recs = "?" if lk.record_count is None else lk.record_count
        mark = "ok " if lk.problem is None else "XX "
        lines.append(
            f"  {mark}{iso(lk.export_time)}  {lk.kind or '-':11} {lk.status:10} {len(lk.files)} file(s) "
            f"{lk.total_bytes} bytes {recs} records  {lk.uri}"
        )
        if lk.problem:
            lines.append(f"       ^ {lk.problem}")
        for f in lk.files:
            c = f.checksum
            cs = f"{c.algo}:{c.value} ({c.source})" if c else "no checksum recorded"
            frecs = "?" if f.record_count is None else f.record_count
            lines.append(f"       {f.name}  {f.size} bytes  {frecs} records  {cs}  [{f.status}]")
    if p.links:
        recs = "unknown" if p.total_records is None else p.total_records
        lines.append(f"total: {len(p.links)} export(s), {p.file_count} file(s), {p.total_bytes} bytes, {recs} records")
    if len(p.attempts) > 1 or (p.attempts and not p.intact):
        lines.append("destinations:")
        lines.extend(f"  {a.destination}: {a.reason}" for a in p.attempts)
    for fd in p.findings:
        lines.append(f"{fd.sev!s:7} {fd.code}  {fd.message}")
    return "\n".join(lines)
