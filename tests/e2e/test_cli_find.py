"""`complaints find`, `list --complainant/--property/--repeat` and repeat homes, through the CLI on SQLite and on
PostgreSQL (where every actor is a login in the writer role: it maintains the blind index and searches it)."""

from __future__ import annotations

import json

import pytest

from tests.e2e._cli import Cli, table


def found(cli: Cli, text: str) -> list[dict]:
    return [json.loads(line) for line in cli.ok("find", text, "--format", "json").stdout.splitlines()]


def refs(rows: list[dict]) -> list[str]:
    return sorted(r["ref"] for r in rows)


@pytest.fixture
def cases(cli: Cli) -> dict[str, str]:
    cli.ok("init")
    zoe = cli.receive("2026-03-02", "--contact", "zoe@example.org, +44 7700 900123", "--property",
                      "12 High Street, Leeds LS1 4AB", "--uprn", "100023336956", "--category", "damp and mould",
                      complainant="Zoë O'Brien")
    sam = cli.receive("2026-05-04", "--contact", "sam.okafor@example.org", "--property", "Flat 12, High St, Leeds",
                      "--uprn", "100023336956", "--category", "repairs", complainant="Sam Okafor")
    ann = cli.receive("2026-05-05", "--contact", "020 7946 0000", "--property", "3 Mill Lane, York YO1 7AA",
                      "--category", "noise", complainant="Ann Okafor")
    return {"zoe": zoe, "sam": sam, "ann": ann}


def test_find_by_surname_email_phone_postcode_and_uprn(cli: Cli, cases):
    assert refs(found(cli, "okafor")) == sorted([cases["sam"], cases["ann"]])  # a surname two people share
    assert refs(found(cli, "Sam Okafor")) == [cases["sam"]]
    assert refs(found(cli, "obrien")) == [cases["zoe"]] == refs(found(cli, "ZOË"))
    assert refs(found(cli, "Zoe@Example.org")) == [cases["zoe"]]
    assert refs(found(cli, "07700 900123")) == [cases["zoe"]]
    assert refs(found(cli, "ls14ab")) == [cases["zoe"]]
    assert refs(found(cli, "100023336956")) == sorted([cases["zoe"], cases["sam"]])
    assert found(cli, "nobody") == []
    row = found(cli, "zoe@example.org")[0]
    assert row["complainant"] == "Zoë O'Brien" and row["status"] == "open" and row["stage"] == 1
    assert row["next_milestone"] == "acknowledge" and row["next_due_on"] == "2026-03-09"


def test_find_prints_a_table_with_the_persons_name(cli: Cli, cases):
    rows = table(cli.ok("find", "okafor").stdout)
    assert {r["REF"]: r["NAME"] for r in rows} == {cases["sam"]: "Sam Okafor", cases["ann"]: "Ann Okafor"}


def test_an_erased_person_is_found_no_more_even_after_a_rebuild(cli: Cli, cases):
    person = cli.show(cases["ann"])["complainant_id"]
    cli.ok("withdraw", cases["ann"], "--on", "2026-05-06")
    assert refs(found(cli, "yo1 7aa")) == [cases["ann"]]
    cli.ok("erase", "--complainant", person, "--reason", "erasure request")
    for text in ("yo1 7aa", "020 7946 0000", "ann", "mill lane"):
        assert found(cli, text) == [], text
    assert refs(found(cli, "okafor")) == [cases["sam"]]
    cli.ok("projections", "rebuild")
    assert found(cli, "ann") == [] and refs(found(cli, "okafor")) == [cases["sam"]]


def test_the_index_survives_a_rebuild(cli: Cli, cases):
    cli.ok("projections", "rebuild", "case_index")
    assert refs(found(cli, "okafor")) == sorted([cases["sam"], cases["ann"]])
    assert refs(found(cli, "100023336956")) == sorted([cases["zoe"], cases["sam"]])
    cli.ok("projections", "verify")


def listed(cli: Cli, *args: str) -> list[str]:
    return sorted(line.split(",")[0] for line in cli.ok("list", *args, "--format", "csv").stdout.splitlines()[1:])


def test_list_filters_by_complainant_property_and_repeat(cli: Cli, cases):
    assert listed(cli, "--complainant", "okafor") == sorted([cases["sam"], cases["ann"]])
    assert listed(cli, "--complainant", "okafor", "--category", "noise") == [cases["ann"]]
    assert listed(cli, "--complainant", "high street") == []  # an address is not the complainant's
    assert listed(cli, "--property", "high") == sorted([cases["zoe"], cases["sam"]])
    assert listed(cli, "--property", "okafor") == []
    assert listed(cli, "--repeat") == sorted([cases["zoe"], cases["sam"]])


def test_show_flags_a_repeat_and_names_the_other_complaint(cli: Cli, cases):
    cli.ok("list")  # on an SQLite file, show reads the read models as the last read command left them
    view = cli.show(cases["zoe"])
    assert view["uprn"] == "100023336956" and view["repeat"] == [cases["sam"]]
    assert cli.show(cases["ann"])["repeat"] == []
    assert f"REPEAT: another complaint about the same home within 12 months ({cases['sam']})" in " ".join(
        cli.ok("show", cases["zoe"]).stdout.split())


def test_repeats_are_counted_in_stats_and_the_committee_report(cli: Cli, cases, tmp_path):
    cli.receive("2025-01-10", "--uprn", "55", "--category", "noise", complainant="Lee One")
    cli.receive("2026-04-20", "--uprn", "55", "--category", "noise", complainant="Lee Two")  # 15 months on
    assert listed(cli, "--repeat") == sorted([cases["zoe"], cases["sam"]])
    stats = json.loads(cli.ok("stats", "--from", "2026-01-01", "--to", "2026-12-31", "--format", "json").stdout)
    assert stats["total"]["repeat_homes"] == {"homes": 1, "complaints": 2,
                                              "by_category": {"damp and mould": 1, "repairs": 1}}
    report = tmp_path / "report.json"
    cli.ok("report", "committee", "--from", "2026-01-01", "--to", "2026-12-31", "--format", "json", "-o", str(report))
    assert json.loads(report.read_text())["total"]["repeat_homes"]["homes"] == 1
    assert "Homes complaining more than once" in cli.ok("stats", "--from", "2026-01-01", "--to", "2026-12-31").stdout


@pytest.mark.parametrize("uprn", ["12x", "1234567890123", "0"])
def test_a_uprn_that_is_not_one_is_refused_in_one_line_and_nothing_is_recorded(cli: Cli, uprn):
    cli.ok("init")
    error = cli.fails("receive", "--complainant", "Sam", "--channel", "phone", "--summary", "Damp",
                      "--received-on", "2026-03-02", "--uprn", uprn)
    assert error.startswith("Error: UPRN") and "12 digits" in error
    assert cli.event_count() == 0


def test_an_imported_case_is_found_by_its_property_and_uprn(cli: Cli, tmp_path):
    cli.ok("init")
    legacy = tmp_path / "legacy.csv"
    legacy.write_text("ref,complainant,channel,summary,received_on,property,uprn\n"
                      'L/1,Jo Bloggs,phone,Damp,2025-06-02,"3 Mill Lane, York YO1 7AA",10001\n', encoding="utf-8")
    cli.ok("import", str(legacy))
    assert refs(found(cli, "10001")) == ["L/1"] == refs(found(cli, "yo17aa"))
    assert cli.show("L/1")["uprn"] == "10001"


def test_a_reader_login_sees_repeat_flags_but_may_not_search_the_blind_index(ledger_roles, pg_url):
    from tests.e2e._cli import with_role

    writer = Cli(ledger_roles.ledger(pg_url))
    writer.ok("init")
    first = writer.receive("2026-03-02", "--uprn", "77", complainant="Pat Reader")
    second = writer.receive("2026-04-02", "--uprn", "77", complainant="Pat Reader")
    writer.ok("list")
    reader = Cli(with_role(pg_url, ledger_roles.reader), actor="ana")
    assert listed(reader, "--repeat") == sorted([first, second])
    error = reader.fails("find", "pat")
    assert "may not read the key table" in error and "writer role" in error
    checked = reader.ok("projections", "verify")
    assert "case_index not checked" in checked.stderr and "case_status at" in checked.stdout


def test_the_uprn_is_sealed_and_the_file_holds_neither_it_nor_the_index_in_clear(sqlite_cli: Cli):
    from pathlib import Path

    sqlite_cli.ok("init")
    sqlite_cli.receive("2026-03-02", "--uprn", "918273645546", "--property", "Quillfeather Cottage",
                       complainant="Xanthe Quillfeather")
    assert refs(found(sqlite_cli, "918273645546")) == refs(found(sqlite_cli, "quillfeather"))
    stored = b"".join(p.read_bytes() for p in Path(sqlite_cli.url.removeprefix("sqlite:///")).parent.iterdir())
    assert b"918273645546" not in stored and b"uillfeather" not in stored


def test_find_and_repeats_follow_a_correction_of_the_contact_property_and_uprn(cli: Cli, cases):
    ann = cases["ann"]
    for field, value in (("contact", "ann.new@example.org"), ("property", "7 Weir Road, Hull HU1 2AA"),
                         ("uprn", "100023336956")):
        cli.ok("correct", ann, "--field", field, "--to", value, "--reason", "keyed wrongly")
    assert found(cli, "020 7946 0000") == [] and found(cli, "mill lane") == [] and found(cli, "yo17aa") == []
    assert refs(found(cli, "ann.new@example.org")) == [ann] == refs(found(cli, "hu1 2aa"))
    assert refs(found(cli, "100023336956")) == sorted(cases.values())
    assert listed(cli, "--repeat") == sorted(cases.values())  # Ann's home is now Zoë's and Sam's
    error = cli.fails("correct", ann, "--field", "uprn", "--to", "12x", "--reason", "typo")
    assert error.startswith("Error: UPRN '12x' is not valid")
    cli.ok("projections", "rebuild", "case_index")
    assert refs(found(cli, "ann.new@example.org")) == [ann] and found(cli, "mill lane") == []


def test_show_names_the_same_repeats_whatever_form_db_takes_and_as_list_repeat_flags_them(sqlite_cli: Cli):
    """show reads only the homes near its case (not the whole read model): a home known by its UPRN on one
    complaint and by its address alone on another is still one home, from either case, and from a bare path, an
    sqlite:/// URL or COMPLAINTS_DB alike."""
    cli = sqlite_cli
    cli.ok("init")
    a = cli.receive("2026-01-10", "--uprn", "4242", "--property", "7 Elm Row, Hull HU1 1AA", complainant="Al One")
    b = cli.receive("2026-03-01", "--property", "7 Elm Row, Hull HU1 1AA", complainant="Bo Two")
    c = cli.receive("2026-05-01", "--uprn", "4242", complainant="Cy Three")
    d = cli.receive("2026-05-02", "--property", "8 Elm Row, Hull HU1 1AA", complainant="Di Four")
    cli.ok("list")  # on an SQLite file, show reads the read models as the last read command left them
    expected = {a: [b, c], b: [a, c], c: [a, b], d: []}
    assert listed(cli, "--repeat") == sorted([a, b, c])
    path = cli.url.removeprefix("sqlite:///")
    for other in (Cli(path), Cli(cli.url)):
        for ref, repeats in expected.items():
            assert other.show(ref)["repeat"] == sorted(repeats), (other.url, ref)
    env = Cli(None).ok("show", b, "--format", "json", env={"COMPLAINTS_DB": path})
    assert json.loads(env.stdout)["repeat"] == sorted([a, c])


def test_a_search_matching_more_than_a_screen_shows_the_latest_and_says_how_many_more(cli: Cli, monkeypatch):
    """A common surname matches thousands of cases: the table shows the most recently received (limits.FIND_SHOWN)
    and says on stderr how many more and how to see them; json and csv stay complete unless --limit is given."""
    from complaints_ledger.domain import limits

    cli.ok("init")
    made = [cli.receive(f"2026-03-0{day}", "--property", f"{day} Mill Lane", complainant=f"Kim{day} Smith")
            for day in range(1, 6)]
    monkeypatch.setattr(limits, "FIND_SHOWN", 3)
    shown = cli.ok("find", "smith")
    assert [r["REF"] for r in table(shown.stdout)] == made[2:]  # oldest first, as listed, the latest three
    assert {r["NAME"] for r in table(shown.stdout)} == {"Kim3 Smith", "Kim4 Smith", "Kim5 Smith"}
    assert "5 cases match 'smith'" in shown.stderr and "2 more" in shown.stderr and "--all" in shown.stderr
    assert [r["REF"] for r in table(cli.ok("find", "smith", "--all").stdout)] == made
    assert "more" not in cli.ok("find", "smith", "--all").stderr
    assert refs(found(cli, "smith")) == made  # json: every case found
    assert len(cli.ok("find", "smith", "--format", "csv").stdout.splitlines()) == 1 + 5
    limited = cli.ok("find", "smith", "--format", "json", "--limit", "2")
    assert [json.loads(line)["ref"] for line in limited.stdout.splitlines()] == made[3:]
    assert "5 cases match" in limited.stderr
    assert [r["REF"] for r in table(cli.ok("find", "kim4").stdout)] == [made[3]]
    assert "--limit and --all" in cli.fails("find", "smith", "--limit", "2", "--all")


def test_a_list_longer_than_a_few_screens_shows_the_first_and_says_how_many_more(cli: Cli, monkeypatch):
    """`list` as a table shows the oldest limits.LIST_SHOWN cases with a line on stderr saying how many more and
    how to see them; --all every one; json and csv every one unless --limit; repeat flags hold on what is shown,
    and --repeat still finds repeats beyond the first screen."""
    from complaints_ledger.domain import limits

    cli.ok("init")
    made = [cli.receive(f"2026-03-0{day}", "--uprn", "100023336956" if day in (1, 5) else f"20000000000{day}",
                        complainant=f"Resident {day}") for day in range(1, 6)]
    monkeypatch.setattr(limits, "LIST_SHOWN", 3)
    shown = cli.ok("list")
    rows = table(shown.stdout)
    assert [r["REF"] for r in rows] == made[:3]  # oldest first
    assert "5 cases" in shown.stderr and "2 more" in shown.stderr and "--all" in shown.stderr
    assert [r["REF"] for r in table(cli.ok("list", "--all").stdout)] == made
    assert "more" not in cli.ok("list", "--all").stderr
    assert [json.loads(line)["ref"] for line in cli.ok("list", "--format", "json").stdout.splitlines()] == made
    flags = {json.loads(line)["ref"]: json.loads(line)["repeat"]
             for line in cli.ok("list", "--format", "json").stdout.splitlines()}
    assert flags == {ref: ref in (made[0], made[4]) for ref in made}
    assert len(cli.ok("list", "--format", "csv", "--limit", "2").stdout.splitlines()) == 1 + 2
    assert [r["REF"] for r in table(cli.ok("list", "--repeat").stdout)] == [made[0], made[4]]
    assert "--limit and --all" in cli.fails("list", "--limit", "2", "--all")
