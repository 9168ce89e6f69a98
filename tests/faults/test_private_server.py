"""The private server the fault suite stops and starts is really stopped and really back."""

import sqlalchemy as sa
import pytest


def test_a_private_server_stops_and_starts_again(private_pg):
    engine = sa.create_engine(private_pg.url, pool_pre_ping=True)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select 1")).scalar() == 1
    private_pg.stop()
    with pytest.raises(sa.exc.OperationalError):
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    private_pg.start()
    with engine.connect() as conn:
        assert conn.execute(sa.text("select 1")).scalar() == 1
    engine.dispose()
