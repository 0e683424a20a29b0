"""One destination's export history of a dataset as an inline SVG, drawn on the server: export
sizes as bars, record counts as a line, broken exports (failed, vanished) in red with a marker
under the axis. No JavaScript; each mark carries a `<title>` tooltip and data attributes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from markupsafe import Markup

from verifier.timeutil import iso

W, H = 960, 320
LEFT, RIGHT, TOP = 78, 78, 28
SIZE_H, GAP, REC_H = 140, 34, 90
SIZE_BASE = TOP + SIZE_H  # the axes of the two panels
REC_TOP = SIZE_BASE + GAP
REC_BASE = REC_TOP + REC_H
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

    @classmethod
    def of(cls, rows: list[dict[str, Any]]) -> _Frame:
        max_bytes = max((e.get("total_bytes") or 0) for e in rows) or 1
        max_recs = max((e["record_count"] for e in rows if e.get("record_count") is not None), default=0) or 1
        bar_w = max(1.5, min(26.0, (W - LEFT - RIGHT) / max(len(rows), 1) * 0.7))
        return cls(rows, max_bytes, max_recs, bar_w)

    def x(self, e: dict[str, Any]) -> float:
        plot_w = W - LEFT - RIGHT
        t0 = self.rows[0]["export_time"].timestamp()
        span = self.rows[-1]["export_time"].timestamp() - t0
        if span <= 0:
            return LEFT + plot_w / 2
        pad = self.bar_w / 2 + 4  # keep the first and last bars inside the axes
        return LEFT + pad + (e["export_time"].timestamp() - t0) / span * (plot_w - 2 * pad)


def export_chart(exports: list[dict[str, Any]], title: str) -> Markup:
    """`exports` are `queries.exports` rows of one destination, oldest first."""
    rows = [e for e in exports if isinstance(e.get("export_time"), datetime)][-MAX_POINTS:]
    out: list[str] = [
        f'<svg class="history" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="100%" '
        f'role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    if not rows:
        out.append(f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" class="empty">no exports recorded</text></svg>')
        return Markup("".join(out))
    frame = _Frame.of(rows)
    out += _axes(frame)
    out += _size_bars(frame)
    out += _record_line(frame)
    out.append("</svg>")
    return Markup("".join(out))


def _axes(f: _Frame) -> list[str]:
    first, last = iso(f.rows[0]["export_time"]) or "", iso(f.rows[-1]["export_time"]) or ""
    return [
        f'<g class="axes" stroke="#888" stroke-width="1">'
        f'<line x1="{LEFT}" y1="{SIZE_BASE}" x2="{W - RIGHT}" y2="{SIZE_BASE}"/>'
        f'<line x1="{LEFT}" y1="{REC_BASE}" x2="{W - RIGHT}" y2="{REC_BASE}"/></g>',
        f'<g class="labels" font-size="11" fill="#555">'
        f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end">{escape(human_bytes(f.max_bytes))}</text>'
        f'<text x="{LEFT - 6}" y="{SIZE_BASE}" text-anchor="end">0</text>'
        f'<text x="{LEFT}" y="{TOP - 10}">export size</text>'
        f'<text x="{LEFT - 6}" y="{REC_TOP + 4}" text-anchor="end">{escape(human_count(f.max_recs))}</text>'
        f'<text x="{LEFT - 6}" y="{REC_BASE}" text-anchor="end">0</text>'
        f'<text x="{LEFT}" y="{REC_TOP - 8}">records</text>'
        f'<text x="{LEFT}" y="{REC_BASE + 18}">{escape(first)}</text>'
        f'<text x="{W - RIGHT}" y="{REC_BASE + 18}" text-anchor="end">{escape(last)}'
        f"</text></g>",
    ]


def _size_bars(f: _Frame) -> list[str]:
    """One bar per export; broken ones red with a marker under the axis."""
    out = ['<g class="sizes">']
    for e in f.rows:
        status = str(e.get("shown_status") or e.get("status") or "unknown")
        broken = status in BROKEN
        size = e.get("total_bytes") or 0
        h = max(2.0 if broken else 1.0, size / f.max_bytes * SIZE_H)
        cls = f"bar export status-{escape(status)}" + (" broken" if broken else "")
        tip = (
            f"{iso(e['export_time'])} · {e.get('kind') or '-'} · {status}\n"
            f"{human_bytes(size)} in {e.get('file_count') or 0} file(s) · "
            f"{human_count(e.get('record_count'))} records"
        )
        when = escape(iso(e["export_time"]) or "")
        out.append(
            f'<rect class="{cls}" data-export-time="{when}" data-status="{escape(status)}" '
            f'x="{f.x(e) - f.bar_w / 2:.1f}" y="{SIZE_BASE - h:.1f}" width="{f.bar_w:.1f}" height="{h:.1f}" '
            f'fill="{COLOURS.get(status, "#607d8b")}"><title>{escape(tip)}</title></rect>'
        )
        if broken:
            cx, cy = f.x(e), SIZE_BASE + 4
            out.append(
                f'<path class="broken-mark" data-export-time="{when}" '
                f'd="M{cx:.1f},{cy} l5,9 h-10 z" fill="#d32f2f"><title>{escape(status)}: {when}</title></path>'
            )
    out.append("</g>")
    return out


def _record_line(f: _Frame) -> list[str]:
    """Record counts as a line with a dot per export that has one."""
    recs = [e for e in f.rows if e.get("record_count") is not None]
    if not recs:
        return []
    pts = [(f.x(e), REC_BASE - e["record_count"] / f.max_recs * REC_H, e) for e in recs]
    path = " ".join(f"{'M' if i == 0 else 'L'}{px:.1f},{py:.1f}" for i, (px, py, _e) in enumerate(pts))
    out = [f'<g class="records"><path d="{path}" fill="none" stroke="#2e7d32" stroke-width="1.5"/>']
    for px, py, e in pts:
        broken = str(e.get("status") or "unknown") in BROKEN
        cls = "dot" + (" broken" if broken else "")
        out.append(
            f'<circle class="{cls}" cx="{px:.1f}" cy="{py:.1f}" r="{3.5 if broken else 2.5}" '
            f'fill="{"#d32f2f" if broken else "#2e7d32"}"><title>{escape(iso(e["export_time"]) or "")}: '
            f"{e['record_count']} records</title></circle>"
        )
    out.append("</g>")
    return out
