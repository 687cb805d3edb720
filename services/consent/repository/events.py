"""Consent events: append (with repeat keys), read streams, histories and batches."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from meshkit.identity import Principal
from services.consent import metrics
from services.consent.domain import (
    BatchEvent,
    Channel,
    ConsentEvent,
    EventKind,
    LegalBasis,
    Question,
    Scope,
)
from services.consent.domain import (
    Collection as Collected,
)
from services.consent.models import (
    ConsentEventRow,
    event_of,
)
from services.consent.repository._sql import insert_for, values_of


@dataclass(frozen=True)
class NewEvent:
    """An event about to be appended (the actor comes from the verified caller)."""

    contact_id: str
    kind: EventKind
    channel: Channel | None
    purpose: str | None
    scope: Scope
    collection: Collected
    legal_basis: LegalBasis | None = None
    text_shown: str | None = None
    notice_id: str | None = None
    pending: bool = False
    refers_to: str | None = None


def append(
    session: Session,
    principal: Principal,
    new: NewEvent,
    recorded_at: datetime,
    repeat_key: str | None = None,
) -> ConsentEvent | None:
    """Appends one event; None when an event with this repeat key is already there.

    The unique key lets the database pick one of two concurrent identical
    withdrawals or objections: the other's insert does nothing.
    """
    # The actor is always the verified caller, never something the request claims.
    values = {
        "id": str(uuid.uuid4()),
        "contact_id": new.contact_id,
        "kind": new.kind.value,
        "channel": new.channel.value if new.channel else None,
        "purpose": new.purpose,
        "scope_kind": new.scope.kind,
        "scope_component": new.scope.component,
        "legal_basis": new.legal_basis.value if new.legal_basis else None,
        "pending": new.pending,
        "refers_to": new.refers_to,
        "notice_id": new.notice_id,
        "actor_subject": principal.subject,
        "actor_component": principal.component,
        "how": new.collection.how.value,
        "source": new.collection.source,
        "ip": new.collection.ip,
        "user_agent": new.collection.user_agent,
        "text_shown": new.text_shown,
        "recorded_at": recorded_at.astimezone(UTC),
        "withdrawal_key": repeat_key,
    }
    statement = (
        insert_for(session, ConsentEventRow)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["withdrawal_key"])
        .returning(ConsentEventRow)
    )
    row = session.scalars(statement).first()
    if row is None:
        return None
    # Counted at the insert: a transaction rolled back after it (rare) over-counts by one.
    metrics.EVENTS.labels(new.kind.value).inc()
    return event_of(row)


def by_repeat_key(session: Session, key: str) -> ConsentEvent:
    """The withdrawal or objection recorded under this key (it exists: its insert won)."""
    row = session.scalars(
        select(ConsentEventRow).where(ConsentEventRow.withdrawal_key == key)
    ).one()
    return event_of(row)


def event(session: Session, event_id: str) -> ConsentEvent | None:
    """One event by id."""
    row = session.scalars(select(ConsentEventRow).where(ConsentEventRow.id == event_id)).first()
    return event_of(row) if row is not None else None


def confirmation_of(session: Session, grant_id: str) -> ConsentEvent | None:
    """The confirmation recorded for a pending grant, if any."""
    row = session.scalars(
        select(ConsentEventRow)
        .where(ConsentEventRow.refers_to == grant_id, ConsentEventRow.kind == "confirmed")
        .order_by(ConsentEventRow.seq)
    ).first()
    return event_of(row) if row is not None else None


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


def history(session: Session, contact_ids: Collection[str]) -> list[ConsentEvent]:
    """Every event of these contacts (the ids of one person), by seq."""
    rows = session.scalars(
        select(ConsentEventRow)
        .where(ConsentEventRow.contact_id.in_(list(set(contact_ids))))
        .order_by(ConsentEventRow.seq)
    )
    return [event_of(row) for row in rows]


def history_page(
    session: Session, contact_id: str, seen_by: str | None, after: int | None, limit: int
) -> list[tuple[int, ConsentEvent]]:
    """At most `limit` events of one contact after sequence number `after`, by seq, with
    their seq; `seen_by`: only the grouping's events and this component's (None: all)."""
    row = ConsentEventRow
    query = select(row).where(row.contact_id == contact_id)
    if seen_by is not None:
        query = query.where(or_(row.scope_component.is_(None), row.scope_component == seen_by))
    if after is not None:
        query = query.where(row.seq > after)
    rows = session.scalars(query.order_by(row.seq).limit(limit))
    return [(r.seq, event_of(r)) for r in rows]


def batch(session: Session, contact_ids: Collection[str], question: Question) -> list[BatchEvent]:
    """The events of many contacts that may bear on one question, as tuples of what a
    verdict reads: one query, an index probe on (contact_id, channel, purpose) per id.

    It keeps at least every event policy.bears_on keeps (the events of that purpose
    and channel for the grouping or the question's component, and for a marketing
    purpose the objections on that channel or every channel); the policy still filters.
    """
    row = ConsentEventRow
    columns = (
        row.seq,
        row.id,
        row.contact_id,
        row.kind,
        row.channel,
        row.purpose,
        row.scope_component,
        row.legal_basis,
        row.pending,
        row.refers_to,
    )
    asked = row.contact_id.in_(values_of(session, contact_ids))
    statement: Any = select(*columns).where(
        asked,
        row.channel == question.channel.value,
        row.purpose == question.purpose,
        or_(row.scope_component.is_(None), row.scope_component == question.component),
    )
    if question.marketing:
        # An objection is the only event without a purpose: purpose IS NULL keeps the probe
        # on the index.
        objections = select(*columns).where(
            asked,
            row.purpose.is_(None),
            row.kind == EventKind.OBJECTED.value,
            or_(row.channel.is_(None), row.channel == question.channel.value),
        )
        statement = union_all(statement, objections)
    scopes = {None: Scope.grouping(), question.component: Scope(question.component)}
    rows = session.execute(statement).all()
    return [
        BatchEvent(
            seq,
            event_id,
            contact_id,
            _KINDS[kind],
            _CHANNELS[channel] if channel else None,
            purpose,
            scopes[component] if component in scopes else Scope(component),
            _BASES[basis] if basis else None,
            bool(pending),
            refers_to,
        )
        for (
            seq,
            event_id,
            contact_id,
            kind,
            channel,
            purpose,
            component,
            basis,
            pending,
            refers_to,
        ) in rows
    ]


_KINDS = {kind.value: kind for kind in EventKind}
_CHANNELS = {channel.value: channel for channel in Channel}
_BASES = {basis.value: basis for basis in LegalBasis}


def event_by_id(session: Session, event_id: str) -> ConsentEvent | None:
    """One event by its id (a receipt is asked for by event id)."""
    row = session.scalars(select(ConsentEventRow).where(ConsentEventRow.id == event_id)).first()
    return event_of(row) if row is not None else None
