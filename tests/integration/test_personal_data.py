"""Personal data, on SQLite and PostgreSQL: stored sealed with the person's key, erased by destroying that key.

After `complaints erase`, the person's names, contacts and free text read "[erased]" in show, history and bundles,
and no byte of them (nor of their key) is left in the database file or a pg_dump; dates, outcomes and amounts are
untouched, so the statistics and the hash chain are exactly as before.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from complaints_ledger.adapters.persistence import open_ledger, sqlite_path
from tests.e2e._cli import Cli

ADA = ["Ada Quenby-Marlowe", "07700 900461", "ada.quenby@example.org", "Damp in the nursery since March",
       "Mrs Quenby-Marlowe accepts the apology", "Waiting for the surveyor's damp report",
       "Phoned Ada about the surveyor", "Ivor Quenby", "Flat 3, 14 Larkspur Row"]
BEN = "Benedict Oyelaran-Smythe"


@pytest.fixture
def cli(db_url) -> Cli:
    return Cli(db_url)


def _complainant_id(cli: Cli, ref: str) -> str:
    return cli.show(ref)["complainant_id"]


@pytest.fixture
def people(cli):
    """Ada: two complaints (the second linked to her), a representative, contact, notes, an extension and a
    response summary, all closed. Ben: one complaint, still open."""
    first = cli.ok("receive", "--complainant", ADA[0], "--channel", "email", "--summary", ADA[3],
                   "--contact", f"{ADA[1]}, {ADA[2]}", "--representative", ADA[7], "--authorised",
                   "--property", ADA[8], "--received-on", "2026-03-02").stdout.strip()
    ada = _complainant_id(cli, first)
    cli.ok("acknowledge", first, "--on", "2026-03-03")
    cli.ok("extend", first, "--working-days", "5", "--reason", ADA[5], "--on", "2026-03-10",
           "--ombudsman-details-given")
    cli.ok("note", first, ADA[6], "--on", "2026-03-11")
    cli.ok("respond", first, "--outcome", "upheld", "--summary", ADA[4], "--remedy", "Apology to Ada",
           "--on", "2026-03-20")
    cli.ok("close", first, "--on", "2026-03-23")
    second = cli.ok("receive", "--complainant", ADA[0], "--channel", "phone", "--summary", "Boiler again",
                    "--complainant-id", ada.lower(), "--received-on", "2026-04-01").stdout.strip()
    cli.ok("withdraw", second, "--on", "2026-04-02", "--reason", "Ada says it is fixed")
    ben_ref = cli.receive("2026-03-04", complainant=BEN, summary="Broken lift")
    return {"ada": ada, "ada_refs": [first, second], "ben_ref": ben_ref}


def _key(url: str, complainant_id: str) -> bytes | None:
    ledger = open_ledger(url)
    try:
        vault = ledger.recorder.vault
        with vault.engine.connect() as conn:
            key = conn.execute(sa.select(vault.table.c.key).where(
                vault.table.c.complainant_id == complainant_id)).scalar()
        return None if key is None else bytes(key)
    finally:
        ledger.close()


def _stored_bytes(url: str) -> bytes:
    """Everything the database holds: the SQLite file with its journal, or a plain pg_dump of the test's schema."""
    path = sqlite_path(url)
    if path is not None:
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    schema = url.split("search_path%3D", 1)[1]
    return subprocess.run(["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "-n", schema, "test"],
                          check=True, capture_output=True).stdout


def _holds(stored: bytes, key: bytes) -> bool:
    return key in stored or key.hex().encode() in stored  # pg_dump writes bytea as hex


def test_personal_data_is_never_stored_in_plain_text(cli, people, db_url):
    stored = _stored_bytes(db_url)
    for text in [*ADA, BEN]:
        assert text.encode() not in stored, text
    view = cli.show(people["ada_refs"][0])
    assert view["complainant"] == ADA[0] and view["contact"] == f"{ADA[1]}, {ADA[2]}"
    assert view["representative"]["name"] == ADA[7] and view["property"] == ADA[8]
    assert view["stages"][0]["extensions"][0]["reason"] == ADA[5]
    assert [n["text"] for n in view["notes"]] == [ADA[6]]
    assert cli.show(people["ada_refs"][1])["complainant_id"] == people["ada"]  # linked: one person, one key
    assert cli.show(people["ben_ref"])["complainant_id"] != people["ada"]


def test_erase_leaves_no_trace_of_the_person_and_changes_no_figure_or_link(cli, people, db_url, tmp_path: Path):
    ada, (first, second) = people["ada"], people["ada_refs"]
    key = _key(db_url, ada)
    assert key is not None and len(key) == 32 and _holds(_stored_bytes(db_url), key)
    stats = cli.ok("stats", "--from", "2026-01-01", "--to", "2026-11-22", "--format", "json").stdout
    digest = tmp_path / "digest.json"
    cli.ok("verify", "--digest", "--output", str(digest))
    ben_before = cli.show(people["ben_ref"])

    out = cli.ok("erase", "--complainant", ada, "--reason", "erasure request 2026-41").stdout
    assert f"{first}, {second}" in out

    view = cli.show(first)
    assert view["complainant"] == view["contact"] == view["summary"] == view["property"] == "[erased]"
    assert view["representative"]["name"] == "[erased]" and view["representative"]["authorised"] is True
    assert view["stages"][0]["extensions"][0]["reason"] == "[erased]"
    assert view["stages"][0]["response_summary"] == "[erased]" and view["stages"][0]["remedies"] == ["[erased]"]
    assert [n["text"] for n in view["notes"]] == ["[erased]"]
    # What is not personal stays: the figures, dates and outcomes.
    assert (view["status"], view["stages"][0]["outcome"], view["closed_on"]) == ("closed", "upheld", "2026-03-23")
    assert view["stages"][0]["extensions"][0]["working_days"] == 5
    assert view["erasure"]["reason"] == "erasure request 2026-41" and view["erasure"]["refs"] == [first, second]
    assert cli.show(second)["withdrawal"]["reason"] == "[erased]"
    history = json.dumps(cli.history(first))
    assert not any(text in history for text in ADA) and "[erased]" in history
    assert cli.show(people["ben_ref"]) == ben_before  # someone else's case is untouched

    bundle = tmp_path / "bundle"
    cli.ok("bundle", first, "--output", str(bundle), "--as-of", "2026-11-22")
    html = (bundle / "case.html").read_text(encoding="utf-8") + (bundle / "case.json").read_text(encoding="utf-8")
    assert "[erased]" in html and not any(text in html for text in ADA)

    assert cli.ok("stats", "--from", "2026-01-01", "--to", "2026-11-22", "--format", "json").stdout == stats
    assert cli.ok("verify").stdout.startswith("verified: ")
    assert cli.ok("verify", "--against", str(digest)).exit_code == 0

    stored = _stored_bytes(db_url)
    assert _key(db_url, ada) is None
    assert not _holds(stored, key), "the destroyed key is still in the database"
    for text in ADA:
        assert text.encode() not in stored, text


def test_erasure_is_refused_while_a_case_is_open_and_once_done_it_is_final(cli, people, db_url):
    before = cli.event_count()
    assert "still being handled" in cli.fails("erase", "--complainant", _complainant_id(cli, people["ben_ref"]),
                                              "--reason", "asked")
    assert "no complainant with id P-000000000000" in cli.fails("erase", "--complainant", "P-000000000000",
                                                                "--reason", "asked")
    assert "is not like P-" in cli.fails("erase", "--complainant", "Ada", "--reason", "asked")
    assert cli.event_count() == before and cli.show(people["ben_ref"])["complainant"] == BEN

    ada, first = people["ada"], people["ada_refs"][0]
    cli.ok("erase", "--complainant", ada, "--reason", "retention period ended")
    after = cli.event_count()
    assert "already erased" in cli.fails("erase", "--complainant", ada, "--reason", "again")
    # Nothing personal can be written for an erased person again, and they cannot be linked to a new case.
    assert "has been erased" in cli.fails("note", first, "Tried to phone her")
    assert "was erased" in cli.fails("receive", "--complainant", ADA[0], "--channel", "phone", "--summary", "x",
                                     "--complainant-id", ada)
    assert cli.event_count() == after
    cli.ok("satisfaction", first, "--score", "4", "--on", "2026-04-01")  # not personal: still recordable


def test_retention_lists_people_past_their_period_holds_back_the_rest_and_apply_erases_only_those(cli):
    old = cli.receive("2019-05-01", complainant="Olive Oldcase")
    cli.ok("respond", old, "--outcome", "not-upheld", "--on", "2019-05-10")
    cli.ok("close", old, "--on", "2019-05-13")
    mixed = cli.receive("2019-06-03", complainant="Mo Twocases")
    cli.ok("withdraw", mixed, "--on", "2019-06-04")
    recent = cli.ok("receive", "--complainant", "Mo Twocases", "--channel", "phone", "--summary", "Again",
                    "--complainant-id", _complainant_id(cli, mixed), "--received-on", "2022-01-10").stdout.strip()
    cli.ok("withdraw", recent, "--on", "2022-01-11")
    cli.receive("2026-03-02", complainant="Nell Newcase")  # open, and recent: not listed at all

    listed = [json.loads(line) for line in cli.ok("retention", "--as-of", "2026-11-22", "--format", "json")
              .stdout.splitlines()]
    assert {p["complainant_id"]: (p["refs"], p["due"]) for p in listed} == {
        _complainant_id(cli, old): ([old], True),
        _complainant_id(cli, mixed): (sorted([mixed, recent]), False),
    }
    held = next(p for p in listed if not p["due"])
    assert f"{recent} is kept until 2028-01-11" in held["held_because"]
    assert cli.ok("retention", "--as-of", "2026-11-22", "--closed-before", "2019-05-01",
                  "--format", "json").stdout.count('"due": true') == 0

    cli.ok("retention", "--as-of", "2026-11-22", "--apply")
    assert cli.show(old)["complainant"] == "[erased]"
    assert cli.show(mixed)["complainant"] == "Mo Twocases"
    assert cli.ok("retention", "--as-of", "2026-11-22", "--format", "json").stdout.count('"due": true') == 0


def test_only_the_roles_the_policy_names_may_erase(cli, people):
    cli.ok("staff", "add", "Hana Head", "--role", "head-of-service")
    cli.actor = "Hana Head"
    cli.ok("staff", "add", "Oli Officer", "--role", "officer")
    ada = people["ada"]
    cli.actor = "Oli Officer"
    assert "may not erase personal data" in cli.fails("erase", "--complainant", ada, "--reason", "asked")
    assert cli.show(people["ada_refs"][0])["complainant"] == ADA[0]
    cli.actor = "Hana Head"
    cli.ok("erase", "--complainant", ada, "--reason", "asked")
    assert cli.show(people["ada_refs"][0])["erasure"]["actor"] == "Hana Head"


def test_imported_cases_of_one_person_share_one_key_within_a_batch_and_across_batches(ledger_factory, policy, today):
    from datetime import date

    from complaints_ledger.domain.complaint import Complaint

    ledger = ledger_factory()
    hoc = policy("hoc-2024")
    people = {"A": "P-00000000000A", "B": "P-00000000000B"}

    def case(person: str, day: int):
        def build(ref):
            return Complaint.receive(ref=ref, policy=hoc, complainant=f"Person {person}", channel="letter",
                                     summary="Imported", received_on=date(2025, 3, day), today=today,
                                     actor="importer", complainant_id=people[person])
        return date(2025, 3, day), hoc, build

    refs = ledger.import_cases([case("A", 3), case("A", 4), case("B", 5), case("A", 6), case("B", 7)],
                               batch_size=3)
    fresh = ledger_factory()
    assert fresh.data_subject(people["A"]).refs == [refs[0], refs[1], refs[3]]
    assert fresh.data_subject(people["B"]).refs == [refs[2], refs[4]]
    assert [fresh.show(r)["complainant"] for r in refs] == ["Person A", "Person A", "Person B", "Person A",
                                                           "Person B"]


def test_events_are_stored_in_exactly_the_bytes_the_library_would_write():
    """The mapper encodes with its own JSON encoder (made once, for speed), so it must write the library's exact
    bytes: anything else reading the log through eventsourcing (a copy, an export, an older release) reads the
    same events. Every kind of event the simulator makes, with dates, amounts, lists and panels."""
    import random
    from collections import Counter
    from datetime import date

    from eventsourcing.persistence import Mapper

    from complaints_ledger.adapters import policy_files, simulation
    from complaints_ledger.adapters.personal_data import PersonalDataMapper
    from complaints_ledger.domain.ledger import ComplaintsLedger

    transcoder = ComplaintsLedger({"PERSISTENCE_MODULE": "eventsourcing.popo"},
                                  policies=policy_files.load_shipped).mapper.transcoder
    ours, library = PersonalDataMapper(transcoder=transcoder), Mapper(transcoder=transcoder)
    kinds: Counter[str] = Counter()
    cases = simulation.complaints(random.Random(5), cases=400, until=date(2026, 11, 20), actor="t")
    for n, (received_on, _, build) in enumerate(cases):
        for event in build(f"CMP/{received_on.year}/{n:05d}").pending_events:
            kinds[type(event).__name__] += 1
            assert ours.to_stored_event(event) == library.to_stored_event(event), type(event).__name__
    assert len(kinds) >= 15, kinds
    assert {"Received", "Extended", "CompensationApproved", "Reviewed"} <= set(kinds)


def test_feedback_free_text_is_sealed_withheld_and_erased_with_its_giver(cli, people, db_url, tmp_path: Path):
    ada = people["ada"]
    theirs = cli.ok("feedback", "--kind", "comment", "--summary", "Ivor at Flat 3 says the lift is slow",
                    "--complainant-id", ada).stdout.strip()
    result = cli.ok("feedback", "--kind", "compliment", "--summary", "Thanks to Jo for fixing 9 Elm Row")
    anonymous, giver = result.stdout.strip(), result.stderr.split("from complainant ")[1].split()[0]
    assert anonymous.startswith("FBK-") and giver.startswith("P-") and giver != ada

    def summaries(*options: str) -> dict[str, str]:
        lines = cli.ok("events", "--event", "FeedbackReceived", *options).stdout.splitlines()
        return {e["ref"]: e["details"]["summary"] for e in map(json.loads, lines)}

    stored = _stored_bytes(db_url)
    assert b"lift is slow" not in stored and b"Elm Row" not in stored  # sealed, like a complaint's details
    assert summaries() == {theirs: "Ivor at Flat 3 says the lift is slow",
                           anonymous: "Thanks to Jo for fixing 9 Elm Row"}
    assert summaries("--without-personal-data") == {theirs: "[withheld]", anonymous: "[withheld]"}

    cli.ok("erase", "--complainant", ada, "--reason", "erasure request 2026-41")  # her feedback goes with her cases
    assert summaries() == {theirs: "[erased]", anonymous: "Thanks to Jo for fixing 9 Elm Row"}
    assert "FBK-" in cli.ok("erase", "--complainant", giver, "--reason", "asked").stdout
    assert summaries() == {theirs: "[erased]", anonymous: "[erased]"}
    cli.ok("verify")
    assert "was erased" in cli.fails("feedback", "--kind", "comment", "--summary", "x", "--complainant-id", ada)
    assert "no complainant with id" in cli.fails("feedback", "--kind", "comment", "--summary", "x",
                                                 "--complainant-id", "P-000000000000")


def test_feedback_recorded_before_it_was_sealed_reads_as_it_was(tmp_path: Path):
    from tests.fixtures.make_ledger_fixture import FIXTURES, paths

    db = tmp_path / "old.db"
    db.write_bytes(paths(FIXTURES[0])[0].read_bytes())
    lines = Cli(f"sqlite:///{db}")("events", "--event", "FeedbackReceived", "--limit", "1").stdout.splitlines()
    details = json.loads(lines[0])["details"]
    assert details["summary"] and not details["summary"].startswith("[") and details["complainant_id"] is None
