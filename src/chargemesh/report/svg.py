"""Charts drawn in Python as inline SVG: horizontal bars (stacked, with error bars, against a
target line) and small line charts over time.

The SVG carries no script, no external reference (not even an ``xmlns``: inline SVG in HTML
does not need one) and no inline style: its look comes from the page's stylesheet, through the
classes below (``bar``, ``err``, ``target``, ``grid``, ``tick``, ``label``, ``value``, ``line``,
``dot``). Every mark has a ``<title>`` for a native tooltip.
"""

from __future__ import annotations

import html
import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

__all__ = ["Bar", "BarSegment", "bar_chart", "esc", "fit", "line_chart", "nice_ticks", "num"]

FONT: Final = 12.0  # px, the charts' text size (the stylesheet sets the same)


def esc(value: object) -> str:
    """Text for HTML or SVG, quotes included."""
    return html.escape(str(value), quote=True)


def num(value: float) -> str:
    """A coordinate with one decimal, without a trailing ``.0``."""
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def text_width(text: str, size: float = FONT) -> float:
    """About how wide ``text`` is drawn: wide (CJK) characters take 1 em, the others ~0.56."""
    return sum(size * (1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.56) for ch in text)


def fit(text: str, width: float, size: float = FONT) -> str:
    """``text`` cut with an ellipsis so that it fits ``width``."""
    if text_width(text, size) <= width:
        return text
    out = ""
    for ch in text:
        if text_width(out + ch + "…", size) > width:
            break
        out += ch
    return out.rstrip() + "…"


def nice_step(span: float, count: int) -> float:
    raw = span / max(count, 1)
    if raw <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= multiple * power:
            return multiple * power
    return 10.0 * power


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]: the first ≤ low, the last ≥ high."""
    if high <= low:
        high = low + 1.0
    step = nice_step(high - low, count)
    first = math.floor(low / step + 1e-9) * step
    last = math.ceil(high / step - 1e-9) * step
    n = round((last - first) / step)
    return [round(first + i * step, 10) for i in range(n + 1)]


def _svg(width: float, height: float, title: str, body: list[str], css: str) -> str:
    return (
        f'<svg class="{esc(css)}" viewBox="0 0 {num(width)} {num(height)}" '
        f'width="{num(width)}" height="{num(height)}" role="img" aria-label="{esc(title)}">'
        f"<title>{esc(title)}</title>{''.join(body)}</svg>"
    )


@dataclass(frozen=True, slots=True)
class BarSegment:
    """One coloured part of a bar; ``name`` goes into the tooltip."""

    value: float
    color: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Bar:
    """A row of a bar chart: its segments stacked left to right, a value written after it, and
    an optional interval (``low``..``high``) drawn as an error bar."""

    label: str
    segments: tuple[BarSegment, ...]
    value_text: str = ""
    low: float | None = None
    high: float | None = None
    tooltip: str = ""
    flagged: bool = False

    @property
    def total(self) -> float:
        return sum(s.value for s in self.segments)


def bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    width: float = 720,
    domain: tuple[float, float] | None = None,
    tick_format: Callable[[float], str] = lambda v: f"{v:,.0f}",
    target: float | None = None,
    target_label: str = "",
    legend: Sequence[tuple[str, str]] = (),
    label_width: float = 190,
    row: float = 24,
    css: str = "chart bars",
) -> str:
    """Horizontal bars, one row per ``Bar``, with an x axis below; ``domain`` defaults to 0 up
    to a round number above the longest bar (or interval)."""
    value_width = max([text_width(b.value_text, FONT - 0.5) + 16 for b in bars] + [40.0])
    top = 8.0
    if legend:
        top += 22.0
    if target is not None:
        top += 16.0
    highest = max([b.total for b in bars] + [b.high or 0.0 for b in bars] + [target or 0.0])
    if domain is None:
        ticks = nice_ticks(0.0, highest or 1.0)
        domain = (0.0, ticks[-1])
    else:
        ticks = [t for t in nice_ticks(*domain) if domain[0] - 1e-9 <= t <= domain[1] + 1e-9]
    d0, d1 = domain
    x0, x1 = label_width, width - value_width
    plot_bottom = top + row * len(bars)
    height = plot_bottom + 28.0

    def x(value: float) -> float:
        share = (value - d0) / (d1 - d0) if d1 > d0 else 0.0
        return x0 + min(1.0, max(0.0, share)) * (x1 - x0)

    body: list[str] = []
    if legend:
        lx = x0
        for name, color in legend:
            body.append(
                f'<rect class="swatch" x="{num(lx)}" y="8" width="12" height="12" rx="2" '
                f'fill="{esc(color)}"/><text class="legend" x="{num(lx + 17)}" y="18">'
                f"{esc(name)}</text>"
            )
            lx += 17 + text_width(name) + 22
    for t in ticks:
        tx = x(t)
        body.append(
            f'<line class="grid" x1="{num(tx)}" y1="{num(top - 4)}" x2="{num(tx)}" '
            f'y2="{num(plot_bottom)}"/><text class="tick" x="{num(tx)}" '
            f'y="{num(plot_bottom + 17)}" text-anchor="middle">{esc(tick_format(t))}</text>'
        )
    body.append(
        f'<line class="axis" x1="{num(x0)}" y1="{num(plot_bottom)}" x2="{num(x1)}" '
        f'y2="{num(plot_bottom)}"/>'
    )
    bar_h = row * 0.62
    for i, b in enumerate(bars):
        cy = top + row * i + row / 2
        tip = b.tooltip or f"{b.label}: {b.value_text}"
        cls = "row flagged" if b.flagged else "row"
        parts = [f'<g class="{cls}"><title>{esc(tip)}</title>']
        parts.append(
            f'<text class="label" x="{num(x0 - 8)}" y="{num(cy + 4)}" text-anchor="end">'
            f"{esc(fit(b.label, label_width - 12))}</text>"
        )
        start = 0.0  # bars grow from 0; below the domain's start they are clipped
        for seg in b.segments:
            if seg.value <= 0:
                continue
            left, right = x(start), x(start + seg.value)
            start += seg.value
            parts.append(
                f'<rect class="bar" x="{num(left)}" y="{num(cy - bar_h / 2)}" '
                f'width="{num(max(right - left, 0.6))}" height="{num(bar_h)}" '
                f'fill="{esc(seg.color)}"/>'
            )
        end = x(b.total)
        if b.low is not None and b.high is not None:
            lo, hi = x(b.low), x(b.high)
            cap = bar_h * 0.35
            parts.append(
                f'<path class="err" d="M{num(lo)} {num(cy)}H{num(hi)}'
                f"M{num(lo)} {num(cy - cap)}V{num(cy + cap)}"
                f'M{num(hi)} {num(cy - cap)}V{num(cy + cap)}"/>'
            )
            end = max(end, hi)
        if b.value_text:
            parts.append(
                f'<text class="value" x="{num(end + 6)}" y="{num(cy + 4)}">'
                f"{esc(b.value_text)}</text>"
            )
        parts.append("</g>")
        body.append("".join(parts))
    if target is not None:
        tx = x(target)
        body.append(
            f'<line class="target" x1="{num(tx)}" y1="{num(top - 6)}" x2="{num(tx)}" '
            f'y2="{num(plot_bottom)}"/><text class="target-label" x="{num(tx)}" '
            f'y="{num(top - 10)}" text-anchor="middle">{esc(target_label)}</text>'
        )
    return _svg(width, height, title, body, css)


def _time_ticks(start: datetime, end: datetime) -> list[datetime]:
    """First days of months (or of years, for long spans) between ``start`` and ``end``."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if months <= 0:
        return [start]
    step = next((s for s in (1, 2, 3, 6, 12, 24, 60) if months / s <= 5), 120)
    out = []
    year, month = start.year, start.month
    while True:
        if month > 12:
            year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
        tick = start.replace(
            year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0
        )
        if tick > end:
            break
        if tick >= start:
            out.append(tick)
        month += step
    return out or [start]


def line_chart(
    points: Sequence[tuple[datetime, float]],
    *,
    title: str,
    color: str,
    width: float = 330,
    height: float = 170,
    value_format: Callable[[float], str] = lambda v: f"{v:,.0f}",
    tick_format: Callable[[float], str] | None = None,
) -> str:
    """One series over time: a line with a dot per point, the last value written at its end.
    The y axis starts at 0 unless the series stays in the upper half of its range."""
    left, right, top, bottom = 54.0, 16.0, 30.0, 26.0
    pts = sorted(points)
    body = [f'<text class="chart-title" x="0" y="14">{esc(title)}</text>']
    if not pts:
        body.append(
            f'<text class="empty" x="{num(width / 2)}" y="{num(height / 2)}" '
            f'text-anchor="middle">no snapshots yet</text>'
        )
        return _svg(width, height, title, body, "chart line-chart")
    values = [v for _, v in pts]
    lo, hi = min(values), max(values)
    if lo > 0.5 * hi and hi > lo:
        span = hi - lo
        ticks = nice_ticks(lo - span * 0.1, hi + span * 0.1, 4)
    else:
        ticks = nice_ticks(0.0, hi or 1.0, 4)
    d0, d1 = ticks[0], ticks[-1]
    t0, t1 = pts[0][0].timestamp(), pts[-1][0].timestamp()
    x0, x1, y0, y1 = left, width - right, height - bottom, top

    def x(when: datetime) -> float:
        if t1 == t0:
            return (x0 + x1) / 2
        return x0 + (when.timestamp() - t0) / (t1 - t0) * (x1 - x0)

    def y(value: float) -> float:
        return y0 - (value - d0) / (d1 - d0) * (y0 - y1) if d1 > d0 else y0

    fmt = tick_format or (lambda v: _compact(v))
    for t in ticks:
        ty = y(t)
        body.append(
            f'<line class="grid" x1="{num(x0)}" y1="{num(ty)}" x2="{num(x1)}" y2="{num(ty)}"/>'
            f'<text class="tick" x="{num(x0 - 6)}" y="{num(ty + 4)}" text-anchor="end">'
            f"{esc(fmt(t))}</text>"
        )
    if t1 > t0:
        for tick in _time_ticks(pts[0][0], pts[-1][0]):
            tx = x(tick)
            body.append(
                f'<line class="axis" x1="{num(tx)}" y1="{num(y0)}" x2="{num(tx)}" '
                f'y2="{num(y0 + 4)}"/><text class="tick" x="{num(tx)}" y="{num(y0 + 17)}" '
                f'text-anchor="middle">{tick:%Y-%m}</text>'
            )
    else:
        body.append(
            f'<text class="tick" x="{num(x(pts[0][0]))}" y="{num(y0 + 17)}" '
            f'text-anchor="middle">{pts[0][0]:%Y-%m-%d}</text>'
        )
    body.append(f'<line class="axis" x1="{num(x0)}" y1="{num(y0)}" x2="{num(x1)}" y2="{num(y0)}"/>')
    coords = " ".join(f"{num(x(at))},{num(y(v))}" for at, v in pts)
    body.append(f'<polyline class="line" points="{coords}" stroke="{esc(color)}"/>')
    for at, v in pts:
        body.append(
            f'<circle class="dot" cx="{num(x(at))}" cy="{num(y(v))}" r="3" fill="{esc(color)}">'
            f"<title>{at:%Y-%m-%d}: {esc(value_format(v))}</title></circle>"
        )
    last_v = pts[-1][1]
    body.append(
        f'<text class="value last" x="{num(x1)}" y="{num(max(y(last_v) - 9, 26))}" '
        f'text-anchor="end">{esc(value_format(last_v))}</text>'
    )
    return _svg(width, height, title, body, "chart line-chart")


def _compact(value: float) -> str:
    """Axis labels: ``1,400,000`` → ``1.4 M``, ``94,000`` → ``94 k``."""
    magnitude = abs(value)
    if magnitude >= 1_000_000:
        return f"{value / 1_000_000:.3g} M"
    if magnitude >= 10_000:
        return f"{value / 1_000:.3g} k"
    return f"{value:,.0f}" if value == int(value) else f"{value:g}"
