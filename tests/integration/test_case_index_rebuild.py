"""The case_index read model as rebuilt (in one process and with partition workers) and as caught up, on SQLite and
PostgreSQL, against each case opened whole through the ledger's own mapper: the rebuild opens only the few sealed
fields it indexes, from the cases it folds anyway, so corrected details, an erased person and a person whose key row
is gone must come out exactly as a full reading of each case gives them; and no rebuild keeps people's keys after
the page that needed them."""

from __future__ import annotations

import copy
import json
from datetime import date

import pytest
import sqlalchemy as sa

from complaints_ledger.adapters import projection_store, simulation
from complaints_ledger.adapters.blind_index import index_key, token
from complaints_ledger.adapters.personal_data import WITHHELD, Sealed, open_sealed
from complaints_ledger.adapters.projection_store import ProjectionRunner, verify_read_models
from complaints_ledger.projections import all_projections
from complaints_ledger.projections.case_index import INDEXED, NAME, index_rows, matching_refs

UNTIL = date(2026, 11, 20)
ACTOR = "Jo Officer"


def _people(ledger, receive) -> dict[str, str]:
    """Cases beside a simulated ledger: one corrected three times, one of a person later erased, two of one person
    (one key), one whose key row is then lost."""
    simulation.build(ledger, cases=120, seed=23, actor="simulator", until=UNTIL)
    refs = {}
    refs["corrected"] = receive(ledger, complainant="Zoë O'Brien", contact="zoe@example.org, 07700 900123",
                                property_ref="1 Elm Road, Leeds LS1 4AP", uprn="100023336956",
                                received_on=date(2026, 10, 1))
    ledger.correct(refs["corrected"], field="contact", to="zoe.new@example.org", reason="New email", actor=ACTOR)
    ledger.correct(refs["corrected"], field="property", to="14 Elm Road, Leeds LS1 4AP", reason="Number", actor=ACTOR)
    ledger.correct(refs["corrected"], field="uprn", to="200", reason="Wrong UPRN", actor=ACTOR)
    refs["erased"] = receive(ledger, complainant="Ada Lovelace", contact="ada@example.org",
                             property_ref="2 Oak Street", received_on=date(2026, 3, 2))
    ledger.withdraw(refs["erased"], actor=ACTOR, on=date(2026, 3, 5), reason="Moved away")
    ledger.erase(ledger.show(refs["erased"])["complainant_id"], reason="erasure request 2026-41", actor=ACTOR)
    refs["first"] = receive(ledger, complainant="Ben Marsh", contact="ben@example.org", property_ref="3 Ash Lane",
                            received_on=date(2026, 5, 4))
    refs["second"] = receive(ledger, complainant="Ben Marsh", property_ref="3 Ash Lane",
                             complainant_id=ledger.show(refs["first"])["complainant_id"],
                             received_on=date(2026, 9, 4))
    refs["keyless"] = receive(ledger, complainant="Cy Keyless", contact="cy@example.org",
                              received_on=date(2026, 6, 1))
    vault = ledger.recorder.vault
    with vault.engine.begin() as conn:  # an insider (or an old backup) lost this person's key row
        conn.execute(vault.table.delete().where(
            vault.table.c.complainant_id == ledger.show(refs["keyless"])["complainant_id"]))
    return refs


def _expected(ledger, runner) -> dict[str, set]:
    """Every case's index rows as the ledger's full reading of the case (every field opened) gives them (`ledger`
    newly opened: the one that wrote the cases still holds the keys it made)."""
    key = index_key(ledger)
    terms, homes = set(), set()
    with runner.engine.connect() as conn:
        refs = [r[0] for r in conn.execute(sa.select(runner.live_tables("case_status")["cases"].c.ref))]
    for ref in refs:
        case = ledger.get_case(ref)
        found = index_rows(key, case, {f: getattr(case, f, None) for f in INDEXED}, token)
        terms |= {(r["ref"], r["field"], r["token"]) for r in found["terms"]}
        if found["home"] is not None:
            homes.add(tuple(found["home"][c] for c in ("ref", "complainant_id", "uprn", "address", "received_on",
                                                        "category")))
    return {"terms": terms, "homes": homes}


def _indexed(runner) -> dict[str, set]:
    tables = runner.live_tables(NAME)
    with runner.engine.connect() as conn:
        terms = {tuple(r) for r in conn.execute(sa.select(tables["terms"]))}
        homes = {tuple(r) for r in conn.execute(sa.select(*(tables["homes"].c[c] for c in (
            "ref", "complainant_id", "uprn", "address", "received_on", "category")))).all()}
    return {"terms": terms, "homes": homes}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_rebuild_indexes_what_a_full_reading_of_each_case_gives_and_keeps_no_keys(
        ledger, ledger_factory, receive, monkeypatch, workers):
    monkeypatch.setattr(projection_store, "REBUILD_WORKERS", workers)
    monkeypatch.setattr(projection_store, "PARALLEL_REBUILD_MIN_EVENTS", 1)
    refs = _people(ledger, receive)
    rebuilt_by = ledger_factory()
    runner = ProjectionRunner(rebuilt_by, all_projections())

    runner.rebuild()

    got, expected = _indexed(runner), _expected(ledger_factory(), runner)
    assert got["terms"] - expected["terms"] == set() and expected["terms"] - got["terms"] == set()
    assert got == expected
    indexed_refs = {r[0] for r in got["terms"]}
    assert refs["erased"] not in indexed_refs and refs["keyless"] not in indexed_refs
    assert {refs["corrected"], refs["first"], refs["second"]} <= indexed_refs
    assert matching_refs(runner, "zoe.new@example.org") == {refs["corrected"]}
    assert matching_refs(runner, "zoe@example.org") == set()
    assert refs["corrected"] in matching_refs(runner, "14 Elm Road", ("property",))
    assert matching_refs(runner, "200") >= {refs["corrected"]}
    assert matching_refs(runner, "obrien") == {refs["corrected"]}
    assert verify_read_models(runner, [NAME])[1] == []
    assert rebuilt_by.recorder.vault._ciphers == {}, "the rebuild kept people's keys past their page"


def test_a_correction_caught_up_by_a_new_process_reindexes_the_case(ledger, ledger_factory, receive):
    refs = _people(ledger, receive)
    ProjectionRunner(ledger_factory(), all_projections()).rebuild()
    ledger.correct(refs["first"], field="contact", to="ben.marsh@example.org", reason="New email", actor=ACTOR)
    later = ledger_factory()
    runner = ProjectionRunner(later, all_projections())  # folds nothing yet: the case is replayed, sealed

    runner.catch_up()

    assert _indexed(runner) == _expected(ledger_factory(), runner)
    assert matching_refs(runner, "ben.marsh@example.org") == {refs["first"]}
    assert matching_refs(runner, "ben@example.org") == set()
    assert later.recorder.vault._ciphers == {}


def test_a_sealed_field_reads_as_withheld_everywhere_but_still_opens(ledger, receive):
    ref = receive(ledger, complainant="Dee Sealed", contact="dee@example.org", received_on=date(2026, 4, 1))
    stored = ledger.recorder.select_events(ledger.get_case(ref).id, lte=1)[0]
    received = ledger.sealed_mapper().to_domain_event(stored)

    assert isinstance(received.complainant, Sealed) and received.complainant == WITHHELD
    assert json.dumps({"c": received.complainant}) == json.dumps({"c": WITHHELD})
    assert not isinstance(received.summary, Sealed) and received.summary == WITHHELD  # not indexed: not kept
    copied = copy.deepcopy(received.complainant)
    assert isinstance(copied, Sealed) and copied.token == received.complainant.token
    assert open_sealed(copied, ledger.recorder.vault.cipher) == "Dee Sealed"
