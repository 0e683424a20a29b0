"""A small five-field cron parser (UTC) for `[service] schedule`."""

from __future__ import annotations

from datetime import datetime, timedelta


class CronError(ValueError):
    pass


_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 6)]


def _field(text: str, lo: int, hi: int) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, s = part.split("/", 1)
            if not s.isdigit() or int(s) == 0:
                raise CronError(f"bad step {s!r}")
            step = int(s)
        if part == "*":
            a, b = lo, hi
        elif "-" in part:
            x, y = part.split("-", 1)
            if not (x.isdigit() and y.isdigit()):
                raise CronError(f"bad range {part!r}")
            a, b = int(x), int(y)
        elif part.isdigit():
            a = b = int(part)
        else:
            raise CronError(f"bad value {part!r}")
        if a < lo or b > hi or a > b:
            raise CronError(f"{part!r} is outside {lo}-{hi}")
        out.update(range(a, b + 1, step))
    return out


def parse_cron(expr: str) -> list[set[int]]:
    parts = expr.split()
    if len(parts) != 5:
        raise CronError(f"{expr!r}: a cron schedule has five fields: minute hour day month weekday")
    fields = [_field(p, lo, hi) for p, (lo, hi) in zip(parts, _RANGES, strict=True)]
    # cron weekday: 0 = Sunday; Python: Monday = 0
    return fields


def next_after(expr: str, after: datetime) -> datetime:
    minute, hour, day, month, weekday = parse_cron(expr)
    t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(366 * 24 * 60):
        if (
            t.minute in minute
            and t.hour in hour
            and t.day in day
            and t.month in month
            and (t.weekday() + 1) % 7 in weekday
        ):
            return t
        t += timedelta(minutes=1)
    raise CronError(f"{expr!r} never fires")
