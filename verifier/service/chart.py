"""One destination's export history of a dataset as an inline SVG, drawn on the server: export
sizes as bars, record counts as a line, broken exports (failed, vanished) in red with a marker
under the axis. No JavaScript; each mark carries a `<title>` tooltip and data attributes.

An SVG scales its text with its viewBox: a 960-unit chart shown 350 px wide on a phone had 4 px
labels. So there are two layouts, drawn both and one shown by the page's CSS: `wide` (960 units,
for a window of 700 px and more, where it is drawn at least ~640 px wide) and `narrow` (360 units,
about 1:1 on a phone, taller, with larger type)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from markupsafe import Markup

from verifier.timeutil import iso

BROKEN = frozenset({"failed", "vanished"})
COLOURS = {
    "ok": "#4a78c2",
    "warning": "#e0a000",
    "failed": "#d32f2f",
    "vanished": "#d32f2f",
    "pending": "#9e9e9e",
    "unverified": "#8d6e63",
    "unrestorable": "#f2a19b",  # intact, but after a broken link: light red, never the ok colour
}
MAX_POINTS = 2000


@dataclass(frozen=True)
class Layout:
    """Where the panels go, in SVG units, and the size of the type."""

    name: str
    w: int
    left: int
    right: int
    top: int
    size_h: int
    gap: int
    rec_h: int
    font: int
    max_bar: float

    @property
    def size_base(self) -> int:  # the axis of the size panel
        return self.top + self.size_h

    @property
    def rec_top(self) -> int:
        return self.size_base + self.gap

    @property
    def rec_base(self) -> int:  # the axis of the records panel
        return self.rec_top + self.rec_h

    @property
    def h(self) -> int:
        return self.rec_base + self.font + 12


# wide: 13 units is >= 9 px at 700 px and ~18 px across a 1400 px window
WIDE = Layout("wide", w=960, left=78, right=78, top=28, size_h=140, gap=34, rec_h=90, font=13, max_bar=26.0)
# narrow: drawn ~350 px wide on a 390 px phone, so a unit is about a pixel
NARROW = Layout("narrow", w=360, left=62, right=12, top=24, size_h=130, gap=38, rec_h=90, font=12, max_bar=14.0)
LAYOUTS = (WIDE, NARROW)


def when(v: datetime | None) -> str:
    """An export time as the tables show it: `2026-12-01 02:00` (UTC)."""
    return (iso(v) or "—").replace("T", " ")[:16]


def human_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


def human_count(n: float | None) -> str:
    if n is None:
        return "-"
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.1f}{unit}"
    return f"{n:.0f}"


@dataclass(frozen=True)
class _Frame:
    """Where things go: x by export time, the tallest bar and the highest record count."""

    rows: list[dict[str, Any]]
    max_bytes: int
    max_recs: int
    bar_w: float
    lay: Layout

    @classmethod
    def of(cls, rows: list[dict[str, Any]], lay: Layout) -> _Frame:
        max_bytes = max((e.get("total_bytes") or 0) for e in rows) or 1
        max_recs = max((e["record_count"] for e in rows if e.get("record_count") is not None), default=0) or 1
        bar_w = max(1.5, min(lay.max_bar, (lay.w - lay.left - lay.right) / max(len(rows), 1) * 0.7))
        return cls(rows, max_bytes, max_recs, bar_w, lay)

    def x(self, e: dict[str, Any]) -> float:
        lay = self.lay
        plot_w = lay.w - lay.left - lay.right
        t0 = self.rows[0]["export_time"].timestamp()
        span = self.rows[-1]["export_time"].timestamp() - t0
        if span <= 0:
            return lay.left + plot_w / 2
        pad = self.bar_w / 2 + 4  # keep the first and last bars inside the axes
        return lay.left + pad + (e["export_time"].timestamp() - t0) / span * (plot_w - 2 * pad)


def export_chart(exports: list[dict[str, Any]], title: str, lay: Layout = WIDE) -> Markup:
    """`exports` are `queries.exports` rows of one destination, oldest first."""
    rows = [e for e in exports if isinstance(e.get("export_time"), datetime)][-MAX_POINTS:]
    out: list[str] = [
        f'<svg class="history {lay.name}" data-layout="{lay.name}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {lay.w} {lay.h}" width="100%" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    if not rows:
        out.append(
            f'<text x="{lay.w / 2}" y="{lay.h / 2}" text-anchor="middle" font-size="{lay.font}" class="empty">'
            "no exports recorded</text></svg>"
        )
        return Markup("".join(out))
    frame = _Frame.of(rows, lay)
    out += _axes(frame)
    out += _size_bars(frame)
    out += _record_line(frame)
    out.append("</svg>")
    return Markup("".join(out))


def _axes(f: _Frame) -> list[str]:
    lay = f.lay
    first, last = when(f.rows[0]["export_time"]), when(f.rows[-1]["export_time"])
    dates = f'<text x="{lay.left}" y="{lay.rec_base + lay.font + 6}">{escape(first)}</text>'
    if last != first:
        dates += (
            f'<text x="{lay.w - lay.right}" y="{lay.rec_base + lay.font + 6}" text-anchor="end">{escape(last)}</text>'
        )
    half = lay.font // 3
    return [
        f'<g class="axes" stroke="#888" stroke-width="1">'
        f'<line x1="{lay.left}" y1="{lay.size_base}" x2="{lay.w - lay.right}" y2="{lay.size_base}"/>'
        f'<line x1="{lay.left}" y1="{lay.rec_base}" x2="{lay.w - lay.right}" y2="{lay.rec_base}"/></g>',
        f'<g class="labels" font-size="{lay.font}" fill="#444">'
        f'<text x="{lay.left - 6}" y="{lay.top + half}" text-anchor="end">{escape(human_bytes(f.max_bytes))}</text>'
        f'<text x="{lay.left - 6}" y="{lay.size_base}" text-anchor="end">0</text>'
        f'<text x="{lay.left}" y="{lay.top - 10}">export size</text>'
        f'<text x="{lay.left - 6}" y="{lay.rec_top + half}" text-anchor="end">{escape(human_count(f.max_recs))}</text>'
        f'<text x="{lay.left - 6}" y="{lay.rec_base}" text-anchor="end">0</text>'
        f'<text x="{lay.left}" y="{lay.rec_top - 8}">records</text>'
        f"{dates}</g>",
    ]


def _size_bars(f: _Frame) -> list[str]:
    """One bar per export; broken ones red with a marker under the axis."""
    base = f.lay.size_base
    out = ['<g class="sizes">']
    for e in f.rows:
        status = str(e.get("shown_status") or e.get("status") or "unknown")
        broken = status in BROKEN
        size = e.get("total_bytes") or 0
        h = max(2.0 if broken else 1.0, size / f.max_bytes * f.lay.size_h)
        cls = f"bar export status-{escape(status)}" + (" broken" if broken else "")
        tip = (
            f"{when(e['export_time'])} · {e.get('kind') or '-'} · {status}\n"
            f"{human_bytes(size)} in {e.get('file_count') or 0} file(s) · "
            f"{human_count(e.get('record_count'))} records"
        )
        at = escape(iso(e["export_time"]) or "")  # machine-readable, for scripts and tests
        out.append(
            f'<rect class="{cls}" data-export-time="{at}" data-status="{escape(status)}" '
            f'x="{f.x(e) - f.bar_w / 2:.1f}" y="{base - h:.1f}" width="{f.bar_w:.1f}" height="{h:.1f}" '
            f'fill="{COLOURS.get(status, "#607d8b")}"><title>{escape(tip)}</title></rect>'
        )
        if broken:
            cx, cy = f.x(e), base + 4
            out.append(
                f'<path class="broken-mark" data-export-time="{at}" d="M{cx:.1f},{cy} l5,9 h-10 z" fill="#d32f2f">'
                f"<title>{escape(status)}: {escape(when(e['export_time']))}</title></path>"
            )
    out.append("</g>")
    return out


def _record_line(f: _Frame) -> list[str]:
    """Record counts as a line with a dot per export that has one."""
    recs = [e for e in f.rows if e.get("record_count") is not None]
    if not recs:
        return []
    lay = f.lay
    pts = [(f.x(e), lay.rec_base - e["record_count"] / f.max_recs * lay.rec_h, e) for e in recs]
    path = " ".join(f"{'M' if i == 0 else 'L'}{px:.1f},{py:.1f}" for i, (px, py, _e) in enumerate(pts))
    out = [f'<g class="records"><path d="{path}" fill="none" stroke="#2e7d32" stroke-width="1.5"/>']
    for px, py, e in pts:
        broken = str(e.get("status") or "unknown") in BROKEN
        cls = "dot" + (" broken" if broken else "")
        out.append(
            f'<circle class="{cls}" cx="{px:.1f}" cy="{py:.1f}" r="{3.5 if broken else 2.5}" '
            f'fill="{"#d32f2f" if broken else "#2e7d32"}"><title>{escape(when(e["export_time"]))}: '
            f"{e['record_count']} records</title></circle>"
        )
    out.append("</g>")
    return out
