"""Importing a landlord's legacy cases (ComplaintsLedger.import_legacy) on SQLite and PostgreSQL: the sample file
docs/legacy-cases.csv becomes back-dated events recorded by the importer, all or nothing, and only once."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from complaints_ledger.adapters import legacy_import, policy_files
from complaints_ledger.domain.complaint import complaint_id
from complaints_ledger.domain.legacy import InvalidRows

SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "legacy-cases.csv"
IMPORTER = "Imp Orter"
D = date


def sample_cases(path: Path = SAMPLE):
    reading = legacy_import.read(path, default_policy=policy_files.load_shipped("hoc-2024"),
                                 policies=policy_files.load_shipped)
    assert reading.errors == []
    return reading.cases


def test_the_sample_becomes_back_dated_events_by_the_importer_each_case_naming_its_source_line(ledger):
    result = ledger.import_legacy(sample_cases(), actor=IMPORTER)

    assert len(result.imported) == 12 and result.skipped == [] and not result.dry_run
    histories = {ref: ledger.history(ref) for ref in result.imported}
    assert result.events == sum(len(h) for h in histories.values())
    assert {e["actor"] for h in histories.values() for e in h} == {IMPORTER}
    # CR/2025/0188 is line 6, written with DD/MM/YYYY dates.
    uk = histories["CR/2025/0188"]
    assert [(e["event"], e["occurred_on"]) for e in uk] == [
        ("Received", D(2025, 10, 6)), ("Acknowledged", D(2025, 10, 8)), ("Responded", D(2025, 10, 17)),
        ("CompensationRequested", D(2025, 10, 17)), ("CompensationApproved", D(2025, 10, 17)),
        ("CompensationPaid", D(2025, 10, 24)), ("Closed", D(2025, 10, 24))]
    assert uk[0]["details"]["source"] == "legacy-cases.csv line 6"
    assert uk[0]["details"]["issue_date"] == D(2025, 10, 1)

    views = {ref: ledger.show(ref) for ref in result.imported}
    assert views["CR/2025/0188"]["source"] == "legacy-cases.csv line 6"
    assert views["CR/2025/0188"]["compensation"]["paid"] == Decimal("75.00")
    statuses = sorted(v["status"] for v in views.values())
    assert statuses == ["closed"] * 9 + ["open"] + ["referred"] * 2
    # Every imported case is a person of its own, whose personal data can later be erased.
    ids = [v["complainant_id"] for v in views.values()]
    assert len(set(ids)) == 12 and all(ledger.data_subject(cid).refs == [ref] for cid, ref in zip(ids, views))


def test_an_imported_case_shows_exactly_as_the_same_case_entered_live_step_by_step(ledger, policy):
    imported = ledger.import_legacy([c for c in sample_cases() if c.ref == "CR/2025/0163"], actor=IMPORTER)
    assert imported.imported == ["CR/2025/0163"]

    officer = {"actor": "Jo Officer"}
    live = ledger.receive(ref="LIVE-0163", complainant="Aisha Rahman", contact="07700 900163", channel="web",
                          summary="Black mould in the bedroom returned after treatment; child has asthma",
                          category="damp and mould", issue_date=D(2025, 3, 1), received_on=D(2025, 8, 4),
                          policy=policy("hoc-2024"), **officer)
    ledger.acknowledge(live, on=D(2025, 8, 6), **officer)
    ledger.respond(live, outcome="not-upheld", on=D(2025, 8, 15), **officer)
    ledger.escalate(live, on=D(2025, 8, 26), **officer)
    ledger.acknowledge(live, on=D(2025, 8, 29), **officer)
    ledger.review(live, outcome="partly-upheld", on=D(2025, 9, 24), **officer)
    ledger.request_compensation(live, amount=Decimal("150"), on=D(2025, 9, 24), **officer)
    ledger.approve_compensation(live, amount=Decimal("150"), on=D(2025, 9, 24), **officer)
    ledger.pay_compensation(live, amount=Decimal("150"), on=D(2025, 10, 1), **officer)
    ledger.close_case(live, on=D(2025, 10, 1), **officer)

    def same(view):
        return {k: v for k, v in view.items() if k not in ("ref", "complainant_id", "source")}

    assert same(ledger.show("CR/2025/0163")) == same(ledger.show(live))
    for as_of in (D(2025, 8, 20), D(2025, 9, 1)):  # and as it stood on any day along the way
        assert same(ledger.show("CR/2025/0163", as_of=as_of)) == same(ledger.show(live, as_of=as_of))

    def steps(ref):
        return [(e["event"], e["occurred_on"],
                 {k: v for k, v in e["details"].items() if k not in ("ref", "complainant_id", "source")})
                for e in ledger.history(ref)]

    assert steps("CR/2025/0163") == steps(live)
    assert ledger.show(live)["source"] is None


def test_importing_the_same_file_again_adds_nothing(ledger):
    first = ledger.import_legacy(sample_cases(), actor=IMPORTER)
    count = ledger.event_count()

    again = ledger.import_legacy(sample_cases(), actor=IMPORTER)

    assert (again.imported, again.events) == ([], 0)
    assert again.skipped == first.imported
    assert ledger.event_count() == count


def test_one_bad_row_among_good_ones_writes_nothing_and_names_its_line(ledger, tmp_path):
    bad = tmp_path / "legacy-cases.csv"
    bad.write_text(SAMPLE.read_text(encoding="utf-8")
                   + "CR/2026/0099,Iris Bell,,phone,Lift out of order,repairs,,,2026-03-02,2026-03-04,2026-03-13,"
                     "not-upheld,2026-03-20,,2026-04-17,not-upheld,,,2026-04-20,2026-06-01\n", encoding="utf-8")

    with pytest.raises(InvalidRows) as caught:
        ledger.import_legacy(sample_cases(bad), actor=IMPORTER)

    [error] = caught.value.errors
    assert (error.line, error.column) == (14, "closed_on") and "determination" in error.reason
    assert ledger.event_count() == 0


def test_a_dry_run_checks_everything_and_writes_nothing(ledger):
    dry = ledger.import_legacy(sample_cases(), actor=IMPORTER, dry_run=True)
    assert ledger.event_count() == 0
    assert dry.dry_run and len(dry.imported) == 12

    real = ledger.import_legacy(sample_cases(), actor=IMPORTER)
    assert (real.imported, real.events) == (dry.imported, dry.events)


def test_small_batches_save_every_case_and_live_references_skip_an_imported_number(ledger, tmp_path):
    path = tmp_path / "legacy.jsonl"
    path.write_text("".join(
        f'{{"ref": "cmp-2026-{n:06d}", "complainant": "Person {n}", "channel": "phone", "summary": "Leak",'
        f' "received_on": "2026-03-02", "acknowledged_on": "2026-03-04"}}\n' for n in range(1, 8)),
        encoding="utf-8")
    progress = []

    result = ledger.import_legacy(sample_cases(path), actor=IMPORTER, batch_size=4,
                                  progress=lambda done, total: progress.append((done, total)))

    assert result.imported == [f"CMP-2026-{n:06d}" for n in range(1, 8)]
    assert all(ledger.show(ref)["stages"][0]["acknowledged_on"] == D(2026, 3, 4) for ref in result.imported)
    assert progress[-1] == (7, 7)
    assert ledger.receive(complainant="New", channel="phone", summary="Noise", received_on=D(2026, 4, 1),
                          actor="Jo Officer") == "CMP-2026-000008"


def test_once_there_is_a_staff_directory_the_importer_needs_the_roles_for_the_decisions_in_the_file(ledger):
    ledger.add_staff("Dee Director", role="director", actor="Dee Director")
    ledger.add_staff("Jo Officer", role="officer", actor="Dee Director")

    with pytest.raises(InvalidRows) as caught:
        ledger.import_legacy(sample_cases(), actor="Jo Officer")

    refused = {(e.line, e.column) for e in caught.value.errors}
    # Lines with a review (4, 5, 9, 11) or compensation (3, 6, 8, 12): the first of the two, in column order.
    assert refused == {(3, "compensation_approved"), (4, "reviewed_on"), (5, "reviewed_on"),
                       (6, "compensation_approved"), (8, "compensation_approved"), (9, "reviewed_on"),
                       (11, "reviewed_on"), (12, "compensation_approved")}
    assert all("Jo Officer (officer) may not" in e.reason for e in caught.value.errors)
    count = ledger.event_count()
    assert len(ledger.import_legacy(sample_cases(), actor="Dee Director").imported) == 12
    assert ledger.event_count() > count


def test_a_reference_that_cannot_be_one_is_that_lines_error(ledger):
    [case] = [c for c in sample_cases() if c.line == 2]
    with pytest.raises(InvalidRows) as caught:
        ledger.import_legacy([replace(case, ref="no spaces allowed")], actor=IMPORTER)
    assert [(e.line, e.column) for e in caught.value.errors] == [(2, "ref")]


def read_file(path: Path):
    reading = legacy_import.read(path, default_policy=policy_files.load_shipped("hoc-2024"),
                                 policies=policy_files.load_shipped)
    assert reading.errors == []
    return reading


def leaks(path: Path, cases: int) -> Path:
    path.write_text("".join(
        f'{{"ref": "LEAK/{n:03d}", "complainant": "Person {n}", "channel": "phone", "summary": "Leak",'
        f' "received_on": "2026-03-02", "acknowledged_on": "2026-03-04"}}\n' for n in range(cases)),
        encoding="utf-8")
    return path


def test_an_import_stopped_before_its_first_transaction_commits_leaves_nothing_of_the_file(ledger, tmp_path,
                                                                                           monkeypatch):
    file = read_file(leaks(tmp_path / "old.jsonl", 30))
    monkeypatch.setattr(type(ledger), "_save", lambda self, *a: (_ for _ in ()).throw(SystemExit(137)))
    with pytest.raises(SystemExit):
        ledger.import_legacy(file.cases, actor=IMPORTER, batch_size=10, file=file.file)
    monkeypatch.undo()

    assert ledger.event_count() == 0 and ledger.incomplete_imports() == []


@pytest.mark.parametrize("stopped_after", [1, 3, 5])  # of its six transactions (five cases each)
def test_an_import_stopped_between_batches_is_a_recorded_run_reported_incomplete_until_the_same_file_finishes_it(
        ledger, tmp_path, monkeypatch, stopped_after):
    file = read_file(leaks(tmp_path / "old.jsonl", 30))
    other = read_file(leaks(tmp_path / "other.jsonl", 3))
    saves = []
    real_save = type(ledger)._save

    def dying(self, *aggregates):  # the process stops after a transaction
        if len(saves) == stopped_after:
            raise SystemExit(137)
        saves.append(aggregates)
        real_save(self, *aggregates)

    monkeypatch.setattr(type(ledger), "_save", dying)
    with pytest.raises(SystemExit):
        ledger.import_legacy(file.cases, actor=IMPORTER, batch_size=10, file=file.file)
    monkeypatch.undo()

    in_ledger = len(ledger._existing([complaint_id(c.ref) for c in file.cases]))
    assert in_ledger == 5 * stopped_after
    [run] = ledger.incomplete_imports()
    assert (run.file, run.in_ledger, run.cases, run.started_by) == ("old.jsonl", in_ledger, 30, IMPORTER)
    assert str(run).endswith(f"is incomplete: {in_ledger} of 30 cases; run the same import again to finish it")

    # Another file's import leaves it as it is; the same bytes under another name finish it.
    assert ledger.import_legacy(other.cases, actor=IMPORTER, file=other.file).resumed is None
    assert [r.file for r in ledger.incomplete_imports()] == ["old.jsonl"]
    renamed = tmp_path / "renamed.jsonl"
    renamed.write_bytes((tmp_path / "old.jsonl").read_bytes())
    again = read_file(renamed)
    finished = ledger.import_legacy(again.cases, actor="Someone Else", file=again.file)

    assert len(finished.imported) == 30 - in_ledger and len(finished.skipped) == in_ledger
    assert finished.resumed.startswith("import of old.jsonl (sha256 ") and finished.resumed.endswith(
        f"by {IMPORTER}, which had stopped at {in_ledger} of 30 cases")
    assert ledger.incomplete_imports() == []
    assert ledger.import_legacy(again.cases, actor=IMPORTER, file=again.file).resumed is None


def test_a_file_of_a_few_cases_is_one_transaction_with_its_run_started_and_completed(ledger, tmp_path,
                                                                                    monkeypatch):
    file = read_file(leaks(tmp_path / "few.jsonl", 40))
    saves = []
    real_save = type(ledger)._save
    monkeypatch.setattr(type(ledger), "_save", lambda self, *a: (saves.append(a), real_save(self, *a)))

    ledger.import_legacy(file.cases, actor=IMPORTER, file=file.file)

    assert len(saves) == 1
    assert ledger.incomplete_imports() == []


def test_the_run_completes_in_the_transaction_of_the_last_cases_even_when_they_fill_a_batch(ledger, tmp_path,
                                                                                            monkeypatch):
    file = read_file(leaks(tmp_path / "even.jsonl", 30))  # six batches of five cases, the last one full
    saves = []
    real_save = type(ledger)._save
    monkeypatch.setattr(type(ledger), "_save", lambda self, *a: (saves.append(a), real_save(self, *a)))

    ledger.import_legacy(file.cases, actor=IMPORTER, batch_size=10, file=file.file)

    assert len(saves) == 6  # no seventh transaction for the completion alone: a stop there would leave it open
    assert ledger.incomplete_imports() == []
