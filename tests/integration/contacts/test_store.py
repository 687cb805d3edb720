"""The schema and the SQL on both backends: migrations match the models, races end in a join."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select

from meshkit.db import Database, make_engine
from meshkit.identity import Principal
from meshkit.roles import Role
from services.contacts import repository, service
from services.contacts.bootstrap import VERSION_TABLE, apply_migrations
from services.contacts.models import AddressRow, Base, ContactRow, MembershipRow
from services.contacts.policy import Kind
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
        assert context.get_current_revision() == "0005"
        differences = [
            d for d in compare_metadata(context, Base.metadata) if d[0] != "remove_table"
        ]
    assert differences == []
    assert VERSION_TABLE in inspect(database.engine).get_table_names()


def editor(component: str) -> Principal:
    return Principal(
        f"manager@{component}", component=component, roles=frozenset({Role.CONTACT_EDITOR.value})
    )


def test_an_insert_that_loses_the_race_joins_the_winner(database, monkeypatch):
    with database.transaction() as session:
        repository.add_component(session, "sciences", "Sciences")
        repository.add_component(session, "droit", "Droit")
    fields = {"email": "Race@Example.fr"}
    winner, joined = service.create_contact(database, editor("sciences"), Kind.PERSON, fields)
    assert not joined
    # The loser looked for the address before the winner committed: it saw nothing,
    # inserted its own row, and only the address's primary key told it about the winner.
    real_find = repository.contact_for_addresses
    calls: list[object] = []

    def find_too_early(session, addresses):  # type: ignore[no-untyped-def]
        calls.append(addresses)
        return None if len(calls) == 1 else real_find(session, addresses)

    monkeypatch.setattr(repository, "contact_for_addresses", find_too_early)
    loser, joined = service.create_contact(
        database, editor("droit"), Kind.PERSON, {"email": "race@example.FR"}
    )
    assert (loser.view.id, joined) == (winner.view.id, True)
    assert len(calls) == 1
    with database.transaction() as session:
        contacts = session.scalar(select(func.count()).select_from(ContactRow))
        addresses = session.execute(select(AddressRow.address, AddressRow.contact_id)).all()
        members = set(
            session.scalars(
                select(MembershipRow.component_id).where(MembershipRow.contact_id == winner.view.id)
            )
        )
    assert contacts == 1  # the loser's own row is gone
    assert addresses == [("race@example.fr", winner.view.id)]
    assert members == {"sciences", "droit"}


def test_a_race_loser_with_a_second_new_address_leaves_no_row_behind(database, monkeypatch):
    """The loser had bound its other (new) address to its own row before it learnt it lost."""
    with database.transaction() as session:
        for component in ("lettres", "arts"):
            repository.add_component(session, component, component.title())
    fields = {"email": "zz-winner@example.fr"}
    winner, _ = service.create_contact(database, editor("lettres"), Kind.PERSON, fields)
    monkeypatch.setattr(repository, "contact_for_addresses", lambda session, addresses: None)
    both = {"email": "zz-winner@example.fr", "private_email": "aa-loser@example.fr"}
    loser, joined = service.create_contact(database, editor("arts"), Kind.PERSON, both)
    assert (loser.view.id, joined) == (winner.view.id, True)
    with database.transaction() as session:
        ids = set(session.scalars(select(ContactRow.id)))
        bound = dict(
            session.execute(
                select(AddressRow.address, AddressRow.contact_id).where(
                    AddressRow.address.in_(["zz-winner@example.fr", "aa-loser@example.fr"])
                )
            ).all()
        )
    assert winner.view.id in ids
    assert bound == {
        "zz-winner@example.fr": winner.view.id,
        "aa-loser@example.fr": winner.view.id,
    }
