"""Which files get a full read tonight, so that `--sample P` reads every data file in full within
ceil(100 / P) sampled runs, whatever the sizes, the exports' status or the new files.

The guarantee holds by construction, counted in runs (not days): a file that has waited
ceil(100 / P) - 1 sampled runs since its last full read (or since it was first seen) is *due*, and
every due file is read tonight. The rest of tonight's share (P percent of all data bytes) goes
to the others, never-read first, then those read longest ago. `--budget` is a hard cap: when the
due files alone exceed it, some wait longer and the guarantee does not hold (README, Sampling).
A zero-byte file has nothing to read: it counts as read.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
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
    key: FileKey
    size: int
    waited: int  # sampled runs that passed this file version by since its last full read or first sighting
    last_read_run: int | None  # None: never read in full (or changed since)


@dataclass(frozen=True)
class SampledRun:
    """A finished run that sampled (--sample or --budget), and what it covered."""

    run_id: int
    destinations: frozenset[str]
    datasets: frozenset[str]  # empty: every dataset

    def covers(self, destination: str, dataset: str) -> bool:
        return destination in self.destinations and (not self.datasets or dataset in self.datasets)


def period(percent: float) -> int:
    """The number of sampled runs within which every file is read in full."""
    return max(1, math.ceil(100 / percent))


def choose(candidates: Sequence[Candidate], *, percent: float | None, budget: int | None) -> set[FileKey]:
    """The files to read fully: every due one, then oldest-first up to `percent` of all data
    bytes; never more than `budget` bytes (a hard cap, which may leave due files waiting)."""
    if not candidates or (percent is None and budget is None):
        return set()
    due_after = period(percent) - 1 if percent is not None else None
    order = sorted(candidates, key=_age_order)
    due = [c for c in order if due_after is not None and c.waited >= due_after]
    rest = [c for c in order if not (due_after is not None and c.waited >= due_after)]
    share = sum(c.size for c in candidates) * percent / 100.0 if percent is not None else math.inf
    cap = float(budget) if budget is not None else math.inf
    chosen: set[FileKey] = set()
    spent = 0
    for c in due:
        if spent + c.size > cap:
            continue
        chosen.add(c.key)
        spent += c.size
    for c in rest:
        if spent >= min(share, cap):
            break
        if spent + c.size > cap:
            continue  # a budget is a hard cap: skip files that would exceed it
        chosen.add(c.key)
        spent += c.size
    return chosen


def _age_order(c: Candidate) -> tuple[bool, int, int, datetime, FileKey]:
    """Never read first; then the longest waiting; ties by the older export."""
    return (c.last_read_run is not None, -c.waited, c.last_read_run or 0, c.key[2], c.key)


class RunLedger:
    """How many sampled runs covered a (destination, dataset) after a given run."""

    def __init__(self, runs: Iterable[SampledRun]) -> None:
        self._runs = sorted(runs, key=lambda r: r.run_id)
        self._by_scope: dict[tuple[str, str], list[int]] = {}

    def waited(self, destination: str, dataset: str, since_run: int | None, *, inclusive: bool) -> int:
        ids = self._by_scope.get((destination, dataset))
        if ids is None:
            ids = [r.run_id for r in self._runs if r.covers(destination, dataset)]
            self._by_scope[(destination, dataset)] = ids
        if since_run is None:
            return 0
        at = bisect.bisect_left(ids, since_run) if inclusive else bisect.bisect_right(ids, since_run)
        return len(ids) - at


def plan_full_reads(
    listings: Iterable[tuple[str, ScanResult | None, dict[tuple[str, datetime], ExportRow]]],
    *,
    percent: float | None,
    budget: int | None,
    ledger: RunLedger | None = None,
) -> set[FileKey]:
    """Tonight's full reads across every destination, from its listing and the catalog's ledger.

    A file whose size or etag changed since its last full read counts as never read.
    """
    if percent is None and budget is None:
        return set()
    ledger = ledger or RunLedger(())
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
                    last = pf.full_read_run if same and pf is not None else None
                    if last is not None:
                        waited = ledger.waited(dest, ex.dataset_id, last, inclusive=False)
                    else:  # never read: the runs since it was first seen, that one included
                        seen = pf.first_seen_run if pf is not None else None
                        waited = ledger.waited(dest, ex.dataset_id, seen, inclusive=True)
                    candidates.append(Candidate((dest, ex.dataset_id, ex.export_time, e.name), e.size, waited, last))
    return choose(candidates, percent=percent, budget=budget)


def runs_to_full_coverage(unread_waited: Iterable[int], percent: float | None) -> int | None:
    """Sampled runs at `percent` until every file has been read in full at least once: 0 when all
    have been; None when it cannot be said (nothing samples, or only a --budget, which guarantees
    nothing). `unread_waited`: for each never-read file, the sampled runs it has waited."""
    waits = list(unread_waited)
    if not waits:
        return 0
    if percent is None:
        return None
    return max(1, max(period(percent) - w for w in waits))
