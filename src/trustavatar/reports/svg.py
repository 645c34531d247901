"""Small inline SVG charts for the HTML reports (no JavaScript, no fonts, no files).

Each function returns one ``<svg>`` element as a string, sized in CSS pixels, with a
``role="img"`` and an ``aria-label`` so a screen reader (and a test) can find it. Values
that are None or not finite leave a gap in a line rather than a fake zero.
"""

from __future__ import annotations

__all__ = ["Series", "bar_chart", "heatmap", "line_chart"]

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from trustavatar._display import visible

_W, _H = 640, 180
_PAD_L, _PAD_R, _PAD_T, _PAD_B = 44, 12, 12, 28


@dataclass(frozen=True)
class Series:
    """One line: ``x`` and ``y`` of equal length (None = gap), a CSS colour and a label."""

    x: Sequence[float]
    y: Sequence[float | None]
    colour: str = "#1f5fa8"
    label: str = ""
    dots: bool = False


@dataclass(frozen=True)
class _Axes:
    x0: float
    x1: float
    y0: float
    y1: float
    w: int = _W
    h: int = _H
    marks: list[str] = field(default_factory=list)

    def px(self, x: float) -> float:
        span = self.x1 - self.x0 or 1.0
        return _PAD_L + (x - self.x0) / span * (self.w - _PAD_L - _PAD_R)

    def py(self, y: float) -> float:
        span = self.y1 - self.y0 or 1.0
        return self.h - _PAD_B - (y - self.y0) / span * (self.h - _PAD_T - _PAD_B)


def _text(value: str) -> str:
    """Text in the SVG (labels may name outside figures) as a page shows it: control and
    format characters and lone surrogates as escapes (:func:`visible`), then HTML-escaped."""
    return escape(visible(value))


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def _frame(ax: _Axes, label: str, x_label: str, y_label: str, *, x_ticks: bool = True
           ) -> list[str]:
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_text(label)}" '
           f'class="chart" viewBox="0 0 {ax.w} {ax.h}" width="{ax.w}" height="{ax.h}">',
           f"<title>{_text(label)}</title>",
           f'<rect x="{_PAD_L}" y="{_PAD_T}" width="{ax.w - _PAD_L - _PAD_R}" '
           f'height="{ax.h - _PAD_T - _PAD_B}" fill="#fbfbfd" stroke="#ccd"/>']
    for k in range(5):  # y grid and ticks
        v = ax.y0 + (ax.y1 - ax.y0) * k / 4
        y = ax.py(v)
        out.append(f'<line x1="{_PAD_L}" x2="{ax.w - _PAD_R}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="#e4e4ec"/>')
        out.append(f'<text x="{_PAD_L - 4}" y="{y + 3:.1f}" text-anchor="end" '
                   f'font-size="10" fill="#555">{_fmt(v)}</text>')
    for k in range(6 if x_ticks else 0):  # x ticks
        v = ax.x0 + (ax.x1 - ax.x0) * k / 5
        x = ax.px(v)
        out.append(f'<text x="{x:.1f}" y="{ax.h - _PAD_B + 13}" text-anchor="middle" '
                   f'font-size="10" fill="#555">{_fmt(v)}</text>')
    out.append(f'<text x="{(ax.w + _PAD_L) / 2:.0f}" y="{ax.h - 3}" text-anchor="middle" '
               f'font-size="10" fill="#333">{_text(x_label)}</text>')
    out.append(f'<text x="10" y="{ax.h / 2:.0f}" font-size="10" fill="#333" '
               f'transform="rotate(-90 10 {ax.h / 2:.0f})" text-anchor="middle">'
               f"{_text(y_label)}</text>")
    return out


def _limits(values: Sequence[float], lo: float | None, hi: float | None) -> tuple[float, float]:
    vals = [v for v in values if math.isfinite(v)]
    a = lo if lo is not None else (min(vals) if vals else 0.0)
    b = hi if hi is not None else (max(vals) if vals else 1.0)
    if b - a < 1e-9:
        a, b = a - 0.5, b + 0.5
    return a, b


def line_chart(series: Sequence[Series], *, label: str, x_label: str = "seconds",
               y_label: str = "", y_min: float | None = None, y_max: float | None = None,
               hlines: Sequence[tuple[float, str, str]] = (),
               vspans: Sequence[tuple[float, float, str]] = (),
               vmarks: Sequence[float] = ()) -> str:
    """Lines over a shared x axis; ``hlines`` (y, colour, label) e.g. a threshold;
    ``vspans`` (x0, x1, colour) shaded bands; ``vmarks`` x positions of events."""
    xs = [float(x) for s in series for x in s.x]
    ys = [float(y) for s in series for y in s.y if y is not None and math.isfinite(y)]
    ys += [h[0] for h in hlines]
    x0, x1 = _limits(xs, None, None) if xs else (0.0, 1.0)
    y0, y1 = _limits(ys, y_min, y_max)
    ax = _Axes(x0, x1, y0, y1)
    out = _frame(ax, label, x_label, y_label)
    for a, b, colour in vspans:
        width = max(1.0, ax.px(b) - ax.px(a))
        out.append(f'<rect x="{ax.px(a):.1f}" y="{_PAD_T}" width="{width:.1f}" '
                   f'height="{_H - _PAD_T - _PAD_B}" fill="{colour}" opacity="0.35"/>')
    for x in vmarks:
        out.append(f'<line class="event" x1="{ax.px(x):.1f}" x2="{ax.px(x):.1f}" y1="{_PAD_T}" '
                   f'y2="{_H - _PAD_B}" stroke="#c0392b" stroke-width="1.5" '
                   f'stroke-dasharray="3 2"/>')
    for y, colour, text in hlines:
        if y0 <= y <= y1:
            out.append(f'<line x1="{_PAD_L}" x2="{_W - _PAD_R}" y1="{ax.py(y):.1f}" '
                       f'y2="{ax.py(y):.1f}" stroke="{colour}" stroke-dasharray="5 3"/>')
            out.append(f'<text x="{_W - _PAD_R - 2}" y="{ax.py(y) - 3:.1f}" text-anchor="end" '
                       f'font-size="10" fill="{colour}">{_text(text)}</text>')
    for s in series:
        runs: list[list[str]] = [[]]
        for x, yv in zip(s.x, s.y, strict=True):
            if yv is not None and math.isfinite(yv):
                runs[-1].append(f"{ax.px(float(x)):.1f},{ax.py(float(yv)):.1f}")
            elif runs[-1]:
                runs.append([])
        for run in runs:
            if len(run) > 1:
                out.append(f'<polyline fill="none" stroke="{s.colour}" stroke-width="1.6" '
                           f'points="{" ".join(run)}"/>')
            if s.dots or len(run) == 1:
                out.extend(f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="2.5" '
                           f'fill="{s.colour}"/>' for p in run)
    legend = [s for s in series if s.label]
    for i, s in enumerate(legend):
        x = _PAD_L + 8 + i * 150
        out.append(f'<rect x="{x}" y="{_PAD_T + 5}" width="10" height="3" fill="{s.colour}"/>')
        out.append(f'<text x="{x + 14}" y="{_PAD_T + 10}" font-size="10" fill="#333">'
                   f"{_text(s.label)}</text>")
    if not any(_finite(y) for s in series for y in s.y):
        out.append(f'<text x="{_W / 2}" y="{_H / 2}" text-anchor="middle" font-size="12" '
                   f'fill="#777">no data</text>')
    out.append("</svg>")
    return "\n".join(out)


def bar_chart(labels: Sequence[str], values: Sequence[float | None], *, label: str,
              y_label: str = "", colour: str = "#1f5fa8",
              hline: tuple[float, str, str] | None = None) -> str:
    """Vertical bars (None: an empty slot marked "n/a")."""
    vals = [float(v) for v in values if v is not None and math.isfinite(v)]
    vals += [hline[0]] if hline else []
    y0, y1 = _limits([*vals, 0.0], None, None)
    ax = _Axes(0, max(1, len(labels)), y0, y1)
    out = _frame(ax, label, "", y_label, x_ticks=False)
    bw = (ax.px(1) - ax.px(0)) * 0.7
    for i, (name, v) in enumerate(zip(labels, values, strict=True)):
        cx = ax.px(i + 0.5)
        if v is not None and math.isfinite(v):
            top, base = ax.py(max(float(v), 0.0)), ax.py(min(float(v), 0.0))
            out.append(f'<rect x="{cx - bw / 2:.1f}" y="{top:.1f}" width="{bw:.1f}" '
                       f'height="{max(0.5, base - top):.1f}" fill="{colour}"/>')
        else:
            out.append(f'<text x="{cx:.1f}" y="{ax.py((y0 + y1) / 2):.1f}" text-anchor="middle" '
                       f'font-size="10" fill="#999">n/a</text>')
        out.append(f'<text x="{cx:.1f}" y="{_H - _PAD_B + 13}" text-anchor="middle" '
                   f'font-size="9" fill="#333">{_text(name)}</text>')
    if hline is not None:
        y, c, text = hline
        out.append(f'<line x1="{_PAD_L}" x2="{_W - _PAD_R}" y1="{ax.py(y):.1f}" '
                   f'y2="{ax.py(y):.1f}" stroke="{c}" stroke-dasharray="5 3"/>')
        out.append(f'<text x="{_W - _PAD_R - 2}" y="{ax.py(y) - 3:.1f}" text-anchor="end" '
                   f'font-size="10" fill="{c}">{_text(text)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def heatmap(values: Sequence[Sequence[float]], *, label: str, size: int = 96) -> str:
    """A small square heat map (red = positive), drawn as an overlay of translucent cells."""
    n = len(values)
    if not n:
        return ""
    peak = max((abs(v) for row in values for v in row if math.isfinite(v)), default=0.0) or 1.0
    cell = size / n
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_text(label)}" '
           f'class="heat" viewBox="0 0 {size} {size}" width="{size}" height="{size}">',
           f"<title>{_text(label)}</title>"]
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            if not math.isfinite(v):
                continue
            a = min(1.0, abs(v) / peak) * 0.75
            colour = "#e0301e" if v > 0 else "#1f5fa8"
            out.append(f'<rect x="{j * cell:.2f}" y="{i * cell:.2f}" width="{cell:.2f}" '
                       f'height="{cell:.2f}" fill="{colour}" fill-opacity="{a:.2f}"/>')
    out.append("</svg>")
    return "\n".join(out)
