"""The schema and the SQL on both backends: migrations match the models, races end in a join."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select

from meshkit.db import Database, make_engine
from services.contacts import repository
from services.contacts.bootstrap import VERSION_TABLE, apply_migrations
from services.contacts.models import Base, ContactRow
from services.contacts.policy import Kind
from services.contacts.validation import ContactInput, validate_contact
from tests.support.stores import fresh_postgres


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    if request.param == "postgresql":
        with fresh_postgres("contacts_store") as url:
            db = Database(make_engine(url))
            apply_migrations(db)
            yield db
            db.engine.dispose()
    else:
        path: Path = tmp_path_factory.mktemp("contacts-sqlite") / "contacts.db"
        db = Database(make_engine(f"sqlite:///{path}"))
        apply_migrations(db)
        yield db
        db.engine.dispose()


def test_migrations_are_idempotent_and_match_the_models(database):
    apply_migrations(database)
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        assert context.get_current_revision() == "0001"
        differences = [
            d for d in compare_metadata(context, Base.metadata) if d[0] != "remove_table"
        ]
    assert differences == []
    assert VERSION_TABLE in inspect(database.engine).get_table_names()


def test_an_insert_that_loses_the_race_joins_the_winner(database, monkeypatch):
    with database.transaction() as session:
        repository.add_component(session, "sciences", "Sciences")
    contact = validate_contact(ContactInput(Kind.PERSON, email="Race@Example.fr"))
    with database.transaction() as session:
        winner, joined = repository.insert_or_find(session, contact)
    assert not joined
    # The loser checked for the email before the winner committed: it saw nothing.
    real_find = repository.find_by_email
    calls: list[str] = []

    def find_too_early(session, email):  # type: ignore[no-untyped-def]
        calls.append(email)
        return None if len(calls) == 1 else real_find(session, email)

    monkeypatch.setattr(repository, "find_by_email", find_too_early)
    with database.transaction() as session:
        found, joined = repository.insert_or_find(session, contact)
    assert (found, joined) == (winner, True)
    assert len(calls) == 2
    with database.transaction() as session:
        count = session.scalar(
            select(func.count()).where(ContactRow.email_normalised == "race@example.fr")
        )
    assert count == 1
