"""The fast insert path used by projections stores exactly what a Core insert stores, on SQLite and PostgreSQL,
for awkward values: empty strings beside NULLs, quotes, commas, tabs, newlines, backslashes, COPY's end marker."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from complaints_ledger.adapters.projection_store import ProjectionRunner, bulk_insert

AWKWARD = ["plain", "", 'say "no", twice', "tab\there", "line\nbreak\r\n", "back\\slash \\N", "\\.", "£ – ü",
           "NULL", "True", "1,2"]


def _table(metadata: sa.MetaData, name: str) -> sa.Table:
    return sa.Table(
        name, metadata,
        sa.Column("n", sa.BigInteger, primary_key=True),
        sa.Column("text", sa.Text, nullable=True),
        sa.Column("short", sa.String(40), nullable=True),
        sa.Column("day", sa.Date, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("flag", sa.Boolean, nullable=True),
        sa.Column("money", sa.Numeric(12, 2), nullable=True),
        sa.Column("count", sa.Integer, nullable=True),
    )


def _rows(with_empty: bool) -> list[dict]:
    texts = [t for t in AWKWARD if with_empty or t != ""] + [None]
    rows = []
    for n, text in enumerate(texts):
        rows.append({"n": n, "text": text, "short": texts[(n + 3) % len(texts)], "day": date(2026, 3, n % 28 + 1),
                     "at": datetime(2026, 3, 1, 9, n, tzinfo=timezone.utc) if n % 3 else None,
                     "flag": (None, True, False)[n % 3], "money": Decimal(f"{n}.05") if n % 2 else None,
                     "count": n * 7 if n % 4 else None})
    return rows


@pytest.mark.parametrize("with_empty", [True, False], ids=["with-empty-strings", "without"])
def test_bulk_insert_reads_back_exactly_as_a_core_insert(ledger, with_empty):
    engine = ProjectionRunner(ledger, []).engine
    metadata = sa.MetaData()
    fast, core = _table(metadata, "t_bulk_fast"), _table(metadata, "t_bulk_core")
    metadata.drop_all(engine)
    metadata.create_all(engine)
    rows = _rows(with_empty)
    try:
        with engine.begin() as conn:
            bulk_insert(conn, fast, rows)
            conn.execute(core.insert(), rows)
        with engine.connect() as conn:
            got = [tuple(r) for r in conn.execute(sa.select(fast).order_by(fast.c.n))]
            want = [tuple(r) for r in conn.execute(sa.select(core).order_by(core.c.n))]
    finally:
        metadata.drop_all(engine)
    assert got == want
    assert len(got) == len(rows)
    assert [r[1] for r in got] == [r["text"] for r in rows]  # "" stays "", None stays NULL
