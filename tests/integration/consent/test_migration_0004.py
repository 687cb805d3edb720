"""Migration 0004 on SQLite and PostgreSQL: old grant/withdraw rows become granted/withdrawn,
the catalogue and basis rules are seeded, and events and notices stay append-only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime

import pytest
import sqlalchemy.exc
from sqlalchemy import Engine, text

from meshkit.db import make_engine, migrate
from services.consent.bootstrap import MIGRATIONS, VERSION_TABLE
from tests.support.stores import fresh_postgres

LEGACY = [
    ("e1", "grant", "legitimate_interest", "alice@law", "web-form"),
    ("e2", "withdraw", None, "service:gateway", "one-click"),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/consent.db"
        engine = make_engine(url)
        yield engine
        engine.dispose()
    else:
        with fresh_postgres("consent_0004") as url:
            engine = make_engine(url)
            yield engine
            engine.dispose()


def _insert_legacy(engine: Engine) -> None:
    with engine.begin() as connection:
        for event_id, action, basis, actor, source in LEGACY:
            connection.execute(
                text(
                    "INSERT INTO consent_events (id, contact_id, channel, purpose, scope_kind,"
                    " scope_component, action, legal_basis, actor_subject, actor_component,"
                    " source, text_shown, recorded_at) VALUES (:id, 'c1', 'email', 'newsletter',"
                    " 'grouping', NULL, :action, :basis, :actor, NULL, :source, 'text', :at)"
                ),
                {
                    "id": event_id,
                    "action": action,
                    "basis": basis,
                    "actor": actor,
                    "source": source,
                    "at": datetime(2024, 1, 1, tzinfo=UTC),
                },
            )


def test_old_rows_are_migrated_and_stay_append_only(engine: Engine) -> None:
    migrate(engine, MIGRATIONS, VERSION_TABLE, "0003")
    _insert_legacy(engine)
    migrate(engine, MIGRATIONS, VERSION_TABLE)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT seq, id, kind, how, legal_basis FROM consent_events ORDER BY seq")
        ).all()
        assert [tuple(r)[1:] for r in rows] == [
            ("e1", "granted", "staff", "legitimate_interest"),
            ("e2", "withdrawn", "one_click", None),
        ]
        purposes = connection.execute(text("SELECT key FROM consent_purposes")).scalars().all()
        assert len(purposes) == 7 and "apprenticeship_tax" in purposes
        rules = connection.execute(
            text(
                "SELECT contact_kind, basis FROM consent_basis_rules"
                " WHERE purpose = 'newsletter' AND channel = 'email' ORDER BY contact_kind"
            )
        ).all()
        assert [tuple(r) for r in rules] == [
            ("business", "legitimate_interest"),
            ("consumer", "consent"),
        ]
    # A new row continues the total order after the copied ones.
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO consent_events (id, contact_id, kind, channel, purpose, scope_kind,"
                " pending, actor_subject, how, source, recorded_at) VALUES ('e3', 'c1',"
                " 'objected', NULL, NULL, 'grouping', false, 'x', 'staff', 's', :at)"
            ),
            {"at": datetime(2024, 2, 1, tzinfo=UTC)},
        )
        seq = connection.execute(text("SELECT seq FROM consent_events WHERE id = 'e3'")).scalar()
        assert seq is not None and seq > rows[-1][0]
    for statement in (
        "UPDATE consent_events SET source = 'changed'",
        "DELETE FROM consent_events",
    ):
        with pytest.raises(sqlalchemy.exc.DatabaseError, match="append-only"):
            with engine.begin() as connection:
                connection.execute(text(statement))


def test_notices_refuse_update_and_delete(engine: Engine) -> None:
    migrate(engine, MIGRATIONS, VERSION_TABLE)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO consent_notices (id, purpose, language, version, text,"
                " published_at, published_by) VALUES ('n1', 'newsletter', 'fr', 1, 'Texte',"
                " :at, 'admin')"
            ),
            {"at": datetime(2024, 1, 1, tzinfo=UTC)},
        )
    for statement in ("UPDATE consent_notices SET text = 'Autre'", "DELETE FROM consent_notices"):
        with pytest.raises(sqlalchemy.exc.DatabaseError, match="append-only"):
            with engine.begin() as connection:
                connection.execute(text(statement))


@pytest.mark.parametrize("how", ["web_form", "staff"])
def test_a_staff_event_carrying_an_ip_address_is_refused(engine: Engine, how: str) -> None:
    migrate(engine, MIGRATIONS, VERSION_TABLE)
    refused: AbstractContextManager[object] = (
        pytest.raises(sqlalchemy.exc.IntegrityError) if how == "staff" else nullcontext()
    )
    with refused:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO consent_events (id, contact_id, kind, channel, purpose,"
                    " scope_kind, legal_basis, pending, actor_subject, how, source, ip,"
                    " recorded_at)"
                    " VALUES ('x', 'c1', 'granted', 'email', 'newsletter', 'grouping',"
                    " 'consent', false, 'a', :how, 's', '192.0.2.1', :at)"
                ),
                {"at": datetime(2024, 1, 1, tzinfo=UTC), "how": how},
            )
