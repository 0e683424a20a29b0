"""Telling people: one message per run through Apprise, and a heartbeat ping (SPEC §10).

A message says what broke, where and what to do: counts by severity, then new findings grouped by
dataset with the root cause before its consequences (`triage`). `only_new` sends a finding once
while it stays open; when it is fixed and comes back, it is sent again. A failing channel is logged
(by its position and scheme, never its URL: Apprise URLs carry tokens) and never changes the run's
verdict. The heartbeat (healthchecks.io style) is pinged after every completed run, with `/fail`
appended when the run found errors or could not check everything (exit >= 2).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from verifier import redact
from verifier.errors import VerifierError
from verifier.findings import Finding, Severity
from verifier.settings import NotifyConfig
from verifier.triage import Group, short_message, triage

if TYPE_CHECKING:
    from verifier.runner import RunSummary

log = logging.getLogger("verifier.notify")

HEARTBEAT_TIMEOUT_S = 10.0
MAX_GROUPS = 20  # a message lists at most this many causes; the rest are counted
FindingKey = tuple[str, str, str, str, str]


def _threshold(on: str) -> Severity:
    return Severity.INFO if on == "always" else Severity.parse(on)


def finding_key(f: Finding) -> FindingKey:
    """As the catalog records it (its uri scrubbed), so that keys read back from open_findings match."""
    return (f.destination or "", f.dataset_id or "", str(f.export_time or ""), redact.scrub(f.uri or ""), f.code)


@dataclass
class Message:
    title: str
    body: str
    level: Severity
    sent_keys: set[FindingKey]


def compose(
    summary: RunSummary, cfg: NotifyConfig, already: set[FindingKey], relative: Callable[[Finding], str] | None = None
) -> Message | None:
    """The message for this run, or None when nothing reaches the threshold (or all was sent)."""
    threshold = _threshold(cfg.on)
    open_keys = {finding_key(f) for f in summary.findings}
    relevant = [f for f in summary.findings if f.sev >= threshold]
    new = [f for f in relevant if not (cfg.only_new and finding_key(f) in already)]
    if cfg.on != "always" and not new:
        return None
    counts = {sev: summary.count(sev) for sev in Severity}
    worst = max((f.sev for f in summary.findings), default=Severity.INFO)
    verdict = {Severity.ERROR: "BROKEN", Severity.WARNING: "warnings", Severity.INFO: "ok"}[worst]
    title = f"verifier run {summary.run_id}: {verdict} — {counts[Severity.ERROR]} errors, {counts[Severity.WARNING]} warnings"
    lines = [
        f"exit {summary.exit_code} ({summary.status}), level {summary.level}, {len(summary.destinations)} destination(s)"
    ]
    for d in summary.destinations:
        if not d.reachable:
            lines.append(f"! destination {d.name} could not be checked: {d.message or 'unreachable'}")
    if new:
        lines.append("")
        lines.append(
            f"{len(new)} new finding(s)"
            + (f", {len(relevant) - len(new)} still open" if len(relevant) > len(new) else "")
            + ":"
        )
        lines.extend(_render_groups(triage(new), relative))
    if cfg.public_url:
        lines.append("")
        lines.append(f"Dashboard: {cfg.public_url.rstrip('/')}/")
    body = redact.scrub("\n".join(lines))
    return Message(
        title=redact.scrub(title), body=body, level=worst, sent_keys={finding_key(f) for f in new} & open_keys
    )


def _render_groups(groups: list[Group], relative: Callable[[Finding], str] | None) -> Iterable[str]:
    where = relative or (lambda f: f.uri or "")
    dataset: tuple[str, str] | None = None
    for i, g in enumerate(groups):
        if i == MAX_GROUPS:
            yield f"… and {len(groups) - MAX_GROUPS} more causes: `verifier findings --last`"
            return
        c = g.cause
        here = (c.destination, c.dataset_id or "")
        if here != dataset:
            dataset = here
            yield f"[{c.destination}] dataset {c.dataset_id or '-'}"
        at = f" {where(c)}" if c.uri else (f" export {c.export_time:%Y-%m-%d %H:%M}" if c.export_time else "")
        yield f"  {str(c.sev).upper()} {c.code}{at}: {short_message(c, where)}"
        for q in g.consequences:
            yield f"    ↳ {q.code}: {short_message(q, where)}"


def _send(url: str, title: str, body: str, level: Severity) -> bool:
    import apprise

    kinds = {Severity.ERROR: apprise.NotifyType.FAILURE, Severity.WARNING: apprise.NotifyType.WARNING}
    a = apprise.Apprise()
    a.add(url)
    try:
        return bool(a.notify(body=body, title=title, notify_type=kinds.get(level, apprise.NotifyType.INFO)))
    except Exception:  # noqa: BLE001 - a channel must never take the run down
        return False


def ping_heartbeat(url: str, exit_code: int) -> bool:
    """healthchecks.io convention: the URL on success, `<url>/fail` when the run found errors (exit >= 2)."""
    import httpx

    target = url.rstrip("/") + "/fail" if exit_code >= 2 else url
    try:
        r = httpx.post(target, content=f"exit {exit_code}", timeout=HEARTBEAT_TIMEOUT_S, follow_redirects=True)
        return r.status_code < 400
    except httpx.HTTPError:
        return False


@dataclass
class Outcome:
    sent: int = 0
    failed: int = 0
    heartbeat: bool | None = None
    message: Message | None = None


def deliver(
    summary: RunSummary, cfg: NotifyConfig, already: set[FindingKey], relative: Callable[[Finding], str] | None = None
) -> Outcome:
    """Send this run's message to every channel and ping the heartbeat. Never raises."""
    out = Outcome()
    msg = compose(summary, cfg, already, relative)
    out.message = msg
    if msg is not None:
        for i, url in enumerate(cfg.urls, 1):
            scheme = url.split("://", 1)[0]
            if _send(url, msg.title, msg.body, msg.level):
                out.sent += 1
            else:
                out.failed += 1
                log.warning(
                    "notification channel %d of %d (%s://) failed; the run's verdict is unchanged",
                    i,
                    len(cfg.urls),
                    scheme,
                )
    if cfg.heartbeat:
        out.heartbeat = ping_heartbeat(cfg.heartbeat, summary.exit_code)
        if not out.heartbeat:
            log.warning("heartbeat ping failed; check [notify.secrets] heartbeat")
    return out


def next_ledger(
    summary: RunSummary, already: set[FindingKey], outcome: Outcome, open_now: set[FindingKey] | None = None
) -> set[FindingKey]:
    """What counts as notified after this run: still-open findings sent before, plus those sent now.

    Findings no longer open drop out, so a problem that is fixed and comes back is sent again. When
    every channel failed nothing new is recorded: it is tried again next run. `open_now` is what
    the view open_findings says is open (a run of some datasets leaves the others' open); without
    it, this run's findings.
    """
    open_keys = {finding_key(f) for f in summary.findings}
    kept = already & (open_now if open_now is not None else open_keys)
    if outcome.message is not None and outcome.sent > 0:
        kept |= outcome.message.sent_keys
    return kept


def after_run(
    cfg: NotifyConfig, catalog_path: Path, summary: RunSummary, relative: Callable[[Finding], str] | None = None
) -> Outcome | None:
    """Notify about a completed run and keep the ledger; None when nothing is configured."""
    if not cfg.enabled:
        return None
    from verifier.catalog import notified

    try:
        already = notified.load(catalog_path) if cfg.only_new else set()
    except VerifierError as exc:
        log.warning("cannot read the notification ledger (%s); sending every open finding", exc)
        already = set()
    outcome = deliver(summary, cfg, already, relative)
    if cfg.only_new:
        try:
            open_now = notified.open_keys(catalog_path)
            notified.replace(catalog_path, summary.run_id, next_ledger(summary, already, outcome, open_now))
        except VerifierError as exc:
            log.warning("cannot record what was notified (%s); findings may be sent again", exc)
    return outcome
