"""The SQL of the consent service: append events, read one contact's streams.

Each function works inside the caller's session, so a use case stays one
transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from meshkit.identity import Principal
from services.consent.domain import Action, Change, Channel, ConsentEvent
from services.consent.models import ConsentEventRow, SuppressionRow, event_of


def append(
    session: Session,
    principal: Principal,
    change: Change,
    action: Action,
    recorded_at: datetime,
    withdrawal_key: str | None = None,
) -> ConsentEvent | None:
    """Appends one event; None when an event with this withdrawal key is already there.

    The unique withdrawal key lets the database pick one of two concurrent
    identical withdrawals: the other's insert does nothing.
    """
    # The actor is always the verified caller, never something the request claims.
    values = {
        "id": str(uuid.uuid4()),
        "contact_id": change.contact_id,
        "channel": change.channel.value,
        "purpose": change.purpose,
        "scope_kind": change.scope.kind,
        "scope_component": change.scope.component,
        "action": action.value,
        "legal_basis": change.legal_basis.value if change.legal_basis else None,
        "actor_subject": principal.subject,
        "actor_component": principal.component,
        "source": change.source,
        "text_shown": change.text_shown,
        "recorded_at": recorded_at.astimezone(UTC),
        "withdrawal_key": withdrawal_key,
    }
    statement = (
        _insert(session)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["withdrawal_key"])
        .returning(ConsentEventRow)
    )
    row = session.scalars(statement).first()
    return event_of(row) if row is not None else None


def by_withdrawal_key(session: Session, key: str) -> ConsentEvent:
    """The withdrawal recorded under this key (it exists: its insert won)."""
    row = session.scalars(
        select(ConsentEventRow).where(ConsentEventRow.withdrawal_key == key)
    ).one()
    return event_of(row)


def stream(session: Session, contact_id: str, channel: Channel, purpose: str) -> list[ConsentEvent]:
    """Every event of one contact x channel x purpose, all scopes, by seq."""
    rows = session.scalars(
        select(ConsentEventRow)
        .where(
            ConsentEventRow.contact_id == contact_id,
            ConsentEventRow.channel == channel.value,
            ConsentEventRow.purpose == purpose,
        )
        .order_by(ConsentEventRow.seq)
    )
    return [event_of(row) for row in rows]


def history(session: Session, contact_id: str) -> list[ConsentEvent]:
    """Every event of one contact, by seq."""
    rows = session.scalars(
        select(ConsentEventRow)
        .where(ConsentEventRow.contact_id == contact_id)
        .order_by(ConsentEventRow.seq)
    )
    return [event_of(row) for row in rows]


def batch(
    session: Session, contact_ids: Collection[str], channel: Channel, purpose: str
) -> list[ConsentEvent]:
    """The events of many contacts for one channel and purpose, in one query."""
    rows = session.scalars(
        select(ConsentEventRow).where(
            ConsentEventRow.contact_id.in_(set(contact_ids)),
            ConsentEventRow.channel == channel.value,
            ConsentEventRow.purpose == purpose,
        )
    )
    return [event_of(row) for row in rows]


def _insert(session: Session) -> Any:
    """An INSERT that supports ON CONFLICT on both backends the service runs on."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(ConsentEventRow)
    return sqlite.insert(ConsentEventRow)


# --- Suppression list: keyed hashes of addresses (services/consent/suppression.py) ---------


def suppress(session: Session, hashes: Collection[str], reason: str, recorded_at: datetime) -> int:
    """Adds the hashes not listed yet (the first reason stays); returns how many were new."""
    if not hashes:
        return 0
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    rows = [{"hash": h, "reason": reason, "recorded_at": recorded_at} for h in sorted(set(hashes))]
    statement = (
        insert(SuppressionRow)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["hash"])
        .returning(SuppressionRow.hash)
    )
    return len(session.scalars(statement).all())


def blocked(session: Session, hashes: Collection[str]) -> set[str]:
    """Which of these address hashes are suppressed, in one query (up to 10,000 of them)."""
    if not hashes:
        return set()
    found = session.scalars(select(SuppressionRow.hash).where(SuppressionRow.hash.in_(set(hashes))))
    return set(found)


def event_by_id(session: Session, event_id: str) -> ConsentEvent | None:
    """One event by its id (a receipt is asked for by event id)."""
    row = session.scalars(select(ConsentEventRow).where(ConsentEventRow.id == event_id)).first()
    return event_of(row) if row is not None else None
