"""The SQL of the contacts service: reads records into policy objects, writes rows.

Each function works inside the caller's session, so a use case stays one
transaction. Reads of several contacts are batched: a fixed number of queries
whatever the number of contacts.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.contacts import policy
from services.contacts.models import (
    AttributeRow,
    ComponentRow,
    ContactRow,
    MembershipRow,
    SensitiveReadRow,
    utcnow,
)
from services.contacts.validation import AttributeInput, ValidContact


@dataclass(frozen=True)
class SensitiveRead:
    """One owner-only field shown to one caller."""

    subject: str
    component: str
    contact_id: str
    field: str


def component_exists(session: Session, component_id: str) -> bool:
    """True when the component is registered."""
    return session.get(ComponentRow, component_id) is not None


def add_component(session: Session, component_id: str, name: str) -> bool:
    """Registers a component; False when the id is already taken."""
    statement = (
        _insert_on_conflict(session, ComponentRow.__table__)
        .values(id=component_id, name=name, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(ComponentRow.id)
    )
    return session.execute(statement).first() is not None


def components(session: Session) -> list[tuple[str, str]]:
    """Every registered component as (id, name), by id."""
    rows = session.execute(select(ComponentRow.id, ComponentRow.name).order_by(ComponentRow.id))
    return [(row.id, row.name) for row in rows]


def insert_or_find(session: Session, contact: ValidContact) -> tuple[str, bool]:
    """Inserts the contact, or finds the one with its email: (id, True when it existed).

    The unique index on the normalised email decides between concurrent creators:
    the loser's insert does nothing and it joins the record the winner committed.
    """
    if contact.email_normalised is not None:
        existing = find_by_email(session, contact.email_normalised)
        if existing is not None:
            return existing, True
    new_id = str(uuid.uuid4())
    statement = (
        _insert_on_conflict(session, ContactRow.__table__)
        .values(
            id=new_id,
            kind=contact.kind.value,
            email=contact.email,
            email_normalised=contact.email_normalised,
            first_name=contact.first_name,
            last_name=contact.last_name,
            organisation=contact.organisation,
            phone=contact.phone,
            time_zone=contact.time_zone,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["email_normalised"])
        .returning(ContactRow.id)
    )
    # No row back means another transaction committed this email first.
    if session.execute(statement).first() is not None:
        return new_id, False
    assert contact.email_normalised is not None  # only the email can conflict
    winner = find_by_email(session, contact.email_normalised)
    if winner is None:  # the winner's record vanished between two statements: nothing to join
        raise RuntimeError("a contact with this email was created and removed concurrently")
    return winner, True


def find_by_email(session: Session, email_normalised: str) -> str | None:
    """The id of the contact with this normalised email, if any."""
    return session.scalar(
        select(ContactRow.id).where(ContactRow.email_normalised == email_normalised)
    )


def contact_exists(session: Session, contact_id: str) -> bool:
    return session.get(ContactRow, contact_id) is not None


def existing_ids(session: Session, ids: Collection[str]) -> set[str]:
    """Which of these ids name a contact, in one query."""
    if not ids:
        return set()
    return set(session.scalars(select(ContactRow.id).where(ContactRow.id.in_(set(ids)))))


def is_member(session: Session, contact_id: str, component_id: str) -> bool:
    return session.get(MembershipRow, (contact_id, component_id)) is not None


def add_membership(session: Session, contact_id: str, component_id: str) -> None:
    """Makes the component a member of the contact; nothing happens when it already is."""
    statement = _insert_on_conflict(session, MembershipRow.__table__).on_conflict_do_nothing(
        index_elements=["contact_id", "component_id"]
    )
    session.execute(
        statement.values(contact_id=contact_id, component_id=component_id, created_at=utcnow())
    )


def put_attribute(session: Session, contact_id: str, owner: str, attribute: AttributeInput) -> None:
    """Writes the owner's attribute, replacing its previous value and visibility."""
    assert attribute.visibility is not None  # validated before
    values = {
        "value": attribute.value,
        "visibility": policy.stored_visibility(attribute.visibility).value,
        "updated_at": utcnow(),
    }
    statement = (
        _insert_on_conflict(session, AttributeRow.__table__)
        .values(contact_id=contact_id, owner_component=owner, key=attribute.key, **values)
        .on_conflict_do_update(index_elements=["contact_id", "owner_component", "key"], set_=values)
    )
    session.execute(statement)


def member_ids(session: Session, component_id: str, after: str | None, limit: int) -> list[str]:
    """Ids of the component's contacts, in id order, after `after` (keyset paging)."""
    query = select(MembershipRow.contact_id).where(MembershipRow.component_id == component_id)
    if after is not None:
        query = query.where(MembershipRow.contact_id > after)
    return list(session.scalars(query.order_by(MembershipRow.contact_id).limit(limit)))


def load_contacts(session: Session, ids: Collection[str]) -> dict[str, policy.Contact]:
    """The contacts with these ids, with members and attributes, in three queries."""
    if not ids:
        return {}
    wanted = list(set(ids))
    rows = session.scalars(select(ContactRow).where(ContactRow.id.in_(wanted)))
    members: dict[str, set[str]] = defaultdict(set)
    for contact_id, component_id in session.execute(
        select(MembershipRow.contact_id, MembershipRow.component_id).where(
            MembershipRow.contact_id.in_(wanted)
        )
    ):
        members[contact_id].add(component_id)
    attributes: dict[str, list[policy.Attribute]] = defaultdict(list)
    for row in session.scalars(select(AttributeRow).where(AttributeRow.contact_id.in_(wanted))):
        attributes[row.contact_id].append(
            policy.Attribute(row.key, row.value, row.owner_component, _visibility(row.visibility))
        )
    return {
        row.id: policy.Contact(
            id=row.id,
            kind=policy.Kind(row.kind),
            first_name=row.first_name,
            last_name=row.last_name,
            organisation=row.organisation,
            email=row.email,
            phone=row.phone,
            time_zone=row.time_zone,
            members=frozenset(members[row.id]),
            attributes=tuple(attributes[row.id]),
        )
        for row in rows
    }


def record_sensitive_reads(session: Session, reads: Iterable[SensitiveRead]) -> None:
    """Appends one audit row per owner-only field shown, in a single statement."""
    now = utcnow()
    rows = [
        {
            "subject": r.subject,
            "component": r.component,
            "contact_id": r.contact_id,
            "field": r.field,
            "read_at": now,
        }
        for r in reads
    ]
    if rows:
        session.execute(insert(SensitiveReadRow), rows)


def _visibility(stored: str) -> policy.Visibility:
    # A value this version does not know is read as owner-only: deny by default.
    try:
        return policy.Visibility(stored)
    except ValueError:
        return policy.Visibility.OWNER


def _insert_on_conflict(session: Session, table: Any) -> Any:
    """An INSERT that supports ON CONFLICT on both backends the service runs on."""
    dialect = session.get_bind().dialect.name
    target: Table = table
    if dialect == "postgresql":
        return postgresql.insert(target)
    return sqlite.insert(target)
