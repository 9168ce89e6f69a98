"""Read models are not append-only (a rebuild replaces them), so someone with raw SQL can edit them: `projections
verify` rebuilds them afresh from the log, in memory, and names every row that differs. SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from tests.e2e._cli import Cli, error_line


def test_projections_verify_names_read_model_rows_edited_with_raw_sql(db_url):
    cli = Cli(db_url)
    edited = cli.receive("2026-03-02")
    removed = cli.receive("2026-03-03")
    cli.ok("acknowledge", edited, "--on", "2026-03-03")
    cli.ok("withdraw", removed, "--on", "2026-03-04", "--reason", "fixed")
    cli.ok("feedback", "--kind", "compliment", "--summary", "Thanks to the repairs team", "--on", "2026-03-05")
    assert cli.ok("projections", "verify").stdout.startswith("read models match a fresh rebuild from the log")

    engine = sa.create_engine(db_url)
    with engine.begin() as conn:  # an insider (a writer login, the owner) edits the live copies
        suffix = dict(conn.exec_driver_sql("SELECT name, active_suffix FROM projection_state").all())
        conn.exec_driver_sql(f"UPDATE rm_case_status_{suffix['case_status']} SET status = 'closed', "
                             f"compensation_paid = 500 WHERE ref = '{edited}'")
        conn.exec_driver_sql(f"DELETE FROM rm_deadlines_{suffix['deadlines']} WHERE ref = '{edited}' "
                             "AND milestone = 'acknowledge'")
        conn.exec_driver_sql(f"UPDATE rm_committee_{suffix['committee']} SET kind = 'compliment' "
                             f"WHERE ref = '{removed}' AND kind = 'received'")
    engine.dispose()

    result = cli("projections", "verify")
    lines = result.stdout.splitlines()
    assert f"differ from the log in {len(lines)} place(s)" in error_line(result)
    # The facts edit also moved a count in the committee's months table (its triggers keep it in step with the
    # facts), which the log does not give either: named by its month and what it counts.
    months = [line for line in lines if line.startswith("DIFFERS  committee.months: row (month 2026-03-01, ")]
    assert any("kind compliment" in line and "is in the read model but not in the log" in line for line in months)
    assert any("kind received" in line and "is missing from the read model" in line for line in months)
    assert len(lines) == 3 + len(months), lines
    assert f"DIFFERS  case_status.cases: {edited} differs from the log: status 'closed' (the log gives 'open'); " \
           "compensation_paid '500' (the log gives '0')" in lines
    assert f"DIFFERS  deadlines.milestones: {edited} differs from the log: 0 row(s) in the read model that the " \
           "log does not give, 1 row(s) of the log missing" in lines
    assert f"DIFFERS  committee.facts: {removed} differs from the log: kind 'compliment' (the log gives " \
           "'received')" in lines
    assert f"differ from the log in {1 + len(months)} place(s)" in error_line(cli("projections", "verify", "committee"))

    cli.ok("projections", "rebuild")
    cli.ok("projections", "verify")
