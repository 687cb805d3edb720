"""The mail outbox: entries written with their event, leased, closed or retried."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from services.consent.models import (
    OutboxRow,
)
from services.consent.outbox import Entry, OutboxKind
from services.consent.repository._sql import insert_for


def enqueue(session: Session, entry: Entry, now: datetime) -> bool:
    """Adds an outbox entry, due now; False (nothing added) when its key is known."""
    statement = (
        insert_for(session, OutboxRow)
        .values(
            idempotency_key=entry.idempotency_key,
            kind=entry.kind.value,
            contact_id=entry.contact_id,
            component_id=entry.component_id,
            link_kind=entry.link_kind.value if entry.link_kind else "",
            link_ref=entry.link_ref,
            created_at=now,
            attempts=0,
            next_attempt_at=now,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(OutboxRow.id)
    )
    return session.execute(statement).first() is not None


def due_outbox(session: Session, now: datetime, limit: int) -> list[int]:
    """Ids of entries not done whose next attempt has come, oldest first."""
    return list(
        session.scalars(
            select(OutboxRow.id)
            .where(OutboxRow.sent_at.is_(None), OutboxRow.next_attempt_at <= now)
            .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
            .limit(limit)
        )
    )


def lease_outbox(
    session: Session, entry_id: int, now: datetime, until: datetime
) -> tuple[Entry, int] | None:
    """Takes a due entry until `until` (another replica skips it meanwhile); None when it
    is no longer due. The conditional UPDATE is the claim on both backends."""
    row = session.scalars(
        update(OutboxRow)
        .where(
            OutboxRow.id == entry_id,
            OutboxRow.sent_at.is_(None),
            OutboxRow.next_attempt_at <= now,
        )
        .values(next_attempt_at=until, attempts=OutboxRow.attempts + 1)
        .returning(OutboxRow)
    ).first()
    if row is None:
        return None
    entry = Entry(
        row.idempotency_key, OutboxKind(row.kind), row.contact_id, row.component_id, row.link_ref
    )
    return entry, row.attempts


def outbox_pending_before(session: Session, contact_id: str, entry_id: int) -> bool:
    """Is an earlier entry about this contact still to be done (kept in order)?"""
    earlier = session.scalar(
        select(func.count())
        .select_from(OutboxRow)
        .where(
            OutboxRow.contact_id == contact_id,
            OutboxRow.id < entry_id,
            OutboxRow.sent_at.is_(None),
            OutboxRow.kind == OutboxKind.SUPPRESS_OBJECTION.value,
        )
    )
    return bool(earlier)


def outbox_attempts(session: Session, key: str) -> int:
    return int(
        session.scalar(select(OutboxRow.attempts).where(OutboxRow.idempotency_key == key)) or 0
    )


def close_outbox(session: Session, key: str, outcome: str, now: datetime) -> None:
    """Marks an entry done with the outcome it got."""
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.idempotency_key == key)
        .values(sent_at=now, last_outcome=outcome[:64])
    )


def retry_outbox(session: Session, key: str, outcome: str, at: datetime) -> None:
    """Leaves an entry pending, to be tried again at `at`."""
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.idempotency_key == key)
        .values(next_attempt_at=at, last_outcome=outcome[:64])
    )


def outbox_entries(session: Session, contact_id: str) -> list[OutboxRow]:
    """Every entry about one contact, oldest first (tests and erasure read them)."""
    return list(
        session.scalars(
            select(OutboxRow).where(OutboxRow.contact_id == contact_id).order_by(OutboxRow.id)
        )
    )
