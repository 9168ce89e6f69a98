"""`list`'s and `find`'s repeat flags for the rows they show (case_index.repeat_refs with `among`), read from the
homes near those cases only (search.cases_near), against the domain's rule over every home (search.repeats), on
SQLite and PostgreSQL: homes by UPRN, by an address that maps to one UPRN, by an address given with two UPRNs, by
address only, cases with no home, and the 29 February edges of "within 12 months"."""

from __future__ import annotations

import random
from datetime import date, timedelta
from types import SimpleNamespace

import sqlalchemy as sa

from complaints_ledger.adapters import quick_reads
from complaints_ledger.adapters.projection_store import ProjectionRunner
from complaints_ledger.domain import search
from complaints_ledger.projections import case_index


def _homes(seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    days = [date(2024, 2, 29), date(2025, 2, 28), date(2025, 3, 1), date(2023, 2, 28), date(2023, 3, 1),
            date(2028, 2, 29), date(2029, 2, 28), date(2029, 3, 1), date(2027, 3, 1), date(2027, 2, 28)]
    for n in range(600):
        kind = rng.random()
        uprn = f"u{rng.randrange(40)}" if kind < 0.4 else None
        address = f"a{rng.randrange(60)}" if kind > 0.2 else None
        if uprn is None and address is None:
            continue  # the read model keeps no homes row for a case with neither
        received = rng.choice(days) if rng.random() < 0.3 else date(2023, 1, 1) + timedelta(days=rng.randrange(2500))
        rows.append({"ref": f"CMP-{n:06d}", "complainant_id": None, "uprn": uprn, "address": address,
                     "received_on": received, "category": None})
    return rows


def test_flags_for_the_rows_shown_are_the_rule_over_every_home(db_url):
    """Both read paths: through the engine (as the full path runs the query) and a plain DB-API connection."""
    engine = sa.create_engine(db_url)
    metadata = sa.MetaData()
    tables = case_index.CaseIndex().define(metadata, "t")
    metadata.create_all(engine)
    full = SimpleNamespace(engine=engine, live_suffix=lambda name: "t")
    full.fetch = lambda sql, params=(): ProjectionRunner.fetch(full, sql, params)
    where = quick_reads.target(db_url)
    quick = quick_reads.QuickRunner(quick_reads.connect(where, snapshot=False), where[0], {case_index.NAME: "t"},
                                    lambda: None)
    try:
        for seed in range(3):
            rows = _homes(seed)
            with engine.begin() as conn:
                conn.execute(tables["homes"].delete())
                conn.execute(tables["homes"].insert(), rows)
            every = search.repeats(search.HomeCase(ref=r["ref"], uprn=r["uprn"], address=r["address"],
                                                   received_on=r["received_on"]) for r in rows)
            assert every and len(every) < len(rows)  # the data holds both kinds
            shown = [r["ref"] for r in rows[::3]] + ["CMP-NO-HOME"]
            for runner in (full, quick):
                assert case_index.repeat_refs(runner, among=shown) == every & set(shown)
                assert case_index.repeat_refs(runner, among=[]) == set()
                assert case_index.repeat_refs(runner, among=[r["ref"] for r in rows]) == every
    finally:
        quick.close()
        engine.dispose()
