"""mentor.plot: terminal and SVG charts without a plotting library."""

import math
import xml.etree.ElementTree as ET

import pytest

from mentor.plot import Chart, Series, terminal_bars, terminal_chart, write_bars_svg, write_svg


def _chart(**kw):
    xs = list(range(40))
    return Chart([Series("train", xs, [4.0 / (1 + i / 4) for i in xs]),
                  Series("val", xs[::8], [4.2 / (1 + i / 4) for i in xs[::8]])],
                 title="loss", x_label="iteration", y_label="nats", **kw)


def test_terminal_chart_shape_ticks_and_legend():
    text = terminal_chart(_chart(hlines=[("unigram", 3.5)]), width=50, height=10)
    lines = text.splitlines()
    plot_rows = [ln for ln in lines if "┤" in ln]
    assert len(plot_rows) == 10
    assert all(len(r.split("┤", 1)[1]) == 50 for r in plot_rows)
    assert plot_rows[0].strip().startswith("4.2")  # the top tick is the largest value
    assert "• val" in lines[-1] and "unigram = 3.5" in lines[-1]
    # the decreasing curve: its first dots sit in the top rows, its last ones in the bottom row
    assert plot_rows[0].split("┤")[1][0] != " " and plot_rows[-1].split("┤")[1][-1] != " "


def test_terminal_chart_log_scale_and_non_finite_points_skipped():
    c = Chart([Series("t", [1, 2, 3, 4], [1.0, 10.0, float("nan"), 1000.0])], log_y=True)
    text = terminal_chart(c, width=20, height=8)
    rows = [ln for ln in text.splitlines() if "┤" in ln]
    assert rows[0].strip().startswith("1e+03") or rows[0].strip().startswith("1000")
    assert rows[-1].strip().startswith("1 ")


def test_empty_chart_is_an_error():
    with pytest.raises(ValueError, match="nothing to plot"):
        terminal_chart(Chart([Series("t", [], [])]))
    with pytest.raises(ValueError):
        terminal_bars([("a", float("nan"))])


def test_svg_is_well_formed_and_escapes_text(tmp_path):
    c = _chart(hlines=[("bound <roofline>", 2.0)])
    c.title = "a & b <script>"
    p = write_svg(c, tmp_path / "sub" / "c.svg")
    root = ET.parse(p).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}polyline")) == 2
    texts = [t.text for t in root.iter(f"{ns}text")]
    assert "a & b <script>" in texts and "<script" not in p.read_text().replace("&lt;script", "")


def test_bars_scale_to_largest(tmp_path):
    text = terminal_bars([("measured", 10.0), ("bound", 40.0)], unit="GB/s", width=40)
    m, b = text.splitlines()
    assert b.count("█") == 40 and m.count("█") == 10
    assert m.endswith("10 GB/s")
    p = write_bars_svg([("measured", 10.0), ("bound", 40.0)], tmp_path / "b.svg", title="x", unit="GB/s")
    rects = [r for r in ET.parse(p).getroot().iter("{http://www.w3.org/2000/svg}rect")][1:]
    widths = [float(r.get("width")) for r in rects]
    assert math.isclose(widths[1] / widths[0], 4.0, rel_tol=1e-3)
