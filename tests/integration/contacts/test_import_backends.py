"""The import's two write paths (PostgreSQL arrays, portable SQL on SQLite) decide and write alike.

The use case runs in-process against a fresh PostgreSQL database and a SQLite file
with the same batches; the reports and the rows written must be the same, contact
ids aside (they are random): each id is replaced by the first line that named it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from meshkit.db import Database, make_engine
from meshkit.identity import Principal
from services.contacts import bootstrap, imports, repository
from services.contacts.policy import Kind
from tests.support.stores import fresh_postgres
from tests.support.suppression import LocalSuppressionList

A, B = "sciences", "droit"


def editor(component: str) -> Principal:
    return Principal(f"e@{component}", component, roles=frozenset({"contact_editor"}))


def batch(first: int, *fields: dict[str, str]) -> list[imports.ImportRow]:
    return [imports.ImportRow(first + i, Kind.PERSON, f) for i, f in enumerate(fields)]


def scenario(
    db: Database, suppression: LocalSuppressionList
) -> tuple[list[list[tuple[Any, ...]]], dict[str, list[tuple[Any, ...]]]]:
    """Reports of a few batches, and the tables they leave, ids named by their first line."""
    bootstrap.apply_migrations(db)
    with db.transaction() as session:
        for component in (A, B):
            repository.add_component(session, component, component)
    batches = [
        (B, "b", batch(2, {"email": "Shared@Example.org", "first_name": "Bea"})),
        (
            A,
            "a",
            batch(
                2,
                {"email": "shared@example.org", "first_name": "Ann", "phone": "01 23 45 67 89"},
                {"email": "new@example.org", "last_name": 'N\'ew "quoted" \\ back'},
                {"email": "bad@@example", "first_name": "X"},
                {"email": "new@example.org", "private_email": "other@example.org"},
                {"phone": "+33123456789", "job_title": "Directeur"},
                {"email": "shared@example.org", "droit.secret": "x"},
            ),
        ),
        (A, "a", batch(8, {"email": "new@example.org", "first_name": "Later"})),
        (A, "a2", batch(2, {"email": "shared@example.org", "first_name": "Ann"})),
        (A, "a3", batch(2, {"email": "Suppressed@Example.org"}, {"email": "fine@example.org"})),
    ]
    ids: dict[str, str] = {}
    reports = []
    for component, import_id, rows in batches:
        got = imports.import_contacts(
            db, editor(component), import_id, rows[0].line, rows, False, suppression
        )
        for report in got:
            if report.contact_id:
                ids.setdefault(report.contact_id, f"{import_id}:{report.line}")
        reports.append([(r.line, r.outcome, ids.get(r.contact_id, ""), r.problems,
                         r.same_as_line) for r in got])  # fmt: skip
    queries = {
        "contact_values": "SELECT contact_id, field, owner_component, value FROM contact_values",
        "contact_addresses": "SELECT address, contact_id FROM contact_addresses",
        "memberships": "SELECT contact_id, component_id FROM memberships",
        "contact_changes": "SELECT contact_id, action, component, fields, detail "
        "FROM contact_changes",
        "contacts": "SELECT id, kind FROM contacts",
    }
    tables = {}
    with db.engine.connect() as connection:
        for name, sql in queries.items():
            rows_ = [tuple(_named(v, ids) for v in row) for row in connection.execute(text(sql))]
            tables[name] = sorted(rows_, key=repr)
    db.engine.dispose()
    return reports, tables


def _named(value: Any, ids: dict[str, str]) -> Any:
    """A contact id as the line that first named it; JSON as its content on both backends."""
    if isinstance(value, str) and value[:1] in "[{":
        value = json.loads(value)
    return ids.get(value, value) if isinstance(value, str) else value


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with fresh_postgres("import_backends") as url:
        yield url


def test_postgres_and_sqlite_import_the_same_batches_alike(
    postgres_url: str, tmp_path: Path
) -> None:
    suppression = LocalSuppressionList(tmp_path)
    suppression.add("suppressed@example.org")
    on_postgres = scenario(Database(make_engine(postgres_url)), suppression)
    on_sqlite = scenario(
        Database(make_engine(f"sqlite:///{tmp_path / 'contacts.db'}")), suppression
    )
    suppression.close()
    assert on_postgres == on_sqlite
    reports, tables = on_postgres
    assert [r[1] for r in reports[1]] == [
        "joined", "created", "rejected", "updated", "updated", "rejected",
    ]  # fmt: skip
    assert ("a:3", "last_name", A, 'N\'ew "quoted" \\ back') in tables["contact_values"]
    assert ("other@example.org", "a:3") in tables["contact_addresses"]
    assert [r[1] for r in reports[3]] == ["unchanged"]
    assert [r[1] for r in reports[4]] == ["rejected", "created"]  # the first is suppressed
