"""The reports' two kinds of chart, horizontal bars and stacked columns, written directly as inline SVG.

The reports need only these two, with whole-number axes, a title and (for stacked columns) a legend: a plotting
library costs more to import than the rest of a report takes to draw, so the SVG is written here. Text stays text
(a screen reader and a search find it; it takes the page's font), nothing is fetched, no element has an id (so any
number of charts share a page) and the same figures give the same bytes.
"""

from __future__ import annotations

import math
from html import escape
from typing import Sequence

WIDTH = 540.0          # 7.5 in at 72 pt per inch: the width of the page's text
FONT = 9.0             # px; titles a little larger
TITLE = 10.5
CHAR = 0.56 * FONT     # an average character's width: labels are measured by it, never exactly
INK, GRID, BAR = "#222", "#ddd", "#1565c0"


def _num(value: float) -> str:
    """Coordinates to two places, without trailing zeros: short and the same on every run."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: float = FONT, weight: str = "",
          rotate: float = 0) -> str:
    extra = f' font-weight="{weight}"' if weight else ""
    turn = f' transform="rotate({_num(rotate)} {_num(x)} {_num(y)})"' if rotate else ""
    return (f'<text x="{_num(x)}" y="{_num(y)}" font-size="{_num(size)}" text-anchor="{anchor}"{extra}{turn}>'
            f"{escape(text)}</text>")


def _rect(x: float, y: float, w: float, h: float, fill: str, title: str = "") -> str:
    tip = f"<title>{escape(title)}</title>" if title else ""
    return (f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" height="{_num(h)}" fill="{fill}">{tip}</rect>'
            if tip else f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(w)}" height="{_num(h)}" fill="{fill}"/>')


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str = INK) -> str:
    return (f'<line x1="{_num(x1)}" y1="{_num(y1)}" x2="{_num(x2)}" y2="{_num(y2)}" stroke="{stroke}" '
            f'stroke-width="0.8"/>')


def ticks(most: int, at_most: int = 6) -> list[int]:
    """Whole-number ticks from 0 to at least `most`, at a step of 1, 2 or 5 times a power of ten, no more than
    `at_most` + 1 of them: these are counts of complaints, and one complaint is not "0.2, 0.4, …"."""
    most = max(most, 1)
    power = 1
    while True:
        for step in (power, 2 * power, 5 * power):
            if math.ceil(most / step) <= at_most:
                return list(range(0, math.ceil(most / step) * step + 1, step))
        power *= 10


def _svg(height: float, parts: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(WIDTH)}pt" height="{_num(height)}pt" '
            f'viewBox="0 0 {_num(WIDTH)} {_num(height)}" role="img" font-family="sans-serif" fill="{INK}">'
            f"<title>{escape(title)}</title>" + "".join(parts) + "</svg>")


def barh(labels: Sequence[str], values: Sequence[int], title: str) -> str:
    """One bar per label, top to bottom in the order given reversed (the last is drawn at the top, as ranked
    lists read: give them smallest first), each with its value at its end, and a whole-number axis below."""
    height = max(1.6, 0.3 * len(labels) + 0.8) * 72
    left = min(max((len(label) for label in labels), default=1) * CHAR + 12, WIDTH * 0.4)
    top, bottom, right = 24.0, 22.0, 10.0
    scale = ticks(max(values, default=0))
    span = scale[-1] * 1.12 or 1  # room for the values written at the bars' ends
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    slot = plot_h / max(len(labels), 1)
    x = lambda v: left + plot_w * v / span  # noqa: E731
    parts = [_text(left, 14, title, size=TITLE)]
    for t in scale:
        parts.append(_line(x(t), top, x(t), top + plot_h, GRID))
        parts.append(_text(x(t), top + plot_h + 13, f"{t:,}", anchor="middle"))
    for i, (label, value) in enumerate(zip(labels, values)):
        y = top + plot_h - (i + 1) * slot
        parts.append(_rect(left, y + slot * 0.1, x(value) - left, slot * 0.8, BAR, f"{label}: {value:,}"))
        mid = y + slot / 2 + FONT * 0.35
        parts.append(_text(left - 4, mid, label, anchor="end"))
        parts.append(_text(x(value) + 3, mid, f"{value:,}"))
    parts += [_line(left, top, left, top + plot_h), _line(left, top + plot_h, left + plot_w, top + plot_h)]
    return _svg(height, parts, title)


def stacked(labels: Sequence[str], series: Sequence[tuple[str, Sequence[int], str]], title: str) -> str:
    """One column per label (periods, left to right), each made of `series` (name, values, colour) stacked from
    the bottom in the order given, with a legend, and a whole-number axis at the left."""
    height = 2.8 * 72
    slanted = len(labels) > 4
    longest = max((len(label) for label in labels), default=1) * CHAR
    bottom = (longest * 0.71 + 14) if slanted else 22.0
    top, left, right = 38.0, 40.0, 10.0
    totals = [sum(values[i] for _, values, _ in series) for i in range(len(labels))]
    scale = ticks(max(totals, default=0))
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    slot = plot_w / max(len(labels), 1)
    y = lambda v: top + plot_h - plot_h * v / scale[-1]  # noqa: E731
    parts = [_text(left, 14, title, size=TITLE)]
    at = left
    for name, _, colour in series:  # the legend, on one line under the title
        parts.append(_rect(at, 21, 10, 8, colour))
        parts.append(_text(at + 14, 28.5, name))
        at += 14 + len(name) * CHAR + 16
    for t in scale:
        parts.append(_line(left, y(t), left + plot_w, y(t), GRID))
        parts.append(_text(left - 4, y(t) + FONT * 0.35, f"{t:,}", anchor="end"))
    for i, label in enumerate(labels):
        x0 = left + i * slot + slot * 0.15
        base = 0
        for name, values, colour in series:
            if values[i]:
                parts.append(_rect(x0, y(base + values[i]), slot * 0.7, y(base) - y(base + values[i]), colour,
                                   f"{label}, {name}: {values[i]:,}"))
            base += values[i]
        mid = x0 + slot * 0.35
        if slanted:
            parts.append(_text(mid, top + plot_h + 10, label, anchor="end", rotate=-45))
        else:
            parts.append(_text(mid, top + plot_h + 13, label, anchor="middle"))
    parts += [_line(left, top, left, top + plot_h), _line(left, top + plot_h, left + plot_w, top + plot_h)]
    return _svg(height, parts, title)
