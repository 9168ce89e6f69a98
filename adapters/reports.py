"""Committee and annual reports: the committee read model's figures as a self-contained HTML page or JSON.

Presentation only: figures come from `projections.committee`; this module lays them out with Jinja2 and draws the
charts with matplotlib as inline SVG, so the file opens anywhere with no network (no scripts, fonts or images
fetched). The same ledger gives the same report.
"""

from __future__ import annotations

import io
import re
from datetime import date
from decimal import Decimal
from typing import Any

from ..projections import committee

MEASURE_NAMES = {
    "acknowledged_in_time": "acknowledged in time",
    "responded_in_time": "responded in time",
    "pct_not_in_time": "% not responded to in time",
    "pct_extended": "% with timescale extended",
    "pct_within_code": "% within the Code's timescales",
}


def flat_figures(figures: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested figures as `measure.path -> value`, leaving out the learning texts (they are not figures)."""
    out: dict[str, Any] = {}
    for key, value in figures.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_figures(value, f"{name}."))
        elif not isinstance(value, list):
            out[name] = value
    return out


# ---------------------------------------------------------------------------------------------------- contents
def committee_report(runner: Any, start: date, end: date, today: date) -> dict[str, Any]:
    """What the Customer Services Committee is sent twice a year: volumes and nature, timeliness, extensions,
    themes and outcomes at each stage, learning, satisfaction; broken down by month."""
    data = committee.query(runner, start, end, by=_cut(start, end))
    return {"kind": "committee", "title": f"Complaints report to the committee: {_day(start)} to {_day(end)}",
            "from": start, "to": end, "generated_on": today, "source": _source(runner), **data}


def _cut(start: date, end: date) -> str:
    """Month by month, as committees are used to; by quarter, then by year, when a long period would otherwise give
    a table and chart of more than three years of months (a report over decades stays a few pages)."""
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    return "month" if months <= 36 else "quarter" if months <= 120 else "year"


def annual_report(runner: Any, year: int, homes: int, today: date) -> dict[str, Any]:
    """The Code §8 annual complaints performance and service improvement report, with TSM CH01 and CH02."""
    start, end = committee.financial_year(year)
    data = committee.query(runner, start, end, by="quarter")
    total = data["total"]
    stage = total["stages"]
    counted = total["tsm"]  # the inclusion rules: projections/committee.py, tsm_counts
    tsm = {
        "homes": homes,
        "CH01": {s: {"received": n, "per_1000_homes": round(1000 * n / homes, 2)}
                 for s, n in counted["CH01"].items()},
        "CH02": counted["CH02"],
        "alternatives": counted["alternatives"],
    }
    # What was still unanswered past the Code's date at the year end, by stage (never lost between years).
    # Drawn before the year has ended, the list is what the ledger holds now, with lateness counted to the year end
    # (what it will be if still unanswered then): the page says so.
    data["still_open"] = committee.still_open(runner, end)
    data["year_ended"] = today > end
    return {"kind": "annual", "title": f"Annual complaints performance and service improvement report {year}/"
                                       f"{(year + 1) % 100:02d}",
            "year": year, "from": start, "to": end, "generated_on": today, "source": _source(runner), "tsm": tsm,
            **data}


def _source(runner: Any) -> dict[str, Any]:
    """Where the figures come from: the log position they include, and the ledger's digest there (the root that
    `complaints verify --against` checks), so the report itself pins the history it was drawn from."""
    from .audit import verify

    status = {s["name"]: s for s in runner.status()}
    position = status[committee.NAME]["position"]
    checked = verify(runner.ledger.recorder, position=position)
    return {"events": position, "head": status[committee.NAME]["head"], "digest": checked.root,
            "broken": len(checked.breaks)}


def _day(d: date) -> str:
    return f"{d.day} {d:%B %Y}"


# ---------------------------------------------------------------------------------------------------- HTML
def render_html(report: dict[str, Any]) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("complaints_ledger.adapters", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.do"])
    env.filters.update(pct=_pct, money=_money, day=_day, measure=lambda k: MEASURE_NAMES.get(k, k.replace("_", " ")))
    template = env.get_template(f"{report['kind']}.html.j2")
    return template.render(r=report, charts=charts(report))


def _pct(value: float | None) -> str:
    """A dash for a share of nothing (no responses at that stage): "0.0%" would read as a figure."""
    return "–" if value is None else f"{value:.1f}%"


def _money(value: Decimal | None) -> str:
    return "£0.00" if value is None else f"£{value:,.2f}"


CHARTS = ("nature", "timeliness_1", "timeliness_2", "satisfaction")


def charts(report: dict[str, Any]) -> dict[str, str | None]:
    """Inline SVG charts: complaints by nature, responses in time per period and stage, satisfaction scores. Every
    chart is named, None when the period has nothing to draw, so the page says so in words instead."""
    total = report["total"]
    periods = report["periods"]
    out: dict[str, str | None] = dict.fromkeys(CHARTS)
    categories = total["received"]["by_category"]
    if categories:
        ranked = sorted(categories.items(), key=lambda kv: (kv[1], kv[0]))
        out["nature"] = _barh([k for k, _ in ranked], [v for _, v in ranked], "Complaints received by category")
    labels = [p["label"] for p in periods]
    for s in ("1", "2"):
        timely = [p["figures"]["stages"].get(s, {}).get("responded_in_time", 0) for p in periods]
        late = [p["figures"]["stages"].get(s, {}).get("responded_late", 0) for p in periods]
        if any(timely) or any(late):
            out[f"timeliness_{s}"] = _stacked(labels, [("in time", timely, "#2e7d32"), ("late", late, "#c62828")],
                                              f"Stage {s} responses issued, in time and late")
    scores = total["satisfaction"]["scores"]
    if any(scores.values()):
        out["satisfaction"] = _barh([f"{k} of 5" for k in scores], list(scores.values()),
                                    "Satisfaction with complaint handling (responses)")
    return {name: svg and _own_ids(svg, name) for name, svg in out.items()}


def _own_ids(svg: str, name: str) -> str:
    """Prefix a chart's element ids (and references to them) with its name: matplotlib numbers them from 1 in
    every figure, and ids must be unique in the page."""
    return re.sub(r'(\bid="|url\(#|href="#)([^")]+)', lambda m: f"{m[1]}{name}-{m[2]}", svg)


def _figure(height: float):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "complaints-ledger", "font.size": 9,
                         "font.family": "sans-serif"})
    return plt, plt.subplots(figsize=(7.5, height))


def _svg(plt: Any, fig: Any) -> str:
    buffer = io.StringIO()
    fig.tight_layout()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buffer.getvalue()
    text = re.sub(r"^.*?(<svg)", r"\1", text, count=1, flags=re.S)  # drop the XML prolog and DOCTYPE: inline use
    return re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)


def _barh(labels: list[str], values: list[int], title: str) -> str:
    plt, (fig, ax) = _figure(max(1.6, 0.3 * len(labels) + 0.8))
    bars = ax.barh(labels, values, color="#1565c0")
    ax.bar_label(bars, padding=3)
    ax.set_title(title, loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    ax.margins(x=0.12)
    _whole_numbers(ax.xaxis)
    return _svg(plt, fig)


def _stacked(labels: list[str], series: list[tuple[str, list[int], str]], title: str) -> str:
    plt, (fig, ax) = _figure(2.8)
    bottom = [0] * len(labels)
    for name, values, colour in series:
        ax.bar(labels, values, bottom=bottom, label=name, color=colour)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_title(title, loc="left")
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(axis="x", labelrotation=45 if len(labels) > 4 else 0)
    _whole_numbers(ax.yaxis)
    return _svg(plt, fig)


def _whole_numbers(axis: Any) -> None:
    """Ticks at whole numbers only: these are counts of complaints, and one complaint is not "0.2, 0.4, …"."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))
