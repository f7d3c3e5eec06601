"""A lab's picture: the prediction, the measurement, its peers and the bound, in the terminal and as SVG."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mentor.curriculum import Lab
    from mentor.labs.compare import Bound


def bar_items(lab: "Lab", figures: dict[str, Any], predicted: float | None, bound: "Bound | None") -> list[tuple[str, float]]:
    items: list[tuple[str, float]] = []
    if predicted is not None:
        items.append(("your prediction", predicted))
    items.append((f"measured: {lab.figure.name}", float(figures[lab.figure.key])))
    for p in lab.peers:
        v = figures.get(p.key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            items.append((p.name, float(v)))
    if bound is not None:
        items.append((f"bound: {lab.bound.name if lab.bound else 'bound'}", bound.value))
    return items


def _series(figures: dict[str, Any]) -> list[Any]:
    from mentor.plot import Series

    out = []
    raw = figures.get("series")
    if isinstance(raw, dict):
        for name, pts in raw.items():
            if isinstance(pts, dict) and isinstance(pts.get("x"), list) and isinstance(pts.get("y"), list):
                out.append(Series(str(name), [float(x) for x in pts["x"]], [float(y) for y in pts["y"]]))
    return out


def sweep_chart(lab: "Lab", figures: dict[str, Any]) -> Any:
    """The line chart of a sweep (None when the lab has no plot or the script returned no series)."""
    from mentor.plot import Chart

    series = _series(figures)
    if lab.plot is None or not series:
        return None
    return Chart(series, title=lab.plot.title or lab.title, x_label=lab.plot.x_label, y_label=lab.plot.y_label,
                 log_x=lab.plot.log_x, log_y=lab.plot.log_y)


def terminal(lab: "Lab", items: list[tuple[str, float]], figures: dict[str, Any], columns: int = 100) -> str:
    """Bars (and the sweep's line chart) fitted to `columns` characters."""
    from mentor.plot import terminal_bars, terminal_chart

    label_w = max(len(label) for label, _ in items)
    width = max(10, min(40, columns - label_w - 16))
    vals = [v for _, v in items if v > 0 and math.isfinite(v)]
    log = bool(vals) and max(vals) / min(vals) > 30
    text = terminal_bars(items, unit=lab.figure.unit, width=width, log=log)
    if log:
        text += "\n(bar lengths on a log scale: the values differ by more than 30x)"
    chart = sweep_chart(lab, figures)
    if chart is not None:
        text += "\n\n" + terminal_chart(chart, width=max(20, min(56, columns - 14)), height=12)
    return text


def save_svgs(lab: "Lab", items: list[tuple[str, float]], figures: dict[str, Any], base: Path) -> list[Path]:
    """`base`.svg (the bars) and, for a sweep, `base`-sweep.svg; returns the paths written."""
    from mentor.plot import write_bars_svg, write_svg

    out = [write_bars_svg(items, base.with_suffix(".svg"), title=lab.title, unit=lab.figure.unit)]
    chart = sweep_chart(lab, figures)
    if chart is not None:
        out.append(write_svg(chart, base.with_name(base.name + "-sweep.svg")))
    return out
