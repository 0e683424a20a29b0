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
from datetime import UTC, datetime

from verifier.checks.manifest import plain_name_problem
from verifier.config import EXPORT_MODES, Config
from verifier.errors import ConfigError
from verifier.findings import Finding
from verifier.restore.catalogread import Records, load
from verifier.restore.model import CHECKSUM_PREFERENCE, Attempt, Link, Plan, PlanFile
from verifier.restore.report import describe, to_dict
from verifier.timeutil import iso

# callers read the plan's shape and output from here too
__all__ = ["CHECKSUM_PREFERENCE", "Attempt", "Link", "Plan", "PlanFile", "describe", "plan", "to_dict"]

INTACT_STATUSES = ("ok", "warning")
_WHY_STATUS = {
    "failed": "marked failed by its verification",
    "vanished": "vanished from the store (recorded earlier, gone since)",
    "pending": "still pending (being written, or younger than settle_time, when last checked); "
    "run `verifier run` again once it has settled",
    "unverified": "never verified (it could not be checked); run `verifier run`, or pass --allow-unverified",
}


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
    recs = load(config, dataset, as_of)
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


def _evaluate(
    name: str,
    btype: str | None,
    mode: str,
    configured: bool,
    recs: Records,
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


def _name_problem(name: str) -> str | None:
    return None if _PLAIN.fullmatch(name) and name not in (".", "..") else plain_name_problem(name)


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
    folder_problem = _name_problem(lk.folder)
    if folder_problem or not (raw.isdigit() and raw.isascii() and len(raw) in (12, 14)):
        return f"cannot be restored: its folder {folder_problem or repr(lk.folder) + ' is not a valid exportTime'}"
    if lk.status == "unverified" and not lk.file_count:
        return "was never listed, so its files are unknown; run `verifier run` to record them"
    for f in lk.suspect_files():  # from the catalog: only those its rows flag (catalogread.py); others pass
        name_problem = _name_problem(f.name)
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
