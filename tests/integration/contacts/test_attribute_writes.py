"""A component's attribute written by another under a write grant stays that component's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from meshkit.db import Database, make_engine
from meshkit.errors import PermissionDenied
from meshkit.identity import Principal
from services.contacts import service
from services.contacts.bootstrap import apply_migrations
from services.contacts.policy import Kind

EDITOR = frozenset({"contact_editor"})


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(make_engine(f"sqlite:///{tmp_path / 'contacts.db'}"))
    apply_migrations(database)
    admin = Principal("admin", roles=frozenset({"admin"}))
    for component in ("sciences", "droit"):
        service.create_component(database, admin, component, component.title())
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO attribute_definitions (component_id, key, type, choices, label_fr,"
                " label_en, created_at) VALUES ('sciences', 'note', 'text', '[]', 'n', 'n',"
                " CURRENT_TIMESTAMP)"
            )
        )
    yield database
    database.engine.dispose()


def _grant_members_write(db: Database) -> None:
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO field_policies (field, read, write, updated_by, updated_at) VALUES"
                " ('sciences.note', '[{\"audience\": \"members\"}]',"
                " '[{\"audience\": \"members\"}]', 'test', CURRENT_TIMESTAMP)"
            )
        )


def test_a_member_granted_write_changes_the_owners_value(db: Database) -> None:
    _grant_members_write(db)
    a = Principal("a", component="sciences", roles=EDITOR)
    b = Principal("b", component="droit", roles=EDITOR)
    created, _ = service.create_contact(
        db, a, Kind.PERSON, {"email": "x@example.org", "sciences.note": "from A"}
    )
    cid = created.view.id
    service.create_contact(db, b, Kind.PERSON, {"email": "x@example.org"})
    seen = service.get_contact(db, b, cid)
    changed = service.update_contact(db, b, cid, seen.etag, {"sciences.note": "from B"}, [])
    assert changed.view.fields["sciences.note"].owner == "sciences"
    assert service.get_contact(db, a, cid).view.fields["sciences.note"].value == "from B"
    with db.engine.connect() as connection:
        owners = connection.execute(
            text("SELECT owner_component FROM contact_values WHERE field = 'sciences.note'")
        ).scalars()
        assert list(owners) == ["sciences"]  # no value of droit's under sciences' attribute


def test_without_a_write_grant_another_component_may_not_write_it(db: Database) -> None:
    a = Principal("a", component="sciences", roles=EDITOR)
    b = Principal("b", component="droit", roles=EDITOR)
    created, _ = service.create_contact(
        db, a, Kind.PERSON, {"email": "y@example.org", "sciences.note": "A's"}
    )
    service.create_contact(db, b, Kind.PERSON, {"email": "y@example.org"})
    seen = service.get_contact(db, b, created.view.id)
    with pytest.raises(PermissionDenied):
        service.update_contact(db, b, created.view.id, seen.etag, {"sciences.note": "B"}, [])
    assert service.get_contact(db, a, created.view.id).view.fields["sciences.note"].value == "A's"
