"""Database.run without pool pre-ping: a connection PostgreSQL dropped costs no failed call."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from meshkit.db import Database, make_engine
from tests.support.stores import ADMIN_URL


@pytest.fixture
def database() -> Iterator[Database]:
    db = Database(make_engine(ADMIN_URL))
    yield db
    db.engine.dispose()


def backend(session: Session) -> int:
    return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


@pytest.mark.parametrize("autocommit", [False, True])
def test_a_connection_the_server_dropped_is_replaced_and_the_work_run_again(
    database: Database, autocommit: bool
) -> None:
    pooled = database.run(backend, autocommit)  # now idle in the pool
    admin = create_engine(ADMIN_URL, poolclass=NullPool)
    with admin.connect() as other:  # a restart or a failover, as the pool sees it
        killed = other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pooled})
        assert killed.scalar_one()
    replaced = database.run(backend, autocommit)
    assert replaced != pooled


def test_other_database_errors_are_not_run_again(database: Database) -> None:
    runs = []

    def failing(session: Session) -> None:
        runs.append(1)
        session.execute(text("SELECT no_such_column FROM pg_class"))

    with pytest.raises(Exception, match="no_such_column"):
        database.run(failing)
    assert len(runs) == 1
