"""Plots with no plotting library: line charts and bar charts for the terminal and as SVG files.

Used by the labs (measured figure next to the roofline bound), the course project (loss curves,
before/after metrics) and the benchmarks. Terminal charts are plain text (Unicode braille dots
for lines, block characters for bars): the caller prints them literally. SVG files are
self-contained (no scripts, no external fonts), so they open in any browser offline.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

# distinct colours for SVG series, and the marker used for each series in the terminal legend
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")
_MARKS = ("⣿", "•", "◦", "▪", "▫", "×")


@dataclass
class Series:
    """One line of a chart: `ys[i]` is plotted at `xs[i]`."""

    name: str
    xs: Sequence[float]
    ys: Sequence[float]


@dataclass
class Chart:
    """A line chart: series, optional horizontal reference lines (a baseline, a bound)."""

    series: list[Series]
    title: str = ""
    x_label: str = ""
    y_label: str = ""
    log_y: bool = False
    hlines: list[tuple[str, float]] = field(default_factory=list)
    log_x: bool = False  # sweeps such as N = 1 ... 4096


def _finite(values: Sequence[float], log: bool) -> list[float]:
    return [v for v in values if math.isfinite(v) and (v > 0 or not log)]


def _bounds(chart: Chart) -> tuple[float, float, float, float]:
    xs = [x for s in chart.series for x in _finite(s.xs, chart.log_x)]
    ys = [y for s in chart.series for y in _finite(s.ys, chart.log_y)]
    ys += [v for _, v in chart.hlines if math.isfinite(v) and (v > 0 or not chart.log_y)]
    if not xs or not ys:
        raise ValueError("nothing to plot: every series is empty or non-finite")
    x0, x1 = min(xs), max(xs)
    if chart.log_x:
        x0, x1 = math.log10(x0), math.log10(x1)
    y0, y1 = min(ys), max(ys)
    if chart.log_y:
        y0, y1 = math.log10(y0), math.log10(y1)
    if x1 == x0:
        x1 = x0 + 1.0
    if y1 == y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    return x0, x1, y0, y1


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e5 or a < 1e-3:
        return f"{v:.2e}"
    if a >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


# braille cell: 2 columns x 4 rows of dots; bit for (col, row)
_BRAILLE_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))


def terminal_chart(chart: Chart, width: int = 60, height: int = 14) -> str:
    """The chart as text: a braille plot area `width` x `height` cells, y ticks, legend."""
    x0, x1, y0, y1 = _bounds(chart)
    cols, rows = width * 2, height * 4
    cells = [[0] * width for _ in range(height)]
    marks: dict[tuple[int, int], str] = {}  # cell -> marker of a later series' data point

    def to_dot(x: float, y: float) -> tuple[int, int]:
        yy = math.log10(y) if chart.log_y else y
        xx = math.log10(x) if chart.log_x else x
        c = round((xx - x0) / (x1 - x0) * (cols - 1))
        r = rows - 1 - round((yy - y0) / (y1 - y0) * (rows - 1))
        return c, r

    def put(c: int, r: int, k: int) -> None:
        if 0 <= c < cols and 0 <= r < rows:
            cells[r // 4][c // 2] |= _BRAILLE_BITS[c % 2][r % 4]

    for label_k, (_, v) in enumerate(chart.hlines):
        if math.isfinite(v) and (v > 0 or not chart.log_y):
            _, r = to_dot(10 ** x0 if chart.log_x else x0, v)
            for c in range(0, cols, 2):
                put(c, r, -2 - label_k)
    for k, s in enumerate(chart.series):
        pts = [(x, y) for x, y in zip(s.xs, s.ys)
               if math.isfinite(x) and math.isfinite(y) and (y > 0 or not chart.log_y) and (x > 0 or not chart.log_x)]
        prev = None
        for x, y in pts:
            c, r = to_dot(x, y)
            if prev is not None:  # join consecutive points with dots
                pc, pr = prev
                n = max(abs(c - pc), abs(r - pr), 1)
                for i in range(n + 1):
                    put(round(pc + (c - pc) * i / n), round(pr + (r - pr) * i / n), k)
            else:
                put(c, r, k)
            if k > 0 and 0 <= c < cols and 0 <= r < rows:
                marks[(r // 4, c // 2)] = _MARKS[k % len(_MARKS)]
            prev = (c, r)

    def ylab(row: int) -> str:
        frac = 1 - row / max(height - 1, 1)
        v = y0 + frac * (y1 - y0)
        return _fmt(10 ** v if chart.log_y else v)

    lab_w = max(len(ylab(0)), len(ylab(height - 1)), len(ylab(height // 2)))
    lines = [chart.title] if chart.title else []
    if chart.y_label:
        lines.append(chart.y_label + (" (log scale)" if chart.log_y else ""))
    for i in range(height):
        tick = ylab(i) if i in (0, height // 2, height - 1) else ""
        body = "".join(marks.get((i, j)) or (chr(0x2800 + cells[i][j]) if cells[i][j] else " ")
                       for j in range(width))
        lines.append(f"{tick:>{lab_w}} ┤{body}")
    lines.append(" " * lab_w + " └" + "─" * width)
    left, right = (_fmt(10 ** x0), _fmt(10 ** x1)) if chart.log_x else (_fmt(x0), _fmt(x1))
    lines.append(" " * (lab_w + 2) + left + " " * max(1, width - len(left) - len(right)) + right)
    if chart.x_label:
        lines.append(" " * (lab_w + 2) + chart.x_label + (" (log scale)" if chart.log_x else ""))
    legend = ([f"{_MARKS[k % len(_MARKS)]} {s.name}" for k, s in enumerate(chart.series)]
              if len(chart.series) > 1 else [])
    legend += [f"┄ {name} = {_fmt(v)}" for name, v in chart.hlines]
    if legend:
        lines.append("  ".join(legend))
    return "\n".join(lines)


def write_svg(chart: Chart, path: str | Path, width: int = 720, height: int = 420) -> Path:
    """Write the chart as a standalone SVG file; returns its path."""
    x0, x1, y0, y1 = _bounds(chart)
    ml, mr, mt, mb = 70, 20, 40, 60
    pw, ph = width - ml - mr, height - mt - mb

    def X(x: float) -> float:
        xx = math.log10(x) if chart.log_x else x
        return ml + (xx - x0) / (x1 - x0) * pw

    def Y(y: float) -> float:
        yy = math.log10(y) if chart.log_y else y
        return mt + ph - (yy - y0) / (y1 - y0) * ph

    esc = html.escape
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15">{esc(chart.title)}</text>',
           f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>']
    for i in range(5):
        fy = y0 + (y1 - y0) * i / 4
        v = 10 ** fy if chart.log_y else fy
        yp = mt + ph - ph * i / 4
        out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{yp:.1f}" y2="{yp:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{ml - 6}" y="{yp + 4:.1f}" text-anchor="end">{esc(_fmt(v))}</text>')
        xv = x0 + (x1 - x0) * i / 4
        xv = 10 ** xv if chart.log_x else xv
        xp = ml + pw * i / 4
        out.append(f'<text x="{xp:.1f}" y="{mt + ph + 18}" text-anchor="middle">{esc(_fmt(xv))}</text>')
    out.append(f'<text x="{ml + pw / 2}" y="{height - 18}" text-anchor="middle">{esc(chart.x_label)}'
               f'{" (log)" if chart.log_x else ""}</text>')
    out.append(f'<text x="16" y="{mt + ph / 2}" text-anchor="middle" '
               f'transform="rotate(-90 16 {mt + ph / 2})">{esc(chart.y_label)}'
               f'{" (log)" if chart.log_y else ""}</text>')
    for name, v in chart.hlines:
        if math.isfinite(v) and (v > 0 or not chart.log_y):
            out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{Y(v):.1f}" y2="{Y(v):.1f}" '
                       f'stroke="#888" stroke-dasharray="6 4"/>')
            out.append(f'<text x="{ml + pw - 4}" y="{Y(v) - 5:.1f}" text-anchor="end" fill="#555">'
                       f'{esc(name)} = {esc(_fmt(v))}</text>')
    for k, s in enumerate(chart.series):
        colour = _COLOURS[k % len(_COLOURS)]
        pts = " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y in zip(s.xs, s.ys)
                       if math.isfinite(x) and math.isfinite(y) and (y > 0 or not chart.log_y)
                       and (x > 0 or not chart.log_x))
        if pts:
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{pts}"/>')
        out.append(f'<text x="{ml + 10}" y="{mt + 16 + 16 * k}" fill="{colour}">{esc(s.name)}</text>')
    out.append("</svg>\n")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("\n".join(out), encoding="utf-8")
    return p


def terminal_bars(items: Sequence[tuple[str, float]], unit: str = "", width: int = 40,
                  log: bool = False) -> str:
    """Horizontal bars, one per (label, value), scaled to the largest; values printed after."""
    vals = [v for _, v in items if math.isfinite(v) and v > 0]
    if not vals:
        raise ValueError("nothing to plot: no positive finite value")
    top = max(vals)
    low = min(vals)
    lab_w = max(len(label) for label, _ in items)
    lines = []
    for label, v in items:
        if not (math.isfinite(v) and v > 0):
            lines.append(f"{label:<{lab_w}}  (no value)")
            continue
        if log and top > low:
            frac = (math.log10(v) - math.log10(low) + 0.1) / (math.log10(top) - math.log10(low) + 0.1)
        else:
            frac = v / top
        n8 = max(1, round(frac * width * 8))
        bar = "█" * (n8 // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[n8 % 8]
        lines.append(f"{label:<{lab_w}}  {bar:<{width}}  {_fmt(v)} {unit}".rstrip())
    return "\n".join(lines)


def write_bars_svg(items: Sequence[tuple[str, float]], path: str | Path, title: str = "",
                   unit: str = "", width: int = 720) -> Path:
    """Horizontal bar chart as a standalone SVG file; returns its path."""
    vals = [v for _, v in items if math.isfinite(v) and v > 0]
    if not vals:
        raise ValueError("nothing to plot: no positive finite value")
    top = max(vals)
    ml, mr, bh, gap, mt = 200, 140, 26, 12, 44
    height = mt + len(items) * (bh + gap) + 20
    esc = html.escape
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="13">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="15">{esc(title)}</text>']
    for k, (label, v) in enumerate(items):
        y = mt + k * (bh + gap)
        out.append(f'<text x="{ml - 8}" y="{y + bh * 0.7:.1f}" text-anchor="end">{esc(label)}</text>')
        if math.isfinite(v) and v > 0:
            w = (width - ml - mr) * v / top
            out.append(f'<rect x="{ml}" y="{y}" width="{w:.1f}" height="{bh}" '
                       f'fill="{_COLOURS[k % len(_COLOURS)]}"/>')
            out.append(f'<text x="{ml + w + 6:.1f}" y="{y + bh * 0.7:.1f}">{esc(_fmt(v))} {esc(unit)}</text>')
    out.append("</svg>\n")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("\n".join(out), encoding="utf-8")
    return p
