"""Durations, sizes and export times: parsing in one place."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$", re.I)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?i?b?)?\s*$", re.I)
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
    "t": 10**12,
    "p": 10**15,
    "ki": 2**10,
    "mi": 2**20,
    "gi": 2**30,
    "ti": 2**40,
    "pi": 2**50,
}


def parse_duration(text: str) -> timedelta:
    """'24h', '2h30m', '7d', '90s' -> timedelta. Raises ValueError with the accepted forms."""
    m = _DURATION.match(str(text))
    if not m or not any(m.groups()):
        raise ValueError(f"{text!r} is not a duration; use forms like 30m, 2h, 24h, 7d, 1d12h")
    d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)


def format_duration(td: timedelta) -> str:
    secs = int(td.total_seconds())
    if secs % 86400 == 0 and secs:
        return f"{secs // 86400}d"
    if secs % 3600 == 0 and secs:
        return f"{secs // 3600}h"
    if secs % 60 == 0 and secs:
        return f"{secs // 60}m"
    return f"{secs}s"


def parse_size(text: str) -> int:
    """'500MB', '2GiB', '1024' -> bytes."""
    m = _SIZE.match(str(text))
    if not m:
        raise ValueError(f"{text!r} is not a size; use forms like 500MB, 2GB, 1GiB")
    unit = (m.group(2) or "").lower().rstrip("b")
    if unit not in _SIZE_UNITS:
        raise ValueError(f"{text!r} has an unknown unit; use B, KB, MB, GB, TB or KiB, MiB, GiB")
    return int(float(m.group(1)) * _SIZE_UNITS[unit])


@functools.lru_cache(maxsize=1 << 16)  # every dataset of a destination repeats the same export times
def parse_export_time(value: str) -> datetime | None:
    """The value of an `exportTime=` folder: 12 (YYYYMMDDHHMM) or 14 digits, UTC. None if invalid."""
    if not value.isdigit() or len(value) not in (12, 14) or not value.isascii():
        return None
    fmt = "%Y%m%d%H%M" if len(value) == 12 else "%Y%m%d%H%M%S"
    try:
        return datetime.strptime(value, fmt).replace(tzinfo=UTC)
    except ValueError:
        return None


def parse_time(text: str) -> datetime:
    """A user-given point in time: ISO 8601 or YYYYMMDDHHMM[SS]; naive means UTC."""
    t = text.strip()
    parsed = parse_export_time(t)
    if parsed:
        return parsed
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a time; use ISO 8601 (2024-05-01T06:00Z) or YYYYMMDDHHMM") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
