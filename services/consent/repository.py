"""The SQL of the consent service: events, the purposes catalogue, basis rules and notices.

Each function works inside the caller's session, so a use case stays one
transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from meshkit.identity import Principal
from services.consent.domain import (
    BasisRule,
    Channel,
    ConsentEvent,
    EventKind,
    Language,
    LegalBasis,
    Notice,
    Purpose,
    Scope,
)
from services.consent.domain import (
    Collection as Collected,
)
from services.consent.models import (
    BasisRuleRow,
    ConsentEventRow,
    NoticeRow,
    PurposeRow,
    SuppressionRow,
    channels_text,
    event_of,
    notice_of,
    purpose_of,
    rule_of,
)


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
        _insert(session, ConsentEventRow)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["withdrawal_key"])
        .returning(ConsentEventRow)
    )
    row = session.scalars(statement).first()
    return event_of(row) if row is not None else None


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


def batch(
    session: Session, contact_ids: Collection[str], channel: Channel, purpose: str
) -> list[ConsentEvent]:
    """The events of many contacts for one channel and purpose, and their objections:
    one query, on the (contact_id, channel, purpose) index."""
    rows = session.scalars(
        select(ConsentEventRow).where(
            ConsentEventRow.contact_id.in_(list(set(contact_ids))),
            or_(
                and_(ConsentEventRow.channel == channel.value, ConsentEventRow.purpose == purpose),
                ConsentEventRow.kind == EventKind.OBJECTED.value,
            ),
        )
    )
    return [event_of(row) for row in rows]


# --- Purposes and basis rules ---------------------------------------------------------------


def purpose(session: Session, key: str) -> Purpose | None:
    row = session.get(PurposeRow, key)
    return purpose_of(row) if row is not None else None


def purposes(session: Session, include_inactive: bool = False) -> list[Purpose]:
    """The catalogue, by key."""
    statement = select(PurposeRow).order_by(PurposeRow.key)
    if not include_inactive:
        statement = statement.where(PurposeRow.active.is_(True))
    return [purpose_of(row) for row in session.scalars(statement)]


def add_purpose(session: Session, new: Purpose) -> bool:
    """Inserts a purpose; False when the key is taken."""
    statement = (
        _insert(session, PurposeRow)
        .values(
            key=new.key,
            owner_component=new.owner,
            label_fr=new.label_fr,
            label_en=new.label_en,
            channels=channels_text(new.channels),
            marketing=new.marketing,
            retention_months=new.retention_months,
            active=new.active,
        )
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]


def save_purpose(session: Session, changed: Purpose) -> None:
    """Writes the labels, channels and active flag of an existing purpose."""
    session.execute(
        update(PurposeRow)
        .where(PurposeRow.key == changed.key)
        .values(
            label_fr=changed.label_fr,
            label_en=changed.label_en,
            channels=channels_text(changed.channels),
            active=changed.active,
        )
    )


def rules(session: Session, purpose_key: str | None = None) -> list[BasisRule]:
    """The basis rules (of one purpose, or all), in key order."""
    statement = select(BasisRuleRow).order_by(
        BasisRuleRow.purpose, BasisRuleRow.channel, BasisRuleRow.contact_kind
    )
    if purpose_key is not None:
        statement = statement.where(BasisRuleRow.purpose == purpose_key)
    return [rule_of(row) for row in session.scalars(statement)]


def put_rule(session: Session, rule: BasisRule) -> None:
    """Sets the basis of one purpose x channel x contact kind (replacing the one there)."""
    statement = _insert(session, BasisRuleRow).values(
        purpose=rule.purpose,
        channel=rule.channel.value,
        contact_kind=rule.contact_kind.value,
        basis=rule.basis.value,
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["purpose", "channel", "contact_kind"],
            set_={"basis": statement.excluded.basis},
        )
    )


# --- Notices ---------------------------------------------------------------------------------


def notice(session: Session, notice_id: str) -> Notice | None:
    row = session.get(NoticeRow, notice_id)
    return notice_of(row) if row is not None else None


def notices(session: Session, purpose_key: str) -> list[Notice]:
    """Every published version for a purpose, by language then version."""
    rows = session.scalars(
        select(NoticeRow)
        .where(NoticeRow.purpose == purpose_key)
        .order_by(NoticeRow.language, NoticeRow.version)
    )
    return [notice_of(row) for row in rows]


def publish_notice(
    session: Session,
    purpose_key: str,
    language: Language,
    text: str,
    published_at: datetime,
    published_by: str,
) -> Notice | None:
    """Appends the next version; None when a concurrent publication took that number."""
    latest = session.scalar(
        select(func.coalesce(func.max(NoticeRow.version), 0)).where(
            NoticeRow.purpose == purpose_key, NoticeRow.language == language.value
        )
    )
    statement = (
        _insert(session, NoticeRow)
        .values(
            id=str(uuid.uuid4()),
            purpose=purpose_key,
            language=language.value,
            version=int(latest or 0) + 1,
            text=text,
            published_at=published_at.astimezone(UTC),
            published_by=published_by,
        )
        .on_conflict_do_nothing(index_elements=["purpose", "language", "version"])
        .returning(NoticeRow)
    )
    row = session.scalars(statement).first()
    return notice_of(row) if row is not None else None


def _insert(session: Session, table: type[Any]) -> Any:
    """An INSERT that supports ON CONFLICT on both backends the service runs on."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


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
