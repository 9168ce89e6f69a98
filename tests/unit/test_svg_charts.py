"""The reports' charts, written as SVG without a plotting library: well-formed, text kept as text, whole-number
axes, labels escaped, no ids (charts share a page) and nothing fetched."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET

from complaints_ledger.adapters import svg_charts

NS = "{http://www.w3.org/2000/svg}"


def texts(svg: str) -> list[str]:
    return [t.text for t in ET.fromstring(svg).iter(f"{NS}text")]


def test_a_bar_chart_keeps_its_title_labels_and_values_as_text():
    svg = svg_charts.barh(["noise", "repairs & damp <urgent>"], [3, 1204], "Complaints received by category")

    words = texts(svg)
    assert "Complaints received by category" in words
    assert "repairs & damp <urgent>" in words and "noise" in words  # escaped in the file, the same text when read
    assert "1,204" in words and "3" in words
    assert len(ET.fromstring(svg).findall(f"{NS}rect")) == 2


def test_a_stacked_chart_draws_each_period_and_a_legend():
    labels = [f"M{i}" for i in range(12)]
    svg = svg_charts.stacked(labels, [("in time", list(range(12)), "#2e7d32"), ("late", [1] * 12, "#c62828")],
                             "Stage 1 responses issued, in time and late")

    words = texts(svg)
    assert words[0] == "Stage 1 responses issued, in time and late"
    assert {"in time", "late"} <= set(words) and set(labels) <= set(words)
    # 11 non-empty "in time" parts (the first period has none) and 12 "late" parts, plus the two legend keys.
    assert len(ET.fromstring(svg).findall(f"{NS}rect")) == 11 + 12 + 2


def test_axes_are_whole_numbers_from_zero_past_the_largest_value():
    for most in (0, 1, 3, 7, 10, 11, 99, 1234, 98765):
        got = svg_charts.ticks(most)
        assert got[0] == 0 and got[-1] >= most and len(got) <= 7
        assert all(isinstance(t, int) for t in got) and len(set(b - a for a, b in zip(got, got[1:]))) == 1


def test_charts_have_no_ids_and_fetch_nothing_and_are_the_same_every_time():
    draw = lambda: svg_charts.barh(["a"], [5], "t") + svg_charts.stacked(["x"], [("s", [2], "#000")], "u")  # noqa: E731

    svg = draw()
    assert " id=" not in svg and "url(" not in svg and "href" not in svg
    assert svg == draw()


def test_drawing_a_chart_imports_no_plotting_library():
    code = ("import sys; from complaints_ledger.adapters import reports, svg_charts; "
            "svg_charts.barh(['a'], [1], 't'); print('matplotlib' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_an_empty_chart_still_draws_an_axis():
    svg = svg_charts.barh([], [], "nothing")
    assert re.search(r">0</text>", svg)
