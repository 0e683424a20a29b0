"""What the catalog knows of one dataset, read for a restore plan: its exports per destination,
the files and checksums of those at or before the plan's time, and why failed ones failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from verifier.catalog.db import connect, from_db, to_db
from verifier.model import Checksum
from verifier.restore.model import Link, PlanFile
from verifier.settings import Config


@dataclass
class Records:
    exports: dict[str, list[Link]] = field(default_factory=dict)  # destination -> links in time order
    dests: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)  # name -> (type, export_mode)
    errors: dict[tuple[str, datetime], list[str]] = field(default_factory=dict)  # failed export -> finding codes


def load(config: Config, dataset: str, as_of: datetime) -> Records:
    """The dataset's exports, and the files and checksums of those at or before `as_of`.

    Times of the many file and checksum rows travel as integers (epoch microseconds): turning
    tens of thousands of TIMESTAMPs into datetimes was most of a plan's time at 1 M file rows.
    """
    out = Records()
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
            link = Link(tt, raw or raw_time(tt), uri or "", kind, status, level, from_db(verified))
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


def raw_time(t: datetime) -> str:
    return t.strftime("%Y%m%d%H%M%S" if t.second else "%Y%m%d%H%M")
