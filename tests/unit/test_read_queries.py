"""projections/reads.py and adapters/quick_reads.py name what the full path defines elsewhere (tables, columns,
versions, the events table, the default URL): each must stay the same as its original, or one read path would read
something the other does not. And the URL forms the quick path takes must point where the full path's do."""

from __future__ import annotations

import sqlalchemy as sa

from complaints_ledger.adapters import persistence, quick_reads
from complaints_ledger.projections import all_projections, reads


def test_the_queries_name_the_tables_and_columns_the_read_models_define():
    defined = {p.name: p.define(sa.MetaData(), "a") for p in all_projections()}
    assert {name: p.version for name, p in ((p.name, p) for p in all_projections())} == reads.VERSIONS
    cases = defined[reads.CASE_STATUS]["cases"]
    assert cases.name == reads.table_name("cases", "a")
    assert tuple(c.name for c in cases.columns) == reads.CASE_COLUMNS
    milestones, deadline_cases = defined[reads.DEADLINES]["milestones"], defined[reads.DEADLINES]["cases"]
    assert (milestones.name, deadline_cases.name) == (reads.table_name("milestones", "a"),
                                                      reads.table_name("deadline_cases", "a"))
    assert set(reads.SETTLED_COLUMNS) <= {c.name for c in milestones.columns}
    homes, terms = defined[reads.CASE_INDEX]["homes"], defined[reads.CASE_INDEX]["terms"]
    assert (homes.name, terms.name) == (reads.table_name("homes", "a"), reads.table_name("terms", "a"))
    assert set(reads.HOME_COLUMNS) <= {c.name for c in homes.columns}
    # every column SQLAlchemy converts on the way out is converted by the quick path too
    typed = {c.name for c in cases.columns if isinstance(c.type, (sa.Date, sa.Numeric, sa.Boolean))}
    assert typed == {"received_on", "ended_on", "closed_on", "next_due_on", "next_provisional",
                     "compensation_requested", "compensation_approved", "compensation_ordered", "compensation_paid"}


def test_the_quick_path_reads_the_ledger_the_full_path_opens():
    assert quick_reads.EVENTS_TABLE == persistence.EVENTS_TABLE
    assert quick_reads.DEFAULT_URL == persistence.DEFAULT_URL


def test_the_url_forms_the_quick_path_takes(tmp_path, monkeypatch):
    db = tmp_path / "l.db"
    db.touch()
    monkeypatch.chdir(tmp_path)
    assert quick_reads.target(str(db)) == ("sqlite", str(db))
    assert quick_reads.target(f"sqlite:///{db}") == ("sqlite", str(db))
    assert quick_reads.target("sqlite:///l.db") == ("sqlite", "l.db")
    assert quick_reads.target("l.db") == ("sqlite", "l.db")
    monkeypatch.setenv("COMPLAINTS_DB", "l.db")
    assert quick_reads.target(None) == ("sqlite", "l.db")
    for other in ("missing.db", f"sqlite:///{db}?timeout=5", "sqlite://", ":memory:", "file:l.db", "mysql://h/d",
                  "postgresql://u@h/", "postgresql://u@h:99999/d", "postgresql://u@h:x/d", "postgresql:///d", " "):
        assert quick_reads.target(other) is None, other
    url = "postgresql+psycopg2://jo%40x:p%3Aw@db.example:5433/ledger?options=-csearch_path%3Ds%20-crole%3Dr"
    assert quick_reads.target(url) == ("postgresql", {
        "user": "jo@x", "password": "p:w", "host": "db.example", "port": 5433, "dbname": "ledger",
        "options": "-csearch_path=s -crole=r"})
    parsed = sa.engine.make_url(url)  # as SQLAlchemy's psycopg2 dialect would connect
    args = quick_reads.target(url)[1]
    assert (parsed.username, parsed.password, parsed.host, parsed.port, parsed.database, dict(parsed.query)) == (
        args["user"], args["password"], args["host"], args["port"], args["dbname"], {"options": args["options"]})
    assert quick_reads.target("postgres://u@/d?host=/run/pg") == ("postgresql", {"user": "u", "host": "/run/pg",
                                                                                   "dbname": "d"})
    assert quick_reads.target("postgresql://u@h/d?host=h2") is None  # several hosts: the dialect's own rules
