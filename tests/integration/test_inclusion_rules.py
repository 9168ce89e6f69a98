"""What TSM CH01 and CH02 count, rule by rule (issue 19), on a small ledger whose figures are worked out by hand.

Each rule is written in the report's "How these figures are counted" box and in docs/read-models.md; each case below
exists to show one rule's effect, and the comments work its dates out (England: weekends, 2026 bank holidays 4 and
25 May, 31 Aug, 25 and 28 Dec; 2027: 1 Jan, Good Friday 26 Mar, Easter Monday 29 Mar; the day a clock starts never
counts). The Code's clock: from acknowledgement, or from when acknowledgement was due (5 working days after receipt
or escalation) if it came later; 10 working days at stage 1, 20 at stage 2 (and a legacy stage 3), plus extensions
up to 10 / 20. Run on SQLite and PostgreSQL through `complaints report annual`.

  J  escalated while stage 1 was overdue. Received Mon 8 Jun 2026, acknowledged Tue 9 Jun (in time); the Code's
     response date 9 Jun + 10 = Tue 23 Jun (10-12 | 15-19 | 22, 23). No response; escalated Thu 25 Jun: counts in
     CH02 stage 1 as a response outside the Code (rule "unanswered"). Stage 2 acknowledged Fri 26 Jun, reviewed
     Mon 20 Jul (due 26 Jun + 20 = Fri 24 Jul): within.
  L  withdrawn while overdue. Received Mon 6 Jul, acknowledged Tue 7 Jul; Code date 7 Jul + 10 = Tue 21 Jul (8-10 |
     13-17 | 20, 21). Withdrawn Thu 23 Jul: CH02 stage 1, outside.
  M  refused while overdue. Received Mon 3 Aug, never acknowledged: acknowledgement due Mon 10 Aug (4-7 | 10), Code
     date 10 Aug + 10 = Mon 24 Aug (11-14 | 17-21 | 24). Refused Wed 26 Aug: CH02 stage 1, outside; and it still
     counts in CH01 (rule "refused").
  N  resolved early (broadland-2020). Received Mon 14 Sep, resolved Tue 15 Sep; Code date (never acknowledged):
     21 Sep (15-18 | 21) + 10 = Mon 5 Oct: within. Counts in CH02 stage 1 (rule "early").
  O  three stages (ohg-2010, stage 3 held to stage 2 timescales). Received Mon 5 Oct, acknowledged Tue 6 Oct,
     answered Mon 12 Oct (due 20 Oct): within. Escalated Tue 13 Oct, acknowledged Wed 14 Oct, reviewed Mon 19 Oct
     (due 11 Nov): within. Escalated to stage 3 Tue 20 Oct, acknowledged Wed 21 Oct; due 21 Oct + 20 = Wed 18 Nov
     (22, 23 | 26-30 | 2-6 | 9-13 | 16-18); a panel hearing on Mon 16 Nov, reviewed Fri 20 Nov:
     outside. The stage 3 response counts in CH02
     stage 2; CH01 stage 2 counts O once (rule "stage 3").
  P  received in one year, answered in the next. Received Mon 15 Mar 2027, acknowledged Tue 16 Mar; Code date
     16 Mar + 10 = Thu 1 Apr 2027 (17-19 | 22-25 | 30, 31, 1 Apr: 26 and 29 Mar are bank holidays). Answered Fri
     2 Apr 2027: outside, in 2027/28's CH02. Not yet past due on 31 Mar 2027, so not listed as still open.
  Q  still open at the year end. Received Mon 1 Feb 2027, acknowledged Tue 2 Feb; Code date 2 Feb + 10 = Tue
     16 Feb (3-5 | 8-12 | 15, 16). Unanswered on 31 Mar 2027: overdue by 17-19, 22-26 Feb (8) and March's 23
     weekdays less 26 and 29 Mar (21) = 29 working days. Answered Thu 8 Apr 2027: outside, in 2027/28.
  R  the two clocks (like CMP-2026-000479). Received Mon 4 Jan 2027; acknowledgement due Mon 11 Jan (5-8 | 11);
     acknowledged Wed 13 Jan (late); extended by 10. The profile counts from 13 Jan: + 20 = Wed 10 Feb (14, 15 |
     18-22 | 25-29 | 1-5 | 8-10). The Code counts from 11 Jan: + 20 = Mon 8 Feb. Answered Wed 10 Feb: in time for
     the landlord, outside the Code; within on the footnoted clock that counts from the actual acknowledgement.

2026/27 by hand:
  CH01 stage 1: J, L, M, N, O, R, P, Q = 8 (M refused, L withdrawn, N resolved early all count); stage 2: J, O = 2.
  CH02 stage 1: issued O (within), R (outside); early N (within); left unanswered late J, L, M (outside): 2 of 6 =
  33.3%. Stage 2: issued J, O (within) + O's stage 3 (outside): 2 of 3 = 66.7%.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import pytest
from click.testing import CliRunner

from complaints_ledger.adapters import policy_files
from complaints_ledger.cli import cli as complaints_cli

ACTOR = "Jo Officer"


@pytest.fixture
def today() -> date:
    """Late enough for every step below (the answers of April 2027)."""
    return date(2027, 4, 30)


def d(text: str) -> date:
    return date.fromisoformat(text)


def run(url: str, *args: str) -> str:
    result = CliRunner().invoke(complaints_cli, ["--db", url, "--actor", "tester", *args],
                                env={"COMPLAINTS_DB": None, "COMPLAINTS_ACTOR": None})
    assert result.exit_code == 0, result.stderr or repr(result.exception)
    return result.stdout


@pytest.fixture
def rules_book(db_url, ledger, receive) -> dict[str, str]:
    L = ledger
    refs: dict[str, str] = {}

    def new(letter: str, on: str, **extra: Any) -> str:
        refs[letter] = receive(L, received_on=d(on), category="repairs", **extra)
        return refs[letter]

    j = new("J", "2026-06-08")
    L.acknowledge(j, actor=ACTOR, on=d("2026-06-09"))
    L.escalate(j, actor=ACTOR, on=d("2026-06-25"), reason="No answer")
    L.acknowledge(j, actor=ACTOR, on=d("2026-06-26"))
    L.review(j, outcome="upheld", actor=ACTOR, on=d("2026-07-20"))

    ll = new("L", "2026-07-06")
    L.acknowledge(ll, actor=ACTOR, on=d("2026-07-07"))
    L.withdraw(ll, actor=ACTOR, on=d("2026-07-23"), reason="Fixed by a neighbour")

    m = new("M", "2026-08-03")
    L.refuse(m, reason="legal-action", explanation="Court proceedings are under way", actor=ACTOR,
             on=d("2026-08-26"))

    n = new("N", "2026-09-14", policy=policy_files.load_shipped("broadland-2020"))
    L.resolve_early(n, summary="Repair booked the same day", actor=ACTOR, on=d("2026-09-15"))

    o = new("O", "2026-10-05", policy=policy_files.load_shipped("ohg-2010"))
    L.acknowledge(o, actor=ACTOR, on=d("2026-10-06"))
    L.respond(o, outcome="not-upheld", actor=ACTOR, on=d("2026-10-12"))
    L.escalate(o, actor=ACTOR, on=d("2026-10-13"))
    L.acknowledge(o, actor=ACTOR, on=d("2026-10-14"))
    L.review(o, outcome="not-upheld", actor=ACTOR, on=d("2026-10-19"))
    L.escalate(o, actor=ACTOR, on=d("2026-10-20"))
    L.acknowledge(o, actor=ACTOR, on=d("2026-10-21"))
    L.hold_hearing(o, panel=[{"name": "Pat Director", "role": "director"},
                             {"name": "Rowan Resident", "role": "resident-representative"}],
                   actor=ACTOR, on=d("2026-11-16"))
    L.review(o, outcome="partly-upheld", actor=ACTOR, on=d("2026-11-20"))

    r = new("R", "2027-01-04")
    L.acknowledge(r, actor=ACTOR, on=d("2027-01-13"))
    L.extend(r, working_days=10, reason="Waiting for a contractor's report", actor=ACTOR, on=d("2027-01-20"))
    L.respond(r, outcome="upheld", actor=ACTOR, on=d("2027-02-10"))

    q = new("Q", "2027-02-01")
    L.acknowledge(q, actor=ACTOR, on=d("2027-02-02"))

    p = new("P", "2027-03-15")
    L.acknowledge(p, actor=ACTOR, on=d("2027-03-16"))
    L.respond(p, outcome="upheld", actor=ACTOR, on=d("2027-04-02"))
    L.respond(q, outcome="upheld", actor=ACTOR, on=d("2027-04-08"))
    return refs


def annual(url: str, year: int, fmt: str = "json") -> Any:
    out = run(url, "report", "annual", "--year", str(year), "--homes", "1000", "--format", fmt)
    return json.loads(out) if fmt == "json" else out


def figure(counted: int, within: int) -> dict[str, Any]:
    return {"responses": counted, "within_code": within,
            "pct_within_code": None if not counted else float(f"{100 * within / counted + 1e-9:.1f}")}


def test_ch01_counts_refused_withdrawn_and_early_resolved_complaints_and_a_third_stage_once(rules_book, db_url):
    tsm = annual(db_url, 2026)["tsm"]
    # stage 1: J, L (withdrawn), M (refused), N (resolved early), O, R, P, Q = 8; stage 2: J, O (not O's stage 3)
    assert {s: v["received"] for s, v in tsm["CH01"].items()} == {"stage 1": 8, "stage 2": 2}
    # the footnoted alternatives: less M's refusal = 7; O's stage 3 as a further stage 2 complaint = 3
    assert tsm["alternatives"]["CH01"] == {"stage 1 without refusals": 7, "stage 2 with stage 3 escalations": 3}


def test_ch02_stage_1_counts_early_resolutions_and_stages_left_unanswered_past_the_codes_date(rules_book, db_url):
    ch02 = annual(db_url, 2026)["tsm"]["CH02"]["stage 1"]
    # issued O (within), R (outside: the Code counts from 11 Jan, when R's acknowledgement was due); N resolved early
    # (within); J escalated, L withdrawn, M refused after their Code dates with no response: outside. 2 of 6.
    assert ch02 == {**figure(6, 2), "responses_issued": 2, "stage_3_responses": 0, "early_resolutions": 1,
                    "left_unanswered_late": 3}
    assert ch02["pct_within_code"] == 33.3


def test_ch02_stage_2_holds_a_legacy_third_stage_to_stage_2_timescales(rules_book, db_url):
    ch02 = annual(db_url, 2026)["tsm"]["CH02"]["stage 2"]
    # J's and O's stage 2 reviews within; O's stage 3 review two working days after 18 Nov: 2 of 3 = 66.7%
    assert ch02 == {**figure(3, 2), "responses_issued": 2, "stage_3_responses": 1, "early_resolutions": 0,
                    "left_unanswered_late": 0}


def test_each_choice_left_to_the_landlord_gives_its_alternative_figure(rules_book, db_url):
    alternatives = annual(db_url, 2026)["tsm"]["alternatives"]
    stage1, stage2 = alternatives["CH02 stage 1"], alternatives["CH02 stage 2"]
    # Counting from the actual acknowledgement, R (answered 10 Feb, 20 working days after 13 Jan) is within: 3 of 6.
    # J, L and M stay late on that clock too (J and L were acknowledged in time, M never).
    assert stage1["clock_from_actual_acknowledgement"] == figure(6, 3)
    assert stage1["without_early_resolutions"] == figure(5, 1)  # without N
    assert stage1["without_stages_left_unanswered"] == figure(3, 2)  # O, R, N
    assert stage1["without_stage_3_responses"] == figure(6, 2)  # no third stage at stage 1
    assert stage2["without_stage_3_responses"] == figure(2, 2)  # without O's late stage 3 review
    assert stage2["clock_from_actual_acknowledgement"] == figure(3, 2)  # every stage 2 and 3 acknowledged in time


def test_a_complaint_answered_the_next_year_counts_in_ch01_then_and_in_ch02_when_answered(rules_book, db_url):
    later = annual(db_url, 2027)["tsm"]
    # 2027/28: nothing received; P (2 Apr, a day after its Code date) and Q (8 Apr, long after 16 Feb) answered
    assert later["CH01"]["stage 1"]["received"] == 0
    assert later["CH02"]["stage 1"] == {**figure(2, 0), "responses_issued": 2, "stage_3_responses": 0,
                                        "early_resolutions": 0, "left_unanswered_late": 0}


def test_the_annual_report_lists_what_is_still_open_past_the_codes_date_at_the_year_end(rules_book, db_url):
    got = annual(db_url, 2026)
    # Q only: P was not yet due on 31 Mar 2027 (its Code date is 1 Apr); every other case had an answer or an end
    assert got["still_open"] == [{"ref": rules_book["Q"], "stage": 1, "received_on": "2027-02-01",
                                  "stage_started_on": "2027-02-01", "due_on": "2027-02-16",
                                  "landlord_due_on": "2027-02-16", "working_days_overdue": 29}]
    assert annual(db_url, 2027)["still_open"] == []  # Q was answered on 8 Apr 2027
    assert annual(db_url, 2025)["year_ended"] is True  # 31 Mar 2026 has passed
    future = annual(db_url, 2090, "html")  # a year not yet over says its list is what the ledger holds today
    assert 'id="still-open-unfinished"' in future and 'id="still-open-unfinished"' not in annual(db_url, 2025, "html")

    page = annual(db_url, 2026, "html")
    row = re.search(r'<table id="still-open">.*?</table>', page, re.S).group(0)
    cells = re.findall(r"<td>(.*?)</td>", row)
    assert cells == [rules_book["Q"], "1", "1 February 2027", "16 February 2027", "16 February 2027", "29"]


def test_the_annual_page_writes_each_rule_and_footnotes_the_alternatives_that_differ(rules_book, db_url):
    page = " ".join(re.sub(r"<[^>]+>", " ", annual(db_url, 2026, "html")).split())
    for rule in ("Early resolutions", "A legacy third stage", "Refused complaints", "Withdrawn complaints",
                 "Left unanswered while overdue", "Reopened by escalation", "One clock for the Code", "§6.3"):
        assert rule in page, rule
    assert "CH02 stage 1 would be 50.0% (3 of 6) if the Code's clock counted from the actual acknowledgement" in \
        page.replace("&#39;", "'")
    assert "CH02 stage 1 would be 20.0% (1 of 5) if early resolutions were left out" in page
    assert "CH02 stage 2 would be 100.0% (2 of 2) if responses at a legacy third stage were left out" in page
    assert "CH01 stage 1 would count 7 complaints" in page
    # an alternative that gives the same figure is not footnoted: stage 2 on the other clock is 2 of 3 either way
    assert "CH02 stage 2 would be 66.7%" not in page


def test_a_correction_that_moves_the_acknowledgement_restates_whether_a_stage_was_left_late(rules_book, db_url,
                                                                                             ledger):
    j = rules_book["J"]
    history = [json.loads(line) for line in run(db_url, "history", j, "--format", "json").splitlines()]
    acknowledged = next(e["version"] for e in history if e["event"] == "Acknowledged")
    # J acknowledged Fri 12 Jun instead (still within the 5 working days to 15 Jun): the Code's date becomes
    # 12 Jun + 10 = Fri 26 Jun (15-19 | 22-26), so the escalation on Thu 25 Jun left stage 1 before it was late.
    # CH02 stage 1 loses J: 2 of 5 (O, N within; R, L, M outside).
    assert annual(db_url, 2026)["tsm"]["CH02"]["stage 1"]["left_unanswered_late"] == 3  # counted before the change
    ledger.correct(j, event_version=acknowledged, to=d("2026-06-12"), reason="Date misread", actor=ACTOR)
    ch02 = annual(db_url, 2026)["tsm"]["CH02"]["stage 1"]
    assert (ch02["left_unanswered_late"], ch02["responses"], ch02["within_code"]) == (2, 5, 2)
