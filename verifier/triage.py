"""Root causes first, their consequences under them: how findings are shown to people.

One truncated file gives several findings (`file.changed`, `manifest.size_mismatch`,
`parquet.corrupt`), and a broken export makes every later one of its chain unrestorable
(`restore.chain_broken`). Listed flat, the consequence is read before its cause. `triage` groups
them: per file the most fundamental finding is the cause and the others hang under it; a dataset's
`restore.chain_broken` findings hang under that dataset's first error. The catalog and `--json`
keep every finding as it is; only what people read is grouped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from verifier.findings import Finding, Severity

# Lower is more fundamental. What a store says about a file explains what its bytes then show.
_RANK: dict[str, int] = {
    "backend.unreachable": 0,
    "aep.unreachable": 0,
    "backend.credentials_expiring": 0,
    "file.vanished": 1,
    "export.vanished": 1,
    "file.changed": 2,
    "file.checksum_mismatch": 3,
    "file.empty": 3,
    "file.unreadable": 3,
    "manifest.missing": 4,
    "manifest.invalid": 4,
    "manifest.file_missing": 4,
    "manifest.size_mismatch": 5,
    "manifest.unlisted_file": 5,
    "file.check_crashed": 6,
    "file.unexpected_format": 6,
    "pgp.wrong_recipient": 6,
    "pgp.corrupt": 7,
    "parquet.encrypted": 7,
    "parquet.corrupt": 8,
    "json.corrupt": 8,
    "restore.chain_broken": 99,
}
_CONSEQUENCES = frozenset({"restore.chain_broken"})


@dataclass
class Group:
    """A root cause and the findings that follow from it."""

    cause: Finding
    consequences: list[Finding] = field(default_factory=list)

    @property
    def severity(self) -> Severity:
        return max([self.cause.sev, *(c.sev for c in self.consequences)])


def _rank(f: Finding) -> int:
    return _RANK.get(f.code, 10)


def _order_key(g: Group) -> tuple[int, str, str, datetime, int, str]:
    f = g.cause
    return (
        -int(g.severity),
        f.destination,
        f.dataset_id or "",
        f.export_time or datetime.min,
        _rank(f),
        f.uri or "",
    )


def triage(findings: list[Finding]) -> list[Group]:
    """Group `findings` into causes with consequences, worst first, causes before effects."""
    by_file: dict[tuple[str, str | None, str], list[Finding]] = {}
    loose: list[Finding] = []
    chain: list[Finding] = []
    for f in findings:
        if f.code in _CONSEQUENCES:
            chain.append(f)
        elif f.uri:
            by_file.setdefault((f.destination, f.dataset_id, f.uri), []).append(f)
        else:
            loose.append(f)
    groups: list[Group] = [Group(f) for f in loose]
    for items in by_file.values():
        items.sort(key=lambda f: (_rank(f), -int(f.sev), f.code))
        groups.append(Group(items[0], items[1:]))
    groups.sort(key=_order_key)
    for f in sorted(chain, key=lambda f: (f.export_time or datetime.min, f.uri or "")):
        home = _first_error_of(groups, f.destination, f.dataset_id, f.export_time)
        if home is None:
            groups.append(Group(f))
        else:
            home.consequences.append(f)
    groups.sort(key=_order_key)
    return groups


def _first_error_of(groups: list[Group], dest: str, dataset: str | None, before: datetime | None) -> Group | None:
    """The earliest error of the same dataset at or before `before`: the broken link of the chain."""
    best: Group | None = None
    for g in groups:
        c = g.cause
        if c.destination != dest or c.dataset_id != dataset or c.sev < Severity.ERROR:
            continue
        if before is not None and c.export_time is not None and c.export_time > before:
            continue
        if best is None or (c.export_time or datetime.min) < (best.cause.export_time or datetime.min):
            best = g
    return best


def flatten(groups: list[Group]) -> list[tuple[Finding, bool]]:
    """(finding, is_consequence) in display order."""
    out: list[tuple[Finding, bool]] = []
    for g in groups:
        out.append((g.cause, False))
        out.extend((c, True) for c in g.consequences)
    return out


class Relativizer:
    """Paths relative to each finding's destination URL (`{name: url}`): people read
    `ds1/exportTime=202611170600/part-0.parquet`; the catalog and `--json` keep the full URI."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.bases = {
            name: [p for p in (url.rstrip("/"), "file://" + url.rstrip("/")) if p] for name, url in urls.items() if url
        }

    def __call__(self, f: Finding) -> str:
        return self.text(f.uri or "", f.destination)

    def text(self, text: str, destination: str) -> str:
        for base in sorted(self.bases.get(destination, []), key=len, reverse=True):
            text = text.replace(base + "/", "")
        return text


def relativizer(urls: dict[str, str]) -> Callable[[Finding], str]:
    return Relativizer(urls)


def short_message(f: Finding, rel: Callable[[Finding], str]) -> str:
    """The message without the full URI it often starts with (it is shown beside it, relative)."""
    text = f.message
    if f.uri:
        if text.startswith(f.uri + ": "):
            text = text[len(f.uri) + 2 :]
        text = text.replace(f.uri, rel(f))
    if isinstance(rel, Relativizer):
        text = rel.text(text, f.destination)
    return text
