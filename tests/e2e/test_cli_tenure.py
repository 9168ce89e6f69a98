"""CH01 and CH02 per tenure, on SQLite and PostgreSQL: `receive --tenure`, `correct --field tenure`, and `report
annual --homes-lcra N --homes-lcho N` in text, JSON and the CSV return file, against figures worked out by hand;
then the same figures recomputed from `complaints events` alone, as the Regulator's reviewer will.

The ledger (hoc-2024, England; no bank holiday in June or July 2025). Every acknowledgement is on the day of
receipt or escalation, so it is in time and the Code's clock starts from it either way. The Code allows 10 working
days from acknowledgement at stage 1 and 20 at stage 2:
  stage 1 acknowledged Mon 2 June -> due Mon 16 June; Wed 4 June -> Wed 18 June; Thu 5 June -> Thu 19 June
  stage 2 acknowledged Mon 23 June -> due Mon 21 July

  A  LCRA (given)      received 2 Jun, responded 13 Jun (in time)
  B  LCRA (default)    received 2 Jun, responded 20 Jun (late); escalated 23 Jun, reviewed 14 Jul (in time)
  C  LCRA (default)    received 3 Jun, still open (counts in CH01 only)
  D  LCHO              received 2 Jun, responded 13 Jun (in time); escalated 23 Jun, reviewed 28 Jul (late)
  E  LCHO              received 4 Jun, responded 24 Jun (late: due 18 Jun)
  H  LCRA -> LCHO      received 5 Jun as LCRA (the default), corrected to LCHO, responded 19 Jun (in time)
  F  other (leasehold) received 2 Jun, responded 13 Jun (in time); escalated 23 Jun, reviewed 14 Jul (in time)
  G  LCRA              received 10 Apr 2026: the next financial year, not counted in 2025/26

Financial year 2025/26, 1,500 LCRA homes and 400 LCHO homes (1,900 together):
  LCRA  CH01 stage 1: A, B, C = 3 -> 3/1500*1000 = 2.00; stage 2: B = 1 -> 0.666… = 0.67
        CH02 stage 1: A in, B late = 1 of 2 = 50.0%; stage 2: B in = 1 of 1 = 100.0%
  LCHO  CH01 stage 1: D, E, H = 3 -> 3/400*1000 = 7.50; stage 2: D = 1 -> 2.50
        CH02 stage 1: D in, E late, H in = 2 of 3 = 66.7%; stage 2: D late = 0 of 1 = 0.0%
  other CH01 stage 1: F = 1; stage 2: F = 1; CH02 1 of 1 at each stage (all-tenure figures only)
  ALL   CH01 stage 1: 7 -> 7/1900*1000 = 3.684… = 3.68; stage 2: B, D, F = 3 -> 1.578… = 1.58
        CH02 stage 1: A, D, H, F within of A, B, D, E, H, F = 4 of 6 = 66.7%; stage 2: B, F of B, D, F = 2 of 3 = 66.7%
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import date

import pytest

from complaints_ledger.domain.working_days import calendar_for

from ._cli import Cli

YEAR = ["report", "annual", "--year", "2025"]
SPLIT = ["--homes-lcra", "1500", "--homes-lcho", "400"]


@pytest.fixture
def ledger(cli: Cli) -> dict[str, str]:
    refs = {
        "A": cli.receive("2025-06-02", "--tenure", "lcra"), "B": cli.receive("2025-06-02"),
        "C": cli.receive("2025-06-03"), "D": cli.receive("2025-06-02", "--tenure", "LCHO"),
        "E": cli.receive("2025-06-04", "--tenure", "lcho"), "F": cli.receive("2025-06-02", "--tenure", "other"),
        "H": cli.receive("2025-06-05"), "G": cli.receive("2026-04-10", "--tenure", "lcra"),
    }
    for name, on in (("A", "2025-06-02"), ("B", "2025-06-02"), ("D", "2025-06-02"), ("F", "2025-06-02"),
                     ("E", "2025-06-04"), ("H", "2025-06-05")):
        cli.ok("acknowledge", refs[name], "--on", on)
    cli.ok("correct", refs["H"], "--field", "tenure", "--to", "lcho", "--reason", "shared ownership, keyed as rent")
    for name, on in (("A", "2025-06-13"), ("D", "2025-06-13"), ("F", "2025-06-13"), ("B", "2025-06-20"),
                     ("E", "2025-06-24"), ("H", "2025-06-19")):
        cli.ok("respond", refs[name], "--on", on, "--outcome", "upheld")
    for name in ("B", "D", "F"):
        cli.ok("escalate", refs[name], "--on", "2025-06-23")
        cli.ok("acknowledge", refs[name], "--on", "2025-06-23")
    for name, on in (("B", "2025-07-14"), ("F", "2025-07-14"), ("D", "2025-07-28")):
        cli.ok("review", refs[name], "--on", on, "--outcome", "upheld")
    return refs


HAND_WORKED = {  # (measure, stage, tenure): (numerator, denominator, value)
    ("CH01", 1, "LCRA"): (3, 1500, "2.00"), ("CH01", 2, "LCRA"): (1, 1500, "0.67"),
    ("CH02", 1, "LCRA"): (1, 2, "50.0"), ("CH02", 2, "LCRA"): (1, 1, "100.0"),
    ("CH01", 1, "LCHO"): (3, 400, "7.50"), ("CH01", 2, "LCHO"): (1, 400, "2.50"),
    ("CH02", 1, "LCHO"): (2, 3, "66.7"), ("CH02", 2, "LCHO"): (0, 1, "0.0"),
    ("CH01", 1, "ALL"): (7, 1900, "3.68"), ("CH01", 2, "ALL"): (3, 1900, "1.58"),
    ("CH02", 1, "ALL"): (4, 6, "66.7"), ("CH02", 2, "ALL"): (2, 3, "66.7"),
}


def return_file(cli: Cli, *homes: str) -> dict[tuple[str, int, str], tuple[int, int, str]]:
    rows = list(csv.DictReader(io.StringIO(cli.ok(*YEAR, *homes, "--format", "csv").stdout)))
    assert all(r["unit"] == ("per 1,000 homes" if r["measure"] == "CH01" else "%") for r in rows)
    return {(r["measure"], int(r["stage"]), r["tenure"]): (int(r["numerator"]), int(r["denominator"]), r["value"])
            for r in rows}


def test_the_return_file_gives_ch01_and_ch02_per_tenure_as_worked_by_hand(cli: Cli, ledger):
    assert cli.show(ledger["B"])["tenure"] == "lcra"  # no --tenure: hoc-2024's default
    assert cli.show(ledger["H"])["tenure"] == "lcho"  # as corrected
    got = return_file(cli, *SPLIT)
    assert list(got) == list(HAND_WORKED)  # LCRA, LCHO, then all tenures; CH01 then CH02; stage 1 then 2
    assert got == HAND_WORKED


def test_the_json_report_gives_each_tenure_beside_the_all_tenure_figures(cli: Cli, ledger):
    tsm = json.loads(cli.ok(*YEAR, *SPLIT, "--format", "json").stdout)["tsm"]
    assert (tsm["homes"], tsm["homes_lcra"], tsm["homes_lcho"]) == (1900, 1500, 400)
    assert tsm["CH01"]["stage 1"] == {"received": 7, "per_1000_homes": 3.68}
    lcra, lcho, other = (tsm["by_tenure"][t] for t in ("lcra", "lcho", "other"))
    assert lcra["CH01"]["stage 2"] == {"received": 1, "per_1000_homes": 0.67}
    assert ch02(lcho, "stage 1") == {"responses": 3, "within_code": 2, "pct_within_code": 66.7}
    assert ch02(lcho, "stage 2") == {"responses": 1, "within_code": 0, "pct_within_code": 0.0}
    # other tenure: counted (F at both stages) but against no homes of its own
    assert other["homes"] is None and other["CH01"]["stage 2"] == {"received": 1, "per_1000_homes": None}
    assert tsm["by_tenure"]["not-recorded"]["CH01"]["stage 1"]["received"] == 0
    # every case counts once in the all-tenure figures: the tenures add up to them
    for measure, stage, key in (("CH01", "stage 1", "received"), ("CH01", "stage 2", "received"),
                                ("CH02", "stage 1", "responses"), ("CH02", "stage 2", "within_code")):
        assert sum(t[measure][stage][key] for t in tsm["by_tenure"].values()) == tsm[measure][stage][key]
    assert "Technical Requirements" in tsm["source_of_definitions"]


def ch02(measures: dict, stage: str) -> dict:
    """CH02's three figures at a stage (the report may give a breakdown of them beside)."""
    return {k: measures["CH02"][stage][k] for k in ("responses", "within_code", "pct_within_code")}


def test_the_text_and_html_reports_show_each_tenure(cli: Cli, ledger):
    text = cli.ok(*YEAR, *SPLIT, "--format", "text").stdout
    header = next(line for line in text.splitlines() if "All tenures" in line)
    assert header.split() == ["All", "tenures", "LCRA", "LCHO", "Other", "Not", "recorded"]
    row = next(line for line in text.splitlines() if line.startswith("CH01 stage 1 per 1,000 homes"))
    assert row.split()[-5:] == ["3.68", "2.00", "7.50", "–", "–"]
    row = next(line for line in text.splitlines() if line.startswith("CH02 stage 2 %"))
    assert row.split()[-5:] == ["66.7%", "100.0%", "0.0%", "100.0%", "–"]
    html = cli.ok(*YEAR, *SPLIT).stdout
    assert '<td id="ch01-stage1-lcho">7.50</td>' in html and '<td id="ch02-stage1-lcra">50.0%</td>' in html
    assert "Technical Requirements" in html


def test_homes_alone_keeps_the_all_tenure_report_unchanged(cli: Cli, ledger):
    tsm = json.loads(cli.ok(*YEAR, "--homes", "1900", "--format", "json").stdout)["tsm"]
    assert "by_tenure" not in tsm and "return" not in tsm
    assert (tsm["homes"], tsm["CH01"]) == (1900, {"stage 1": {"received": 7, "per_1000_homes": 3.68},
                                                  "stage 2": {"received": 3, "per_1000_homes": 1.58}})
    assert (ch02(tsm, "stage 1"), ch02(tsm, "stage 2")) == (
        {"responses": 6, "within_code": 4, "pct_within_code": 66.7},
        {"responses": 3, "within_code": 2, "pct_within_code": 66.7})
    # The return file then has the all-tenure rows only: which tenure they are is not known.
    assert return_file(cli, "--homes", "1900") == {k: v for k, v in HAND_WORKED.items() if k[2] == "ALL"}
    # --homes with the split counts the homes of other tenures in the all-tenure figure only
    got = return_file(cli, "--homes", "2000", *SPLIT)
    assert got[("CH01", 1, "ALL")] == (7, 2000, "3.50") and got[("CH01", 1, "LCRA")] == (3, 1500, "2.00")


@pytest.mark.parametrize("homes, said", [
    ([], "give --homes N, or --homes-lcra N and --homes-lcho N"),
    (["--homes-lcra", "1500"], "give both --homes-lcra and --homes-lcho"),
    (["--homes", "1000", *SPLIT], "--homes 1,000 is fewer than --homes-lcra 1,500 and --homes-lcho 400 together"),
])
def test_inconsistent_homes_are_refused_in_one_line(cli: Cli, homes, said):
    assert said in cli.fails(*YEAR, *homes, "--format", "csv")


def test_a_tenure_that_is_not_one_of_the_three_is_refused(cli: Cli):
    result = cli("receive", "--complainant", "A", "--channel", "phone", "--summary", "s", "--tenure", "market")
    assert result.exit_code != 0 and "'market' is not one of 'lcra', 'lcho', 'other'" in result.stderr
    ref = cli.receive("2025-06-02")
    assert "is not one of: lcra, lcho, other" in cli.fails("correct", ref, "--field", "tenure", "--to", "leasehold",
                                                            "--reason", "r")


def test_the_read_model_with_tenure_agrees_with_a_rebuild(cli: Cli, ledger):
    assert "match a fresh rebuild" in cli.ok("projections", "verify").stdout


# ---------------------------------------------------------------------------------------------------- recomputed
CODE_DAYS = {1: (10, 10), 2: (20, 20)}  # the Code 2024 §6: response days from acknowledgement, extension at most


def recomputed_from_events(lines: list[str], year: int, homes: dict[str, int]) -> dict:
    """CH01 and CH02 per tenure from the event stream alone, as an outsider would, by the rules the report writes
    down: tenure from Received (or a later Corrected of field "tenure"); CH01 stage 1 counts Received, stage 2
    Escalated with to_stage 2, in the year. CH02 counts at stage min(N, 2), in the year: each response (Responded,
    Reviewed; a third stage's in stage 2), each early resolution (ResolvedEarly, at the case's stage), and each stage
    left unanswered (Escalated from it, Withdrawn or Refused at it) after its Code date, as outside the Code. The
    Code's date: 10 (20) working days plus extensions (at most 10 (20)) from acknowledgement, or from when
    acknowledgement was due (5 working days after the stage began) if it came later or not at all. Working days: the
    England and Wales calendar."""
    calendar = calendar_for("england-and-wales", frozenset())
    start, end = date(year, 4, 1), date(year + 1, 3, 31)
    tenure: dict[str, str | None] = {}
    stage_of: dict[str, dict[int, dict]] = defaultdict(dict)
    counted: list[tuple] = []  # (ref, "received"|"responded", code stage, within, on)

    def code_due(s: dict, stage: int) -> date:
        days, most = CODE_DAYS[min(stage, 2)]
        ack_due = calendar.add_working_days(s["started"], 5)
        return calendar.add_working_days(min(s["ack"] or ack_due, ack_due), days + min(s["ext"], most))

    def left(ref: str, stage: int, on: date) -> None:
        s = stage_of[ref][stage]
        if s["responded"] is None and on > code_due(s, stage):
            counted.append((ref, "responded", min(stage, 2), False, on))

    for line in lines:
        e = json.loads(line)
        ref, d, on = e["ref"], e["details"], date.fromisoformat(e["occurred_on"])
        if e["event"] == "Received":
            tenure[ref] = d["tenure"]
            stage_of[ref][1] = {"started": on, "ack": None, "ext": 0, "responded": None}
            counted.append((ref, "received", 1, None, on))
        elif e["event"] == "Corrected" and d["field"] == "tenure":
            tenure[ref] = d["new"]
        elif e["event"] == "Escalated":
            left(ref, d["to_stage"] - 1, on)
            stage_of[ref][d["to_stage"]] = {"started": on, "ack": None, "ext": 0, "responded": None}
            counted.append((ref, "received", d["to_stage"], None, on))
        elif e["event"] in ("Withdrawn", "Refused"):
            left(ref, d["stage"], on)
        elif e["event"] == "Acknowledged":
            stage_of[ref][d["stage"]]["ack"] = on
        elif e["event"] == "Extended":
            stage_of[ref][d["stage"]]["ext"] += d["working_days"]
        elif e["event"] in ("Responded", "Reviewed", "ResolvedEarly"):
            stage = d.get("stage") or max(stage_of[ref])
            s = stage_of[ref][stage]
            s["responded"] = on
            counted.append((ref, "responded", min(stage, 2), on <= code_due(s, stage), on))
    out = {}
    for name, wanted in (("LCRA", {"lcra"}), ("LCHO", {"lcho"}), ("ALL", None)):
        mine = [c for c in counted if start <= c[4] <= end and (wanted is None or tenure[c[0]] in wanted)]
        for stage in (1, 2):
            received = sum(1 for c in mine if c[1] == "received" and c[2] == stage)
            out[("CH01", stage, name)] = (received, homes[name], f"{1000 * received / homes[name]:.2f}")
        for stage in (1, 2):
            responses = [c for c in mine if c[1] == "responded" and c[2] == stage]
            within = sum(1 for c in responses if c[3])
            out[("CH02", stage, name)] = (within, len(responses),
                                          f"{100 * within / len(responses):.1f}" if responses else "")
    return out


def test_ch01_and_ch02_per_tenure_recomputed_from_the_event_stream_alone_match_the_return_file(cli: Cli, ledger):
    lines = cli.ok("events").stdout.splitlines()
    assert all("tenure" in json.loads(line)["details"] for line in lines if '"event":"Received"' in line)
    recomputed = recomputed_from_events(lines, 2025, {"LCRA": 1500, "LCHO": 400, "ALL": 1900})
    assert recomputed == return_file(cli, *SPLIT)
    assert recomputed == HAND_WORKED


def test_on_a_simulated_ledger_the_tenures_are_mixed_and_the_stream_recomputes_the_return(sqlite_cli: Cli):
    """`simulate` draws each case's tenure (mostly LCRA, some LCHO and other) without changing any other draw; on
    its ledger, with its late acknowledgements, extensions, refusals and escalations, the event stream alone
    gives the return file's every figure."""
    sqlite_cli.ok("simulate", "--cases", "400", "--seed", "19", "--until", "2026-06-30")
    lines = sqlite_cli.ok("events").stdout.splitlines()
    tenures = [json.loads(line)["details"]["tenure"] for line in lines if '"event":"Received"' in line]
    assert set(tenures) == {"lcra", "lcho", "other"} and tenures.count("lcra") > len(tenures) / 2
    homes = ["--homes-lcra", "5000", "--homes-lcho", "600", "--homes", "6000"]
    got = return_file(sqlite_cli, *homes)
    assert got[("CH01", 1, "LCHO")][0] > 0 and got[("CH02", 1, "LCHO")][1] > 0
    assert recomputed_from_events(lines, 2025, {"LCRA": 5000, "LCHO": 600, "ALL": 6000}) == got


# ---------------------------------------------------------------------------------------------------- entry
def test_show_says_the_tenure_a_case_counts_under(cli: Cli, ledger):
    assert "Tenure       LCHO (low-cost home ownership)" in cli.ok("show", ledger["H"]).stdout
    assert "Tenure       LCRA (low-cost rental)" in cli.ok("show", ledger["B"]).stdout


def test_the_inquiry_bundle_says_the_tenure_and_the_home(cli: Cli, tmp_path):
    ref = cli.receive("2026-03-02", "--tenure", "lcho", "--property", "4 Ash Close", "--uprn", "100023336956")
    cli.ok("bundle", ref, "--output", str(tmp_path / "b"))
    page = (tmp_path / "b" / "case.html").read_text(encoding="utf-8")
    assert "<dt>Tenure</dt><dd>LCHO (low-cost home ownership)</dd>" in page
    assert "<dt>Property</dt><dd>4 Ash Close (UPRN 100023336956)</dd>" in page


def test_import_reads_a_tenure_column_and_an_empty_cell_takes_the_profiles_default(cli: Cli, tmp_path):
    path = tmp_path / "old.csv"
    path.write_text("ref,complainant,channel,summary,received_on,tenure\n"
                    "OLD-1,A Resident,phone,Damp,2025-06-02,LCHO\n"
                    "OLD-2,B Resident,phone,Damp,2025-06-02,\n"
                    "OLD-3,C Resident,phone,Damp,2025-06-02,Other\n", encoding="utf-8")
    cli.ok("import", str(path))
    assert [cli.show(ref)["tenure"] for ref in ("OLD-1", "OLD-2", "OLD-3")] == ["lcho", "lcra", "other"]
    bad = tmp_path / "bad.csv"
    bad.write_text("ref,complainant,channel,summary,received_on,tenure\n"
                   "OLD-4,D Resident,phone,Damp,2025-06-02,shared ownership\n", encoding="utf-8")
    assert "line 2: tenure: 'shared ownership' is not one of: lcra, lcho, other" in cli.fails("import", str(bad))
