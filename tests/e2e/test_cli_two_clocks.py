"""One clock for the Code, shown beside the landlord's where they disagree (issue 19): `show` (text and JSON) and the
inquiry bundle give both judgements of a response, each with the date it counts from. On SQLite and PostgreSQL.

The case is CMP-2026-000479 of `simulate --cases 3000 --seed 42`, rebuilt step by step (hoc-2024, England):
received Thu 26 Feb 2026; acknowledgement due 5 working days later, Thu 5 Mar (27 | 2-5); acknowledged Mon 9 Mar
(late by 2: 6, 9); extended by 10 working days on 13 Mar; answered Wed 8 Apr.
  The landlord's deadline counts from the actual acknowledgement: 9 Mar + 10 + 10 = 20 working days (10-13 | 16-20 |
  23-27 | 30, 31, 1, 2 | Good Friday 3 and Easter Monday 6 Apr skipped | 7, 8) = Wed 8 Apr: met.
  The Code counts from when acknowledgement was due, as it came later: 5 Mar + 20 (6 | 9-13 | 16-20 | 23-27 |
  30, 31, 1, 2) = Thu 2 Apr: outside, by 2 working days (7, 8 Apr).
"""

from __future__ import annotations

import json
import re

from ._cli import Cli


def _like_000479(cli: Cli, answered: str = "2026-04-08") -> str:
    ref = cli.receive("2026-02-26")
    cli.ok("acknowledge", ref, "--on", "2026-03-09")
    cli.ok("extend", ref, "--working-days", "10", "--reason", "Waiting for a contractor's report", "--agreed",
           "--ombudsman-details-given", "--on", "2026-03-13")
    cli.ok("respond", ref, "--outcome", "partly-upheld", "--on", answered)
    return ref


def test_show_json_gives_both_judgements_with_the_date_each_counts_from(cli: Cli):
    ref = _like_000479(cli)
    [stage1] = cli.show(ref)["timescales"]
    assert stage1 == {
        "stage": 1, "responded_on": "2026-04-08", "differ": True,
        "landlord": {"due_on": "2026-04-08", "counts_from": "2026-03-09", "counts_from_event": "acknowledged",
                     "status": "met", "extended_by": 10},
        "code": {"due_on": "2026-04-02", "counts_from": "2026-03-05", "counts_from_event": "acknowledgement due",
                 "status": "outside", "extension_counted": 10, "working_days_late": 2},
    }


def test_show_text_explains_the_two_judgements_only_where_they_differ(cli: Cli):
    ref = _like_000479(cli)
    sheet = " ".join(cli.ok("show", ref).stdout.split())
    assert "Stage 1 response: met the landlord's deadline but outside the Code's timescales" in sheet
    assert ("landlord's deadline Wed 08 Apr 2026, counted from the acknowledgement (Mon 09 Mar 2026)") in sheet
    assert ("Code's timescales Thu 02 Apr 2026, counted from the day acknowledgement was due (Thu 05 Mar 2026), "
            "2 working days late") in sheet

    # Answered on Wed 1 Apr instead: within both (by 8 Apr and by 2 Apr), so one judgement is enough on screen;
    # the JSON still gives both dates.
    agreed = _like_000479(cli, answered="2026-04-01")
    assert "Code's timescales" not in cli.ok("show", agreed).stdout
    [stage1] = cli.show(agreed)["timescales"]
    assert (stage1["differ"], stage1["landlord"]["status"], stage1["code"]["status"]) == (False, "met", "within")


def test_the_bundle_shows_both_judgements_as_show_does(cli: Cli, tmp_path):
    ref = _like_000479(cli)
    out = tmp_path / "inquiry"
    cli.ok("bundle", ref, "--output", str(out))

    data = json.loads((out / "case.json").read_text())
    assert data["timescales"] == cli.show(ref)["timescales"]
    html = (out / "case.html").read_text()
    table = re.search(r'<h2 id="timescales">.*?</table>', html, re.S).group(0)
    cells = [" ".join(c.split()) for c in re.findall(r"<td>(.*?)</td>", table, re.S)]
    assert cells == ["1", "8 April 2026", "8 April 2026", "acknowledged 9 March 2026", "met", "2 April 2026",
                     "acknowledgement due 5 March 2026", "outside (2 working days late)"]
    assert "a late acknowledgement buys no time" in " ".join(html.split())


def test_ch02_counts_the_case_outside_the_code_as_the_case_sheet_says(cli: Cli):
    _like_000479(cli)
    annual = json.loads(cli.ok("report", "annual", "--year", "2026", "--homes", "100", "--format", "json").stdout)
    ch02 = annual["tsm"]["CH02"]["stage 1"]
    assert (ch02["responses"], ch02["within_code"]) == (1, 0)  # the case sheet's "outside the Code's timescales"
    # and the footnoted clock from the actual acknowledgement would count it within
    assert annual["tsm"]["alternatives"]["CH02 stage 1"]["clock_from_actual_acknowledgement"]["within_code"] == 1
