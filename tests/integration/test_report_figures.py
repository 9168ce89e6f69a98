"""`complaints stats`, `breaches` and `report annual|committee` on a small ledger whose figures are worked out by hand.

Nine complaints and three pieces of feedback are recorded through the ComplaintsLedger API with dates in 2026; the
expected figures below are literals derived in the comments (working days: England, Monday to Friday, without the
2026 bank holidays 1 Jan, 3 Apr, 6 Apr, 4 May, 25 May, 31 Aug, 25 and 28 Dec; the day a clock starts never counts),
never computed by the product. Every command runs in process through click's CliRunner as
`complaints --db URL --actor tester …`, on SQLite and on PostgreSQL.

The cases (hoc-2024: acknowledge within 5 working days of receipt, respond within 10 of acknowledgement at stage 1;
5 and 20 at stage 2):

  A  repairs        received Mon 12 Jan; ack due 19 Jan (13,14,15,16,19), acknowledged Wed 14 Jan (in time);
                    respond due 10 wd after 14 Jan = 28 Jan (15,16 | 19-23 | 26,27,28); responded Mon 26 Jan, upheld:
                    in time, within the Code (Code anchor min(14 Jan, 19 Jan) = 14 Jan, + 10 = 28 Jan).
                    Compensation requested £150 (26 Jan), approved £120 (28 Jan), paid £120 with £40 offset (2 Feb);
                    satisfaction 4 (9 Feb); learning (10 Feb).
  B  damp and mould received Wed 1 Apr; ack due 5 wd later: 2 | 3 Good Friday, 6 Easter Monday skipped | 7,8,9,10
                    = Fri 10 Apr; acknowledged Mon 13 Apr: LATE by 1 working day (13 Apr).
                    Respond due 10 wd after 13 Apr = 27 Apr (14-17 | 20-24 | 27); responded Thu 30 Apr,
                    partly-upheld: LATE by 3 working days (28, 29, 30 Apr). Code: anchor min(13 Apr, 10 Apr) = 10 Apr,
                    + 10 wd = Fri 24 Apr: outside the Code. Compensation £50 requested (30 Apr), declined (5 May);
                    learning (5 May).
  C  repairs        received Mon 11 May; ack due 18 May (12-15 | 18); acknowledged Tue 12 May. Respond due 10 wd after
                    12 May: 13,14,15 | 18-22 | 25 May bank holiday skipped, 26, 27 = Wed 27 May; extended by 5 wd on
                    20 May: 28, 29 | 1, 2, 3 Jun = Wed 3 Jun. Responded Tue 2 Jun, not-upheld: in time, extended,
                    within the Code (12 May + 10 + 5 = 3 Jun). Satisfaction 5 (10 Jun).
  D  noise          a profile like hoc-2024 but with a 20-working-day extension cap at stage 1 ("generous-2026").
                    Received Mon 1 Jun; ack due 8 Jun; acknowledged Wed 3 Jun. Respond due 10 wd after 3 Jun = 17 Jun
                    (4,5 | 8-12 | 15,16,17); extended by 15 wd on 10 Jun: 18,19 | 22-26 | 29,30,1,2,3 Jul | 6,7,8
                    = Wed 8 Jul. Responded Mon 6 Jul, upheld: in time for its profile, extended, but NOT within the
                    Code: the Code allows at most 10 more, 3 Jun + 20 wd = 17 Jun + 10 = Wed 1 Jul (18,19 | 22-26 |
                    29,30,1).
  E  damp and mould received Tue 7 Jul; ack due 14 Jul (8,9,10 | 13,14); acknowledged Thu 9 Jul; respond due 10 wd
                    after 9 Jul = 23 Jul (10 | 13-17 | 20-23); responded Mon 20 Jul, not-upheld (in time, within Code).
                    Escalated Mon 27 Jul; stage 2 ack due 3 Aug (28-31 | 3); acknowledged Wed 29 Jul; stage 2
                    response due 20 wd after 29 Jul = Wed 26 Aug (30,31 | 3-7 | 10-14 | 17-21 | 24,25,26); reviewed
                    Tue 25 Aug, partly-upheld (in time, within the Code). Satisfaction 2 (2 Sep); referred to the
                    Ombudsman (Mon 7 Sep); determination "service-failure" with £200 ordered (Thu 15 Oct), its one
                    order due Thu 12 Nov; learning (16 Oct); £200 paid (22 Oct), the order complied with that day
                    (on time).
  F  anti-social behaviour  received Mon 3 Aug; refused Wed 5 Aug as legal-action (its acknowledgement, due 10 Aug,
                    was not yet due: no breach).
  G  repairs        broadland-2020 (early resolution allowed within 5 wd): received Mon 14 Sep, resolved early
                    Tue 15 Sep.
  H  heating and hot water (email)  received Mon 5 Oct; ack due 12 Oct (6-9 | 12); acknowledged Wed 14 Oct: LATE by
                    2 (13, 14). Respond due 10 wd after 14 Oct = Wed 28 Oct (15,16 | 19-23 | 26,27,28); responded
                    Tue 3 Nov, upheld: LATE by 4 (29, 30 Oct, 2, 3 Nov). Code: 12 Oct + 10 = Mon 26 Oct: outside.
  I  repairs (web)  received Mon 2 Nov; ack due 9 Nov (3-6 | 9); never acknowledged (open).

Feedback: compliments on Fri 20 Feb and Mon 15 Jun, a suggestion on Thu 10 Sep.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner, Result

from complaints_ledger.adapters import policy_files
from complaints_ledger.cli import cli as complaints_cli
from complaints_ledger.domain.policy import Policy

CLEAN_ENV = {"COMPLAINTS_DB": None, "COMPLAINTS_ACTOR": None}
ACTOR = "Jo Officer"


# ---------------------------------------------------------------------------------------------------- helpers
def invoke(url: str, *args: str) -> Result:
    return CliRunner().invoke(complaints_cli, ["--db", url, "--actor", "tester", *args], env=CLEAN_ENV,
                              catch_exceptions=True)


def run(url: str, *args: str) -> Result:
    """`complaints --db URL --actor tester ARGS…`, which must succeed."""
    result = invoke(url, *args)
    assert result.exit_code == 0, (f"`complaints {' '.join(args)}` failed ({result.exit_code}): "
                                   f"{result.stderr or result.exception!r}")
    assert "Traceback" not in result.stderr
    return result


def run_json(url: str, *args: str) -> Any:
    return json.loads(run(url, *args, "--format", "json").stdout)


def run_json_lines(url: str, *args: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in run(url, *args, "--format", "json").stdout.splitlines()]


def generous_profile() -> Policy:
    """hoc-2024 with stage 1 extensions capped at 20 working days (the Code allows 10)."""
    data = copy.deepcopy(policy_files.load_shipped("hoc-2024").data)
    data["name"] = "generous-2026"
    data["version"] = "2026.1-test"
    data["stages"][0]["extension_cap"] = 20
    return Policy.from_dict(data)


def d(text: str) -> date:
    return date.fromisoformat(text)


@pytest.fixture
def book(db_url, ledger, receive) -> dict[str, str]:
    """The hand-made ledger described in the module docstring; returns case letter -> reference."""
    L = ledger
    refs: dict[str, str] = {}

    def new(letter: str, on: str, category: str, **extra: Any) -> str:
        refs[letter] = receive(L, received_on=d(on), category=category, **extra)
        return refs[letter]

    # A: in time, upheld, compensation, satisfaction 4, learning
    a = new("A", "2026-01-12", "repairs")
    L.acknowledge(a, actor=ACTOR, on=d("2026-01-14"))
    L.respond(a, outcome="upheld", remedies=["apology"], actor=ACTOR, on=d("2026-01-26"))
    L.request_compensation(a, amount=Decimal("150"), actor=ACTOR, on=d("2026-01-26"))
    L.approve_compensation(a, amount=Decimal("120"), actor=ACTOR, on=d("2026-01-28"))
    L.pay_compensation(a, amount=Decimal("120"), offset=Decimal("40"), actor=ACTOR, on=d("2026-02-02"))
    L.record_satisfaction(a, score=4, actor=ACTOR, on=d("2026-02-09"))
    L.record_learning(a, "Repairs now confirm appointments by text", actor=ACTOR, on=d("2026-02-10"))
    L.record_feedback(kind="compliment", summary="Quick repair", actor=ACTOR, received_on=d("2026-02-20"))

    # B: acknowledged late and answered late; compensation requested and declined; learning
    b = new("B", "2026-04-01", "Damp and Mould")
    L.acknowledge(b, actor=ACTOR, on=d("2026-04-13"))
    L.respond(b, outcome="partly-upheld", actor=ACTOR, on=d("2026-04-30"))
    L.request_compensation(b, amount=Decimal("50"), actor=ACTOR, on=d("2026-04-30"))
    L.decline_compensation(b, actor=ACTOR, on=d("2026-05-05"), reason="remedy already given")
    L.record_learning(b, "Damp surveys booked within 10 days", actor=ACTOR, on=d("2026-05-05"))

    # C: extended by 5 working days, answered within the extension; satisfaction 5
    c = new("C", "2026-05-11", "repairs")
    L.acknowledge(c, actor=ACTOR, on=d("2026-05-12"))
    L.extend(c, working_days=5, reason="Waiting for the surveyor", actor=ACTOR, on=d("2026-05-20"))
    L.respond(c, outcome="not-upheld", actor=ACTOR, on=d("2026-06-02"))
    L.record_satisfaction(c, score=5, actor=ACTOR, on=d("2026-06-10"))

    # D: extended by 15 working days under a profile that allows it: in time, but outside the Code
    dd = new("D", "2026-06-01", "noise", policy=generous_profile())
    L.acknowledge(dd, actor=ACTOR, on=d("2026-06-03"))
    L.record_feedback(kind="compliment", summary="Helpful officer", actor=ACTOR, received_on=d("2026-06-15"))
    L.extend(dd, working_days=15, reason="Noise monitoring takes three weeks", actor=ACTOR, on=d("2026-06-10"))
    L.respond(dd, outcome="upheld", actor=ACTOR, on=d("2026-07-06"))

    # E: stage 1 answered, escalated, stage 2 answered, satisfaction 2, referred, determined, ordered sum paid
    e = new("E", "2026-07-07", "damp and mould")
    L.acknowledge(e, actor=ACTOR, on=d("2026-07-09"))
    L.respond(e, outcome="not-upheld", actor=ACTOR, on=d("2026-07-20"))
    L.escalate(e, actor=ACTOR, on=d("2026-07-27"))
    L.acknowledge(e, actor=ACTOR, on=d("2026-07-29"))
    L.review(e, outcome="partly-upheld", actor=ACTOR, on=d("2026-08-25"))
    L.record_satisfaction(e, score=2, actor=ACTOR, on=d("2026-09-02"))
    L.refer(e, actor=ACTOR, on=d("2026-09-07"))
    L.record_determination(e, finding="service-failure", orders=["pay £200"], compensation=Decimal("200"),
                           order_dues=[d("2026-11-12")], actor=ACTOR, on=d("2026-10-15"))
    L.record_learning(e, "Stage 2 reviews now include a damp specialist", actor=ACTOR, on=d("2026-10-16"))
    L.pay_compensation(e, amount=Decimal("200"), actor=ACTOR, on=d("2026-10-22"))
    L.comply_with_order(e, evidence="paid by BACS", actor=ACTOR, on=d("2026-10-22"))

    # F: refused (legal action)
    f = new("F", "2026-08-03", "anti-social behaviour")
    L.refuse(f, reason="legal-action", explanation="Court proceedings are under way", actor=ACTOR,
             on=d("2026-08-05"))
    L.record_feedback(kind="suggestion", summary="Evening surgeries", actor=ACTOR, received_on=d("2026-09-10"))

    # G: resolved early (broadland-2020 allows it within 5 working days)
    g = new("G", "2026-09-14", "repairs", policy=policy_files.load_shipped("broadland-2020"))
    L.resolve_early(g, summary="Repair booked the same day", actor=ACTOR, on=d("2026-09-15"))

    # H: acknowledged late, answered late (after 30 October)
    h = new("H", "2026-10-05", "heating and hot water", channel="email")
    L.acknowledge(h, actor=ACTOR, on=d("2026-10-14"))
    L.respond(h, outcome="upheld", actor=ACTOR, on=d("2026-11-03"))

    # I: never acknowledged
    new("I", "2026-11-02", "repairs", channel="web")

    assert list(refs.values()) == [f"CMP-2026-{n:06d}" for n in range(1, 10)]  # issued in order of receipt
    return refs


# ---------------------------------------------------------------------------------------------------- stats
def test_stats_for_2026_are_the_figures_worked_out_by_hand(book, db_url):
    A, B, E = book["A"], book["B"], book["E"]

    got = run_json(db_url, "stats", "--from", "2026-01-01", "--to", "2026-12-31")

    assert (got["from"], got["to"], got["by"], got["periods"]) == ("2026-01-01", "2026-12-31", None, [])
    total = got["total"]
    # Received: A-I = 9; repairs A, C, G, I; damp and mould B, E (category lower-cased); one each noise (D),
    # anti-social behaviour (F), heating (H). Channels: H email, I web, the rest phone.
    assert total["received"] == {
        "total": 9,
        "by_category": {"anti-social behaviour": 1, "damp and mould": 2, "heating and hot water": 1, "noise": 1,
                        "repairs": 4},
        "by_channel": {"email": 1, "phone": 7, "web": 1},
        "by_policy": {"broadland-2020": 1, "generous-2026": 1, "hoc-2024": 7},
    }
    assert total["escalated"] == {"total": 1, "to_stage": {"2": 1}}
    # Stage 1 responses: A, B, C, D, E, H = 6. Late: B, H = 2 -> 33.3%. Extended: C, D = 2 -> 33.3%.
    # Within the Code: A, C, E (not B, H: late against the Code too; not D: extension beyond 10) = 3 -> 50.0%.
    # Acknowledged: A, B, C, D, E, H = 6, of which B (13 Apr > 10 Apr) and H (14 Oct > 12 Oct) late -> 4 in time.
    # Outcomes: upheld A, D, H; partly-upheld B; not-upheld C, E. Refused at stage 1: F.
    assert total["stages"]["1"] == {
        "entered": 9,
        "by_category": {"anti-social behaviour": 1, "damp and mould": 2, "heating and hot water": 1, "noise": 1,
                        "repairs": 4},
        "acknowledged": 6, "acknowledged_in_time": 4,
        "responses": 6, "responded_in_time": 4, "responded_late": 2, "pct_not_in_time": 33.3,
        "extended": 2, "pct_extended": 33.3,
        "within_code": 3, "pct_within_code": 50.0,
        "outcomes": {"upheld": 3, "partly-upheld": 1, "not-upheld": 2},
        "refused": 1, "withdrawn": 0,
    }
    # Stage 2: E only, acknowledged 29 Jul (due 3 Aug), reviewed 25 Aug (due 26 Aug), partly upheld.
    assert total["stages"]["2"] == {
        "entered": 1, "by_category": {"damp and mould": 1},
        "acknowledged": 1, "acknowledged_in_time": 1,
        "responses": 1, "responded_in_time": 1, "responded_late": 0, "pct_not_in_time": 0.0,
        "extended": 0, "pct_extended": 0.0,
        "within_code": 1, "pct_within_code": 100.0,
        "outcomes": {"upheld": 0, "partly-upheld": 1, "not-upheld": 0},
        "refused": 0, "withdrawn": 0,
    }
    assert set(total["stages"]) == {"1", "2"}
    # Escalation rate: 1 escalation into stage 2 / 6 stage 1 responses = 16.7%.
    assert total["escalation_rate_pct"] == 16.7
    assert total["early_resolutions"] == 1  # G
    assert total["refusals"] == {"total": 1, "by_reason": {"legal-action": 1}}  # F
    assert total["withdrawals"] == 0
    assert total["ombudsman"] == {"referrals": 1, "determinations": 1, "findings": {"service-failure": 1},
                                  "compensation_ordered": "200.00",
                                  # E's one order, made 15 Oct, due 12 Nov, complied with 22 Oct: on time
                                  "orders_made": 1, "orders_complied_on_time": 1, "orders_complied_late": 0,
                                  "orders_outstanding": 0, "orders_overdue": 0,
                                  "evidence_requests": 0, "evidence_sent_on_time": 0, "evidence_sent_late": 0}
    # Requested: A £150 + B £50 = £200; approved A £120; declined B £50; paid A £120 + E £200 = £320.
    assert total["compensation"] == {"requested": "200.00", "approved": "120.00", "declined": "50.00",
                                     "paid": "320.00"}
    assert total["learning"] == {"entries": 3, "items": [
        {"ref": A, "on": "2026-02-10", "text": "Repairs now confirm appointments by text"},
        {"ref": B, "on": "2026-05-05", "text": "Damp surveys booked within 10 days"},
        {"ref": E, "on": "2026-10-16", "text": "Stage 2 reviews now include a damp specialist"},
    ]}
    # Satisfaction: 4 (A), 5 (C), 2 (E): (4 + 5 + 2) / 3 = 11 / 3 = 3.67.
    assert total["satisfaction"] == {"responses": 3, "average": 3.67,
                                     "scores": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}}
    assert total["feedback"] == {"compliment": 2, "comment": 0, "suggestion": 1}


def test_stats_by_quarter_cut_at_financial_year_quarters_and_add_up_to_the_total(book, db_url):
    got = run_json(db_url, "stats", "--from", "2026-01-01", "--to", "2026-12-31", "--by", "quarter")

    # The calendar year 2026 spans the last quarter of 2025/26 and the first three of 2026/27.
    assert [(p["from"], p["to"], p["label"]) for p in got["periods"]] == [
        ("2026-01-01", "2026-03-31", "2026-01-01 to 2026-03-31"),
        ("2026-04-01", "2026-06-30", "2026-04-01 to 2026-06-30"),
        ("2026-07-01", "2026-09-30", "2026-07-01 to 2026-09-30"),
        ("2026-10-01", "2026-12-31", "2026-10-01 to 2026-12-31"),
    ]
    q = [p["figures"] for p in got["periods"]]
    # Received: Q4 A | Q1 B, C, D | Q2 E, F, G | Q3 H, I.
    assert [f["received"]["total"] for f in q] == [1, 3, 3, 2]
    # Stage 1 responses: Q4 A (26 Jan) | Q1 B (30 Apr, late), C (2 Jun) | Q2 D (6 Jul), E (20 Jul) | Q3 H (3 Nov, late).
    s1 = [f["stages"]["1"] for f in q]
    assert [s["responses"] for s in s1] == [1, 2, 2, 1]
    assert [s["responded_late"] for s in s1] == [0, 1, 0, 1]
    assert [s["pct_not_in_time"] for s in s1] == [0.0, 50.0, 0.0, 100.0]
    assert [s["extended"] for s in s1] == [0, 1, 1, 0]  # C in Q1, D in Q2 (by the date of the response)
    assert [s["pct_extended"] for s in s1] == [0.0, 50.0, 50.0, 0.0]
    assert [s["within_code"] for s in s1] == [1, 1, 1, 0]  # A | C | E (not D) | none
    assert [s["pct_within_code"] for s in s1] == [100.0, 50.0, 50.0, 0.0]
    # Acknowledgements at stage 1: Q4 A | Q1 B (late), C, D | Q2 E | Q3 H (late).
    assert [(s["acknowledged"], s["acknowledged_in_time"]) for s in s1] == [(1, 1), (3, 2), (1, 1), (1, 0)]
    assert [s["refused"] for s in s1] == [0, 0, 1, 0]
    # Stage 2 only in Q2: E escalated 27 Jul, acknowledged 29 Jul, reviewed 25 Aug. The other quarters still give
    # stage 2's figures: zero counts, and no percentage of no responses.
    assert [f["stages"]["2"]["entered"] for f in q] == [0, 0, 1, 0]
    assert [f["stages"]["2"]["pct_not_in_time"] for f in q] == [None, None, 0.0, None]
    assert q[2]["stages"]["2"]["responses"] == 1 and q[2]["stages"]["2"]["entered"] == 1
    # Escalation rate per quarter: Q2 has 1 escalation over 2 stage 1 responses = 50.0%, the others 0 / n.
    assert [f["escalation_rate_pct"] for f in q] == [0.0, 0.0, 50.0, 0.0]
    assert [f["early_resolutions"] for f in q] == [0, 0, 1, 0]
    assert [f["ombudsman"]["referrals"] for f in q] == [0, 0, 1, 0]  # 7 Sep
    assert [f["ombudsman"]["determinations"] for f in q] == [0, 0, 0, 1]  # 15 Oct
    assert [(f["ombudsman"]["orders_made"], f["ombudsman"]["orders_complied_on_time"]) for f in q] == \
        [(0, 0), (0, 0), (0, 0), (1, 1)]  # E's order, made 15 Oct and complied with 22 Oct
    assert [f["compensation"]["requested"] for f in q] == ["150.00", "50.00", "0.00", "0.00"]
    assert [f["compensation"]["declined"] for f in q] == ["0.00", "50.00", "0.00", "0.00"]
    assert [f["compensation"]["paid"] for f in q] == ["120.00", "0.00", "0.00", "200.00"]
    assert [f["satisfaction"]["responses"] for f in q] == [1, 1, 1, 0]
    assert [f["satisfaction"]["average"] for f in q] == [4.0, 5.0, 2.0, None]
    assert [f["learning"]["entries"] for f in q] == [1, 1, 0, 1]
    assert [f["feedback"]["compliment"] for f in q] == [1, 1, 0, 0]
    assert [f["feedback"]["suggestion"] for f in q] == [0, 0, 1, 0]

    # The quarters add up to the whole year's counts.
    total = got["total"]
    assert sum(f["received"]["total"] for f in q) == total["received"]["total"] == 9
    for key in ("responses", "responded_late", "extended", "within_code", "acknowledged", "refused"):
        assert sum(s[key] for s in s1) == total["stages"]["1"][key], key
    for key in ("early_resolutions", "withdrawals"):
        assert sum(f[key] for f in q) == total[key], key
    for key in ("requested", "approved", "declined", "paid"):
        assert sum(Decimal(f["compensation"][key]) for f in q) == Decimal(total["compensation"][key]), key
    assert sum(f["satisfaction"]["responses"] for f in q) == total["satisfaction"]["responses"]
    assert sum(f["learning"]["entries"] for f in q) == total["learning"]["entries"]


def test_stats_by_quarter_clip_a_period_that_starts_and_ends_mid_quarter(book, db_url):
    got = run_json(db_url, "stats", "--from", "2026-05-15", "--to", "2026-08-10", "--by", "quarter")

    assert [(p["from"], p["to"]) for p in got["periods"]] == [("2026-05-15", "2026-06-30"),
                                                             ("2026-07-01", "2026-08-10")]
    q = [p["figures"] for p in got["periods"]]
    # Received 15 May - 30 Jun: D (1 Jun); 1 Jul - 10 Aug: E (7 Jul), F (3 Aug). B and C came before 15 May.
    assert [f["received"]["total"] for f in q] == [1, 2]
    assert got["total"]["received"]["total"] == 3
    # Stage 1 responses: C (2 Jun) | D (6 Jul), E (20 Jul). Stage 2's review (25 Aug) is after 10 Aug.
    assert [f["stages"]["1"]["responses"] for f in q] == [1, 2]
    assert got["total"]["stages"]["2"]["responses"] == 0 and got["total"]["stages"]["2"]["entered"] == 1


def test_stats_by_half_year_and_year_follow_april_to_march(book, db_url):
    halves = run_json(db_url, "stats", "--from", "2026-01-01", "--to", "2026-12-31", "--by", "half-year")
    years = run_json(db_url, "stats", "--from", "2026-01-01", "--to", "2026-12-31", "--by", "year")

    # Half-years of the financial year: Oct-Mar, Apr-Sep, Oct-Mar, clipped to the calendar year.
    assert [(p["from"], p["to"]) for p in halves["periods"]] == [
        ("2026-01-01", "2026-03-31"), ("2026-04-01", "2026-09-30"), ("2026-10-01", "2026-12-31")]
    assert [p["figures"]["received"]["total"] for p in halves["periods"]] == [1, 6, 2]
    assert [(p["from"], p["to"]) for p in years["periods"]] == [("2026-01-01", "2026-03-31"),
                                                               ("2026-04-01", "2026-12-31")]
    assert [p["figures"]["received"]["total"] for p in years["periods"]] == [1, 8]
    months = run_json(db_url, "stats", "--from", "2026-01-01", "--to", "2026-12-31", "--by", "month")
    assert [p["label"] for p in months["periods"]][:3] == ["Jan 2026", "Feb 2026", "Mar 2026"]
    # Received: Jan A | Apr B | May C | Jun D | Jul E | Aug F | Sep G | Oct H | Nov I.
    assert [p["figures"]["received"]["total"] for p in months["periods"]] == [1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0]


def test_stats_as_csv_give_the_same_figures_one_measure_a_line(book, db_url):
    import csv
    import io

    out = run(db_url, "stats", "--from", "2026-01-01", "--to", "2026-12-31", "--by", "half-year", "--format",
              "csv").stdout

    table = list(csv.reader(io.StringIO(out)))
    assert table[0] == ["period", "from", "to", "measure", "value"]
    value = {(row[0], row[3]): row[4] for row in table[1:]}
    assert value[("Total", "received.total")] == "9"
    assert value[("Total", "stages.1.pct_not_in_time")] == "33.3"
    assert value[("Total", "compensation.paid")] == "320.00"
    assert value[("Total", "satisfaction.average")] == "3.67"
    assert value[("2026-04-01 to 2026-09-30", "received.total")] == "6"
    assert not any(m.startswith("learning.items") for _, m in value)  # texts are not figures


# ---------------------------------------------------------------------------------------------------- breaches
def test_breaches_as_of_30_october_count_a_response_given_later_as_overdue_on_that_day(book, db_url):
    B, H = book["B"], book["H"]

    rows = run_json_lines(db_url, "breaches", "--as-of", "2026-10-30")

    # B: ack due Fri 10 Apr, done Mon 13 Apr -> late 1; respond due Mon 27 Apr, done Thu 30 Apr -> late 3.
    # H: ack due Mon 12 Oct, done Wed 14 Oct -> late 2; respond due Wed 28 Oct, done 3 Nov (after 30 Oct) -> on
    # 30 Oct it is overdue by 2 working days (Thu 29, Fri 30 Oct), with no done date yet.
    # I was received on 2 Nov: not yet begun on 30 Oct. Every other milestone was met.
    assert [(r["ref"], r["stage"], r["milestone"], r["due_on"], r["done_on"], r["status"], r["working_days_late"])
            for r in rows] == [
        (B, 1, "acknowledge", "2026-04-10", "2026-04-13", "late", 1),
        (B, 1, "respond", "2026-04-27", "2026-04-30", "late", 3),
        (H, 1, "acknowledge", "2026-10-12", "2026-10-14", "late", 2),
        (H, 1, "respond", "2026-10-28", None, "overdue", 2),
    ]
    assert [(r["category"], r["policy"], r["extended_by"]) for r in rows] == [
        ("damp and mould", "hoc-2024", 0)] * 2 + [("heating and hot water", "hoc-2024", 0)] * 2

    text = run(db_url, "breaches", "--as-of", "2026-10-30")
    assert text.stderr.strip().splitlines()[-1] == "as of 2026-10-30: 1 overdue, 3 answered late"


def test_breaches_as_of_20_november_include_the_late_answer_and_the_unacknowledged_case(book, db_url):
    B, H, I = book["B"], book["H"], book["I"]

    rows = run_json_lines(db_url, "breaches", "--as-of", "2026-11-20")

    # H's response (due 28 Oct, done Tue 3 Nov) is now late by 4 (29, 30 Oct, 2, 3 Nov).
    # I: ack due Mon 9 Nov, not done: overdue by 9 on Fri 20 Nov (10-13 | 16-20). Its provisional response
    # (due 9 Nov + 10 wd = 23 Nov) is not yet due.
    assert [(r["ref"], r["milestone"], r["due_on"], r["done_on"], r["status"], r["working_days_late"])
            for r in rows] == [
        (B, "acknowledge", "2026-04-10", "2026-04-13", "late", 1),
        (B, "respond", "2026-04-27", "2026-04-30", "late", 3),
        (H, "acknowledge", "2026-10-12", "2026-10-14", "late", 2),
        (H, "respond", "2026-10-28", "2026-11-03", "late", 4),
        (I, "acknowledge", "2026-11-09", None, "overdue", 9),
    ]

    # --from/--to select milestones falling due in the window; --category matches case-insensitively.
    october = run_json_lines(db_url, "breaches", "--as-of", "2026-11-20", "--from", "2026-10-01", "--to",
                             "2026-10-31")
    assert [(r["ref"], r["milestone"]) for r in october] == [(H, "acknowledge"), (H, "respond")]
    damp = run_json_lines(db_url, "breaches", "--as-of", "2026-11-20", "--category", "Damp and Mould")
    assert [(r["ref"], r["milestone"]) for r in damp] == [(B, "acknowledge"), (B, "respond")]
    # --limit: the first so many by due date, and the summary says the list was cut.
    first = run_json_lines(db_url, "breaches", "--as-of", "2026-11-20", "--limit", "3")
    assert first == rows[:3]
    text = run(db_url, "breaches", "--as-of", "2026-11-20", "--limit", "3")
    assert text.stderr.strip().splitlines()[-1] == \
        "as of 2026-11-20: 0 overdue, 3 answered late (the first 3 by due date)"


def test_breaches_as_of_the_day_after_a_deadline_show_one_working_day_overdue(book, db_url):
    B = book["B"]

    rows = run_json_lines(db_url, "breaches", "--as-of", "2026-04-28")

    # On Tue 28 Apr: B's ack (done 13 Apr) is late by 1; its response, due Mon 27 Apr and given on 30 Apr, is
    # overdue by 1 (28 Apr). A's milestones were met; nothing else had started.
    assert [(r["ref"], r["milestone"], r["status"], r["working_days_late"], r["done_on"]) for r in rows] == [
        (B, "acknowledge", "late", 1, "2026-04-13"),
        (B, "respond", "overdue", 1, None),
    ]


def test_lateness_stops_when_the_stage_is_superseded_or_the_case_ends(db_url, ledger, receive):
    # Three cases received Mon 5 Oct: acknowledgement due Mon 12 Oct (6-9 | 12) for each.
    x = receive(ledger, received_on=d("2026-10-05"))  # never acknowledged; escalated once its response was overdue
    y = receive(ledger, received_on=d("2026-10-05"))  # answered in full on Thu 8 Oct: that is its acknowledgement
    z = receive(ledger, received_on=d("2026-10-05"))  # never acknowledged; withdrawn Tue 20 Oct
    ledger.respond(y, outcome="upheld", actor=ACTOR, on=d("2026-10-08"))
    ledger.withdraw(z, actor=ACTOR, on=d("2026-10-20"))
    # x's response: provisionally due 12 Oct + 10 wd = Mon 26 Oct (13-16 | 19-23 | 26); escalated Thu 29 Oct.
    ledger.escalate(x, actor=ACTOR, on=d("2026-10-29"))
    # Stage 2: acknowledgement due 29 Oct + 5 = Thu 5 Nov (30 | 2-5), done Wed 4 Nov; response due 20 wd after
    # 4 Nov = Wed 2 Dec (5,6 | 9-13 | 16-20 | 23-27 | 30, 1, 2): still pending on 20 Nov.
    ledger.acknowledge(x, actor=ACTOR, on=d("2026-11-04"))

    rows = run_json_lines(db_url, "breaches", "--as-of", "2026-11-20")

    # x's stage 1 stops at the escalation (29 Oct): acknowledgement 13 late (13-16 | 19-23 | 26-29), response 3
    # (27, 28, 29). z's acknowledgement stops at the withdrawal (20 Oct): 6 (13-16 | 19, 20); its provisional
    # response (26 Oct) was not yet due when it ended, so it is dropped. y met both milestones.
    assert sorted((r["ref"], r["stage"], r["milestone"], r["due_on"], r["status"], r["working_days_late"])
                  for r in rows) == [
        (x, 1, "acknowledge", "2026-10-12", "overdue", 13),
        (x, 1, "respond", "2026-10-26", "overdue", 3),
        (z, 1, "acknowledge", "2026-10-12", "overdue", 6),
    ]

    total = run_json(db_url, "stats", "--from", "2026-10-01", "--to", "2026-11-30")["total"]
    s1, s2 = total["stages"]["1"], total["stages"]["2"]
    # y's response acknowledged it without an Acknowledged step: no acknowledgement counted, one response, in time
    # and within the Code (12 Oct + 10 = 26 Oct). x escalated without a stage 1 response: 1 / 1 = 100.0%.
    assert (s1["entered"], s1["acknowledged"], s1["responses"], s1["responded_in_time"], s1["within_code"],
            s1["withdrawn"]) == (3, 0, 1, 1, 1, 1)
    assert (s2["entered"], s2["acknowledged"], s2["acknowledged_in_time"], s2["responses"],
            s2["pct_not_in_time"]) == (1, 1, 1, 0, None)
    assert (total["escalation_rate_pct"], total["withdrawals"]) == (100.0, 1)


def test_breaches_as_of_a_past_date_do_not_change_when_a_later_step_is_recorded(db_url, ledger, receive):
    # Received Mon 5 Oct; acknowledgement due Mon 12 Oct (6-9 | 12); not acknowledged by Wed 28 Oct, so `show`
    # gives the response a provisional due date of 12 Oct + 10 wd = Mon 26 Oct (13-16 | 19-23 | 26): on 28 Oct
    # both are overdue, the acknowledgement by 12 (13-16 | 19-23 | 26-28) and the response by 2 (27, 28).
    ref = receive(ledger, received_on=d("2026-10-05"))
    as_it_stood = [(ref, "acknowledge", "2026-10-12", "overdue", 12), (ref, "respond", "2026-10-26", "overdue", 2)]

    def breaches_on_28_october() -> list[tuple]:
        return [(r["ref"], r["milestone"], r["due_on"], r["status"], r["working_days_late"])
                for r in run_json_lines(db_url, "breaches", "--as-of", "2026-10-28")]

    def show_on_28_october() -> list[tuple]:
        view = run_json(db_url, "show", ref, "--as-of", "2026-10-28")
        return [(ref, m["milestone"], m["due_on"], m["status"], m["working_days_late"]) for m in view["deadlines"]
                if m["status"] in ("late", "overdue")]

    assert breaches_on_28_october() == show_on_28_october() == as_it_stood

    # Acknowledged (late) on Fri 30 Oct: the response is now due 30 Oct + 10 wd = 13 Nov. What stood on 28 October
    # has not changed, and `show --as-of` still says so; the breach list for that day should too.
    ledger.acknowledge(ref, actor=ACTOR, on=d("2026-10-30"))

    assert show_on_28_october() == as_it_stood
    assert breaches_on_28_october() == as_it_stood


# ---------------------------------------------------------------------------------------------------- reports
def test_annual_report_2026_gives_tsm_ch01_per_1000_homes_and_ch02_percentages(book, db_url):
    got = run_json(db_url, "report", "annual", "--year", "2026", "--homes", "2000")

    # The financial year 2026/27 is 1 Apr 2026 - 31 Mar 2027: A (January) is outside it.
    assert (got["kind"], got["year"], got["from"], got["to"]) == ("annual", 2026, "2026-04-01", "2027-03-31")
    assert got["title"] == "Annual complaints performance and service improvement report 2026/27"
    # CH01: stage 1 received B-I = 8 (F refused and G resolved early included) -> 8 / 2000 * 1000 = 4.00; stage 2
    # (escalations) E = 1 -> 0.50.
    # CH02 stage 1: responses issued B, C, D, E, H = 5, within the Code C, E; plus G's early resolution (15 Sep;
    # never acknowledged, so the Code's clock runs from when acknowledgement was due, 21 Sep (15-18 | 21), + 10 wd
    # = 5 Oct): within. 3 of 6 = 50.0%. Nothing was left unanswered past the Code's date (F was refused on 5 Aug,
    # before its response was due). Stage 2: E, 1 of 1 -> 100.0%.
    # Footnoted alternatives: counting from the actual acknowledgement changes nothing (B: 13 Apr + 10 = 27 Apr, it
    # answered 30 Apr; H: 14 Oct + 10 = 28 Oct, it answered 3 Nov: both still outside); without G, 2 of 5 = 40.0%;
    # CH01 stage 1 less the year's one stage 1 refusal (F) = 7.
    stage1 = {"responses": 6, "within_code": 3, "pct_within_code": 50.0, "responses_issued": 5,
              "stage_3_responses": 0, "early_resolutions": 1, "left_unanswered_late": 0}
    stage2 = {"responses": 1, "within_code": 1, "pct_within_code": 100.0, "responses_issued": 1,
              "stage_3_responses": 0, "early_resolutions": 0, "left_unanswered_late": 0}
    same1, same2 = ({k: v[k] for k in ("responses", "within_code", "pct_within_code")} for v in (stage1, stage2))
    assert got["tsm"] == {
        "homes": 2000,
        "CH01": {"stage 1": {"received": 8, "per_1000_homes": 4.0},
                 "stage 2": {"received": 1, "per_1000_homes": 0.5}},
        "CH02": {"stage 1": stage1, "stage 2": stage2},
        "alternatives": {
            "CH02 stage 1": {"clock_from_actual_acknowledgement": same1,
                             "without_early_resolutions": {"responses": 5, "within_code": 2, "pct_within_code": 40.0},
                             "without_stages_left_unanswered": same1, "without_stage_3_responses": same1},
            "CH02 stage 2": {"clock_from_actual_acknowledgement": same2, "without_early_resolutions": same2,
                             "without_stages_left_unanswered": same2, "without_stage_3_responses": same2},
            "CH01": {"stage 1 without refusals": 7, "stage 2 with stage 3 escalations": 1},
        },
    }
    # Still open at 31 Mar 2027: I, received Mon 2 Nov, never acknowledged: the Code's response date is 10 wd after
    # acknowledgement was due (9 Nov: 3-6 | 9) = Mon 23 Nov (10-13 | 16-20 | 23), the profile's the same. Working
    # days after 23 Nov up to 31 Mar 2027: Nov 24-30 = 5; Dec 23 weekdays less 25 and 28 Dec = 21; Jan 21 less
    # 1 Jan = 20; Feb 20; Mar 23 less Good Friday 26 and Easter Monday 29 Mar = 21: 87.
    assert got["still_open"] == [{"ref": book["I"], "stage": 1, "received_on": "2026-11-02",
                                  "stage_started_on": "2026-11-02", "due_on": "2026-11-23",
                                  "landlord_due_on": "2026-11-23", "working_days_overdue": 87}]
    # Quarters of 2026/27: Apr-Jun B, C, D | Jul-Sep E, F, G | Oct-Dec H, I | Jan-Mar 2027 none.
    assert [(p["from"], p["to"]) for p in got["periods"]] == [
        ("2026-04-01", "2026-06-30"), ("2026-07-01", "2026-09-30"), ("2026-10-01", "2026-12-31"),
        ("2027-01-01", "2027-03-31")]
    assert [p["figures"]["received"]["total"] for p in got["periods"]] == [3, 3, 2, 0]
    total = got["total"]
    assert total["received"]["total"] == 8
    # Stage 1 responses B (late), C, D, E, H (late): 2 of 5 late = 40.0%; extended C, D = 40.0%.
    assert (total["stages"]["1"]["responses"], total["stages"]["1"]["pct_not_in_time"],
            total["stages"]["1"]["pct_extended"]) == (5, 40.0, 40.0)
    # Escalation rate 1 / 5 = 20.0%. Satisfaction 5 (C), 2 (E): 3.5. Compensation paid: E's £200 only.
    assert total["escalation_rate_pct"] == 20.0
    assert (total["satisfaction"]["responses"], total["satisfaction"]["average"]) == (2, 3.5)
    assert total["compensation"]["paid"] == "200.00"
    assert total["feedback"] == {"compliment": 1, "comment": 0, "suggestion": 1}


def test_annual_report_per_1000_homes_rounds_to_two_places(book, db_url):
    got = run_json(db_url, "report", "annual", "--year", "2026", "--homes", "3000")

    # 8 / 3000 * 1000 = 2.666… -> 2.67; 1 / 3000 * 1000 = 0.333… -> 0.33.
    assert got["tsm"]["CH01"] == {"stage 1": {"received": 8, "per_1000_homes": 2.67},
                                  "stage 2": {"received": 1, "per_1000_homes": 0.33}}


def test_committee_and_annual_html_show_the_hand_worked_figures(book, db_url):
    committee = run(db_url, "report", "committee", "--from", "2026-01-01", "--to", "2026-12-31").stdout
    annual = run(db_url, "report", "annual", "--year", "2026", "--homes", "2000").stdout

    assert '<b id="received">9</b>' in committee
    assert '<b id="stage1-not-in-time">33.3%</b>' in committee
    assert '<b id="stage1-extended">33.3%</b>' in committee
    assert '<b id="escalated">1</b>' in committee
    assert '<b id="stage2-not-in-time">0.0%</b>' in committee
    assert '<b id="compensation-paid">£320.00</b>' in committee
    assert '<b id="satisfaction-average">3.67</b>' in committee
    assert '<td id="ch01-stage1">4.00</td>' in annual
    assert '<td id="ch01-stage2">0.50</td>' in annual
    assert '<td id="ch02-stage1">50.0%</td>' in annual  # G's early resolution counts (see the test above)
    assert '<td id="ch02-stage2">100.0%</td>' in annual
    assert '<b id="satisfaction-average">3.50</b>' in annual


# ---------------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("args, mentions", [
    (("stats", "--from", "2026-12-31", "--to", "2026-01-01"), "after --to"),
    (("stats", "--from", "2026-02-30"), "2026-02-30"),
    (("stats", "--by", "week"), "week"),
    (("breaches", "--from", "2026-06-01", "--to", "2026-05-31"), "after --to"),
    (("breaches", "--as-of", "yesterday"), "yesterday"),
    (("breaches", "--limit", "0"), "--limit"),
    (("report", "committee", "--from", "2026-07-01", "--to", "2026-06-30"), "after --to"),
    (("report", "annual", "--homes", "2000"), "--year"),
    (("report", "annual", "--year", "2026"), "--homes"),
    (("report", "annual", "--year", "2026", "--homes", "0"), "--homes"),
    (("report", "annual", "--year", "2026", "--homes", "lots"), "--homes"),
    (("report", "annual", "--year", "26", "--homes", "2000"), "--year"),
    (("report", "weekly"), "weekly"),
], ids=lambda v: " ".join(v) if isinstance(v, tuple) else None)
def test_bad_report_input_gives_one_error_line_and_a_non_zero_exit(sqlite_url, args, mentions):
    # Refused while parsing, before the database is opened: the same on either backend.
    result = invoke(sqlite_url, *args)

    assert result.exit_code != 0, result.stdout
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: ") and mentions in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""
