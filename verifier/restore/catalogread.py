"""What the catalog knows of one dataset, read for a restore plan: its exports per destination,
the files and checksums of those at or before the plan's time, and why failed ones failed.

A long chain has tens of thousands of files (20,000 for 2,000 exports of 10 files), and a plan
needs, per export, only its totals and whether any of its files cannot be restored. So the files and
checksums are read as Arrow columns, DuckDB flags the files that need a closer look (a name that is
not plainly safe, a status that is not intact), and a file becomes a PlanFile object only when it is
asked for: the flagged ones while planning, the rest when a plan is printed or fetched
(bench/README.md).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from verifier.catalog.db import connect, from_db, to_db
from verifier.model import Checksum
from verifier.restore.model import Link, PlanFile
from verifier.settings import Config

# The names plan.py needs no closer look at (its _PLAIN, in SQL): letters, digits and . _ - = only,
# 1 to 255 characters, and not "." or "..". Every other name, and every file whose status is not
# intact, is flagged, and checked in Python exactly as before.
_FLAGGED = (
    "NOT (regexp_full_match(name, '[A-Za-z0-9._=-]{1,255}') AND name NOT IN ('.', '..')) "
    "OR coalesce(status, 'unverified') NOT IN ('ok', 'warning')"
)

_FILES = f"""
SELECT destination, epoch_us(export_time) AS us, name, uri, size, record_count,
       coalesce(status, 'unverified') AS status, lower(md5) AS md5, lower(crc32c) AS crc32c, {_FLAGGED} AS flagged
FROM files WHERE dataset_id = $dataset AND role = 'data' AND export_time <= $cutoff
ORDER BY destination, export_time, name
"""

# no ORDER BY: sorting these strings was a third of the query; each file's few are sorted when it is built
_CHECKSUMS = """
SELECT destination, epoch_us(export_time) AS us, name, algo, lower(value) AS value, source FROM checksums
WHERE dataset_id = $dataset AND export_time <= $cutoff
"""


@dataclass
class Records:
    exports: dict[str, list[Link]] = field(default_factory=dict)  # destination -> links in time order
    dests: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)  # name -> (type, export_mode)
    errors: dict[tuple[str, datetime], list[str]] = field(default_factory=dict)  # failed export -> finding codes


def _arrow(rel: Any) -> Any:
    """A relation's rows as an Arrow table (`to_arrow_table` since DuckDB 1.4, `fetch_arrow_table` before)."""
    fetch = getattr(rel, "to_arrow_table", None) or rel.fetch_arrow_table
    return fetch()


class _Columns:
    """One query's rows as Python lists, one per column, each converted on first use."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self._cols: dict[str, list[Any]] = {}

    def __getitem__(self, name: str) -> list[Any]:
        col = self._cols.get(name)
        if col is None:
            col = self._cols[name] = self._table.column(name).to_pylist()
        return col


class _Checksums:
    """The checksums of the plan's files, grouped per file on first use."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self._by_file: dict[tuple[str, int, str], list[Checksum]] | None = None

    def of_file(self, dest: str, us: int, name: str) -> list[Checksum]:
        if self._by_file is None:
            by_file: dict[tuple[str, int, str], list[Checksum]] = {}
            cols = [self._table.column(c).to_pylist() for c in ("destination", "us", "name", "algo", "value", "source")]
            for d, u, n, algo, value, source in zip(*cols, strict=True):
                by_file.setdefault((d, u, n), []).append(Checksum(algo, value, source))
            for cs in by_file.values():
                cs.sort(key=lambda c: (c.algo, c.source))
            self._by_file = by_file
        return list(self._by_file.get((dest, us, name), ()))


class _ExportFiles:
    """A link's files: rows [start, stop) of the dataset's file columns (restore.model.FileSource)."""

    def __init__(self, cols: _Columns, sums: _Checksums, start: int, stop: int, flagged: list[int]) -> None:
        self._cols, self._sums = cols, sums
        self._start, self.count = start, stop - start
        self._flagged = flagged
        self._built: dict[int, PlanFile] = {}
        sizes, records = cols["size"][start:stop], cols["record_count"][start:stop]
        self.total_bytes: int = sum(filter(None, sizes))
        self.record_count: int | None = None if None in records else sum(records)

    def suspects(self) -> list[int]:
        return self._flagged

    def file(self, i: int) -> PlanFile:
        f = self._built.get(i)
        if f is None:
            f = self._built[i] = self._make(self._start + i)
        return f

    def files(self) -> list[PlanFile]:
        return [self.file(i) for i in range(self.count)]

    def _make(self, row: int) -> PlanFile:
        c = self._cols
        name = c["name"][row]
        cs = self._sums.of_file(c["destination"][row], c["us"][row], name)
        for algo, value in (("md5", c["md5"][row]), ("crc32c", c["crc32c"][row])):
            if value:
                computed = Checksum(algo, value, "computed")
                if computed not in cs:
                    cs.append(computed)
        size, records = c["size"][row], c["record_count"][row]
        return PlanFile(name, c["uri"][row] or "", int(size or 0), records, c["status"][row], cs)


def load(config: Config, dataset: str, as_of: datetime) -> Records:
    """The dataset's exports, and the files and checksums of those at or before `as_of`."""
    out = Records()
    params = {"dataset": dataset, "cutoff": to_db(as_of)}
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
            link = Link(tt, raw or raw_time(tt), uri or "", kind, status, level, from_db(verified))
            out.exports.setdefault(dest, []).append(link)
            by_key[(dest, us)] = link
        files = _arrow(con.sql(_FILES, params=params))
        sums = _Checksums(_arrow(con.sql(_CHECKSUMS, params=params)))
        for dest, t, code, message in con.execute(
            "SELECT f.destination, f.export_time, f.code, f.message FROM findings f JOIN exports e "
            "ON f.destination = e.destination AND f.dataset_id = e.dataset_id AND f.export_time = e.export_time "
            "AND f.run_id = e.run_id WHERE e.dataset_id = ? AND e.status = 'failed' AND f.severity = 'error' "
            "ORDER BY f.finding_id",
            [dataset],
        ).fetchall():
            out.errors.setdefault((dest, from_db(t)), []).append(f"{code}: {message}")  # type: ignore[arg-type]
    _attach(by_key, files, sums)
    return out


def _attach(by_key: dict[tuple[str, int], Link], files: Any, sums: _Checksums) -> None:
    """Give each link its rows of `files` (sorted by destination, export time, name) as its source."""
    cols = _Columns(files)
    dests, times = cols["destination"], cols["us"]
    flagged = [i for i, bad in enumerate(cols["flagged"]) if bad]
    for (dest, us), link in by_key.items():
        d_lo, d_hi = bisect.bisect_left(dests, dest), bisect.bisect_right(dests, dest)
        lo = bisect.bisect_left(times, us, d_lo, d_hi)
        hi = bisect.bisect_right(times, us, lo, d_hi)
        if hi > lo:
            f_lo, f_hi = bisect.bisect_left(flagged, lo), bisect.bisect_left(flagged, hi)
            link.source = _ExportFiles(cols, sums, lo, hi, [i - lo for i in flagged[f_lo:f_hi]])


def raw_time(t: datetime) -> str:
    return t.strftime("%Y%m%d%H%M%S" if t.second else "%Y%m%d%H%M")
