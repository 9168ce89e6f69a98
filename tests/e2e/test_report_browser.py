"""The committee and annual HTML reports, written by the real `complaints` script and rendered in headless Chromium.

A simulated financial year (1 April 2025 - 31 March 2026, reproducible by seed and --until) is built with
`complaints simulate` on an SQLite file; `complaints report committee|annual --output FILE.html` write the pages, and
`chromium --headless --dump-dom` renders them. The figures shown must be the ones `complaints stats --format json` and
`report annual --format json` give for the same period, the charts must be inline SVG, and the page must fetch
nothing. Chromium missing: skipped, unless COMPLAINTS_REQUIRE_BROWSER=1 (CI), which makes that a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import Counter
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from ..conftest import complaints_command

REQUIRE_BROWSER = os.environ.get("COMPLAINTS_REQUIRE_BROWSER", "").lower() in ("1", "true", "yes")
COMMITTEE = ("2025-10-01", "2026-03-31")  # the half-year a committee is sent
YEAR, HOMES = "2025", "12500"              # financial year 2025/26
UNTIL = "2026-03-31"
# Attributes that make a browser fetch something.
FETCHING = {"src", "href", "xlink:href", "srcset", "data", "poster", "action", "formaction", "background",
            "manifest", "codebase", "cite", "longdesc", "usemap", "ping"}


# ---------------------------------------------------------------------------------------------------- helpers
def complaints(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the installed `complaints` console script; it must succeed without a traceback."""
    done = subprocess.run([*complaints_command(), *args], env=env, capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert done.returncode == 0, f"`complaints {' '.join(args)}` failed ({done.returncode}): {done.stderr}"
    assert "Traceback" not in done.stderr
    return done


def find_browser() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    if REQUIRE_BROWSER:
        pytest.fail("Chromium is required (COMPLAINTS_REQUIRE_BROWSER=1) but `chromium` is not on PATH")
    pytest.skip("Chromium is not on PATH (install the Debian package `chromium`)")
    return ""


def render(browser: str, page: Path, profile: Path) -> str:
    """The DOM Chromium builds from the file, serialised after load."""
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-extensions", "--no-first-run", f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    assert "<body" in done.stdout, f"chromium rendered nothing: {done.stderr[-2000:]}"
    return done.stdout


class Page(HTMLParser):
    """What a page holds: text by element id, every tag with its attributes, and the text inside <svg> elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.by_id: dict[str, str] = {}
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.ids: Counter = Counter()
        self.svg_text: list[str] = []
        self.title = ""
        self.raw = ""
        self._open: list[tuple[str, str | None]] = []  # (tag, id) of elements not yet closed
        self._svg_depth = 0
        self._in_title = False

    VOID = {"meta", "link", "br", "hr", "img", "input", "source", "area", "base", "col", "embed", "param", "track",
            "wbr"}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append((tag, values))
        if "id" in values:
            self.ids[values["id"]] += 1
        if tag == "svg":
            self._svg_depth += 1
        if tag == "title" and not self._svg_depth:
            self._in_title = True
        if tag not in self.VOID:
            self._open.append((tag, values.get("id")))
            if values.get("id"):
                self.by_id.setdefault(values["id"], "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append((tag, values))
        if "id" in values:
            self.ids[values["id"]] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._svg_depth -= 1
        if tag == "title":
            self._in_title = False
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                del self._open[i:]
                break

    def handle_data(self, data: str) -> None:
        for _, element_id in self._open:
            if element_id:
                self.by_id[element_id] += data
        if self._svg_depth and data.strip():
            self.svg_text.append(data.strip())
        if self._in_title:
            self.title += data

    def text(self, element_id: str) -> str:
        assert element_id in self.by_id, f"no element with id {element_id!r} in the page"
        return " ".join(self.by_id[element_id].split())

    def count(self, tag: str) -> int:
        return sum(1 for t, _ in self.tags if t == tag)


def parse(html: str) -> Page:
    page = Page()
    page.raw = html
    page.feed(html)
    page.close()
    return page


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}%"  # a share of nothing is a dash, as the page shows it


def money(value: str) -> str:
    return f"£{Decimal(value):,.2f}"


def external(value: str) -> bool:
    """A reference that would make the browser fetch something (anything but a fragment of the page itself)."""
    value = value.strip()
    return bool(value) and not value.startswith("#")


# ---------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Any]:
    """The simulated year, both reports as HTML files, and the JSON figures for the same periods."""
    folder = tmp_path_factory.mktemp("reports")
    env = {k: v for k, v in os.environ.items() if k not in ("COMPLAINTS_DB", "COMPLAINTS_ACTOR")}
    env["PYTHONIOENCODING"] = "utf-8"
    db = ["--db", f"sqlite:///{folder / 'year.db'}"]
    complaints(*db, "simulate", "--cases", "300", "--seed", "2026", "--until", UNTIL, env=env)
    committee_html, annual_html = folder / "committee.html", folder / "annual.html"
    wrote = complaints(*db, "report", "committee", "--from", COMMITTEE[0], "--to", COMMITTEE[1], "--output",
                       str(committee_html), env=env)
    assert wrote.stdout == "" and wrote.stderr.strip() == f"wrote {committee_html}"
    complaints(*db, "report", "annual", "--year", YEAR, "--homes", HOMES, "--output", str(annual_html), env=env)
    stats = json.loads(complaints(*db, "stats", "--from", COMMITTEE[0], "--to", COMMITTEE[1], "--format", "json",
                                  env=env).stdout)
    annual = json.loads(complaints(*db, "report", "annual", "--year", YEAR, "--homes", HOMES, "--format", "json",
                                   env=env).stdout)
    return {"folder": folder, "db": db, "env": env, "committee_html": committee_html, "annual_html": annual_html,
            "stats": stats, "annual": annual}


@pytest.fixture(scope="module")
def rendered(built) -> dict[str, Page]:
    browser = find_browser()
    return {name: parse(render(browser, built[f"{name}_html"], built["folder"] / f"profile-{name}"))
            for name in ("committee", "annual")}


# ---------------------------------------------------------------------------------------------------- tests
def test_the_committee_report_shows_the_stats_figures_for_its_period_in_the_browser(built, rendered):
    page, total = rendered["committee"], built["stats"]["total"]
    s1, s2 = total["stages"]["1"], total["stages"]["2"]
    assert total["received"]["total"] > 50 and s1["responses"] > 20 and s2["responses"] > 0, "too small a sample"
    assert s1["pct_not_in_time"] and total["satisfaction"]["responses"], "the sample tells nothing apart"

    assert page.title.strip() == "Complaints report to the committee: 1 October 2025 to 31 March 2026"
    assert page.text("received") == str(total["received"]["total"])
    assert page.text("stage1-not-in-time") == pct(s1["pct_not_in_time"])
    assert page.text("stage1-extended") == pct(s1["pct_extended"])
    assert page.text("escalated") == str(total["escalated"]["total"])
    assert page.text("stage2-not-in-time") == pct(s2["pct_not_in_time"])
    assert page.text("compensation-paid") == money(total["compensation"]["paid"])  # £ survives the round trip
    assert page.text("satisfaction-average") == f"{total['satisfaction']['average']:.2f}"


def test_the_annual_report_shows_tsm_ch01_and_ch02_in_the_browser(built, rendered):
    page, report = rendered["annual"], built["annual"]
    tsm = report["tsm"]
    assert (report["from"], report["to"]) == ("2025-04-01", "2026-03-31")
    assert tsm["CH01"]["stage 1"]["received"] > 50 and tsm["CH02"]["stage 2"]["responses"] > 0, "too small a sample"

    assert page.title.strip() == "Annual complaints performance and service improvement report 2025/26"
    assert page.text("ch01-stage1") == f"{tsm['CH01']['stage 1']['per_1000_homes']:.2f}"
    assert page.text("ch01-stage2") == f"{tsm['CH01']['stage 2']['per_1000_homes']:.2f}"
    assert page.text("ch02-stage1") == pct(tsm["CH02"]["stage 1"]["pct_within_code"])
    assert page.text("ch02-stage2") == pct(tsm["CH02"]["stage 2"]["pct_within_code"])
    assert page.text("satisfaction-average") == f"{report['total']['satisfaction']['average']:.2f}"
    # CH01 per 1,000 homes is the count over the homes, times 1,000.
    received = tsm["CH01"]["stage 1"]["received"]
    assert tsm["CH01"]["stage 1"]["per_1000_homes"] == round(1000 * received / int(HOMES), 2)
    assert "12,500 homes" in " ".join(page.text("tsm").split())


@pytest.mark.parametrize("name", ["committee", "annual"])
def test_the_charts_are_inline_svg_with_their_text_kept_as_text(rendered, name):
    page = rendered[name]

    # Received by category, stage 1 and stage 2 timeliness, satisfaction scores.
    assert page.count("svg") == 4
    assert page.count("figure") == 4
    assert page.count("img") == page.count("object") == page.count("embed") == page.count("iframe") == 0
    assert "Complaints received by category" in page.svg_text
    assert "Stage 1 responses issued, in time and late" in page.svg_text
    assert "Satisfaction with complaint handling (responses)" in page.svg_text


def assert_fetches_nothing(page: Page, source: str) -> None:
    raw = page.raw
    assert page.count("script") == 0, f"{source}: a <script>"
    assert page.count("link") == 0, f"{source}: a <link> (stylesheet, font or icon)"
    for tag in ("img", "iframe", "object", "embed", "video", "audio", "source", "base"):
        assert page.count(tag) == 0, f"{source}: an <{tag}>"
    fetching = [(tag, attr, value) for tag, attrs in page.tags for attr, value in attrs.items()
                if attr in FETCHING and external(value)]
    assert fetching == [], f"{source}: {fetching[:5]}"
    styles = " ".join(value for _, attrs in page.tags for attr, value in attrs.items()
                      if attr in ("style", "clip-path", "fill", "filter", "mask"))
    assert not re.search(r"@import|url\(\s*['\"]?(?!#)", raw + styles), f"{source}: CSS fetching something"
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", raw, re.I), f"{source}: a URL"


@pytest.mark.parametrize("name", ["committee", "annual"])
def test_the_html_file_references_no_external_resource(built, name):
    html = built[f"{name}_html"].read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in html
    assert_fetches_nothing(parse(html), f"{name}.html")


@pytest.mark.parametrize("name", ["committee", "annual"])
def test_the_rendered_page_references_no_external_resource(rendered, name):
    assert_fetches_nothing(rendered[name], f"{name} as rendered")


def test_the_same_ledger_gives_the_same_report(built):
    again = built["folder"] / "committee-again.html"
    complaints(*built["db"], "report", "committee", "--from", COMMITTEE[0], "--to", COMMITTEE[1], "--output",
               str(again), env=built["env"])

    def undated(text: str) -> str:  # the day it was generated may differ at midnight
        return re.sub(r"generated \d+ \w+ \d{4}", "generated …", text)

    assert undated(again.read_text(encoding="utf-8")) == undated(built["committee_html"].read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["committee", "annual"])
def test_every_element_id_in_the_page_is_unique(rendered, name):
    page = rendered[name]
    assert page.ids["received" if name == "committee" else "ch01-stage1"] == 1
    duplicated = sorted(i for i, n in page.ids.items() if n > 1)
    assert duplicated == [], f"{len(duplicated)} ids used more than once, e.g. {duplicated[:6]}"
