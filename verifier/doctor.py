"""`verifier doctor`: can this config work, without recording a run (SPEC §11).

For each destination: secrets resolved (the config loaded), credentials not expired or expiring,
the store reachable and listable, one file's first bytes readable, and no modification time in
the future (a clock that is off makes settle/stale judgements wrong). With `[aep]`: a token from
IMS. Nothing is written to the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from verifier import credentials, redact
from verifier.backends.base import Backend
from verifier.errors import VerifierError
from verifier.exitcodes import INCOMPLETE, OK
from verifier.findings import Severity
from verifier.model import Entry
from verifier.settings import Config, Destination
from verifier.timeutil import utcnow

CLOCK_SKEW = timedelta(minutes=5)
MAX_PROBE_LISTINGS = 8  # folders listed while looking for one file to read

OK_, WARN, FAIL = "ok", "warning", "failed"


@dataclass
class Check:
    target: str  # a destination's name, or "aep"
    what: str
    outcome: str  # ok | warning | failed
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"target": self.target, "check": self.what, "outcome": self.outcome, "detail": self.detail}


def exit_code(checks: list[Check]) -> int:
    """0 when everything answered, 3 when something could not be reached or read (4 is a bad config)."""
    return INCOMPLETE if any(c.outcome == FAIL for c in checks) else OK


def run_doctor(config: Config, names: list[str] | None = None, now: datetime | None = None) -> list[Check]:
    from verifier.backends import make_backend

    now = now or utcnow()
    dests = [config.destination(n) for n in names] if names else config.destinations
    checks: list[Check] = []
    for dest in dests:
        checks.append(
            Check(
                dest.name, "config", OK_, f"{dest.type}; secrets resolved: {', '.join(sorted(dest.secrets)) or 'none'}"
            )
        )
        checks.extend(_credentials(dest, now))
        try:
            backend = make_backend(dest)
        except VerifierError as exc:
            checks.append(Check(dest.name, "backend", FAIL, redact.scrub(str(exc))))
            continue
        try:
            checks.extend(_store(backend, dest, now))
        finally:
            backend.close()
    if config.aep is not None and not names:
        checks.append(_aep(config))
    return checks


def _credentials(dest: Destination, now: datetime) -> list[Check]:
    found = credentials.findings(dest, now)
    if not credentials.expiries(dest):
        return []
    if not found:
        whens = ", ".join(f"{what} until {when:%Y-%m-%d}" for what, when in credentials.expiries(dest))
        return [Check(dest.name, "credentials", OK_, whens)]
    return [Check(dest.name, "credentials", FAIL if f.sev >= Severity.ERROR else WARN, f.message) for f in found]


def _store(backend: Backend, dest: Destination, now: datetime) -> list[Check]:
    root = backend.root()
    try:
        top = backend.list(root)
    except VerifierError as exc:
        return [Check(dest.name, "list", FAIL, f"cannot list {backend.display_url()}: {redact.scrub(str(exc))}")]
    out = [
        Check(
            dest.name,
            "list",
            OK_ if top else WARN,
            f"{backend.display_url()}: {len(top)} entries" + ("" if top else " (nothing exported here yet?)"),
        )
    ]
    found, newest = _find_file(backend, top)
    if found is None:
        out.append(Check(dest.name, "read", WARN, "no file found to read in the first folders; nothing to check yet"))
    else:
        try:
            head = backend.read_range(found.path, 0, min(4, found.size)) if found.size else b""
            out.append(
                Check(dest.name, "read", OK_, f"read the first bytes of {backend.uri(found.path)} ({head[:4]!r})")
            )
        except VerifierError as exc:
            out.append(
                Check(dest.name, "read", FAIL, f"cannot read {backend.uri(found.path)}: {redact.scrub(str(exc))}")
            )
    if newest is not None and newest > now + CLOCK_SKEW:
        out.append(
            Check(
                dest.name,
                "clock",
                WARN,
                f"a file was modified at {newest:%Y-%m-%d %H:%M:%S} UTC, {(newest - now).total_seconds():.0f} s in the "
                "future: this machine's clock (or the store's) is off; fix NTP, or settle/stale judgements go wrong",
            )
        )
    elif newest is not None:
        out.append(Check(dest.name, "clock", OK_, "no modification time in the future"))
    return out


def _find_file(backend: Backend, entries: list[Entry]) -> tuple[Entry | None, datetime | None]:
    """The first non-empty file below `entries`, breadth first, within a few listings; and the newest mtime seen."""
    queue = list(entries)
    newest: datetime | None = None
    listings = 0
    while queue:
        e = queue.pop(0)
        if e.modified_at is not None and (newest is None or e.modified_at > newest):
            newest = e.modified_at
        if not e.is_dir and e.size > 0:
            return e, newest
        if e.is_dir and listings < MAX_PROBE_LISTINGS:
            listings += 1
            try:
                queue.extend(backend.list(e.path))
            except VerifierError:
                continue
    return None, newest


def _aep(config: Config) -> Check:
    from verifier.aep.client import FlowServiceClient

    assert config.aep is not None
    try:
        with FlowServiceClient(config.aep) as client:
            client.token()
    except VerifierError as exc:
        return Check("aep", "token", FAIL, redact.scrub(str(exc)))
    return Check("aep", "token", OK_, f"IMS issued a token for org {config.aep.org_id}")
