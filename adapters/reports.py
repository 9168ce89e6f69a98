"""Committee and annual reports: the committee read model's figures as a self-contained HTML page or JSON.

Presentation only: figures come from `projections.committee`; this module lays them out with Jinja2 and draws the
charts as inline SVG (`svg_charts`), so the file opens anywhere with no network (no scripts, fonts or images
fetched). The same ledger gives the same report.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
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


def annual_report(runner: Any, year: int, homes: int | None, today: date, *, homes_lcra: int | None = None,
                  homes_lcho: int | None = None) -> dict[str, Any]:
    """The Code §8 annual complaints performance and service improvement report, with TSM CH01 and CH02: for all
    tenures against `homes`, and, given the homes of each (`homes_lcra`, `homes_lcho`), for LCRA and LCHO too."""
    start, end = committee.financial_year(year)
    facts = committee.counted_facts(runner, start, end)  # read once: all tenures, and each tenure below
    data = committee.query(runner, start, end, by="quarter", facts=facts)
    total = data["total"]
    split = homes_lcra is not None or homes_lcho is not None
    if split:
        homes = tsm_homes(homes, homes_lcra, homes_lcho)
    tsm = tsm_measures(total, homes)  # the same rule as each tenure's, below
    if split:
        tsm.update(tenure_split(tsm, committee.figures_by_tenure(facts), homes_lcra, homes_lcho))
    # What was still unanswered past the Code's date at the year end, by stage (never lost between years).
    # Drawn before the year has ended, the list is what the ledger holds now, with lateness counted to the year end
    # (what it will be if still unanswered then): the page says so.
    data["still_open"] = committee.still_open(runner, end)
    data["year_ended"] = today > end
    return {"kind": "annual", "title": f"Annual complaints performance and service improvement report {year}/"
                                       f"{(year + 1) % 100:02d}",
            "year": year, "from": start, "to": end, "generated_on": today, "source": _source(runner), "tsm": tsm,
            **data}


# ---------------------------------------------------------------------------------------------------- tenure
# CH01 and CH02 per tenure, as the Regulator's TSM return wants them (docs/tsm-return.md): LCRA and LCHO each per
# 1,000 homes of that tenure, beside the all-tenure figures; `other` tenure (leaseholders, market rent, …) and cases
# whose tenure was never recorded count in the all-tenure figures only.
TSM_TENURES = ("lcra", "lcho")
TSM_SOURCE = ("Regulator of Social Housing, Tenant Satisfaction Measures: Technical Requirements (April 2024): "
              "CH01 and CH02 (section 13, TSMs generated from management information), reported separately for "
              "low-cost rental accommodation and low-cost home ownership (section 4, level of reporting)")


class InconsistentHomes(ValueError):
    """--homes disagrees with --homes-lcra and --homes-lcho."""


def tsm_homes(homes: int | None, homes_lcra: int | None, homes_lcho: int | None) -> int:
    """All homes, for the all-tenure CH01: `homes` if given (it may include homes of other tenures), else LCRA +
    LCHO. Both tenures' homes are needed once either is given (0 for a tenure the landlord does not have), and
    `homes` cannot be fewer than the two together."""
    if homes_lcra is None or homes_lcho is None:
        raise InconsistentHomes("give both --homes-lcra and --homes-lcho (0 for a tenure you have none of), "
                                "or --homes alone")
    both = homes_lcra + homes_lcho
    if homes is None:
        if both == 0:
            raise InconsistentHomes("--homes-lcra and --homes-lcho are both 0: give the homes of at least one")
        return both
    if homes < both:
        raise InconsistentHomes(f"--homes {homes:,} is fewer than --homes-lcra {homes_lcra:,} and --homes-lcho "
                                f"{homes_lcho:,} together ({both:,}); --homes counts every home, of any tenure")
    return homes


def tsm_measures(figures_: dict[str, Any], homes: int | None) -> dict[str, Any]:
    """CH01 and CH02 from one set of figures (all tenures, or one tenure's), by the same rule the all-tenure TSM
    figures use: CH01 counts stage 1 complaints received and escalations into stage 2 in the year, per 1,000
    homes (None without homes to count against); CH02 the responses issued in the year within the Code's
    timescales, as a share of all responses issued at that stage."""
    counted = figures_["tsm"]  # CH01/CH02 as `figures` counted them, by the written inclusion rules
    out = {"homes": homes,
           "CH01": {s: {"received": n, "per_1000_homes": per_1000(n, homes)} for s, n in counted["CH01"].items()},
           "CH02": {s: dict(m) for s, m in counted["CH02"].items()}}
    if "alternatives" in counted:
        out["alternatives"] = counted["alternatives"]
    return out


def per_1000(count: int, homes: int | None) -> float | None:
    """Complaints per 1,000 homes, two decimal places, halves rounded up (as worked by hand)."""
    if not homes:
        return None
    return float((Decimal(1000 * count) / Decimal(homes)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def tenure_split(tsm: dict[str, Any], by_tenure: dict[str, dict[str, Any]], homes_lcra: int,
                 homes_lcho: int) -> dict[str, Any]:
    """`by_tenure` (LCRA and LCHO against their homes; other and not recorded as counts only) and the return
    rows, added to the all-tenure `tsm`."""
    homes_of = {"lcra": homes_lcra, "lcho": homes_lcho}
    tenures = {t: tsm_measures(f, homes_of.get(t)) for t, f in by_tenure.items()}
    return {"homes_lcra": homes_lcra, "homes_lcho": homes_lcho, "by_tenure": tenures,
            "return": return_rows(tsm, tenures), "source_of_definitions": TSM_SOURCE}


RETURN_COLUMNS = ("measure", "stage", "tenure", "numerator", "denominator", "value", "unit")


def return_rows(tsm: dict[str, Any], tenures: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per measure, stage and tenure in the Regulator's codes (CH01, CH02; LCRA, LCHO), then the
    all-tenure rows (ALL) for the landlord's own check: numerator, denominator and the value as reported (CH01
    per 1,000 homes to two places, CH02 a percentage to one place)."""
    rows = []
    for name, measures in [*((t.upper(), tenures[t]) for t in TSM_TENURES if t in tenures), ("ALL", tsm)]:
        for stage in (1, 2):
            ch01 = measures["CH01"][f"stage {stage}"]
            rows.append({"measure": "CH01", "stage": stage, "tenure": name, "numerator": ch01["received"],
                         "denominator": measures["homes"], "value": ch01["per_1000_homes"],
                         "unit": "per 1,000 homes"})
        for stage in (1, 2):
            ch02 = measures["CH02"][f"stage {stage}"]
            rows.append({"measure": "CH02", "stage": stage, "tenure": name, "numerator": ch02["within_code"],
                         "denominator": ch02["responses"], "value": ch02["pct_within_code"], "unit": "%"})
    return rows


def return_csv(report: dict[str, Any]) -> str:
    """The return file: RETURN_COLUMNS, one row per measure, stage and tenure (empty value: nothing to divide by)."""
    import csv

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(RETURN_COLUMNS)
    rows = report["tsm"].get("return") or return_rows(report["tsm"], {})
    for row in rows:
        writer.writerow(["" if row[c] is None else f"{row[c]:.2f}" if c == "value" and row["measure"] == "CH01"
                         else f"{row[c]:.1f}" if c == "value" else row[c] for c in RETURN_COLUMNS])
    return out.getvalue()


def annual_text(report: dict[str, Any]) -> str:
    """The TSM figures in plain text: all tenures, and LCRA, LCHO, other and not recorded when split."""
    tsm = report["tsm"]
    columns = [("All tenures", tsm)]
    if "by_tenure" in tsm:
        columns += [(TENURE_NAMES[t], m) for t, m in tsm["by_tenure"].items()]

    def cell(value: Any, kind: str = "") -> str:
        if value is None:
            return "–"
        return f"{value:.2f}" if kind == "per" else f"{value:.1f}%" if kind == "pct" else f"{value:,}"

    lines = [report["title"], f"{_day(report['from'])} to {_day(report['to'])}", ""]
    rows = [("Homes", lambda m: cell(m["homes"]))]
    for s in ("stage 1", "stage 2"):
        rows += [(f"{s.capitalize()} complaints received", lambda m, s=s: cell(m["CH01"][s]["received"])),
                 (f"CH01 {s} per 1,000 homes", lambda m, s=s: cell(m["CH01"][s]["per_1000_homes"], "per"))]
    for s in ("stage 1", "stage 2"):
        rows += [(f"{s.capitalize()} responses issued", lambda m, s=s: cell(m["CH02"][s]["responses"])),
                 (f"  within the Code's timescales", lambda m, s=s: cell(m["CH02"][s]["within_code"])),
                 (f"CH02 {s} % within the Code's timescales",
                  lambda m, s=s: cell(m["CH02"][s]["pct_within_code"], "pct"))]
    width = max(len(r[0]) for r in rows)
    widths = [max(len(name), 8) for name, _ in columns]
    lines.append(" " * width + "  " + "  ".join(n.rjust(w) for (n, _), w in zip(columns, widths)))
    for label_, get in rows:
        lines.append(label_.ljust(width) + "  " + "  ".join(get(m).rjust(w) for (_, m), w in zip(columns, widths)))
    if "by_tenure" in tsm:
        import textwrap

        note = ("LCRA and LCHO are counted against their own homes; other tenures (leaseholders, market rent) and "
                "cases whose tenure was not recorded count in the all-tenure figures only. A case counts under its "
                f"tenure as last corrected. Definitions: {tsm['source_of_definitions']}.")
        lines += ["", *textwrap.wrap(note, 100, break_on_hyphens=False)]
    return "\n".join(lines) + "\n"


TENURE_NAMES = {"lcra": "LCRA", "lcho": "LCHO", "other": "Other", committee.NOT_RECORDED: "Not recorded"}


def _source(runner: Any) -> dict[str, Any]:
    """Where the figures come from: the log position they include, and the ledger's digest there (the root that
    `complaints verify --against` checks), so the report itself pins the history it was drawn from. The digest and
    the breaks come from checkpoints.source_digest: the events since the last clean `complaints verify` (its
    checkpoint) are checked now, and the report says since when, instead of re-hashing the whole ledger."""
    from .checkpoints import source_digest

    status = {s["name"]: s for s in runner.status()}
    position = status[committee.NAME]["position"]
    checked = source_digest(runner.ledger.recorder, position)
    return {"events": position, "head": status[committee.NAME]["head"], "digest": checked.root,
            "broken": checked.broken, "checked_from": checked.checked_from, "events_checked": checked.events_checked,
            "checkpoint_at": checked.checkpoint_at, "checkpoint_made": checked.checkpoint_made,
            "checkpoint_by": checked.checkpoint_by}


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
    chart is named, None when the period has nothing to draw, so the page says so in words instead. Written by
    `svg_charts` (no plotting library: importing one cost more than the rest of the report)."""
    from . import svg_charts

    total = report["total"]
    periods = report["periods"]
    out: dict[str, str | None] = dict.fromkeys(CHARTS)
    categories = total["received"]["by_category"]
    if categories:
        ranked = sorted(categories.items(), key=lambda kv: (kv[1], kv[0]))
        out["nature"] = svg_charts.barh([k for k, _ in ranked], [v for _, v in ranked],
                                        "Complaints received by category")
    labels = [p["label"] for p in periods]
    for s in ("1", "2"):
        timely = [p["figures"]["stages"].get(s, {}).get("responded_in_time", 0) for p in periods]
        late = [p["figures"]["stages"].get(s, {}).get("responded_late", 0) for p in periods]
        if any(timely) or any(late):
            out[f"timeliness_{s}"] = svg_charts.stacked(
                labels, [("in time", timely, "#2e7d32"), ("late", late, "#c62828")],
                f"Stage {s} responses issued, in time and late")
    scores = total["satisfaction"]["scores"]
    if any(scores.values()):
        out["satisfaction"] = svg_charts.barh([f"{k} of 5" for k in scores], list(scores.values()),
                                              "Satisfaction with complaint handling (responses)")
    return out
