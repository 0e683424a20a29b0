"""Which files get a full read tonight: never-read first, then those read longest ago."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from verifier.checks.formats import is_data_name

if TYPE_CHECKING:
    from verifier.catalog import ExportRow
    from verifier.layout import ScanResult

FileKey = tuple[str, str, datetime, str]  # destination, dataset, export_time, name


@dataclass
class Candidate:
    key: tuple[str, str, datetime, str]  # destination, dataset, export_time, name
    size: int
    full_read_at: datetime | None  # None: never fully read (or changed since)


def choose(
    candidates: list[Candidate], *, percent: float | None, budget: int | None
) -> set[tuple[str, str, datetime, str]]:
    """The files to read fully, up to `percent` of all data bytes and/or `budget` bytes.

    Files never read come first (oldest export first), then the ones read longest ago, so
    that successive nights cover everything: with --sample 10, ten nights read every file.
    """
    if not candidates or (percent is None and budget is None):
        return set()
    total = sum(c.size for c in candidates)
    limit = math.inf
    if percent is not None:
        limit = min(limit, total * percent / 100.0)
    if budget is not None:
        limit = min(limit, float(budget))
    order = sorted(
        candidates,
        key=lambda c: (
            c.full_read_at is not None,
            c.full_read_at or datetime.min.replace(tzinfo=c.key[2].tzinfo),
            c.key[2],
            c.key,
        ),
    )
    chosen: set[tuple[str, str, datetime, str]] = set()
    spent = 0
    for c in order:
        if spent >= limit:
            break
        if budget is not None and chosen and spent + c.size > budget:
            continue  # a budget is a hard cap: skip files that would exceed it
        chosen.add(c.key)
        spent += c.size
    return chosen


def plan_full_reads(
    listings: Iterable[tuple[str, ScanResult | None, dict[tuple[str, datetime], ExportRow]]],
    *,
    percent: float | None,
    budget: int | None,
) -> set[FileKey]:
    """Tonight's full reads across every destination, from its listing and the catalog's ledger.

    A file whose size or etag changed since its last full read counts as never read.
    """
    if percent is None and budget is None:
        return set()
    candidates = []
    for dest, listing, prev in listings:
        if listing is None:
            continue
        for ds in listing.datasets.values():
            for ex in ds.exports:
                p = prev.get(ex.key)
                for e in ex.entries:
                    if e.is_dir or not is_data_name(e.name) or e.size == 0:
                        continue
                    pf = p.files.get(e.name) if p else None
                    same = pf is not None and pf.size == e.size and (pf.etag or None) == (e.etag or None)
                    last = pf.full_read_at if same and pf is not None else None
                    candidates.append(Candidate((dest, ex.dataset_id, ex.export_time, e.name), e.size, last))
    return choose(candidates, percent=percent, budget=budget)
